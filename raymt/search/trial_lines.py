"""raymt's own progress lines during a search: one line when a trial starts, one per result
(epoch), one when it ends.

Why: Ray Tune's terminal reporter prints a status table of every trial every 30 s and Ray
Train's controller logs its worker-group life cycle at INFO (``(TrainController pid=...)
Started training worker group ...``); on a laptop search that is most of the screen, and the
one thing a user watches for (how far the search is, what each trial scored) is buried in it.
So raymt runs Tune with ``verbose=0`` and Ray Train at WARNING (:func:`raymt.runtime.is_verbose`
says when not: ``raymt search --verbose`` or ``RAYMT_VERBOSE=1`` restores Ray's own output), and
this Tune callback prints what a trial did, in the trials table's names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ray.tune import Callback

from raymt.search.scheduler.record import EARLY_STOP_RUNG_KEY, EARLY_STOPPED_KEY


class TrialLines(Callback):
    """One line per trial start, result and end, through ``log``.

    Put it after :class:`raymt.search.scheduler.record.EarlyStopMarker` in the callbacks: Tune
    calls them in order, and the marker's flag says whether a trial ended early."""

    def __init__(self, objectives: Mapping[str, str], num_samples: int, epochs: int, log: Callable[[str], None] = print) -> None:
        self.objectives, self.num_samples, self.epochs, self.log = list(objectives), num_samples, epochs, log
        self._started: dict[str, int] = {}

    def __getstate__(self) -> dict:
        """Tune pickles its callbacks into the experiment's state (for ``--resume``); ``log`` is
        this process's and need not be picklable (Ray Train replaces ``print`` itself, which then
        cannot be pickled by reference): a restored search logs with ``print``."""
        return {**self.__dict__, "log": None}

    def _log(self, line: str) -> None:
        (self.log or print)(line)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id not in self._started:
            # a resumed search: the trials that ended before it stopped count (Tune restores this
            # callback as it was pickled, before the first trial), so the numbers go on, not restart
            for done in trials:
                if getattr(done, "status", None) in ("TERMINATED", "ERROR") and done.trial_id not in self._started:
                    self._started[done.trial_id] = len(self._started) + 1
        number = self._started.setdefault(trial.trial_id, len(self._started) + 1)
        self._log(f"trial {trial.trial_id} started ({number} of {self.num_samples}): {settings(trial.config)}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        epoch = result.get("epoch")
        where = f"epoch {epoch}/{self.epochs}" if epoch is not None else f"result {result.get('training_iteration', '?')}"
        self._log(f"trial {trial.trial_id} {where}: {scores(result, self.objectives)}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        if result.get(EARLY_STOPPED_KEY):
            how = f"stopped early by the scheduler after epoch {result.get('epoch', '?')} (rung {_value(result.get(EARLY_STOP_RUNG_KEY, '?'))})"
        elif result.get("finished"):
            how = f"completed ({result.get('epoch', '?')} epochs, best epoch {result.get('best_epoch', '?')})"
        else:  # Ctrl-C: the trials table says interrupted, and --resume continues it
            how = f"interrupted after epoch {result.get('epoch', 0)}"
        self._log(f"trial {trial.trial_id} {how}: {scores(result, self.objectives)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from raymt.results.failures import failure_reason

        error = _error_text(trial)
        self._log(f"trial {trial.trial_id} failed: {failure_reason(error) if error is not None else 'see its error.txt'}")


def _error_text(trial: Any) -> str | None:
    """The failed trial's error: Tune has just written it to the trial's staging folder
    (``Trial.error_file``); ``Trial.get_error`` reads the storage copy, which is synced later,
    so at this point it said None and every failure printed "see its error.txt"."""
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        return Path(path).read_text(encoding="utf-8", errors="replace")
    return trial.get_error() if hasattr(trial, "get_error") else None


def log_restored_lines(callbacks: list | None, log: Callable[[str], None]) -> None:
    """A resumed search's :class:`TrialLines` print through this run's ``log``: Tune restores the
    callbacks the search started with, whose ``log`` was dropped when they were pickled."""
    for callback in callbacks or []:
        if isinstance(callback, TrialLines):
            callback.log = log


def settings(config: Mapping[str, Any]) -> str:
    """A trial's sampled settings as the trials table names them: ``method lora, lora.r 8, ...``."""
    return ", ".join(f"{key} {_value(value)}" for key, value in config.items()) or "(no searched settings)"


def scores(result: Mapping[str, Any], objectives: list[str]) -> str:
    return ", ".join(f"{key} {_value(result[key])}" for key in objectives if key in result) or "no scores yet"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "+".join(map(str, value))
    return str(value)
