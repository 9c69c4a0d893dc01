"""What runs in each Tune trial: the sampled parameters -> a trial config -> one Ray Train run.

This is the Tune *function trainable*; the trial it runs is the Train driver (raymt.train.trial),
whose workers run the training loop and report through ``ray.train.report``. Rank 0's reports
reach Tune through ``TuneReportCallback``.
"""

from __future__ import annotations

from raymt.errors import TrialFailed
from raymt.search.space import CompiledSpace, SpaceConfig


def tune_trial(config: dict, *, base_raw: dict, space_raw: dict, prepared: dict, trials_storage: str) -> None:
    """One Tune trial: build the trial config from the sampled parameters, run Ray Train."""
    from ray import tune

    from raymt.config.schema import ExperimentConfig
    from raymt.results.files import train_run_name
    from raymt.train.prepare import PreparedExperiment
    from raymt.train.trial import make_trainer

    compiled = CompiledSpace(SpaceConfig.model_validate(space_raw), base_raw)
    cfg = ExperimentConfig.model_validate(compiled.to_raw_config(config))
    trial_id = tune.get_context().get_trial_id()
    trainer = make_trainer(cfg, PreparedExperiment(**prepared), name=train_run_name(trial_id), storage_path=trials_storage,
                           callbacks=[report_to_tune()])
    result = trainer.fit()
    error = (result.metrics or {}).get("error")
    if error:
        raise TrialFailed(error)


def report_to_tune():
    """``TuneReportCallback`` that keeps the worker's ``done`` flag from Tune.

    Tune stops a trial's actor as soon as a result says ``done: True``, while ``fit()`` is still
    shutting the Train run down; the Train controller then dies with it before it withdraws its
    resource request from Ray's autoscaling coordinator, and on an autoscaling cluster the
    request keeps idle nodes alive until it expires (180 s; seen with Ray's fake multi-node
    provider). Forwarded as ``train_done``, the trial ends when ``fit()`` returns and Tune marks
    that last result ``done`` itself.
    """
    from ray.tune.integration.ray_train import TuneReportCallback

    class _ReportToTune(TuneReportCallback):
        def after_report(self, run_context, metrics, checkpoint):
            metrics = [{("train_done" if k == "done" else k): v for k, v in m.items()} for m in metrics]
            super().after_report(run_context, metrics, checkpoint)

    return _ReportToTune()
