"""The ground-truth table's script (a grid search's results folder -> one CSV row per
configuration) and the sampler replay on it (a lookup objective over the very space the grid
trained)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.ground_truth import ground_truth
from benchmarks.sampler_replay import GroundTruth, grid_space, replay, run
from raymt.results.files import CONFIG_COPY, HISTORY_FILE, MARKER, TRIALS_FILE


def full_grid_table(seed: int = 0, failed: int = 0) -> pd.DataFrame:
    """Every configuration of search_spaces/ground_truth.yaml's grid with made-up results."""
    rng = np.random.default_rng(seed)
    rows = []
    for lr in (3e-4, 1e-3, 3e-3):
        rows.append({"method": "full", "train.lr": lr, "val_bleu": 20 + rng.normal(), "storage_mb": 8.0})
        for r in (2, 8, 32):
            rows.append({"method": "lora", "train.lr": lr, "lora.r": r, "val_bleu": 10 + r / 4 + rng.normal(), "storage_mb": 0.01 * r})
        for s in (8, 32, 128):
            rows.append({"method": "adapter", "train.lr": lr, "adapter.size": s, "val_bleu": 12 + s / 20 + rng.normal(), "storage_mb": 0.005 * s})
    df = pd.DataFrame(rows).assign(status="completed")
    df.loc[: failed - 1, "status"] = "failed"
    return df


def test_the_replay_space_is_the_grid_and_every_proposal_is_a_row():
    space = grid_space()
    assert space.grid_size() == 21
    truth = GroundTruth(full_grid_table())
    for name in ("random", "raymt", "tpe"):
        results = replay(name, 0, space, truth, 24)
        assert len(results) == 24 and all(r is not None for r in results)


def test_all_configurations_evaluated_reach_the_whole_front_and_a_failed_one_counts_as_none():
    table = full_grid_table(failed=1)
    truth = GroundTruth(table)
    done = table[table["status"] == "completed"]
    curve = truth.hv_curve([None, *zip(done["val_bleu"], done["storage_mb"])])
    assert curve[0] == 0.0 and curve[-1] == pytest.approx(1.0)
    assert np.all(np.diff(curve) >= -1e-12)
    raw = run(table, ["random", "nsga2"], seeds=2, n_evals=16, log=lambda m: None)
    assert set(raw["sampler"]) == {"random", "nsga2"} and len(raw) == 4
    assert raw[["hv@8", "hv@16"]].le(1.0 + 1e-9).all().all()


def test_ground_truth_table_from_a_results_folder(tmp_path):
    trials = pd.DataFrame(
        [
            {"trial_id": "a", "status": "completed", "method": "lora", "train.lr": 1e-3, "lora.r": 8.0, "adapter.size": np.nan, "bleu": 12.0},
            {"trial_id": "b", "status": "failed", "method": "full", "train.lr": 3e-3, "lora.r": np.nan, "adapter.size": np.nan, "bleu": np.nan},
        ]
    ).assign(storage_mb=[0.1, np.nan], best_epoch=[2, np.nan], wall_time_s=[60.0, 5.0], train_time_s=[40.0, np.nan], trainable_params=[1000, np.nan])
    trials["artifact_path"] = ["artifacts/a", ""]
    (tmp_path / "artifacts" / "a").mkdir(parents=True)
    (tmp_path / "artifacts" / "a" / "adapter.safetensors").write_bytes(b"x" * 1234)
    trials.to_parquet(tmp_path / TRIALS_FILE)
    pd.DataFrame({"trial_id": ["a", "a", "a"], "epoch": [1, 2, 3], "bleu": [5.0, 12.0, 11.0]}).to_parquet(tmp_path / HISTORY_FILE)
    (tmp_path / CONFIG_COPY).write_text(yaml.safe_dump({"train": {"seed": 3}, "search": {"objectives": {"bleu": "max", "storage_mb": "min"}}}))
    (tmp_path / MARKER).write_text(json.dumps({"name": "gt"}))
    df = ground_truth(tmp_path, test=False)
    a = df[df["trial_id"] == "a"].iloc[0]
    assert [a["val_bleu_epoch1"], a["val_bleu_epoch2"], a["val_bleu_epoch3"]] == [5.0, 12.0, 11.0]
    assert a["val_bleu_final"] == 11.0 and a["val_bleu"] == 12.0 and a["seed"] == 3
    assert a["storage_bytes"] == 1234
    assert df[df["trial_id"] == "b"].iloc[0]["status"] == "failed"
