"""Which trials a scheduler stopped early, and how results come to say so.

Every raymt scheduler keeps a record (``scheduler.stopped_trials``: trial id ->
:class:`EarlyStop`, with the rung), and :class:`EarlyStopMarker`, a Tune callback, writes
``early_stopped`` (and ``early_stop_rung`` when true) into every reported result. Tune calls
callbacks after the scheduler's decision and keeps the result they mutate, so the flag reaches
the trial's last result, ``ResultGrid`` and the searcher's ``on_trial_complete``. Detecting an
early stop by "fewer iterations than ``max_t``" is NOT reliable: a trial may legitimately end
earlier (its own convergence test, a smaller ``epochs`` value sampled by the searcher).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ray.tune import Callback

from raymt.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ray.tune.experiment import Trial

#: Result key set by :class:`EarlyStopMarker`: True on every result of a trial that a
#: scheduler stopped before ``max_t`` (only its last result exists after the stop).
EARLY_STOPPED_KEY = "early_stopped"
#: Result key set next to ``early_stopped=True``: the rung milestone at which it was stopped.
EARLY_STOP_RUNG_KEY = "early_stop_rung"


@dataclass(frozen=True)
class EarlyStop:
    """Why and where one trial was stopped; kept so results can exclude it from the front."""

    trial_id: str
    rung: float  # the rung milestone (in units of time_attr) whose comparison stopped it
    time: float  # the value of time_attr in the result that triggered the stop
    metric: float  # the metric in that result (raw, not sign-flipped)
    cost: float | None  # the cost (storage MB) for multi-objective schedulers, else None
    reason: str  # one human-readable line


class StopRecord:
    """Mixin: the record of trials stopped early, the same API on every raymt scheduler."""

    def _init_record(self) -> None:
        self._stopped: dict[str, EarlyStop] = {}

    @property
    def stopped_trials(self) -> dict[str, EarlyStop]:
        """Trial id -> :class:`EarlyStop` for every trial this scheduler stopped early."""
        return dict(self._stopped)

    def is_early_stopped(self, trial_id: str) -> bool:
        return trial_id in self._stopped


class EarlyStopMarker(Callback):
    """Tune callback: writes ``early_stopped`` (and ``early_stop_rung``) into every result.

    Tune lets callbacks modify a result in place, after the scheduler has decided and
    before the result becomes the trial's ``last_result``; so the flag reaches
    ``ResultGrid``, ``result.json`` (it survives ``Tuner.restore``, unlike the scheduler's
    in-memory record) and the searcher's ``on_trial_complete``, which may then tell its
    sampler that the trial was pruned rather than completed. Pass the same scheduler object
    that goes into ``TuneConfig``.
    """

    def __init__(self, scheduler: StopRecord) -> None:
        if not isinstance(scheduler, StopRecord):
            raise ConfigError(
                f"EarlyStopMarker needs a raymt scheduler, got {type(scheduler).__name__}",
                where="EarlyStopMarker(scheduler=)",
                fix="build the scheduler with raymt.search.scheduler.build.make_scheduler",
            )
        self.scheduler = scheduler

    def on_trial_result(self, iteration: int, trials: list, trial: Trial, result: dict, **info: Any) -> None:
        stop = self.scheduler._stopped.get(trial.trial_id)
        result[EARLY_STOPPED_KEY] = stop is not None
        if stop is not None:
            result[EARLY_STOP_RUNG_KEY] = stop.rung
