"""Ray Train's ``TorchTrainer`` without the pieces a raymt trial never uses.

A raymt trial reads its data from the prepared cache (raymt.train.data), not from Ray Data.
Ray Train 2.60 still starts a ``DatasetManager`` actor for every run (its ``DatasetsCallback``
creates one when the worker group starts, with or without datasets): one more process per
trial, started while the workers import torch, on the same cores (BENCHMARKS.md, "Per-trial
fixed cost"). Without datasets the callback has nothing to do: the workers' train context takes
no shard provider then (``dataset_shard_provider`` is optional in Ray's worker), and
``ray.train.get_dataset_shard`` would fail with Ray's own error, as it does for any run
without datasets.

It also gives a dead trial's CPUs back when Ray's out-of-memory monitor killed its processes
(raymt.train.cleanup: Ray Train's backend callback with the killed-for-memory worker taken for a
crashed one, and the worker group's placement group recorded for the search driver).

This leans on a private method of Ray Train (``_create_default_callbacks``); the tests in
tests/train/test_trial_driver.py say when a Ray upgrade changes it.
"""

from __future__ import annotations

from ray.train.torch import TorchTrainer
from ray.train.v2._internal.callbacks import DatasetsCallback
from ray.train.v2._internal.callbacks.backend_setup import BackendSetupCallback

from raymt.train.cleanup import RecordPlacementGroup, ShutdownDespiteDeadWorkers, placement_key


class TrialTrainer(TorchTrainer):
    """A ``TorchTrainer`` that starts no Ray Data actor when it is given no datasets, and whose
    resources are freed however its processes die."""

    def _create_default_callbacks(self):
        callbacks = [
            ShutdownDespiteDeadWorkers(self.backend_config) if type(c) is BackendSetupCallback else c
            for c in super()._create_default_callbacks()
            if self.datasets or not isinstance(c, DatasetsCallback)
        ]
        callbacks.append(RecordPlacementGroup(placement_key(str(self.run_config.storage_path), self.run_config.name)))
        return callbacks
