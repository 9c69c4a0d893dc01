"""benchmarks/train_floor.py: the bare TorchTrainer trial's split, and raymt's excess over it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks.train_floor import compare, floor_rows  # noqa: E402


def _floor_trial(out: Path, trial_id: str, began: float) -> None:
    """The worker's first line 8 s after the trial's start, 0.5 s to the model, a 0.1-s step,
    the report in Tune 0.4 s later (Tune's whole-second timestamp: 9 s after the start), the
    report back on the worker 0.2 s after that, ``fit()`` back 2 s later."""
    folder = out / "tune" / f"floor_trial_{trial_id}"
    folder.mkdir(parents=True)
    worker = began + 8.0
    result = {
        "trial_id": trial_id,
        "config": {},
        "timestamp": began + 9.0,
        "time_total_s": 9.0,
        "worker_started_unix": worker,
        "worker_import_s": 0.0,
        "setup_time_s": 0.5,
        "first_step_unix": worker + 0.6,
        "epoch_train_time_s": 0.1,
        "epoch_eval_time_s": 0.0,
        "checkpoint_write_s": 0.0,
    }
    (folder / "result.json").write_text(json.dumps(result) + "\n")
    marks = out / "marks"
    marks.mkdir(exist_ok=True)
    lines = [
        {"began_unix": began},
        {"reported_unix": began + 9.2, "raymt_imported_in_worker": False},
        {"fit_returned_unix": began + 11.2, "raymt_imported_in_trial": False},
    ]
    (marks / f"{trial_id}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_floor_trial_is_split_as_raymts_trials_are_plus_the_runs_own_shutdown(tmp_path):
    _floor_trial(tmp_path, "b", 1000.0 + 9 + 3)  # the next trial starts 3 s after the first one's report
    _floor_trial(tmp_path, "a", 1000.0)
    df = floor_rows(tmp_path)
    assert list(df["trial_id"]) == ["a", "b"]
    first = df.iloc[0]
    assert first["start"] == pytest.approx(8.0) and first["setup"] == pytest.approx(0.5)
    assert first["first_step"] == pytest.approx(0.1) and first["train"] == pytest.approx(0.0)  # the floor trains nothing
    assert first["report"] == pytest.approx(0.4) and first["between"] == pytest.approx(3.0)
    assert first["fixed"] == pytest.approx(first["slot"])  # every second of a floor trial is fixed cost
    assert first["end"] == pytest.approx(2.0)  # report back on the worker -> fit() back in the trial
    assert first["gap"] == pytest.approx(12.0 - 11.2)  # fit() back -> the next trial's first line
    assert not df["raymt_imported"].any()


def test_a_trial_without_its_marks_counts_as_having_imported_raymt(tmp_path):
    """The check that no raymt code ran must not pass for want of evidence."""
    _floor_trial(tmp_path, "a", 1000.0)
    (tmp_path / "marks" / "a.jsonl").write_text(json.dumps({"began_unix": 1000.0}) + "\n")
    assert floor_rows(tmp_path)["raymt_imported"].all()


def test_raymts_excess_is_taken_term_by_term_over_the_floor_with_raymts_ray_settings():
    raymt = {
        "mean_s": {"start": 12.0, "import": 0.75, "setup": 3.75, "first_step": 0.2, "ckpt": 0.1, "report": -0.2, "between": 4.7},
        "fixed_per_trial_s": 21.3,
        "to_first_step_s": 16.9,
    }
    floor = {
        "mean_s": {"start": 9.0, "import": 0.0, "setup": 0.3, "first_step": 0.05, "ckpt": 0.0, "report": 0.4, "between": 3.5},
        "fixed_per_trial_s": 13.25,
        "to_first_step_s": 9.35,
    }
    defaults = {**floor, "fixed_per_trial_s": 15.0}
    rows = {r["term"]: r for r in compare(raymt, {"raymt": floor, "defaults": defaults})}
    assert rows["start (fit -> worker's first line)"]["raymt - floor"] == pytest.approx(3.0)
    assert rows["worker import + setup"]["raymt"] == pytest.approx(4.5)
    assert rows["checkpoint + report"]["raymt - floor"] == pytest.approx(-0.1 - 0.4)
    assert rows["fixed per trial"]["raymt - floor"] == pytest.approx(21.3 - 13.25)  # against the first floor given
    assert rows["fixed per trial"]["floor (defaults)"] == 15.0
    assert rows["to first step"]["raymt - floor"] == pytest.approx(16.9 - 9.35)
    assert "raymt - floor (raymt-hf)" not in rows["start (fit -> worker's first line)"]


def test_raymts_own_code_is_the_excess_over_a_floor_that_loads_the_same_model():
    raymt = {"mean_s": {"start": 12.0, "import": 0.75, "setup": 3.75}, "fixed_per_trial_s": 21.0, "to_first_step_s": 16.5}
    bare = {"mean_s": {"start": 13.0, "import": 0.0, "setup": 1.5}, "fixed_per_trial_s": 19.0, "to_first_step_s": 16.0}
    hf = {"mean_s": {"start": 13.5, "import": 0.0, "setup": 4.0}, "fixed_per_trial_s": 20.0, "to_first_step_s": 17.5}
    rows = {r["term"]: r for r in compare(raymt, {"raymt": bare, "raymt-hf": hf})}
    assert rows["worker import + setup"]["raymt - floor"] == pytest.approx(4.5 - 1.5)
    assert rows["worker import + setup"]["raymt - floor (raymt-hf)"] == pytest.approx(4.5 - 4.0)
    assert rows["fixed per trial"]["raymt - floor (raymt-hf)"] == pytest.approx(1.0)
