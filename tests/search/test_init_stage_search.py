"""The denoising warm start through a real (short) Ray Tune + Ray Train search."""

import pandas as pd
import pytest
import yaml

from raymt.search.run import run_search

pytestmark = pytest.mark.slow


def test_search_over_init_stage_builds_each_stage_once_and_reports_its_cost(tmp_path, cache_root, tiny_base, ray_local):
    cache = tmp_path / ".cache"
    cache.mkdir()
    for shared in ("models", "data"):
        (cache_root / shared).mkdir(exist_ok=True)
        (cache / shared).symlink_to(cache_root / shared, target_is_directory=True)
    raw = {
        "name": "warm",
        "storage_path": str(tmp_path),
        "model": {"name_or_path": "tiny", "max_length": 48},
        "data": {"source": "synthetic", "domain": "medical", "train_size": 200, "valid_size": 30, "test_size": 30, "lexicon_size": 20},
        "method": {"name": "lora", "r": 4},
        "train": {"epochs": 1, "batch_size": 32, "lr": 2e-3},
        "eval": {"max_samples": 30, "max_new_tokens": 32},
        "resources": {"num_workers": 1, "cpus_per_worker": 1.0, "trial_cpus": 0.1},
        "init": {"denoise": {"steps": 20, "batch_size": 16, "lr": 3e-3}},
        "search": {
            "num_samples": 3,
            "max_concurrent_trials": 1,
            "objectives": {"bleu": "max", "storage_mb": "min"},
            "sampler": {"kind": "tpe", "seed": 0},
            "scheduler": {"kind": "none"},
            "points_to_evaluate": [
                {"method": "lora", "train.lr": 2e-3, "init.stage": "none"},
                {"method": "lora", "train.lr": 2e-3, "init.stage": "denoise"},
                {"method": "lora", "train.lr": 1e-3, "init.stage": "denoise"},
            ],
            "space": {"method": "lora", "common": {"train.lr": {"choices": [1e-3, 2e-3]}, "init.stage": {"choices": ["none", "denoise"]}}},
        },
    }
    path = tmp_path / "warm.yaml"
    path.write_text(yaml.safe_dump(raw))
    results = run_search(path, log=lambda m: None)
    df = pd.read_parquet(results / "trials.parquet").set_index("init.stage", append=True)
    df = df.reset_index(level="init.stage")
    assert (df["status"] == "completed").all(), df[["status", "error"]]
    warm = df[df["init.stage"] == "denoise"]
    cold = df[df["init.stage"] == "none"]
    assert len(warm) == 2 and len(cold) == 1
    # one stage for both warm trials (same method settings): built by one, reused by the other
    assert warm["init_key"].nunique() == 1 and warm["init_built"].sum() == 1 and (warm["init_build_s"] > 0).all()
    assert cold["init_key"].iloc[0] == "" and not cold["init_built"].iloc[0]
    assert len(list((tmp_path / ".cache" / "init").glob("*/stage.json"))) == 1
    # the warm trial with the cold trial's settings starts elsewhere, so it ends elsewhere
    same = warm[warm["train.lr"] == cold["train.lr"].iloc[0]]
    assert same["eval_loss"].iloc[0] != pytest.approx(cold["eval_loss"].iloc[0], abs=1e-6)
    report = (results / "report.md").read_text()
    assert "## Init stage (denoising warm start)" in report and "1 stage artefact(s) served 2 trial(s)" in report
