"""Decisions of raymt's early-stopping schedulers, driven directly as Ray's own scheduler tests do.

The schedulers are fed ``on_trial_add`` / ``on_trial_result`` with Trial-like objects (a trial
id and a config); the one slow test runs a real ``tune.Tuner`` to prove the stop reaches the
results.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler

from raymt.errors import ConfigError
from raymt.search.scheduler.asha import NoEarlyStopping, RecordingASHAScheduler
from raymt.search.scheduler.build import make_scheduler, scheduler_from_config
from raymt.search.scheduler.mo_asha import MultiObjectiveASHAScheduler, front_indices, rung_milestones, storage_band
from raymt.search.scheduler.options import ASHAConfig, MOASHAConfig, parse_scheduler_config
from raymt.search.scheduler.record import EARLY_STOP_RUNG_KEY, EARLY_STOPPED_KEY, EarlyStopMarker

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


@dataclass
class FakeTrial:
    trial_id: str
    config: dict = field(default_factory=dict)


def feed(scheduler, trial_id: str, t: float, bleu: float, storage_mb: float | None = None) -> str:
    """Add the trial if new, then report one result; return the scheduler's decision."""
    trial = FakeTrial(trial_id)
    added = scheduler.__dict__.setdefault("_test_added", set())
    if trial_id not in added:
        scheduler.on_trial_add(None, trial)
        added.add(trial_id)
    result = {"training_iteration": t, "bleu": bleu}
    if storage_mb is not None:
        result["storage_mb"] = storage_mb
    return scheduler.on_trial_result(None, trial, result)


def mo(**kw) -> MultiObjectiveASHAScheduler:
    params = dict(metric="bleu", mode="max", max_t=9, grace_period=1, reduction_factor=3)
    params.update(kw)
    return MultiObjectiveASHAScheduler(**params)


# -- the rule a user relies on ----------------------------------------------------------


def test_cheap_low_bleu_trial_survives_a_rung_that_single_metric_asha_stops_it_at():
    mo_sched = mo()
    asha = RecordingASHAScheduler(metric="bleu", mode="max", max_t=9, grace_period=1, reduction_factor=3)
    for i, bleu in enumerate([20.0, 22.0, 24.0, 25.0, 21.0, 23.0]):  # large adapters, high BLEU
        feed(mo_sched, f"big{i}", 1, bleu, 100.0)
        feed(asha, f"big{i}", 1, bleu, 100.0)
    # A 0.8 MB adapter at 5 BLEU: dominated by nobody (it is the smallest), so it may still be
    # on the final front; single-metric ASHA stops it, multi-objective ASHA must not.
    assert feed(asha, "small", 1, 5.0, 0.8) == STOP
    assert feed(mo_sched, "small", 1, 5.0, 0.8) == CONTINUE
    assert not mo_sched.is_early_stopped("small")
    assert asha.is_early_stopped("small") and asha.stopped_trials["small"].rung == 1


def test_a_large_trial_beaten_by_cheaper_ones_is_stopped():
    s = mo()
    for i, bleu in enumerate([30.0, 29.0, 28.0, 27.0, 26.0]):
        feed(s, f"small{i}", 1, bleu, 1.0 + i * 0.1)  # each one a front point of its own
    assert feed(s, "big", 1, 10.0, 50.0) == STOP  # worse AND larger than all five
    stop = s.stopped_trials["big"]
    assert (stop.rung, stop.time, stop.metric, stop.cost) == (1.0, 1.0, 10.0, 50.0)
    assert "front" in stop.reason


BLEUS = [5.0, 3.0, 8.0, 1.0, 6.0, 7.0, 2.0, 4.0]
EXPECTED_RF2 = [CONTINUE, STOP, CONTINUE, STOP, CONTINUE, CONTINUE, STOP, STOP]


def test_with_one_storage_value_the_worst_are_stopped_as_asha_would():
    # reduction_factor 2: a newcomer continues when fewer than n/2 of the n trials at the rung
    # beat it. Worked by hand: 5 first; 3 (5 beats it, 1 >= 2/2); 8 best; 1 (3 beat it, >= 2);
    # 6 (only 8, < 2.5); 7 (only 8, < 3); 2 (5 beat it, >= 3.5); 4 (4 beat it, >= 4).
    s = mo(reduction_factor=2, max_t=8)
    asha = AsyncHyperBandScheduler(metric="bleu", mode="max", max_t=8, grace_period=1, reduction_factor=2)
    got = [feed(s, f"t{i}", 1, b, 3.0) for i, b in enumerate(BLEUS)]
    tune_asha = [feed(asha, f"t{i}", 1, b) for i, b in enumerate(BLEUS)]
    assert got == EXPECTED_RF2
    assert tune_asha == EXPECTED_RF2
    assert set(s.stopped_trials) == {f"t{i}" for i, d in enumerate(EXPECTED_RF2) if d == STOP}


def test_reduction_factor_sets_the_fraction_that_survives_a_rung():
    # Worst-first arrival: every newcomer is the best so far and continues; best-first: each
    # newcomer k (0-based) is beaten by k trials and continues only while k < (k+1)/rf.
    for rf in (2, 3, 4):
        s = mo(reduction_factor=rf, max_t=50)
        decisions = [feed(s, f"t{i}", 1, 100.0 - i, 5.0) for i in range(12)]
        assert decisions == [CONTINUE] + [STOP] * 11
        s = mo(reduction_factor=rf, max_t=50)
        assert all(feed(s, f"t{i}", 1, float(i), 5.0) == CONTINUE for i in range(12))
    # Interleaved arrival: about 1/rf of the trials pass (ASHA's promotion rate).
    rng = np.random.default_rng(0)
    for rf in (2, 3, 4):
        s = mo(reduction_factor=rf, max_t=50)
        passed = sum(feed(s, f"t{i}", 1, float(b), 5.0) == CONTINUE for i, b in enumerate(rng.permutation(300)))
        assert abs(passed / 300 - 1 / rf) < 0.08, (rf, passed)


def test_decisions_happen_only_at_rungs_and_completion_is_not_an_early_stop():
    assert rung_milestones(1, 9, 3) == [1.0, 3.0]
    assert rung_milestones(1, 81, 3) == [1.0, 3.0, 9.0, 27.0]  # 3**4 is max_t: no rung there
    s = mo(max_t=9, grace_period=1, reduction_factor=3)
    for i in range(6):
        for t in (1, 2, 3):
            feed(s, f"good{i}", t, 20.0 + i + t, 1.0)
    # A trial of the same size, worse than all six at rung 1: stopped there.
    assert feed(s, "bad", 1, 1.0, 1.0) == STOP and s.stopped_trials["bad"].rung == 1
    # A trial that is best at rung 1 but worst at rung 3 is stopped at t=3, not at t=2.
    assert feed(s, "fader", 1, 99.0, 1.0) == CONTINUE
    assert feed(s, "fader", 2, 0.5, 1.0) == CONTINUE  # no rung at 2
    assert feed(s, "fader", 3, 0.5, 1.0) == STOP
    assert s.stopped_trials["fader"].rung == 3 and s.stopped_trials["fader"].time == 3
    # Reaching max_t stops the trial (its budget is spent) but is a completion.
    assert feed(s, "good5", 9, 40.0, 1.0) == STOP
    assert not s.is_early_stopped("good5")


def test_a_trial_that_skips_rungs_is_judged_at_the_highest_rung_it_reached():
    s = mo(max_t=27, grace_period=1, reduction_factor=3)  # rungs 1, 3, 9
    for i in range(5):
        feed(s, f"r{i}", 9, 50.0 + i, 2.0)  # these skip straight to t=9: recorded at rung 9
    assert all(f"r{i}" in s._rungs[9.0] for i in range(5))
    assert not any(f"r{i}" in s._rungs[1.0] for i in range(5))
    assert feed(s, "late", 10, 1.0, 2.0) == STOP and s.stopped_trials["late"].rung == 9


def test_bands_rank_within_a_storage_band_only():
    s = mo(ranking="bands", band_width_decades=1.0, reduction_factor=2)
    # Band [1, 10) MB holds strong trials; band [10, 100) weak ones. Each band is its own ASHA.
    for i, b in enumerate([30.0, 31.0, 32.0]):
        assert feed(s, f"a{i}", 1, b, 2.0 + i) == CONTINUE
    assert feed(s, "b0", 1, 5.0, 20.0) == CONTINUE  # first of its band
    assert feed(s, "b1", 1, 6.0, 30.0) == CONTINUE  # best of its band, though far below band A
    assert feed(s, "b2", 1, 1.0, 40.0) == STOP  # beaten by 2 of 3 in its band (>= 1.5)
    assert feed(s, "a3", 1, 20.0, 5.0) == STOP  # beaten by 3 of 4 in band A
    assert storage_band(0.79, 0.5) == -1 and storage_band(1.0, 0.5) == 0 and storage_band(3.17, 0.5) == 1
    with pytest.raises(ConfigError, match="positive"):
        storage_band(0.0, 0.5)


# -- properties of the non-dominated sorting -------------------------------------------


def _peel_fronts(metric: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Reference implementation: repeatedly remove the non-dominated set."""
    n, front, left, k = len(metric), np.full(len(metric), -1), set(range(len(metric))), 0
    while left:
        layer = {
            j for j in left if not any(metric[i] >= metric[j] and cost[i] <= cost[j] and (metric[i] > metric[j] or cost[i] < cost[j]) for i in left)
        }
        for j in layer:
            front[j] = k
        left -= layer
        k += 1
    assert (front >= 0).all() and n == len(front)
    return front


points = st.lists(st.tuples(st.integers(0, 6).map(float), st.sampled_from([0.8, 1.6, 2.5, 25.0, 100.0])), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(points)
def test_front_indices_match_peeling(pts):
    m, c = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    assert front_indices(m, c).tolist() == _peel_fronts(m, c).tolist()


@settings(max_examples=150, deadline=None)
@given(points, st.tuples(st.integers(0, 6).map(float), st.sampled_from([0.8, 1.6, 2.5, 25.0, 100.0])), st.sampled_from([2.0, 3.0, 4.0]))
def test_a_newcomer_nobody_dominates_is_never_stopped(recorded, newcomer, rf):
    s = mo(reduction_factor=rf, max_t=10)
    for i, (b, mb) in enumerate(recorded):
        feed(s, f"r{i}", 1, b, mb)
    b, mb = newcomer
    nobody_dominates = not any(rb >= b and rmb <= mb and (rb > b or rmb < mb) for rb, rmb in recorded)
    decision = feed(s, "new", 1, b, mb)
    if nobody_dominates:
        assert decision == CONTINUE
    # And one dominated by more than n/rf of the trials at the rung is always stopped.
    dominators = sum(rb >= b and rmb <= mb and (rb > b or rmb < mb) for rb, rmb in recorded)
    if dominators >= (len(recorded) + 1) / rf:
        assert decision == STOP


def test_nan_metric_counts_as_worst():
    assert front_indices(np.array([np.nan, 1.0]), np.array([1.0, 1.0])).tolist() == [1, 0]
    s = mo()
    feed(s, "ok", 1, 10.0, 1.0)
    assert feed(s, "broken", 1, math.nan, 1.0) == STOP


# -- cost, metric and config plumbing ---------------------------------------------------


def test_cost_comes_from_the_result_or_else_the_trial_config():
    s = mo()
    for i in range(4):
        feed(s, f"big{i}", 1, 30.0, 100.0)
    small = FakeTrial("small", config={"storage_mb": 0.5})
    s.on_trial_add(None, small)
    assert s.on_trial_result(None, small, {"training_iteration": 1, "bleu": 1.0}) == CONTINUE
    orphan = FakeTrial("orphan")
    s.on_trial_add(None, orphan)
    with pytest.raises(ConfigError, match="storage_mb"):
        s.on_trial_result(None, orphan, {"training_iteration": 1, "bleu": 1.0})


def test_results_without_metric_or_time_are_ignored():
    s = mo()
    trial = FakeTrial("t")
    s.on_trial_add(None, trial)
    assert s.on_trial_result(None, trial, {"bleu": 1.0, "storage_mb": 1.0}) == CONTINUE
    assert s.on_trial_result(None, trial, {"training_iteration": 1, "storage_mb": 1.0}) == CONTINUE
    assert not s._rungs[1.0]


def test_min_mode_flips_the_metric():
    s = mo(metric="eval_loss", mode="min", reduction_factor=2)
    for tid in ("a", "b"):
        s.on_trial_add(None, FakeTrial(tid))
    assert s.on_trial_result(None, FakeTrial("a"), {"training_iteration": 1, "eval_loss": 1.0, "storage_mb": 1}) == CONTINUE
    assert s.on_trial_result(None, FakeTrial("b"), {"training_iteration": 1, "eval_loss": 2.0, "storage_mb": 1}) == STOP
    assert s.stopped_trials["b"].metric == 2.0


def test_metric_and_mode_from_tune_config_only_when_not_given():
    s = MultiObjectiveASHAScheduler(max_t=9)
    with pytest.raises(ConfigError, match="metric"):
        s.on_trial_add(None, FakeTrial("t"))
    assert s.set_search_properties("bleu", "max") is True
    s.on_trial_add(None, FakeTrial("t"))
    assert mo().set_search_properties("chrf", "max") is False  # conflicting TuneConfig metric


def test_early_stop_marker_flags_results_of_stopped_trials_only():
    s = mo(reduction_factor=2)
    marker = EarlyStopMarker(s)
    for tid, bleu in [("a", 10.0), ("b", 1.0)]:
        trial = FakeTrial(tid)
        s.on_trial_add(None, trial)
        result = {"training_iteration": 1, "bleu": bleu, "storage_mb": 1.0}
        decision = s.on_trial_result(None, trial, result)
        marker.on_trial_result(iteration=0, trials=[], trial=trial, result=result)
        assert result[EARLY_STOPPED_KEY] is (decision == STOP)
        assert (EARLY_STOP_RUNG_KEY in result) is (decision == STOP)
    assert result[EARLY_STOP_RUNG_KEY] == 1.0
    with pytest.raises(ConfigError, match="raymt scheduler"):
        EarlyStopMarker(AsyncHyperBandScheduler(metric="bleu", mode="max"))


def test_make_scheduler_builds_each_kind_with_validated_params():
    assert isinstance(make_scheduler("none"), NoEarlyStopping)
    assert isinstance(make_scheduler("none"), FIFOScheduler)
    assert make_scheduler("none").stopped_trials == {}
    asha = make_scheduler("asha", max_t=8, grace_period=2, reduction_factor=2)
    assert isinstance(asha, RecordingASHAScheduler) and asha._max_t == 8
    moa = make_scheduler("mo_asha", max_t=27, ranking="bands", band_width_decades=0.25)
    assert isinstance(moa, MultiObjectiveASHAScheduler)
    assert (moa._metric, moa._mode, moa._cost_attr, moa._milestones) == ("bleu", "max", "storage_mb", [1.0, 3.0, 9.0])


@pytest.mark.parametrize(
    "data, where, fix",
    [
        ({"kind": "mo_asha", "max_t": 4, "grace": 1}, "scheduler.grace", "did you mean 'grace_period'"),
        ({"kind": "hyperband"}, "scheduler.kind", "none, asha, mo_asha"),
        ({"max_t": 4}, "scheduler.kind", "none, asha, mo_asha"),
        ({"kind": "asha", "max_t": 2, "grace_period": 3}, "scheduler.grace_period", "at most max_t"),
        ({"kind": "asha", "reduction_factor": 1}, "scheduler.reduction_factor", "ASHAConfig"),
        ({"kind": "mo_asha", "ranking": "crowding"}, "scheduler.ranking", "MOASHAConfig"),
        ({"kind": "none", "max_t": 3}, "scheduler.max_t", "remove it"),
    ],
)
def test_config_mistakes_name_the_field_and_the_fix(data, where, fix):
    with pytest.raises(ConfigError) as err:
        parse_scheduler_config(data)
    assert err.value.where == where
    assert fix in err.value.fix


def test_max_t_left_to_the_tuner():
    cfg = parse_scheduler_config({"kind": "mo_asha", "grace_period": 2})
    assert isinstance(cfg, MOASHAConfig) and cfg.max_t is None
    with pytest.raises(ConfigError, match="max_t"):
        scheduler_from_config(cfg)
    assert scheduler_from_config(cfg, max_t=18)._milestones == [2.0, 6.0]
    with pytest.raises(ConfigError, match="grace_period"):
        scheduler_from_config(cfg, max_t=1)
    assert isinstance(parse_scheduler_config({"kind": "asha", "max_t": 4}), ASHAConfig)


def test_every_config_field_has_a_description():
    for model in (ASHAConfig, MOASHAConfig):
        for name, f in model.model_fields.items():
            assert f.description, f"{model.__name__}.{name}"


def test_recording_asha_does_not_record_completion_at_max_t():
    s = RecordingASHAScheduler(metric="bleu", mode="max", max_t=3, grace_period=1, reduction_factor=3)
    for tid, t in itertools.product(["a"], [1, 2, 3]):
        decision = feed(s, tid, t, 10.0 + t)
    assert decision == STOP and s.stopped_trials == {}


# -- one real Tune run -----------------------------------------------------------------


@pytest.mark.slow
def test_real_tuner_stops_trials_and_marks_them_in_results(tmp_path, ray_local):
    import ray
    from ray import tune

    def toy(config):
        # BLEU grows towards a ceiling set by quality; storage is fixed by the config.
        cfg = config["cfg"]
        for epoch in range(1, 10):
            tune.report({"bleu": cfg["quality"] * (1 - 0.5**epoch), "storage_mb": cfg["storage_mb"]})

    # Run one at a time, in this order: eight large adapters, best first (all but the first
    # are beaten at rung 1), then two small weak ones. The first small one is the smallest
    # and so dominated by nobody: it must complete although every large one beats its BLEU.
    # The second is dominated by the first (same size, lower BLEU) and is stopped at rung 3.
    configs = [{"quality": 27.0 - i, "storage_mb": 100.0} for i in range(8)]
    configs += [{"quality": 5.0, "storage_mb": 0.8}, {"quality": 4.0, "storage_mb": 0.8}]
    scheduler = make_scheduler("mo_asha", max_t=9, grace_period=1, reduction_factor=3)
    try:
        grid = tune.Tuner(
            tune.with_resources(toy, {"cpu": 0.1}),
            param_space={"cfg": tune.grid_search(configs)},
            tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=1, reuse_actors=True),
            run_config=tune.RunConfig(storage_path=str(tmp_path), name="toy", verbose=0, callbacks=[EarlyStopMarker(scheduler)]),
        ).fit()
    finally:
        ray.shutdown()

    assert not [r.error for r in grid if r.error]
    rows = {r.metrics["trial_id"]: (r.config["cfg"], r.metrics) for r in grid}
    stopped = scheduler.stopped_trials
    for trial_id, (_, metrics) in rows.items():
        assert metrics[EARLY_STOPPED_KEY] is (trial_id in stopped)
        if trial_id in stopped:
            assert metrics["training_iteration"] < 9
            assert metrics[EARLY_STOP_RUNG_KEY] == stopped[trial_id].rung
        else:
            assert metrics["training_iteration"] == 9
    by_quality = {cfg["quality"]: trial_id for trial_id, (cfg, _) in rows.items()}
    assert by_quality[27.0] not in stopped and by_quality[5.0] not in stopped
    assert {stopped[by_quality[q]].rung for q in (26.0, 25.0, 24.0, 23.0, 22.0, 21.0, 20.0)} == {1.0}
    assert stopped[by_quality[4.0]].rung == 3.0
    assert len(stopped) == 8
    # The flag is also in the trial's results on disk (it survives Tuner.restore).
    df = grid.get_dataframe()
    assert sorted(df[EARLY_STOPPED_KEY].tolist()) == [False] * 2 + [True] * 8
