"""What runs in each Tune trial: the sampled parameters -> a trial config -> one Ray Train run.

This is the Tune *function trainable*. The trial config is validated here, once: it goes to
the Train workers as that object (pickled by Ray), and they do not validate it again. The Train
driver's reports reach Tune through Ray's ``TuneReportCallback``; the worker says ``finished``
on its last one, a key of its own (Tune's ``done`` would make Tune stop the trial's actor while
``fit()`` still shuts the Train run down; on an autoscaling cluster the Train controller then
dies before withdrawing its resource request, which keeps idle nodes alive for 180 s).
"""

from __future__ import annotations

from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from raymt.config.load import validate_config
from raymt.errors import TrialFailed
from raymt.results.files import train_run_name
from raymt.search.space import CompiledSpace
from raymt.train.prepare import PreparedExperiment
from raymt.train.trial import make_trainer


def tune_trial(config: dict, *, compiled: CompiledSpace, prepared: PreparedExperiment, trials_storage: str) -> None:
    """One Tune trial: the trial config from the sampled parameters, then one Ray Train run."""
    trial_id = tune.get_context().get_trial_id()
    cfg = validate_config(compiled.to_raw_config(config), f"trial {trial_id}")
    trainer = make_trainer(cfg, prepared, name=train_run_name(trial_id), storage_path=trials_storage,
                           callbacks=[TuneReportCallback()])
    result = trainer.fit()
    error = (result.metrics or {}).get("error")
    if error:
        raise TrialFailed(error)
