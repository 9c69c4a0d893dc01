"""A search whose storage_path is an object store (S3 protocol, a local moto server).

What a cluster user relies on: everything the search produced is in the bucket (results,
report, Optuna journal, Tune's state, every trial's checkpoints, the shared data cache), and a
machine that has nothing but the URI can rebuild the report, export a trial and resume.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymt import object_store as storage

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _space(tmp_path: Path, uri: str) -> Path:
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.update(name="s3e2e", storage_path=uri)
    raw["data"].update(train_size=300, valid_size=30, test_size=30)
    raw["eval"]["max_samples"] = 30
    raw["train"]["epochs"] = 2
    raw["search"].update(
        num_samples=2,
        scheduler={"kind": "none"},
        points_to_evaluate=[
            {"method": "lora", "train.lr": 2e-3, "train.warmup_ratio": 0.1, "lora.r": 8, "lora.alpha_over_r": 2, "lora.target_modules": "all-linear"},
            {"method": "adapter", "train.lr": 2e-3, "train.warmup_ratio": 0.1, "adapter.size": 32},
        ],
    )
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _raymt(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "raymt.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    return out


def _files(uri: str) -> set[str]:
    from pyarrow import fs as pafs

    fs, root = storage.filesystem(uri)
    return {e.path[len(root) + 1 :] for e in fs.get_file_info(pafs.FileSelector(root, recursive=True)) if e.type == pafs.FileType.File}


def test_search_on_an_object_store_can_be_reported_exported_and_resumed_from_a_fresh_machine(s3_bucket, tmp_path, tiny_base, cache_root):
    runs = f"s3://{s3_bucket}/runs"
    # the session's tiny base stands in this machine's staging copy of the cache (saves a build)
    staged_cache = storage.staging_path(storage.join(runs, ".cache"))
    staged_cache.parent.mkdir(parents=True)
    staged_cache.symlink_to(cache_root, target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = _raymt("search", str(_space(tmp_path, runs)), env=env, cwd=tmp_path)
    exp = storage.join(runs, "s3e2e")
    assert f"results uploaded to {exp}" in out.stdout

    files = _files(exp)
    for name in (
        "trials.parquet",
        "trials.csv",
        "pareto.csv",
        "report.md",
        "optuna_journal.log",
        "raymt_experiment.json",
        "search_config.yaml",
        "prepared.json",
        "references.txt",
    ):
        assert name in files, sorted(files)
    assert any(f.startswith("tune/") for f in files)  # Tune's experiment state, for --resume
    for trial in ("trial_",):
        assert any(f.startswith(f"trials/{trial}") and "/checkpoint_" in f for f in files)
    cache = _files(storage.join(runs, ".cache"))
    assert any(f.startswith("models/tiny-") for f in cache) and any(f.startswith("data/") for f in cache)

    fs, root = storage.filesystem(storage.join(exp, "trials.parquet"))
    trials = pd.read_parquet(root, filesystem=fs)
    assert list(trials["status"]) == ["completed", "completed"], trials[["status", "error"]]
    # the checkpoint budget, applied in the bucket: trials off the front keep no tensors there
    budget = json.loads(fs.open_input_stream(storage.filesystem(storage.join(exp, "checkpoints.json"))[1]).read())
    assert budget["pruned"] and budget["where"] == storage.join(exp, "trials")
    assert sorted(budget["kept_whole"]) == sorted(trials.loc[trials["is_pareto"], "trial_id"])
    for trial_id in trials["trial_id"]:
        tensors = [f for f in files if f.startswith(f"trials/trial_{trial_id}/") and ("/artifact/" in f or "/best/" in f)]
        assert bool(tensors) == (trial_id in budget["kept_whole"]), (trial_id, budget)
    assert trials["checkpoint_path"].str.startswith("s3://").all()
    assert trials["hyps_path"].str.startswith("s3://").all()
    kept = trials[trials["artifact_path"] != ""]
    assert len(kept) >= 1 and kept["artifact_path"].str.startswith("s3://").all()
    assert all(f"artifacts/{t}/" in " ".join(files) for t in kept["trial_id"])

    # a machine with nothing but the URI: a fresh, empty staging folder
    fresh = {**env, "RAYMT_STAGING_DIR": str(tmp_path / "fresh-staging")}
    _raymt("report", exp, env=fresh, cwd=tmp_path)
    trial_id = kept["trial_id"].iloc[0]
    _raymt("export", exp, "--trial", trial_id, "--to", str(tmp_path / "exported"), env=fresh, cwd=tmp_path)
    assert (tmp_path / "exported" / "raymt_export.json").exists() or any((tmp_path / "exported").iterdir())

    from raymt import analysis

    os.environ["RAYMT_STAGING_DIR"] = fresh["RAYMT_STAGING_DIR"]  # monkeypatched by s3_bucket: restored after
    assert analysis.load(exp)["trial_id"].tolist() == trials["trial_id"].tolist()  # a notebook reads the URI

    out = _raymt("search", "--resume", exp, env=fresh, cwd=tmp_path)
    resumed = pd.read_parquet(root, filesystem=fs)
    assert list(resumed["trial_id"]) == list(trials["trial_id"])
    assert resumed["bleu"].tolist() == pytest.approx(trials["bleu"].tolist())
    assert resumed["status"].tolist() == trials["status"].tolist()  # finished trials stay completed

    # the credentials reached Ray's processes through the environment, and no file holds them
    secret = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    bucket_fs, bucket = storage.filesystem(f"s3://{s3_bucket}")
    leaks = [path for path in _files(f"s3://{s3_bucket}") if secret in bucket_fs.open_input_stream(f"{bucket}/{path}").read()]
    leaks += [str(p) for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink() and secret in p.read_bytes()]
    assert not leaks
