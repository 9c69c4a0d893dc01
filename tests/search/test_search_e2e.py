"""A real search through Ray Tune + Ray Train on the tiny model, its files, resume and warm start."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymt.analysis.pareto import pareto_mask
from raymt.results.paths import read_prepared
from raymt.search.run import run_search

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

POINTS = [
    {"method": "full", "train.lr": 1e-3, "train.warmup_ratio": 0.1},
    {"method": "lora", "train.lr": 2e-3, "train.warmup_ratio": 0.1, "lora.r": 8, "lora.alpha_over_r": 2, "lora.target_modules": "all-linear"},
    {"method": "adapter", "train.lr": 2e-3, "train.warmup_ratio": 0.1, "adapter.size": 32},
]


def small_space(tmp_path, cache_root, num_samples=4, name="e2e", **search):
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw["name"] = name
    raw["storage_path"] = str(tmp_path)
    raw["data"].update(train_size=400, valid_size=40, test_size=40)
    raw["eval"]["max_samples"] = 40
    raw["train"]["epochs"] = 2
    raw["search"]["num_samples"] = num_samples
    raw["search"]["points_to_evaluate"] = POINTS
    # augmentation as a search dimension: the pool is built once for the largest ratio
    raw["search"]["space"]["common"]["augment.word_dropout.ratio"] = {"choices": [0.0, 0.5]}
    raw["search"].update(search)
    cache = tmp_path / ".cache"
    if not cache.exists():
        cache.symlink_to(cache_root, target_is_directory=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_search_writes_results_front_and_artifacts(tmp_path, cache_root, tiny_base, ray_local):
    # 4 trials: the three enqueued points (one per method) and one the sampler proposes
    results = run_search(small_space(tmp_path, cache_root), log=lambda m: None)
    df = pd.read_parquet(results / "trials.parquet")
    assert len(df) == 4
    assert set(df["method"]) == {"full", "lora", "adapter"}
    assert (results / "trials.csv").exists() and (results / "pareto.csv").exists()
    assert (results / "report.md").exists() and (results / "pareto.png").exists()
    assert (results / "optuna_journal.log").exists()
    # conditional parameters are NaN where they do not apply
    assert df.loc[df["method"] != "lora", "lora.r"].isna().all()
    assert df.loc[df["method"] == "lora", "lora.r"].notna().all()
    assert df.loc[df["method"] != "adapter", "adapter.size"].isna().all()
    ratio = df["augment.word_dropout.ratio"]
    assert set(ratio.dropna()) <= {0.0, 0.5} and ratio.notna().all()
    from raymt.data.cache import load_tokenized

    pools = read_prepared(results)["augment_pools"]  # written relative to the results folder
    assert list(pools) == ["word_dropout"]  # ONE pool for the search, built for the largest ratio
    assert len(load_tokenized(pools["word_dropout"])["train"]) == 200  # 0.5 x 400 training pairs
    done = df[df["status"] == "completed"]
    assert len(done) >= 3
    assert (done["storage_mb"] > 0).all() and done["bleu"].notna().all()
    # the full model costs more storage than any PEFT artefact (even LoRA r=32 on all linears)
    full = done[done["method"] == "full"]["storage_mb"]
    peft = done[done["method"] != "full"]["storage_mb"]
    if len(full) and len(peft):
        assert full.min() > peft.max() and full.min() > 10 * peft.min()
    # every completed trial's artefact is kept
    for path in done["artifact_path"]:  # relative to the folder: a copy of it reads its own artefacts
        assert not Path(path).is_absolute() and (results / path).is_dir() and any((results / path).iterdir())
    # Tune's and Optuna's ids of every trial, rows in start order
    assert sorted(df["optuna_number"]) == list(range(len(df))) and df["start_time"].is_monotonic_increasing
    front = pd.read_csv(results / "pareto.csv")
    mask = pareto_mask(df, {"bleu": "max", "storage_mb": "min"})
    assert set(front["trial_id"]) == set(df.loc[mask, "trial_id"])
    assert set(front["trial_id"]) <= set(done["trial_id"])  # early-stopped/failed never on the front
    # every front trial is scored once on the held-out test split (40 pairs), the others are not
    on_front = df.loc[mask.to_numpy()]
    assert on_front["test_bleu"].between(0, 100).all() and on_front["test_chrf"].notna().all()
    assert (on_front["test_bleu_ci95"] > 0).all() and (on_front["test_sentences"] == 40).all()
    assert df.loc[~mask.to_numpy(), "test_bleu"].isna().all()
    assert json.loads((results / "timings.json").read_text())["test_scoring_s"] > 0
    assert "## Validation vs held-out test" in (results / "report.md").read_text()
    check_checkpoint_budget(results, df, set(df.loc[df["is_pareto"].fillna(False).astype(bool) & (df["status"] == "completed"), "trial_id"]))
    check_export_reproduces_the_trials(results, done, tmp_path)


def check_checkpoint_budget(results, df, front):
    """One checkpoint per trial; once the search ended, only the front's completed trials keep
    their tensors, every trial keeps its state and hypotheses, and the report says so."""
    with_checkpoint = set()
    for _, row in df.iterrows():
        ckpts = [
            p for p in (results / "trials" / f"trial_{row['trial_id']}").glob("checkpoint_*") if p.is_dir()
        ]  # Ray's checkpoint_manager_snapshot.json is not one
        assert len(ckpts) == 1 or (row["status"] == "failed" and not ckpts), (row["trial_id"], ckpts)
        for ckpt in ckpts:
            with_checkpoint.add(row["trial_id"])
            assert (ckpt / "state.json").exists() and (results / row["hyps_path"]).exists()
            assert (ckpt / "artifact").is_dir() == (row["trial_id"] in front), row["trial_id"]
            if row["status"] == "completed":  # nothing resumes a finished trial: no optimizer state
                assert not list(ckpt.glob("trainer_state*"))
    budget = json.loads((results / "checkpoints.json").read_text())
    assert sorted(budget["kept_whole"]) == sorted(front) and sorted(budget["pruned_trials"]) == sorted(with_checkpoint - front)
    # 2 epochs: every finished trial wrote 2 checkpoints and keeps 1; stopped trials were stripped when they ended
    assert budget["left_bytes"] <= budget["before_bytes"] < budget["written_bytes"]
    assert "## Checkpoints" in (results / "report.md").read_text()


def check_export_reproduces_the_trials(results, done, tmp_path):
    """Export each method's best trial; `raymt evaluate` on the search's own validation sources
    and references gives the BLEU the search reported (the export replays its decoding: same
    max_new_tokens, beam, truncation, batches over the same 2 worker shards, BLEU tokenizer)."""
    import re

    from raymt.cli import main
    from raymt.export import load_exported, translate

    src = (results / "sources.txt").read_text().splitlines()
    for method, rows in done.groupby("method"):
        row = rows.sort_values("bleu").iloc[-1]
        out = tmp_path / f"export-{method}"
        assert main(["export", str(results), "--trial", row["trial_id"], "--to", str(out)]) == 0
        assert (out / "README.md").exists() and (out / "raymt_export.json").exists()
        printed = _cli_output(["evaluate", str(out), "--src", str(results / "sources.txt"), "--ref", str(results / "references.txt")])
        bleu = float(re.search(r"^BLEU (\d+\.\d+)  \((.*)\)$", printed, re.M).group(1))
        assert abs(bleu - row["bleu"]) <= 0.1, (method, bleu, row["bleu"])
        assert f"({row['sacrebleu_signature']})" in printed
        if method == "lora":
            from peft import PeftModel
            from transformers import MBartForConditionalGeneration

            base = json.loads((out / "raymt_export.json").read_text())["base"]
            PeftModel.from_pretrained(MBartForConditionalGeneration.from_pretrained(base), str(out))  # peft's own format
            merged = tmp_path / "export-lora-merged"
            assert main(["export", str(results), "--trial", row["trial_id"], "--to", str(merged), "--merge"]) == 0
            assert translate(merged, src[:20]) == translate(out, src[:20])
    # choose by budget: the best front member within the smallest PEFT artefact's size
    budget = float(done["storage_mb"].min())
    out = tmp_path / "export-budget"
    assert main(["export", str(results), "--best-under-mb", str(budget), "--to", str(out)]) == 0
    assert load_exported(out)[2]["metrics"]["storage_mb"] <= budget


def _cli_output(argv: list[str]) -> str:
    import contextlib
    import io

    from raymt.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(argv) == 0
    return buffer.getvalue()


def _finished(report: dict) -> bool:
    """A trial's last report: the worker says ``finished`` (Tune itself marks the trial done
    only when the trial function returns, which result.json never shows)."""
    return bool(report.get("finished"))


def _wait_for_trials(results: Path, n: int, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        finished = 0
        for result_json in (results / "tune").glob("*/result.json"):
            lines = [json.loads(line) for line in result_json.read_text().splitlines() if line.strip()]
            finished += any(_finished(line) for line in lines)
        if finished >= n:
            return
        time.sleep(2)
    raise AssertionError(f"fewer than {n} trials finished in {timeout}s")


def test_resume_after_driver_kill_and_warm_start(tmp_path, cache_root, tiny_base):
    # 2 trials: the first finishes before the kill, the second is cut (or never started) and the
    # resume runs it; the restored searcher proposing new trials is tests/search/test_tuner.py's
    space = small_space(tmp_path, cache_root, num_samples=2, name="resume", scheduler={"kind": "none"})
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **SECRETS}  # a user's credentials are in the environment
    proc = subprocess.Popen(
        [sys.executable, "-m", "raymt.cli", "search", str(space)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    results = tmp_path / "resume"
    try:
        _wait_for_trials(results, 1, timeout=600)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray die together
        proc.wait()
    first = {}
    for result_json in (results / "tune").glob("*/result.json"):
        lines = [json.loads(line) for line in result_json.read_text().splitlines() if line.strip()]
        if any(_finished(line) for line in lines):
            first[lines[-1]["trial_id"]] = lines[-1]["bleu"]
    assert first
    out = subprocess.run(
        [sys.executable, "-m", "raymt.cli", "search", "--resume", str(results)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    df = pd.read_parquet(results / "trials.parquet")
    assert len(df) == 2 and df["trial_id"].is_unique
    for trial_id, bleu in first.items():  # finished trials kept with their original metrics, not rerun
        row = df[df["trial_id"] == trial_id]
        assert len(row) == 1 and math.isclose(row["bleu"].iloc[0], bleu)
        assert row["status"].iloc[0] == "completed"  # not demoted to early_stopped by the restore

    # warm start: a new search seeded with the old trials (told to the sampler, not rerun)
    import optuna

    space2 = small_space(tmp_path, cache_root, num_samples=1, name="warm", scheduler={"kind": "none"}, points_to_evaluate=[])
    out = subprocess.run(
        [sys.executable, "-m", "raymt.cli", "search", str(space2), "--warm-start", str(results)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    from raymt.search.tuner import journal_storage

    study = optuna.load_study(study_name="warm", storage=journal_storage(tmp_path / "warm" / "optuna_journal.log"))
    seeded = [t for t in study.trials if "warm_start_from" in t.user_attrs]
    completed_old = (df["status"] == "completed").sum()
    assert len(seeded) == completed_old
    assert len(pd.read_parquet(tmp_path / "warm" / "trials.parquet")) == 1

    # credentials are read from the environment and never written: not in any file of either
    # experiment (configs, tables, reports, Tune/Train state, logs), not in what raymt printed
    assert_no_secret_in(tmp_path, out.stdout + out.stderr)


SECRETS = {
    "HF_TOKEN": "hf_raymtTestSecret0001",
    "AWS_SECRET_ACCESS_KEY": "raymtTestSecret0002",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON": "raymtTestSecret0003",
}


def assert_no_secret_in(folder: Path, printed: str) -> None:
    checked = 0
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and ".cache" not in path.parts:
            data = path.read_bytes()
            checked += 1
            for name, secret in SECRETS.items():
                assert secret.encode() not in data, f"{name} written to {path}"
    assert checked > 20
    for name, secret in SECRETS.items():
        assert secret not in printed, f"{name} printed"
