"""From a search's results to a usable model: export one trial, translate, evaluate.

``export_trial`` writes a self-describing folder (artefact, tokenizer, trial config, metrics,
model card); ``load_exported``, ``translate`` and ``evaluate`` work on that folder alone, so an
exported model is used without the results folder or Ray.
"""

from raymt.export.bundle import choose_trial, export_trial, load_exported
from raymt.export.translate import evaluate, translate

__all__ = ["choose_trial", "evaluate", "export_trial", "load_exported", "translate"]
