"""The like-for-like benchmarks' own logic: what each peer is given and how its time is read."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import yaml

from benchmarks.peer_hf import hf_params
from benchmarks.peer_ray_tune import first_points, method_spec, space
from benchmarks.startup_breakdown import timelines

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "search_spaces" / "default.yaml"


def test_plain_tune_peer_starts_from_the_default_spaces_points_with_the_same_method_settings():
    """The hand-written Tune peer runs raymt's three first points: same method, learning rate,
    warm-up, and the method settings raymt derives (alpha = r x alpha_over_r, the same targets)."""
    theirs = yaml.safe_load(DEFAULT.read_text())["search"]["points_to_evaluate"]
    points = first_points({"search": {"points_to_evaluate": theirs}})
    assert [p["method"] for p in points] == [p["method"] for p in theirs]
    for point, raw in zip(points, theirs):
        assert (point["lr"], point["warmup_ratio"]) == (raw["train.lr"], raw["train.warmup_ratio"])
        name, params = method_spec(point)
        assert name == raw["method"]
        if name == "lora":
            assert params == {"r": raw["lora.r"], "alpha": raw["lora.r"] * raw["lora.alpha_over_r"], "target_modules": raw["lora.target_modules"]}
        elif name == "adapter":
            assert params == {"size": raw["adapter.size"]}
        else:
            assert params == {}


def test_plain_tune_peer_space_answers_every_enqueued_point_as_given():
    study = optuna.create_study(directions=["maximize", "minimize"])
    points = first_points(yaml.safe_load(DEFAULT.read_text()))
    for point in points:
        study.enqueue_trial(point)
    for point in points:
        trial = study.ask()
        space(trial)
        assert trial.params == point


def test_hf_peer_takes_raymts_configuration_row_by_row():
    rows = pd.DataFrame(
        [
            {
                "method": "lora",
                "train.lr": 2e-3,
                "train.warmup_ratio": 0.1,
                "lora.r": 8.0,
                "lora.alpha_over_r": 2.0,
                "lora.target_modules": "q_proj+v_proj",
            },
            {"method": "adapter", "train.lr": 1e-3, "train.warmup_ratio": 0.05, "adapter.size": 32.0},
            {"method": "full", "train.lr": 5e-4, "train.warmup_ratio": 0.0},
        ]
    )
    got = [hf_params(row) for _, row in rows.iterrows()]
    assert got[0] == {
        "method": "lora",
        "learning_rate": 2e-3,
        "warmup_ratio": 0.1,
        "lora_r": 8,
        "lora_alpha_over_r": 2,
        "lora_target_modules": "q_proj+v_proj",
    }
    assert got[1] == {"method": "adapter", "learning_rate": 1e-3, "warmup_ratio": 0.05, "adapter_size": 32}
    assert got[2] == {"method": "full", "learning_rate": 5e-4, "warmup_ratio": 0.0}


def test_startup_timeline_splits_each_new_process_into_its_titles():
    fit = 100.0
    samples = [
        (99.8, 1, "ray::IDLE"),  # there before fit(): not the run's
        (100.2, 7, "ray::IDLE"),
        (100.4, 7, "ray::TrainController.__init__"),
        (100.6, 7, "ray::TrainController.__init__"),
        (100.8, 7, "ray::TrainController.run"),
        (100.6, 9, "ray::RayTrainWorker.__init__"),
    ]
    rows = timelines(samples, fit, existing={1})
    assert [r["pid"] for r in rows] == [7, 9]
    first = rows[0]
    assert abs(first["first_seen_s"] - 0.2) < 1e-9
    assert [s[0] for s in first["segments"]] == ["ray::IDLE", "ray::TrainController.__init__", "ray::TrainController.run"]
    init = first["segments"][1]
    assert abs(init[1] - 0.4) < 1e-9 and abs(init[2] - 0.6) < 1e-9
