"""The schedulers replayed on the ground-truth table's per-epoch curves: the table's reading, the
Ray-free driver of raymt's schedulers, and the summary rows."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmarks.lc_replay import SchedulerSpec, replay_in_process, shuffled
from benchmarks.lc_replay_ground_truth import TABLE, run, runs_from_table
from benchmarks.sampler_replay import grid_space, read_table

ASHA = SchedulerSpec("asha", "asha", (("metric", "bleu_best"), ("mode", "max"), ("grace_period", 1.0), ("reduction_factor", 2.0)))
MO_ASHA = SchedulerSpec("mo_asha", "mo_asha", (*ASHA.params, ("ranking", "pareto")))


def table(rows: list[tuple]) -> pd.DataFrame:
    """Ground-truth rows: (trial_id, method, size, storage_mb, epoch BLEUs, status)."""
    recs = []
    for tid, method, size, mb, curve, status in rows:
        rec = {"method": method, "train.lr": 1e-3, "lora.r": size if method == "lora" else math.nan}
        rec["adapter.size"] = size if method == "adapter" else math.nan
        rec.update({f"val_bleu_epoch{k}": b for k, b in enumerate(curve, 1)})
        recs.append({**rec, "storage_mb": mb, "status": status, "trial_id": tid})
    return pd.DataFrame(recs)


BIG_AND_SMALL = table(
    [
        ("big", "full", math.nan, 8.0, (5.0, 6.0, 7.0), "completed"),
        ("small", "adapter", 8, 0.1, (1.0, 2.0, 3.0), "completed"),  # cheap, low BLEU: a front member
        ("lost", "lora", 2, 0.2, (math.nan, math.nan, math.nan), "failed"),
    ]
)


def test_the_table_becomes_recorded_runs_with_their_curves_and_storage():
    runs = {r.run_id: r for r in runs_from_table(BIG_AND_SMALL)}
    assert set(runs) == {"big", "small"}  # a failed configuration has no curve to replay
    assert runs["small"].curve == (1.0, 2.0, 3.0) and runs["small"].storage_mb == 0.1
    assert runs["small"].model == "adapter" and runs["small"].rank == 8 and runs["big"].rank == 0


def test_single_metric_asha_stops_the_cheap_front_member_and_mo_asha_keeps_it():
    runs = runs_from_table(BIG_AND_SMALL)
    orders = {seed: [r.run_id for r in shuffled(runs, seed)] for seed in range(6)}
    assert {tuple(o) for o in orders.values()} == {("big", "small"), ("small", "big")}  # both arrival orders occur
    for seed, order in orders.items():
        asha = replay_in_process(runs, ASHA, seed=seed).set_index("run_id")
        mo = replay_in_process(runs, MO_ASHA, seed=seed).set_index("run_id")
        # ASHA compares BLEU only: arriving after the big model, the adapter is below the
        # rung's median at epoch 1 and stops there with the BLEU it had
        stopped_small = order[0] == "big"
        assert asha.loc["small", "early_stopped"] == stopped_small
        assert asha.loc["small", "checkpoints"] == (1 if stopped_small else 3)
        assert asha.loc["small", "bleu"] == (1.0 if stopped_small else 3.0)
        rung = asha.loc["small", "early_stop_rung"]
        assert (rung == 1.0) if stopped_small else math.isnan(rung)
        # the storage-aware scheduler: nobody at the rung is smaller, so it is never dominated
        assert not mo["early_stopped"].any() and (mo["checkpoints"] == 3).all()
        assert not asha.loc["big", "early_stopped"]


def test_summary_rows_measure_saved_epochs_and_the_front_kept():
    runs = runs_from_table(BIG_AND_SMALL)
    df = run(runs, seeds=6, kinds=("asha", "mo_asha"), rungs=(1.0, 2.0))
    none = df[df["scheduler"] == "none"]
    assert len(none) == 1 and none.iloc[0]["compute_saved"] == 0 and none.iloc[0]["hv_log_frac"] == 1.0
    assert none.iloc[0]["front_points"] == 2
    asha = df[df["scheduler"] == "asha"]
    stopped = asha[asha["early_stopped"] == 1]
    assert len(asha) == 6 and 0 < len(stopped) < 6
    assert stopped["compute_saved"].tolist() == pytest.approx([2 / 6] * len(stopped))  # 2 of the 6 epochs not run
    assert (stopped["front_points_kept"] == 1).all() and (stopped["hv_log_frac"] < 1).all()
    mo = df[df["scheduler"] == "mo_asha"]
    assert (mo["compute_saved"] == 0).all() and (mo["front_points_kept"] == 2).all()


def test_a_configuration_of_several_seeds_replays_their_mean_curve_or_one_seed():
    two = pd.concat([BIG_AND_SMALL.assign(seed=0), BIG_AND_SMALL.assign(seed=1, trial_id=BIG_AND_SMALL["trial_id"] + "1")], ignore_index=True)
    two.loc[(two["seed"] == 1) & (two["trial_id"] == "small1"), ["val_bleu_epoch1", "val_bleu_epoch2", "val_bleu_epoch3"]] = [3.0, 4.0, 5.0]
    runs = {r.run_id: r for r in runs_from_table(two)}
    assert set(runs) == {"big+big1", "small+small1"}
    assert runs["small+small1"].curve == (2.0, 3.0, 4.0) and runs["big+big1"].curve == (5.0, 6.0, 7.0)
    runs = {r.run_id: r for r in runs_from_table(two, seed=1)}
    assert runs["small1"].curve == (3.0, 4.0, 5.0)
    with pytest.raises(ValueError, match="seed 2"):
        runs_from_table(two, seed=2)


def test_the_shipped_table_replays():
    runs = runs_from_table(read_table(TABLE))
    assert len(runs) == grid_space().grid_size() == 30 and {len(r.curve) for r in runs} == {3}  # every configuration of the grid
    df = run(runs, seeds=2)
    assert set(df["scheduler"]) == {"none", "asha", "mo_asha", "mo_asha_bands"}
    assert df["hv_log_frac"].le(1 + 1e-9).all() and df["compute_saved"].between(0, 1).all()
