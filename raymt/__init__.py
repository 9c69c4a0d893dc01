"""raymt: multi-objective hyperparameter search for fine-tuning MT models on Ray."""

__version__ = "0.1.0"
