"""The one code path from a search space to a running Ray Tune search.

Real searches and the benchmarks (``benchmarks/nmt_hpo_search.py``) both go through
:func:`make_searcher` and :func:`make_tuner`, so what the benchmarks measure is what users run.
This module knows nothing of raymt's YAML config: it takes plain functions and values.

Choices and the reasons for them:

- Multi-objective metric/mode lists go on the *searcher*, not on ``TuneConfig`` (Ray 2.60 accepts
  lists only there; see docs/field notes). ``OptunaSearch`` then tells Optuna the *last*
  reported result of each trial; a trial without the metrics is told PRUNED, an errored one FAIL.
- The Optuna study can live in a journal file (``optuna.storages.JournalStorage``): it survives
  the driver, ``optuna.load_study`` and optuna-dashboard can open it while the search runs
  (``optuna-dashboard <file>``).
- ``OptunaSearch.save`` pickles the whole searcher (sampler and space function included) with
  the standard ``pickle``, which cannot pickle closures or lambdas: a define-by-run space built
  by a factory function would make every experiment checkpoint fail. :class:`RaymtOptunaSearch`
  saves with cloudpickle instead, so :func:`restore_tuner` continues the searcher's state.
- A trial whose Tune actor Ray's out-of-memory monitor kills is a failed trial
  (:func:`fail_trials_killed_for_memory`, used by :func:`fit`): Ray Tune 2.60 let that end the
  whole search.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from ray import cloudpickle, tune
from ray.exceptions import OutOfMemoryError, RayActorError
from ray.tune.search.optuna import OptunaSearch

from raymt.errors import ConfigError
from raymt.object_store import is_uri, upload
from raymt.results.study import TUNE_TRIAL_ATTR

SpaceFn = Callable[[Any], Any]


class RaymtOptunaSearch(OptunaSearch):
    """``OptunaSearch`` with two fixes for multi-objective raymt searches.

    1. Trial outcomes. Ray 2.60 builds ``[result.get(m) for m in metrics]`` for several
       objectives, a list that is never None, so a trial that ended without reporting its
       objectives would be told COMPLETE with ``[None, None]``: Optuna refuses that, Ray logs a
       warning and the Optuna trial stays RUNNING forever. Such a trial is told PRUNED here, and
       so is a trial the scheduler stopped early (its last result says ``early_stopped``, or
       Tune's own ``done: False``); an errored trial, or one reporting NaN/inf, is told FAIL (an
       errored trial's last values come from an unfinished run; raymt's trials table calls it
       "failed" too).
    2. Checkpoints hold closures and lambdas (saved with cloudpickle, not pickle).
    3. Each Optuna trial records the Tune trial it runs as (user attribute ``tune_trial_id``),
       so the trials table can give Optuna's trial number (raymt.results.study).
    4. What optuna-dashboard shows: the study names its objectives (``set_metric_names``: "bleu",
       "storage_mb", not "Objective 0/1"), and every epoch's result is kept. Optuna 5 refuses
       ``Trial.report`` in a multi-objective study (NotImplementedError: intermediate values
       are single-objective only), so there each objective's per-epoch values are the trial's
       user attribute ``<objective>_per_epoch`` (``{"1": 21.3, "2": 24.0}``: the epoch's own
       score, ``bleu_epoch``, where the worker reports one); a single-objective study gets them
       as intermediate values (``trial.report``), which the dashboard draws as learning curves.
    """

    def _setup_study(self, mode):
        super()._setup_study(mode)
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2, and what the dashboard reads
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._ot_study.set_metric_names(self.metric if isinstance(self.metric, list) else [self.metric])

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return
        epoch = result.get("epoch", result.get("training_iteration"))
        if not isinstance(epoch, int):
            return
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        values = {m: result.get(f"{m}_epoch", result.get(m)) for m in metrics}
        if len(metrics) == 1:
            if _finite(values[metrics[0]]):
                ot_trial.report(float(values[metrics[0]]), step=epoch)
            return
        for m, value in values.items():
            if _finite(value):
                attr = per_epoch_attr(m)
                curve = dict(ot_trial.user_attrs.get(attr) or {})
                curve[str(epoch)] = float(value)
                ot_trial.set_user_attr(attr, curve)

    def suggest(self, trial_id: str) -> dict | None:
        params = super().suggest(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if params is not None and ot_trial is not None:
            ot_trial.set_user_attr(TUNE_TRIAL_ATTR, trial_id)
        return params

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        values = [None if result is None else result.get(m) for m in metrics]
        if any(v is not None and not _finite(v) for v in values):
            error = True  # NaN/inf BLEU: a broken run, not a result
        if result is not None and (result.get("early_stopped") or result.get("done") is False):
            # stopped early by the scheduler: its BLEU is from a shorter run. Told COMPLETE, a
            # cheap, truncated result would land on the sampler's front.
            values = [None]
        if error or any(v is None for v in values):
            result = None  # OptunaSearch: no result -> FAIL if error else PRUNED
        super().on_trial_complete(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        state = self.__dict__.copy()
        with open(checkpoint_path, "wb") as f:
            cloudpickle.dump(state, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = cloudpickle.load(f)
        self.__dict__.update(state)


def per_epoch_attr(metric: str) -> str:
    """The user attribute holding a multi-objective trial's per-epoch values of ``metric``."""
    return f"{metric}_per_epoch"


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def journal_storage(path: str | os.PathLike) -> optuna.storages.JournalStorage:
    """An Optuna journal-file storage at ``path`` (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def make_searcher(
    space_fn: SpaceFn,
    objectives: Mapping[str, str],
    sampler: optuna.samplers.BaseSampler | None,
    *,
    seed: int | None,
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    study_name: str | None = None,
    storage: str | os.PathLike | optuna.storages.BaseStorage | None = None,
) -> OptunaSearch:
    """An ``OptunaSearch`` over the define-by-run ``space_fn`` for ``objectives``.

    ``objectives``: ``{metric: "max" | "min"}``; the order is the study's objective order.
    ``sampler``: from :func:`raymt.search.sampler.registry.make_sampler` (seeded there); ``None`` means
    Optuna's default (TPE) seeded with ``seed``. ``points_to_evaluate``: configurations run first
    (enqueued). ``storage``: a journal file path (or any Optuna storage) to persist the study;
    ``study_name`` names it there (default "raymt"; an existing study of that name is continued).
    """
    if not objectives:
        raise ConfigError("no objectives", where="objectives", fix='give e.g. {"bleu": "max", "storage_mb": "min"}')
    bad = {k: v for k, v in objectives.items() if v not in ("max", "min")}
    if bad:
        raise ConfigError(f"objective mode(s) {bad} are not 'max'/'min'", where="objectives", fix="use max or min")
    if not callable(space_fn):
        raise ConfigError("the search space must be a define-by-run function", where="space", fix="pass space(trial) calling trial.suggest_*")
    if isinstance(storage, (str, os.PathLike)):
        storage = journal_storage(storage)
    metric, mode = list(objectives), list(objectives.values())
    return RaymtOptunaSearch(
        space=space_fn,
        metric=metric if len(metric) > 1 else metric[0],
        mode=mode if len(mode) > 1 else mode[0],
        sampler=sampler,
        # OptunaSearch ignores (and warns about) seed when a sampler is given: seed it there.
        seed=seed if sampler is None else None,
        points_to_evaluate=[dict(p) for p in points_to_evaluate] if points_to_evaluate else None,
        study_name=study_name or "raymt",
        storage=storage,
    )


def make_tuner(
    trainable: Callable[..., Any],
    *,
    searcher: OptunaSearch | None,
    scheduler: Any | None = None,
    num_samples: int,
    max_concurrent_trials: int,
    storage_path: str | os.PathLike,
    name: str,
    resources: Mapping[str, float] | None = None,
    failure_config: tune.FailureConfig | None = None,
    callbacks: Sequence[Any] | None = None,
    reuse_actors: bool = False,
    verbose: int | None = None,
    param_space: Mapping[str, Any] | None = None,
) -> tune.Tuner:
    """A ``tune.Tuner`` running ``trainable`` (a function trainable) under ``searcher``.

    ``searcher=None`` with ``param_space``: fixed configurations (e.g. a ``tune.grid_search``
    over them, ``num_samples=1``), as the front's seed repeats run (raymt.search.repeat).

    ``max_concurrent_trials=1`` makes the search sequential, so the sampler sees every result
    before proposing the next configuration. ``resources`` is the trial driver's reservation
    (e.g. ``{"cpu": 0.1}`` when the driver only launches Ray Train workers). ``reuse_actors``
    keeps the trial actor between trials (saves process start-up for cheap trials). raymt's
    search leaves it off: a trial that a scheduler stops is still inside Ray Train's ``fit()``,
    which only ends when its actor is killed; Tune 2.60 caches that actor anyway, waits 2 s
    for the function to return (``reset_config``), then fails the *next* trial with
    "Could not re-use actor" (ray/tune/execution/tune_controller.py ``_on_trial_reset``).
    """
    if num_samples < 1:
        raise ConfigError(f"num_samples is {num_samples}", where="search.num_samples", fix="run at least 1 trial")
    if max_concurrent_trials < 1:
        raise ConfigError(
            f"max_concurrent_trials is {max_concurrent_trials}",
            where="search.max_concurrent_trials",
            fix="use 1 (sequential: the sampler sees every result) or more",
        )
    fn = tune.with_resources(trainable, dict(resources)) if resources else trainable
    return tune.Tuner(
        fn,
        param_space=dict(param_space) if param_space else None,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=num_samples,
            max_concurrent_trials=max_concurrent_trials,
            reuse_actors=reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=name,
            # a URI (s3://, gs://) goes to Ray as is: Tune writes its state there through pyarrow
            storage_path=str(storage_path) if is_uri(storage_path) else str(Path(storage_path).resolve()),
            failure_config=failure_config,
            callbacks=list(callbacks) if callbacks else None,
            verbose=verbose,
        ),
    )


#: :func:`restore_tuner`'s ``verbose`` default: the verbosity the search was started with.
SAVED = "saved"


def restore_tuner(
    path: str | os.PathLike,
    trainable: Callable[..., Any],
    *,
    resources: Mapping[str, float] | None = None,
    resume_errored: bool = False,
    verbose: int | None | str = SAVED,
) -> tune.Tuner:
    """Continue an interrupted search at ``path`` (``storage_path/name``).

    Finished trials are kept, unfinished ones resumed, and the searcher (with its Optuna study
    and sampler state) is restored from its checkpoint, so new proposals build on every result
    so far. ``trainable`` and ``resources`` must be the ones the search started with.

    ``verbose``: Tune's verbosity for the resumed run (as :func:`make_tuner`'s); by default the
    saved one. Tune restores the whole ``RunConfig`` the search started with, so without it a
    search started quietly stayed quiet when resumed with ``--verbose``.
    """
    fn = tune.with_resources(trainable, dict(resources)) if resources else trainable
    tuner = tune.Tuner.restore(str(path), trainable=fn, resume_unfinished=True, resume_errored=resume_errored)
    if verbose != SAVED and (config := run_config(tuner)) is not None:
        config.verbose = verbose
    return tuner


def run_config(tuner: tune.Tuner) -> tune.RunConfig | None:
    """The ``RunConfig`` ``tuner`` will run with (a restored Tuner's is the saved one, callbacks
    included), to adjust before ``fit``; None under Ray Client, where the Tuner lives remotely."""
    local = getattr(tuner, "_local_tuner", None)
    return local.get_run_config() if local is not None else None


def fit(tuner: tune.Tuner):
    """``tuner.fit()``, where a trial that Ray's out-of-memory monitor kills fails and the search
    goes on (:func:`fail_trials_killed_for_memory`)."""
    with fail_trials_killed_for_memory():
        return tuner.fit()


class TrialKilledForMemory(RayActorError, OutOfMemoryError):
    """Ray's out-of-memory monitor killed a trial's Tune actor. A ``RayActorError`` (the actor is
    dead), which Ray Tune records as the trial's failure; its text is Ray's report (the processes
    killed, the node's memory and limit), which :mod:`raymt.results.failures` reads."""

    def __init__(self, message: str = "") -> None:
        RayActorError.__init__(self, error_msg=message)
        self.message = message


@contextlib.contextmanager
def fail_trials_killed_for_memory():
    """While a search runs: a trial whose Tune actor Ray's memory monitor killed fails, and the
    search goes on.

    Why: when the node passes Ray's memory limit (``RAY_memory_usage_threshold``, 95% by
    default), the monitor kills worker processes; since Ray 2.56 several at once, chosen by how
    recently their task started. On the shared 2-core machine it killed a trial's Tune actor,
    Train controller and Train's helper actors together. A task of a killed actor raises
    ``ray.exceptions.OutOfMemoryError``, which is not a ``RayActorError``: Tune's actor manager
    (ray/air/execution/_internal/actor_manager.py ``_actor_task_failed``) handles only actor
    deaths and task errors and raised ``RuntimeError("Caught unexpected exception: ...")`` out
    of ``Tuner.fit()``, so ``raymt search`` exited 1 and lost the search's remaining trials.
    Here that error is handed on as what it is, the death of the trial's actor: Tune records the
    trial as failed (status ERROR, Ray's report in its error.txt), tells the searcher FAIL, frees
    the trial's own resources and starts the next trial. The Train controller and workers the
    actor owned die with it (Ray ends the actors a dead process owned); their placement group is
    removed by raymt.search.trainable.FreeFailedTrials (raymt.train.cleanup)."""
    from ray.air.execution._internal.actor_manager import RayActorManager

    original = RayActorManager._actor_task_failed

    def _actor_task_failed(self, tracked_actor_task, exception):
        if isinstance(exception, OutOfMemoryError) and not isinstance(exception, RayActorError):
            exception = TrialKilledForMemory(str(exception))
        return original(self, tracked_actor_task, exception)

    RayActorManager._actor_task_failed = _actor_task_failed
    try:
        yield
    finally:
        RayActorManager._actor_task_failed = original


def upload_journal_callback(local: Path, uri: str) -> tune.Callback:
    """A Tune callback that uploads the Optuna journal whenever a trial ends, so a search
    resumed on another machine continues from the sampler's full history."""

    class UploadJournal(tune.Callback):
        def _push(self):
            if local.exists():
                upload(local, uri)

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._push()

        def on_trial_error(self, iteration, trials, trial, **info):
            self._push()

        def on_experiment_end(self, trials, **info):
            self._push()

    return UploadJournal()
