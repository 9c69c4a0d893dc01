"""The trials table collect_results writes: run order, the ids that link raymt, Tune and Optuna,
nullable integer settings, and the front / knee flags a user filters on."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import pandas as pd

from raymt.analysis.front import Front
from raymt.results.collect import collect_results
from raymt.results.study import OptunaLink

OBJECTIVES = {"bleu": "max", "storage_mb": "min"}
T0 = 1_790_000_000  # seconds since the epoch


def _trial(tmp_path, tune_id, config, bleu, storage_mb, *, started, error=None, reported=True):
    metrics = (
        {
            "trial_id": tune_id,
            "bleu": bleu,
            "storage_mb": storage_mb,
            "finished": True,
            "epoch": 2,
            "best_epoch": 2,
            "trainable_params": 1000,
            "timestamp": started + 30,
            "time_total_s": 30.0,
        }
        if reported
        else {}
    )
    return SimpleNamespace(
        metrics=metrics,
        config=config,
        error=error,
        path=str(tmp_path / f"tune_trial_{tune_id}_3_method=lora_2026-12-05_01-02-03"),
        metrics_dataframe=None,
    )


def _collect(tmp_path, grid, optuna_trials=None):
    trials, _ = collect_results(
        grid, ["method", "train.lr", "lora.r", "adapter.size"], tmp_path, OBJECTIVES, "front", tmp_path / "refs.txt", optuna_trials=optuna_trials
    )
    return trials


def _grid(tmp_path):
    # ids in hash order differ from run order: the table follows the run
    return [
        _trial(tmp_path, "ffff0001", {"method": "lora", "train.lr": 1e-3, "lora.r": 8}, 30.0, 1.0, started=T0 + 200),
        _trial(tmp_path, "aaaa0002", {"method": "adapter", "train.lr": 2e-3, "adapter.size": 16}, 20.0, 0.1, started=T0 + 100),
        _trial(tmp_path, "cccc0003", {"method": "lora", "train.lr": 3e-3, "lora.r": 2}, 29.0, 0.3, started=T0),
        _trial(tmp_path, "bbbb0004", {"method": "lora", "train.lr": 3e-3, "lora.r": 4}, 10.0, 2.0, started=T0 + 300),
        _trial(
            tmp_path,
            "dddd0005",
            {"method": "lora", "train.lr": 1e-3, "lora.r": 16},
            float("nan"),
            float("nan"),
            started=T0,
            error=RuntimeError("worker died"),
            reported=False,
        ),
    ]


def test_rows_are_in_start_order_with_the_ids_of_tune_and_optuna(tmp_path):
    links = {
        "ffff0001": OptunaLink(2, None),
        "aaaa0002": OptunaLink(1, None),
        "cccc0003": OptunaLink(0, None),
        "bbbb0004": OptunaLink(3, None),
        "dddd0005": OptunaLink(4, datetime(2027, 1, 1, 12, 0, 0)),
    }
    trials = _collect(tmp_path, _grid(tmp_path), links)
    # the failed trial never reported: Optuna's start; it began last here
    assert list(trials["trial_id"]) == ["cccc0003", "aaaa0002", "ffff0001", "bbbb0004", "dddd0005"]
    assert list(trials["optuna_number"]) == [0, 1, 2, 3, 4] and str(trials["optuna_number"].dtype) == "Int64"
    assert list(trials["tune_trial_id"]) == list(trials["trial_id"])
    assert trials["start_time"].iloc[0] == pd.Timestamp(T0, unit="s", tz="UTC")
    assert trials["start_time"].is_monotonic_increasing


def test_without_a_study_the_optuna_number_is_missing_not_invented(tmp_path):
    trials = _collect(tmp_path, _grid(tmp_path))
    assert trials["optuna_number"].isna().all() and str(trials["optuna_number"].dtype) == "Int64"
    assert trials["start_time"].isna().sum() == 1  # the trial that never reported: unknown start, last row
    assert trials["trial_id"].iloc[-1] == "dddd0005"


def test_integer_settings_are_nullable_integers_and_survive_parquet(tmp_path):
    trials = _collect(tmp_path, _grid(tmp_path))
    for col in ("lora.r", "adapter.size", "trainable_params", "epochs_done", "best_epoch"):
        assert str(trials[col].dtype) == "Int64", col
    assert trials["train.lr"].dtype == float
    by_id = trials.set_index("trial_id")
    assert by_id.loc["ffff0001", "lora.r"] == 8 and pd.isna(by_id.loc["aaaa0002", "lora.r"])
    trials.to_parquet(tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert str(back["lora.r"].dtype) == "Int64" and str(back["start_time"].dtype).startswith("datetime64")
    assert "8.0" not in trials.to_csv(index=False).split("\n")[1]  # the CSV shows 8, not 8.0


def test_is_pareto_and_is_knee_agree_with_the_front(tmp_path):
    trials = _collect(tmp_path, _grid(tmp_path))
    front = Front(trials, OBJECTIVES)
    assert set(trials.loc[trials["is_pareto"], "trial_id"]) == set(front.members["trial_id"]) == {"aaaa0002", "cccc0003", "ffff0001"}
    knee = front.knee()
    assert knee.found and list(trials.loc[trials["is_knee"], "trial_id"]) == [knee.trial_id] == ["cccc0003"]


def test_a_front_without_a_knee_marks_none(tmp_path):
    grid = _grid(tmp_path)[:2]  # two members: nothing between the extremes
    trials = _collect(tmp_path, grid)
    assert trials["is_pareto"].sum() == 2 and not trials["is_knee"].any()


def test_a_search_whose_every_trial_failed_before_an_epoch_still_writes_its_tables(tmp_path):
    """Ray's memory monitor can kill every trial of a small search before one reports: the
    history then has no rows, and write_results refused it for lacking its columns."""
    from raymt.analysis.results import load, write_results

    grid = [
        _trial(
            tmp_path,
            f"eeee000{i}",
            {"method": "lora", "train.lr": 1e-3},
            float("nan"),
            float("nan"),
            started=T0,
            error=RuntimeError("x"),
            reported=False,
        )
        for i in range(2)
    ]
    trials, history = collect_results(grid, ["method", "train.lr"], tmp_path, OBJECTIVES, "front", tmp_path / "refs.txt")
    assert len(history) == 0 and {"trial_id", "epoch", "bleu"} <= set(history.columns)
    write_results(tmp_path, trials, history, objectives=OBJECTIVES)
    assert load(tmp_path)["status"].tolist() == ["failed", "failed"]
