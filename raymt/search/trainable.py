"""What runs in each Tune trial: the sampled parameters -> a trial config -> one Ray Train run.

This is the Tune *function trainable*. The trial config is validated here, once: it goes to
the Train workers as that object (pickled by Ray), and they do not validate it again. The Train
driver's reports reach Tune through Ray's ``TuneReportCallback``; the worker says ``finished``
on its last one, a key of its own (Tune's ``done`` would make Tune stop the trial's actor while
``fit()`` still shuts the Train run down; on an autoscaling cluster the Train controller then
dies before withdrawing its resource request, which keeps idle nodes alive for 180 s).

When Tune stops a trial (a scheduler's early stop, Ctrl-C), :class:`StopsWorkersFirst` first
asks the trial's Train workers to leave between two steps (raymt.train.stop) and waits for the
Train run to end; only then does Tune end the trial's actor. Torn down mid-step instead, the
workers printed C++ stack traces ("SIGABRT received") after the search's final summary.
"""

from __future__ import annotations

import threading

from ray import tune
from ray.tune import Callback
from ray.tune.integration.ray_train import TuneReportCallback

from raymt.config.load import validate_config
from raymt.errors import TrialFailed
from raymt.object_store import join
from raymt.results.checkpoints import mark_stopped, release_if_stopped
from raymt.results.files import train_run_name
from raymt.search.space import CompiledSpace
from raymt.train.prepare import PreparedExperiment
from raymt.train.cleanup import free_placement_group, placement_key
from raymt.train.stop import clear_stop, request_stop, stop_key
from raymt.train.trial import make_trainer


#: Seconds a stopping trial waits for its workers to leave. Tune gives a stopping trial's actor
#: 10 s at the end of an experiment (Ctrl-C) before it kills it (ray/tune/execution/
#: tune_controller.py ``_actor_force_cleanup_timeout``): the workers notice within about a
#: second plus one optimizer step, and the Train controller needs its poll interval to see them
#: finish. A step (or an evaluation, which is not interrupted) longer than this is cut as before.
STOP_GRACE_S = 8.0

#: Tune trial id -> (stop key, "its Train run has ended"), for the trials running in this actor.
_RUNS: dict[str, tuple[str, threading.Event]] = {}


def tune_trial(config: dict, *, compiled: CompiledSpace, prepared: PreparedExperiment, trials_storage: str, train_log_level: str = "INFO") -> None:
    """One Tune trial: the trial config from the sampled parameters, then one Ray Train run."""
    trial_id = tune.get_context().get_trial_id()
    train_run(trial_id, compiled.to_raw_config(config), prepared=prepared, trials_storage=trials_storage, train_log_level=train_log_level)


def repeat_trial(config: dict, *, compiled: CompiledSpace, prepared: PreparedExperiment, trials_storage: str, train_log_level: str = "INFO") -> None:
    """One repeat of a front member (``search.repeat_front``): its sampled parameters
    (``config["repeat"]["params"]``) with another ``train.seed``, run as any trial is."""
    repeat = config["repeat"]
    raw = compiled.to_raw_config(repeat["params"])
    raw.setdefault("train", {})["seed"] = int(repeat["seed"])
    train_run(tune.get_context().get_trial_id(), raw, prepared=prepared, trials_storage=trials_storage, train_log_level=train_log_level)


def train_run(trial_id: str, raw: dict, *, prepared: PreparedExperiment, trials_storage: str, train_log_level: str = "INFO") -> None:
    """Validate the trial config once, then one Ray Train run reporting to this Tune trial."""
    cfg = validate_config(raw, f"trial {trial_id}")
    name = train_run_name(trial_id)
    key = stop_key(trials_storage, name)
    clear_stop(key)  # a resumed trial: the stop asked of its interrupted run is not for this one
    ended = threading.Event()
    _RUNS[trial_id] = (key, ended)
    try:
        trainer = make_trainer(
            cfg, prepared, name=name, storage_path=trials_storage, callbacks=[TuneReportCallback()], stop_key=key, log_level=train_log_level
        )
        result = trainer.fit()
        release_if_stopped(join(trials_storage, name))  # a scheduler stopped it: its run has ended, its result is recorded
    finally:
        ended.set()
        clear_stop(key)
    error = (result.metrics or {}).get("error")
    if error:
        raise TrialFailed(error)


class StopsWorkersFirst:
    """Mixin for Tune's function trainable: when Tune stops the trial, the Train workers stop
    between two steps and the Train run ends before the trial's actor does.

    Tune calls ``Trainable.stop`` -> ``cleanup`` on the trial's actor before ending it
    (``TuneController._remove_actor``), while the trial function still waits in ``fit()`` on
    its own thread."""

    def cleanup(self):
        run = _RUNS.pop(self.trial_id, None)
        if run is not None and not run[1].is_set():
            key, ended = run
            request_stop(key)
            ended.wait(STOP_GRACE_S)
        super().cleanup()


class MarkStoppedTrials(Callback):
    """Tune callback in the search driver: when the scheduler stops a trial (its result is
    recorded by then), mark the trial's Train run folder; the trial strips its checkpoint's
    tensors once its run has ended (raymt.results.checkpoints). ``trials_storage``: where the
    Train runs are (a folder or an object-store URI). Only with ``search.keep_checkpoints:
    front``. Tune calls callbacks after the scheduler's decision (raymt.search.scheduler.record)."""

    def __init__(self, scheduler, trials_storage: str) -> None:
        self.scheduler = scheduler
        self.trials_storage = str(trials_storage)
        self._marked: set[str] = set()

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        if trial.trial_id not in self._marked and self.scheduler.is_early_stopped(trial.trial_id):
            mark_stopped(join(self.trials_storage, train_run_name(trial.trial_id)))
            self._marked.add(trial.trial_id)


class FreeFailedTrials(Callback):
    """Tune callback in the search driver: when a trial fails, its Train run's placement group
    is removed if the run could not remove it itself (its controller was killed with the
    ``PlacementGroupCleaner`` that Ray Train keeps for that, as Ray's out-of-memory monitor
    does: raymt.train.cleanup), so the next trial gets its CPUs. ``trials_storage``: where the
    Train runs are, as the trainable was given it."""

    def __init__(self, trials_storage: str) -> None:
        self.trials_storage = str(trials_storage)

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        free_placement_group(placement_key(self.trials_storage, train_run_name(trial.trial_id)))


def make_trainable(
    *, compiled: CompiledSpace, prepared: PreparedExperiment, trials_storage: str, train_log_level: str = "INFO", repeats: bool = False
):
    """:func:`tune_trial` (or, ``repeats=True``, :func:`repeat_trial`) with its parameters, as
    the function trainable Tune runs."""
    fn = repeat_trial if repeats else tune_trial
    trainable = tune.with_parameters(fn, compiled=compiled, prepared=prepared, trials_storage=trials_storage, train_log_level=train_log_level)
    trainable.__mixins__ = (StopsWorkersFirst,)  # ray.tune.trainable.wrap_function puts them before FunctionTrainable
    return trainable
