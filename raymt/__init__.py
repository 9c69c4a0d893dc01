"""raymt: multi-objective hyperparameter search for fine-tuning MT models on Ray."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# OpenMP threads that wait at a barrier sleep instead of spinning (unless the user chose). raymt
# runs multi-threaded CPU training outside Ray's CPU accounting (the built-in bases' builds);
# on a machine shared with other processes a spinning thread holds the core its descheduled
# sibling needs, and a 2-thread build ran 5-30x slower next to ONE busy process (measured:
# BENCHMARKS.md "Reproducible builds"). OpenMP reads the variable once, when torch loads it,
# so it only takes effect when raymt is imported first (the raymt CLI, Ray workers of a local
# raymt cluster; in a notebook: import raymt before torch).
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
