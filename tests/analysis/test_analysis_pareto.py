"""Pareto fronts and hypervolume: hand cases, properties on random tables, and the
Zhang & Duh (2020) NMT-HPO lookup tables as an external oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raymt.analysis.pareto import (
    _hv_slicing,
    default_reference,
    dominates,
    eligible_mask,
    hypervolume,
    pareto_front,
    pareto_mask,
    to_losses,
)
from raymt.errors import ConfigError, DataError

OBJ = {"bleu": "max", "storage_mb": "min"}


def _table(rows):
    return pd.DataFrame(rows, columns=["trial_id", "status", "bleu", "storage_mb"])


def test_front_of_a_hand_made_table():
    df = _table(
        [
            ("a", "completed", 30.0, 1000.0),  # best BLEU
            ("b", "completed", 25.0, 10.0),  # good trade-off
            ("c", "completed", 24.0, 20.0),  # dominated by b
            ("d", "completed", 20.0, 1.0),  # smallest
            ("e", "early_stopped", 28.0, 0.5),  # truncated run: must not enter
            ("f", "failed", np.nan, np.nan),
            ("g", "completed", np.nan, 5.0),  # no BLEU recorded
            ("h", "completed", 25.0, 10.0),  # duplicate of b: also on the front
        ]
    )
    front = pareto_front(df, OBJ)
    assert list(front["trial_id"]) == ["d", "b", "h", "a"]  # ascending BLEU
    mask = pareto_mask(df, OBJ)
    assert mask.index.equals(df.index)
    assert list(df.loc[mask, "trial_id"]) == ["a", "b", "d", "h"]
    # Letting early-stopped trials compete is possible: then the truncated run e (28 BLEU,
    # 0.5 MB) knocks out every completed trial but the best one; the default prevents this.
    with_es = pareto_front(df, OBJ, statuses=("completed", "early_stopped"))
    assert set(with_es["trial_id"]) == {"a", "e"}


def test_single_objective_and_three_objectives():
    df = pd.DataFrame({"status": "completed", "bleu": [1.0, 3.0, 3.0, 2.0], "mb": [4.0, 3.0, 2.0, 1.0], "lat": [1.0, 1.0, 9.0, 9.0]})
    assert list(pareto_mask(df, {"bleu": "max"})) == [False, True, True, False]
    # 3-D: row 2 has better mb but worse latency than row 1; row 3 best mb.
    assert list(pareto_mask(df, {"bleu": "max", "mb": "min", "lat": "min"})) == [False, True, True, True]


def test_bad_objectives_and_missing_status_are_user_errors():
    df = _table([("a", "completed", 1.0, 1.0)])
    with pytest.raises(ConfigError, match="not a column"):
        pareto_mask(df, {"bleux": "max"})
    with pytest.raises(ConfigError, match="direction 'maximise'.*'maximize'"):  # Optuna's spelling is taken
        pareto_mask(df, {"bleu": "maximise"})
    assert list(pareto_mask(df, {"bleu": "maximize"})) == list(pareto_mask(df, {"bleu": "max"}))
    with pytest.raises(ConfigError):
        pareto_mask(df, {})
    no_status = df.drop(columns="status")
    with pytest.raises(DataError, match="status"):
        pareto_mask(no_status, OBJ)
    assert pareto_mask(no_status, OBJ, statuses=None).tolist() == [True]


def test_duplicate_index_labels_are_handled_positionally():
    df = _table([("a", "completed", 1.0, 1.0), ("b", "completed", 2.0, 2.0), ("c", "completed", 0.5, 3.0)])
    df.index = [7, 7, 7]
    assert pareto_mask(df, OBJ).tolist() == [True, True, False]


# ---------------------------------------------------------------------------- properties
_values = st.one_of(st.integers(0, 6).map(float), st.just(float("nan")))


@st.composite
def random_tables(draw):
    k = draw(st.integers(1, 3))
    n = draw(st.integers(0, 25))
    directions = draw(st.lists(st.sampled_from(["max", "min"]), min_size=k, max_size=k))
    objectives = {f"o{j}": d for j, d in enumerate(directions)}
    data = {name: draw(st.lists(_values, min_size=n, max_size=n)) for name in objectives}
    data["status"] = draw(st.lists(st.sampled_from(["completed", "early_stopped", "failed"]), min_size=n, max_size=n))
    return pd.DataFrame(data, columns=["status", *objectives]), objectives


@settings(max_examples=80, deadline=None)
@given(random_tables())
def test_front_is_exactly_the_nondominated_eligible_rows(table):
    df, objectives = table
    mask = pareto_mask(df, objectives).to_numpy()
    eligible = eligible_mask(df, objectives).to_numpy()
    values = df[list(objectives)].to_numpy(dtype=float)
    assert not (mask & ~eligible).any()  # NaN and non-completed rows never enter
    for i in np.flatnonzero(mask):  # no member is dominated by any eligible row
        assert not any(dominates(values[j], values[i], objectives) for j in np.flatnonzero(eligible))
    for i in np.flatnonzero(eligible & ~mask):  # every other eligible row is dominated by a member
        assert any(dominates(values[j], values[i], objectives) for j in np.flatnonzero(mask))


@settings(max_examples=50, deadline=None)
@given(random_tables(), st.randoms(use_true_random=False))
def test_front_is_invariant_to_row_order(table, rnd):
    df, objectives = table
    df = df.assign(row=range(len(df)))
    order = list(range(len(df)))
    rnd.shuffle(order)
    shuffled = df.iloc[order]
    assert set(pareto_front(df, objectives)["row"]) == set(pareto_front(shuffled, objectives)["row"])
    front = pareto_front(shuffled, objectives)
    first = next(iter(objectives))
    assert front[first].is_monotonic_increasing


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 40), st.floats(0.1, 1000)), min_size=0, max_size=15),
    st.tuples(st.floats(0, 40), st.floats(0.1, 1000)),
)
def test_hypervolume_never_decreases_when_a_point_is_added(points, extra):
    reference = {"bleu": -1.0, "storage_mb": 1001.0}
    before = hypervolume(np.array(points).reshape(-1, 2), OBJ, reference)
    after = hypervolume(np.array([*points, extra]), OBJ, reference)
    assert after >= before - 1e-9 * max(1.0, before)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 5)] * 3), min_size=1, max_size=12))
def test_kd_hypervolume_agrees_with_independent_slicing(points):
    objectives = {"a": "min", "b": "max", "c": "min"}
    reference = [6.0, -1.0, 6.0]
    pts = np.array(points, dtype=float)
    losses = to_losses(pts, objectives)
    ref_loss = to_losses(np.array([reference]), objectives)[0]
    assert hypervolume(pts, objectives, reference) == pytest.approx(_hv_slicing(losses, ref_loss))


def test_hypervolume_hand_values():
    # Two points dominating the reference (0 BLEU, 100 MB): union of two rectangles.
    pts = np.array([[10.0, 50.0], [20.0, 80.0]])
    assert hypervolume(pts, OBJ, {"bleu": 0.0, "storage_mb": 100.0}) == pytest.approx(10 * 50 + 10 * 20)
    # A point outside the reference box adds nothing; an empty set has volume 0.
    assert hypervolume([[30.0, 200.0]], OBJ, [0.0, 100.0]) == 0.0
    assert hypervolume(np.empty((0, 2)), OBJ, [0.0, 100.0]) == 0.0
    # 3-D unit cubes: two overlapping boxes.
    obj3 = {"x": "min", "y": "min", "z": "min"}
    assert hypervolume([[0, 0, 1], [1, 0, 0]], obj3, [2, 2, 2]) == pytest.approx(2 * 2 * 1 + 1 * 2 * 2 - 1 * 2 * 1)
    # A DataFrame only counts eligible rows: an early-stopped point changes nothing.
    df = _table([("a", "completed", 10.0, 50.0), ("b", "early_stopped", 30.0, 1.0)])
    assert hypervolume(df, OBJ, [0.0, 100.0]) == pytest.approx(500.0)
    with pytest.raises(ConfigError, match="reference"):
        hypervolume(pts, OBJ)


def test_default_reference_is_the_nadir_pushed_out_by_the_margin():
    df = _table([("a", "completed", 10.0, 1.0), ("b", "completed", 30.0, 101.0), ("c", "failed", 0.0, 9999.0)])
    ref = default_reference(df, OBJ)
    assert ref == pytest.approx({"bleu": 10.0 - 2.0, "storage_mb": 101.0 + 10.0})
    # Every front point then contributes volume, the extremes included.
    hv_all = hypervolume(df, OBJ, ref)
    for drop in ("a", "b"):
        assert hypervolume(df[df.trial_id != drop], OBJ, ref) < hv_all
    same = _table([("a", "completed", 10.0, 5.0)])
    assert default_reference(same, OBJ) == pytest.approx({"bleu": 9.0, "storage_mb": 5.5})
    with pytest.raises(DataError, match="no eligible trial"):
        default_reference(_table([("a", "failed", np.nan, np.nan)]), OBJ)


# ---------------------------------------------------------------------------- Zhang & Duh
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nmt-hpo" / "datasets"
PAIRS = ["en-ja", "ja-en", "ru-en", "so-en", "sw-en", "zh-en"]


@pytest.mark.parametrize("pair", PAIRS)
def test_reproduces_zhang_duh_fronts(pair):
    evals, fronts = SHARED / f"{pair}.evals", SHARED / f"{pair}.fronts"
    if not evals.is_file() or not fronts.is_file():
        pytest.skip(f"Zhang & Duh NMT-HPO tables not found at {SHARED} (shared data folder absent)")
    table = np.loadtxt(evals, ndmin=2)
    expected = np.loadtxt(fronts).astype(int) == 1
    df = pd.DataFrame({"dev_bleu": table[:, 0], "dev_gpu_time": table[:, 1]})
    mask = pareto_mask(df, {"dev_bleu": "max", "dev_gpu_time": "min"}, statuses=None)
    assert expected.sum() >= 3
    np.testing.assert_array_equal(mask.to_numpy(), expected)
