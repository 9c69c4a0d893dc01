"""Tune's own schedulers with raymt's record of early stops: no early stopping, and
single-metric ASHA (the baseline multi-objective ASHA is measured against)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler

from raymt.search.scheduler.record import EarlyStop, StopRecord

if TYPE_CHECKING:  # pragma: no cover
    from ray.tune.experiment import Trial


class NoEarlyStopping(StopRecord, FIFOScheduler):
    """Run every trial to its end (Tune's FIFO), with the same record API (always empty)."""

    def __init__(self) -> None:
        super().__init__()
        self._init_record()

    def debug_string(self) -> str:
        return "Using FIFO scheduling (no early stopping)."


class RecordingASHAScheduler(StopRecord, AsyncHyperBandScheduler):
    """Tune's single-metric ASHA (Li et al., 2020, MLSys), recording the trials it stops.

    Tune's ASHA also answers STOP when a trial reaches ``max_t``; that is completion, not an
    early stop, and is not recorded. Kept as the baseline the multi-objective scheduler is
    measured against (benchmarks/lc_replay.py).
    """

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: str | None = None,
        mode: str | None = None,
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 3,
    ) -> None:
        super().__init__(
            time_attr=time_attr,
            metric=metric,
            mode=mode,
            max_t=max_t,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
            brackets=1,
            stop_last_trials=True,
        )
        self._init_record()

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        if action == TrialScheduler.STOP and self._time_attr in result and self._metric in result and result[self._time_attr] < self._max_t:
            t = float(result[self._time_attr])
            rung = max(
                (m for m, recorded in self._brackets[0]._rungs if m <= t and trial.trial_id in recorded),
                default=t,
            )
            self._stopped[trial.trial_id] = EarlyStop(
                trial_id=trial.trial_id,
                rung=float(rung),
                time=t,
                metric=float(result[self._metric]),
                cost=None,
                reason=f"{self._metric} below the top 1/{self._reduction_factor:g} at rung {rung:g}",
            )
        return action
