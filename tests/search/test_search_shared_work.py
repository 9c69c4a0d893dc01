"""Work a search shares between its trials is done once, through a real (short) Ray Tune + Ray
Train search on the tiny model: the back-translation pool (generated before the trials, for the
largest ratio) and the denoising warm start (built by the first trial that needs it, reused by
the next one with the same method settings), each reported once with its cost.

One search serves both: its space has the back-translation ratio and the init stage as
dimensions, and its three enqueued points are chosen so each feature is checked on its own
(the cold trial and the warm trial with its settings use the same ratio; two trials use the
pool, one does not).
"""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymt.data.augment.back_translation import build_log
from raymt.data.cache import load_tokenized
from raymt.results.paths import read_prepared
from raymt.search.run import run_search

pytestmark = pytest.mark.slow

POINTS = [
    {"method": "lora", "train.lr": 2e-3, "init.stage": "none", "augment.back_translation.ratio": 0.5},
    {"method": "lora", "train.lr": 2e-3, "init.stage": "denoise", "augment.back_translation.ratio": 0.5},
    {"method": "lora", "train.lr": 1e-3, "init.stage": "denoise", "augment.back_translation.ratio": 0.0},
]


@pytest.fixture(scope="module")
def shared_work(tmp_path_factory, cache_root, tiny_base) -> tuple[Path, Path]:
    """(storage folder, results folder) of the one search; its own Ray, shut down after it."""
    import ray

    from raymt.runtime import init_ray

    root = tmp_path_factory.mktemp("shared-work")
    # the tiny base is reused from the session cache; the pool, data and init-stage caches start empty
    (root / ".cache").mkdir()
    (root / ".cache" / "models").symlink_to(cache_root / "models", target_is_directory=True)
    raw = {
        "name": "shared",
        "storage_path": str(root),
        "model": {"name_or_path": "tiny", "max_length": 48},
        "data": {"source": "synthetic", "domain": "medical", "train_size": 200, "valid_size": 30, "test_size": 30, "lexicon_size": 20},
        "method": {"name": "lora", "r": 4},
        "train": {"epochs": 1, "batch_size": 32, "lr": 2e-3},
        "eval": {"max_samples": 30, "max_new_tokens": 32},
        "resources": {"num_workers": 1, "cpus_per_worker": 1.0, "trial_cpus": 0.1},
        "init": {"denoise": {"steps": 20, "batch_size": 16, "lr": 3e-3}},
        "augment": {"back_translation": {"params": {"reverse_epochs": 1, "max_new_tokens": 24, "batch_size": 32}}},
        "search": {
            "num_samples": 3,
            "max_concurrent_trials": 1,
            "objectives": {"bleu": "max", "storage_mb": "min"},
            "sampler": {"kind": "tpe", "seed": 0},
            "scheduler": {"kind": "none"},
            "points_to_evaluate": POINTS,
            "space": {
                "method": "lora",
                "common": {
                    "train.lr": {"choices": [1e-3, 2e-3]},
                    "init.stage": {"choices": ["none", "denoise"]},
                    "augment.back_translation.ratio": {"choices": [0.0, 0.5]},
                },
            },
        },
    }
    path = root / "shared.yaml"
    path.write_text(yaml.safe_dump(raw))
    init_ray(num_cpus=2, log=lambda m: None)
    try:
        results = run_search(path, log=lambda m: None)
    finally:
        ray.shutdown()
    return root, results


def _trials(results: Path) -> pd.DataFrame:
    df = pd.read_parquet(results / "trials.parquet")
    assert len(df) == 3 and (df["status"] == "completed").all(), df[["status", "error"]]
    return df


def test_back_translation_pool_is_generated_once_for_the_search(shared_work):
    root, results = shared_work
    df = _trials(results)
    assert set(df["augment.back_translation.ratio"]) == {0.0, 0.5}  # a results column, both ratios ran

    builds = build_log(root / ".cache")
    assert len(builds) == 1 and builds[0]["sentences"] == 100  # ONE generation: 0.5 x 200 pairs, for all trials
    prepared = read_prepared(results)  # paths relative to the results folder
    assert len(load_tokenized(prepared["augment_pools"]["back_translation"])["train"]) == 100
    cost = prepared["augment_costs"]["back_translation"]
    assert cost["sentences"] == 100 and cost["sentences_per_s"] > 0 and not cost["cached"]
    assert json.loads((results / "timings.json").read_text())["augment_costs"] == prepared["augment_costs"]
    report = (results / "report.md").read_text()
    assert f"back-translation pool: {cost['seconds']:.1f} s for 100 sentences" in report
    assert "shared by the 2 trials that used it" in report


def test_init_stage_is_built_once_per_method_settings_and_reports_its_cost(shared_work):
    root, results = shared_work
    df = _trials(results)
    warm = df[df["init.stage"] == "denoise"]
    cold = df[df["init.stage"] == "none"]
    assert len(warm) == 2 and len(cold) == 1
    # one stage for both warm trials (same method settings): built by one, reused by the other
    assert warm["init_key"].nunique() == 1 and warm["init_built"].sum() == 1 and (warm["init_build_s"] > 0).all()
    assert cold["init_key"].iloc[0] == "" and not cold["init_built"].iloc[0]
    assert len(list((root / ".cache" / "init").glob("*/stage.json"))) == 1
    # the warm trial with the cold trial's settings (lr and ratio) starts elsewhere, so it ends elsewhere
    lr, ratio = cold[["train.lr", "augment.back_translation.ratio"]].iloc[0]
    same = warm[(warm["train.lr"] == lr) & (warm["augment.back_translation.ratio"] == ratio)]
    assert len(same) == 1
    assert same["eval_loss"].iloc[0] != pytest.approx(cold["eval_loss"].iloc[0], abs=1e-6)
    report = (results / "report.md").read_text()
    assert "## Init stage (denoising warm start)" in report and "1 stage artefact(s) served 2 trial(s)" in report
