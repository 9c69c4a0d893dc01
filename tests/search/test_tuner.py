"""raymt's search path: OptunaSearch set up for several objectives, a durable study, resuming.

The first tests drive the searcher directly (no Ray); the slow ones run real ``tune.Tuner``
searches on a small local Ray cluster.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from raymt.errors import ConfigError
from raymt.search.sampler.options import SamplerConfig
from raymt.search.sampler.registry import make_sampler
from raymt.search.tuner import (
    RaymtOptunaSearch,
    TrialKilledForMemory,
    fail_trials_killed_for_memory,
    journal_storage,
    make_searcher,
    make_tuner,
    restore_tuner,
    run_config,
)

OBJECTIVES = {"bleu": "max", "storage_mb": "min"}


def space(trial) -> None:
    method = trial.suggest_categorical("method", ["full", "lora"])
    if method == "lora":
        trial.suggest_int("lora_r", 1, 64, log=True)


def metrics(config: dict) -> dict:
    r = config.get("lora_r", 0)
    return {"bleu": 20.0 + (5.0 if config["method"] == "full" else math.log2(r + 1)), "storage_mb": 300.0 if config["method"] == "full" else 0.1 * r}


# --------------------------------------------------------------------------- no Ray needed
def test_metric_and_mode_lists_go_on_the_searcher():
    searcher = make_searcher(space, OBJECTIVES, None, seed=0)
    assert searcher.metric == ["bleu", "storage_mb"] and searcher.mode == ["max", "min"]
    assert searcher._ot_study.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]


def test_a_given_sampler_is_used_as_is():
    sampler = make_sampler(SamplerConfig(kind="random", seed=3), objectives=OBJECTIVES)
    searcher = make_searcher(space, OBJECTIVES, sampler, seed=3)
    assert searcher._ot_study.sampler is sampler


def test_bad_objectives_are_config_errors():
    with pytest.raises(ConfigError, match="max"):
        make_searcher(space, {"bleu": "maximise"}, None, seed=0)
    with pytest.raises(ConfigError, match="no objectives"):
        make_searcher(space, {}, None, seed=0)


def test_trials_without_objectives_are_pruned_and_broken_ones_failed():
    """Ray 2.60's OptunaSearch left such trials RUNNING forever with several objectives."""
    searcher = make_searcher(space, OBJECTIVES, None, seed=0)
    outcomes = [
        ({"bleu": 21.0, "storage_mb": 0.4}, False, TrialState.COMPLETE),
        ({"bleu": 21.0}, False, TrialState.PRUNED),  # stopped before evaluating storage
        (None, False, TrialState.PRUNED),
        (None, True, TrialState.FAIL),
        ({"bleu": 21.0, "storage_mb": 0.4}, True, TrialState.FAIL),  # crashed after a report
        ({"bleu": float("nan"), "storage_mb": 0.4}, False, TrialState.FAIL),
        # stopped by the scheduler after 1 of 3 epochs: a truncated BLEU must not look finished
        ({"bleu": 5.0, "storage_mb": 0.01, "done": False}, False, TrialState.PRUNED),
        ({"bleu": 25.0, "storage_mb": 0.4, "done": True}, False, TrialState.COMPLETE),
    ]
    for i, (result, error, _) in enumerate(outcomes):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", result, error=error)
    assert [t.state for t in searcher._ot_study.trials] == [o[2] for o in outcomes]


def test_searcher_checkpoint_holds_a_closure_space(tmp_path):
    """Factories that build the space as a closure are the norm; plain pickle refuses them."""
    low = 2

    def closure_space(trial):
        trial.suggest_int("x", low, 9)

    searcher = make_searcher(closure_space, {"y": "max"}, None, seed=0)
    searcher.suggest("a")
    searcher.on_trial_complete("a", {"y": 1.0})
    searcher.save(str(tmp_path / "ckpt.pkl"))
    fresh = RaymtOptunaSearch()
    fresh.restore(str(tmp_path / "ckpt.pkl"))
    assert len(fresh._ot_study.trials) == 1
    assert 2 <= fresh.suggest("b")["x"] <= 9


def test_journal_path_makes_a_study_that_load_study_reads(tmp_path):
    path = tmp_path / "sub" / "study.log"
    searcher = make_searcher(space, OBJECTIVES, None, seed=0, study_name="exp", storage=path)
    config = searcher.suggest("t0")
    searcher.on_trial_complete("t0", metrics(config))
    study = optuna.load_study(study_name="exp", storage=journal_storage(path))
    assert [t.values for t in study.trials] == [[metrics(config)["bleu"], metrics(config)["storage_mb"]]]


def test_tuner_refuses_zero_concurrency(tmp_path):
    searcher = make_searcher(space, OBJECTIVES, None, seed=0)
    with pytest.raises(ConfigError, match="max_concurrent_trials"):
        make_tuner(lambda c: None, searcher=searcher, num_samples=2, max_concurrent_trials=0, storage_path=tmp_path, name="x")


def quiet_trainable(config: dict) -> None:
    """A function trainable by reference (a restored Tuner checks the trainable's name)."""


def test_a_resumed_search_runs_at_the_verbosity_and_with_the_log_of_this_run(tmp_path):
    """``raymt search --resume DIR --verbose``: Tune restores the RunConfig the search started
    with (verbose 0, raymt's trial lines with their log dropped by pickling); the resumed run
    takes this run's verbosity, and the trial lines print through this run's log."""
    from raymt.search.trial_lines import TrialLines, log_restored_lines

    started: list[str] = []
    make_tuner(
        quiet_trainable,
        searcher=None,
        num_samples=1,
        max_concurrent_trials=1,
        storage_path=tmp_path,
        name="exp",
        callbacks=[TrialLines(OBJECTIVES, num_samples=1, epochs=1, log=started.append)],
        verbose=0,
    )
    assert run_config(restore_tuner(tmp_path / "exp", quiet_trainable)).verbose == 0  # by default, as saved
    resumed = restore_tuner(tmp_path / "exp", quiet_trainable, verbose=None)  # --verbose: Ray's default output
    config = run_config(resumed)
    assert config.verbose is None
    lines: list[str] = []
    log_restored_lines(config.callbacks, lines.append)
    (restored,) = [c for c in config.callbacks if isinstance(c, TrialLines)]
    restored.on_trial_start(0, [], type("Trial", (), {"trial_id": "aaaa0001", "config": {"method": "lora"}})())
    assert lines == ["trial aaaa0001 started (1 of 1): method lora"] and started == []


def _failed_actor_task(exception, *, patched: bool):
    """Ray Tune's actor manager handed a failed task of a trial's actor: what Tune's callbacks get."""
    from types import SimpleNamespace

    from ray.air.execution._internal.actor_manager import RayActorManager

    seen: dict = {}
    actor = SimpleNamespace(actor_id="a1", _on_error=lambda tracked, exc: seen.setdefault("actor_died", exc))
    task = SimpleNamespace(_tracked_actor=actor, _on_error=lambda tracked, exc: seen.setdefault("task_failed", exc))
    manager = RayActorManager.__new__(RayActorManager)  # no Ray: only the failure path runs
    manager._failed_actor_ids = set()
    manager._cleanup_actor = lambda tracked_actor: None
    if patched:
        with fail_trials_killed_for_memory():
            manager._actor_task_failed(task, exception)
    else:
        manager._actor_task_failed(task, exception)
    return seen


def test_a_trial_actor_killed_for_memory_is_a_dead_trial_not_the_end_of_the_search():
    """Ray's memory monitor killed a trial's Tune actor: the actor's pending task raises
    ``OutOfMemoryError``, not a ``RayActorError``, and Ray Tune 2.60 raised it out of
    ``Tuner.fit()`` (``raymt search`` exited 1). Inside raymt's fit it is the actor's death,
    which Tune records as the trial's failure, Ray's report kept as its error."""
    from ray import cloudpickle
    from ray.exceptions import OutOfMemoryError, RayActorError

    report = "6 worker(s) were killed due to the node running low on memory. Memory on the node (IP: 10.0.0.1, ID: ab) was ..."
    with pytest.raises(RuntimeError, match="Caught unexpected exception"):  # what Ray does on its own
        _failed_actor_task(OutOfMemoryError(report), patched=False)
    seen = _failed_actor_task(OutOfMemoryError(report), patched=True)
    assert seen["actor_died"] is seen["task_failed"]
    error = seen["task_failed"]
    assert isinstance(error, TrialKilledForMemory) and isinstance(error, RayActorError) and isinstance(error, OutOfMemoryError)
    assert str(error) == report
    assert str(cloudpickle.loads(cloudpickle.dumps(error))) == report  # Tune pickles it into the trial's error.pkl
    # an actor's own death and a task's error go through untouched, and Ray's handler is back after the search
    other = RayActorError(error_msg="killed by SIGKILL")
    assert _failed_actor_task(other, patched=True)["task_failed"] is other
    from ray.air.execution._internal.actor_manager import RayActorManager

    with fail_trials_killed_for_memory():
        pass
    assert RayActorManager._actor_task_failed.__qualname__ == "RayActorManager._actor_task_failed"


# --------------------------------------------------------------------------- through Ray Tune
@pytest.fixture(scope="module")
def ray_cluster():
    import ray
    from ray import cloudpickle

    # Trial actors cannot import this test module: ship its functions by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
def test_tuner_search_is_persisted_in_a_journal_optuna_can_load(ray_cluster, tmp_path):
    from ray import tune

    def trainable(config):
        tune.report(metrics(config))

    journal = tmp_path / "optuna.journal"
    sampler = make_sampler(
        SamplerConfig(seed=0, raymt={"n_startup_trials": 2, "n_candidates": 64}),
        objectives=OBJECTIVES,
        space_fn=space,
        known_objectives={"storage_mb": lambda p: metrics(p)["storage_mb"]},
    )
    searcher = make_searcher(space, OBJECTIVES, sampler, seed=0, study_name="nmt", storage=journal)
    tuner = make_tuner(
        trainable,
        searcher=searcher,
        num_samples=4,
        max_concurrent_trials=1,
        storage_path=tmp_path / "runs",
        name="journal",
        resources={"cpu": 0.1},
        reuse_actors=True,
        verbose=0,
    )
    grid = tuner.fit()
    assert not grid.errors
    study = optuna.load_study(study_name="nmt", storage=journal_storage(journal))
    assert len(study.trials) == 4 and all(t.state == TrialState.COMPLETE for t in study.trials)
    told = sorted((t.values[0], t.values[1]) for t in study.trials)
    reported = sorted((r.metrics["bleu"], r.metrics["storage_mb"]) for r in grid)
    assert told == reported
    for t in study.trials:  # conditional: LoRA rank only where the method is LoRA
        assert ("lora_r" in t.params) == (t.params["method"] == "lora")


class _DriverCrash(Exception):
    pass


@pytest.mark.slow
def test_restored_tuner_continues_the_searcher_state(ray_cluster, tmp_path):
    """The driver dies after 2 of 5 trials; the restored search still holds the first run's
    trials (same Optuna study, numbering continues) and runs only the 3 missing ones."""
    from ray import tune

    marker = tmp_path / "crashed"

    class CrashAfterTwo(tune.Callback):
        """Raises out of the controller loop once (Tune swallows errors in on_trial_complete;
        the restored run gets this callback back from the checkpoint, hence the marker)."""

        def on_step_end(self, iteration, trials, **info):
            if not marker.exists() and sum(t.status == "TERMINATED" for t in trials) >= 2:
                marker.touch()
                raise _DriverCrash("driver killed")

    def trainable(config):
        tune.report(metrics(config))

    low = 1

    def closure_space(trial):  # a closure: the searcher checkpoint must still work
        method = trial.suggest_categorical("method", ["full", "lora"])
        if method == "lora":
            trial.suggest_int("lora_r", low, 64, log=True)

    points = [{"method": "full"}, {"method": "lora", "lora_r": 4}]
    sampler = make_sampler(
        SamplerConfig(seed=1, raymt={"n_startup_trials": 1, "n_candidates": 64}),
        objectives=OBJECTIVES,
        space_fn=closure_space,
        known_objectives={"storage_mb": lambda p: metrics(p)["storage_mb"]},
    )
    searcher = make_searcher(closure_space, OBJECTIVES, sampler, seed=1, points_to_evaluate=points)
    tuner = make_tuner(
        trainable,
        searcher=searcher,
        num_samples=5,
        max_concurrent_trials=1,
        storage_path=tmp_path / "runs",
        name="resume",
        resources={"cpu": 0.1},
        callbacks=[CrashAfterTwo()],
        verbose=0,
    )
    with pytest.raises(Exception, match="driver killed"):
        tuner.fit()

    grid = restore_tuner(tmp_path / "runs" / "resume", trainable, resources={"cpu": 0.1}).fit()
    assert len(grid) == 5 and not grid.errors

    restored = RaymtOptunaSearch()
    restored.restore_from_dir(str(tmp_path / "runs" / "resume"))
    trials = restored._ot_study.trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert [t.params for t in trials[:2]] == points
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 5, "the raymt sampler never repeats a configuration"


def test_storage_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    searcher = make_searcher(space, OBJECTIVES, None, seed=0)
    tuner = make_tuner(lambda c: None, searcher=searcher, num_samples=1, max_concurrent_trials=1, storage_path="rel", name="n")
    run_config = tuner._local_tuner.get_run_config()
    assert Path(run_config.storage_path) == tmp_path / "rel"


def test_each_optuna_trial_records_its_tune_trial_so_the_table_links_them(tmp_path):
    from raymt.results.files import JOURNAL
    from raymt.results.study import optuna_links

    searcher = make_searcher(space, OBJECTIVES, None, seed=0, study_name="exp", storage=tmp_path / JOURNAL)
    for tune_id in ("9f0c1a2b", "01d2e3f4"):
        searcher.on_trial_complete(tune_id, metrics(searcher.suggest(tune_id)))
    links = optuna_links(tmp_path)
    assert {k: v.number for k, v in links.items()} == {"9f0c1a2b": 0, "01d2e3f4": 1}
    assert all(v.start is not None for v in links.values())
    assert optuna_links(tmp_path / "elsewhere") == {}  # no journal: no links, no error


def test_the_study_names_its_objectives_and_keeps_each_epoch(tmp_path):
    """What optuna-dashboard reads from the journal: objective names, not "Objective 0/1", and
    the per-epoch scores (user attributes: Optuna 5 refuses trial.report with two objectives)."""
    from raymt.results.study import load_journal_study
    from raymt.search.tuner import per_epoch_attr

    searcher = make_searcher(space, OBJECTIVES, None, seed=0, study_name="exp", storage=tmp_path / "optuna_journal.log")
    config = searcher.suggest("t0")
    for epoch, score in ((1, 12.5), (2, 18.0)):
        searcher.on_trial_result("t0", {"epoch": epoch, "bleu": score, "bleu_epoch": score, "storage_mb": 0.4})
    searcher.on_trial_complete("t0", {"bleu": 18.0, "storage_mb": 0.4})
    study = load_journal_study(tmp_path)
    assert study.metric_names == ["bleu", "storage_mb"] and config
    trial = study.trials[0]
    assert trial.user_attrs[per_epoch_attr("bleu")] == {"1": 12.5, "2": 18.0}
    assert trial.user_attrs[per_epoch_attr("storage_mb")] == {"1": 0.4, "2": 0.4}
    with pytest.raises(NotImplementedError):  # why: if Optuna ever allows it, report intermediate values instead
        optuna.create_study(directions=["maximize", "minimize"]).ask().report(1.0, step=1)


def test_a_single_objective_study_gets_intermediate_values(tmp_path):
    searcher = make_searcher(space, {"bleu": "max"}, None, seed=0, study_name="one", storage=tmp_path / "j.log")
    searcher.suggest("t0")
    for epoch, best, own in ((1, 12.5, 12.5), (2, 12.5, 11.0)):
        searcher.on_trial_result("t0", {"epoch": epoch, "bleu": best, "bleu_epoch": own})
    searcher.on_trial_complete("t0", {"bleu": 12.5})
    study = optuna.load_study(study_name="one", storage=journal_storage(tmp_path / "j.log"))
    assert study.metric_names == ["bleu"]
    assert study.trials[0].intermediate_values == {1: 12.5, 2: 11.0}  # the learning curve, not the best so far
