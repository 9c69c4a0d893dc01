"""benchmarks/overhead.py: each trial's seconds split from Tune's result.json, parts adding up."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from benchmarks.overhead import summary, trial_rows  # noqa: E402


def _trial(results: Path, trial_id: str, began: float, epochs: int) -> None:
    """Worker starts 6 s after the Tune trial (1 s of it importing), 2 s of set-up, the first
    step 0.5 s later; each epoch 10 s of training, 3 s of evaluation, 0.5 s of checkpoint and
    0.5 s more until the report lands."""
    folder = results / "tune" / f"tune_trial_{trial_id}"
    folder.mkdir(parents=True)
    worker = began + 6.0
    lines, t = [], worker + 2.0
    for _ in range(epochs):
        t += 14.0
        lines.append(
            {
                "trial_id": trial_id,
                "config": {"method": "lora"},
                "timestamp": t,
                "time_total_s": t - began,
                "worker_started_unix": worker,
                "worker_import_s": 1.0,
                "setup_time_s": 2.0,
                "first_step_unix": worker + 2.5,
                "epoch_train_time_s": 10.0,
                "epoch_eval_time_s": 3.0,
                "checkpoint_write_s": 0.5,
            }
        )
    (folder / "result.json").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def test_the_parts_of_a_trial_add_up_to_its_slot(tmp_path):
    _trial(tmp_path, "b", 1000.0 + 8 + 28 + 4, epochs=2)  # starts 4 s after the first trial's last report
    _trial(tmp_path, "a", 1000.0, epochs=2)
    (tmp_path / "timings.json").write_text(json.dumps({"tune_fit_s": 100.0, "prepare_s": 5.0}))
    df = trial_rows(tmp_path)
    assert list(df["trial_id"]) == ["a", "b"]  # start order, not file order
    first = df.iloc[0]
    assert first["start"] == pytest.approx(5.0) and first["import"] == 1.0 and first["setup"] == 2.0
    assert first["first_step"] == pytest.approx(0.5) and first["train"] == pytest.approx(19.5) and first["eval"] == 6.0
    assert first["ckpt"] == 1.0 and first["report"] == pytest.approx(1.0) and first["between"] == pytest.approx(4.0)
    assert first["to_first_step"] == pytest.approx(8.5)
    assert first["fixed"] + first["train"] + first["eval"] == pytest.approx(first["slot"])
    assert first["fixed"] == pytest.approx(5 + 1 + 2 + 0.5 + 1 + 1 + 4)
    out = summary(df, tmp_path, wall=120.0)
    assert out["fixed_per_trial_s"] == pytest.approx(first["fixed"])  # the last trial has no "between"
    assert out["train_eval_share_of_tune_fit"] == pytest.approx(2 * 26.0 / 100.0)
