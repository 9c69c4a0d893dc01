"""How a search's trials end when they do not run to their end: a scheduler's early stop ends
the trial's Train workers quietly, and Ctrl-C keeps what finished, says how to resume, and
marks the trial it cut short ``interrupted``."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_search_e2e import small_space

pytestmark = pytest.mark.slow

GOOD = {
    "method": "lora",
    "train.lr": 3e-3,
    "train.warmup_ratio": 0.0,
    "lora.r": 8,
    "lora.alpha_over_r": 2,
    "lora.target_modules": "all-linear",
    "augment.word_dropout.ratio": 0.0,
}
BAD = {**GOOD, "train.lr": 3e-4, "lora.r": 2}  # learns less in its first epoch: ASHA stops it at the first rung

#: What a crash of a torn-down worker, or a worker's library noise, looks like in the driver's output.
NOISE = ("SIGABRT", "Stack trace", "SIGSEGV", "find_unused_parameters", "Loading weights", "Tuner.restore(")
#: Ray's own progress output, which a default search turns down (raymt.search.trial_lines): Tune's
#: status table and trial lines, Ray Train's worker-group INFO logs (Tune's one-off experiment box at the start still prints).
CHATTER = (
    "Trial status:",
    "Current time:",
    "started with configuration",
    "training worker group",
    "(TrainController",
    "Configuration for experiment",  # Tune's start box (new output engine)
    "Reporting training result",  # Ray Train's line per report per worker
)


def _space(tmp_path, cache_root, name, epochs, **search):
    path = small_space(tmp_path, cache_root, name=name, **search)
    raw = yaml.safe_load(path.read_text())
    raw["train"]["epochs"] = epochs
    raw["data"]["train_size"] = 800  # an epoch long enough to be stopped in the middle of it
    path.write_text(yaml.safe_dump(raw))
    return path


def _env():
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def test_early_stopped_trial_ends_its_workers_quietly(tmp_path, cache_root, tiny_base):
    space = _space(
        tmp_path,
        cache_root,
        "stop",
        epochs=2,  # ASHA's rungs at epochs 1 and 2: BAD is stopped at the first, in the middle of its second epoch
        num_samples=2,
        points_to_evaluate=[GOOD, BAD],
        scheduler={"kind": "asha", "grace_period": 1, "reduction_factor": 2},
    )
    out = subprocess.run(
        [sys.executable, "-m", "raymt.cli", "search", str(space)],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    printed = out.stdout
    (tmp_path / "search.log").write_text(printed)  # to read when this test fails
    assert out.returncode == 0, printed[-3000:]
    df = pd.read_parquet(tmp_path / "stop" / "trials.parquet")
    assert sorted(df["status"]) == ["completed", "early_stopped"], df[["trial_id", "status", "epochs_done"]]
    assert df.loc[df["status"] == "early_stopped", "epochs_done"].tolist() == [1]
    for noise in NOISE + CHATTER:
        assert noise not in printed, printed[-3000:]
    # raymt's own lines instead: one per trial start, epoch and end
    early = df.loc[df["status"] == "early_stopped", "trial_id"].iloc[0]
    completed = df.loc[df["status"] == "completed", "trial_id"].iloc[0]
    assert f"trial {early} stopped early by the scheduler after epoch 1" in printed, printed[-3000:]
    assert f"trial {completed} completed (2 epochs" in printed and f"trial {completed} epoch 1/2: bleu " in printed, printed[-3000:]
    # nothing after the final summary's last line
    lines = [line for line in printed.splitlines() if line.strip()]
    assert lines[-1].startswith("results: "), lines[-10:]


def _reports(results: Path) -> dict[str, list[dict]]:
    out = {}
    for result_json in (results / "tune").glob("*/result.json"):
        lines = [json.loads(line) for line in result_json.read_text().splitlines() if line.strip()]
        if lines:
            out[lines[-1]["trial_id"]] = lines
    return out


def test_ctrl_c_keeps_finished_trials_prints_the_resume_command_and_resume_completes(tmp_path, cache_root, tiny_base):
    # 3 epochs: the second trial is cut with two epochs to go, and the resume runs only those
    space = _space(tmp_path, cache_root, "interrupt", epochs=3, num_samples=2, points_to_evaluate=[GOOD, BAD], scheduler={"kind": "none"})
    results = tmp_path / "interrupt"
    log = (tmp_path / "driver.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "raymt.cli", "search", str(space)],
        cwd=tmp_path,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        end = time.time() + 600
        while time.time() < end:  # the first trial finished and the second checkpointed its first epoch
            reports = _reports(results) if results.exists() else {}
            finished = [t for t, lines in reports.items() if lines[-1].get("finished")]
            running = [
                path.name.removeprefix("trial_")
                for path in (results / "trials").glob("trial_*")
                if any(path.glob("checkpoint_*")) and path.name.removeprefix("trial_") not in finished
            ]
            if finished and running:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the second trial never checkpointed an epoch")
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends the driver
        assert proc.wait(timeout=300) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    printed = (tmp_path / "driver.log").read_text()
    assert f"raymt search --resume {results}" in printed, printed[-3000:]
    for noise in NOISE:
        assert noise not in printed, printed[-3000:]
    df = pd.read_parquet(results / "trials.parquet")
    statuses = dict(zip(df["trial_id"], df["status"]))
    assert statuses == {finished[0]: "completed", running[0]: "interrupted"}
    bleu = float(df.loc[df["trial_id"] == finished[0], "bleu"].iloc[0])

    out = subprocess.run(
        [sys.executable, "-m", "raymt.cli", "search", "--resume", str(results)], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    df = pd.read_parquet(results / "trials.parquet")
    assert dict(zip(df["trial_id"], df["status"])) == {finished[0]: "completed", running[0]: "completed"}
    assert float(df.loc[df["trial_id"] == finished[0], "bleu"].iloc[0]) == pytest.approx(bleu)  # kept, not rerun
