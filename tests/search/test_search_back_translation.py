"""A search with the back-translation ratio as a dimension generates its pool ONCE, before the
trials, and reports that cost once (through Ray Tune + Ray Train on the tiny model)."""

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
ROOT = Path(__file__).resolve().parents[2]


def bt_space(tmp_path: Path, cache_root: Path) -> Path:
    raw = yaml.safe_load((ROOT / "search_spaces" / "default.yaml").read_text())
    raw.update(name="bt", storage_path=str(tmp_path))
    raw["data"].update(train_size=200, valid_size=20, test_size=20)
    raw["eval"]["max_samples"] = 20
    raw["train"]["epochs"] = 1
    raw["augment"] = {"back_translation": {"params": {"reverse_epochs": 1, "max_new_tokens": 24, "batch_size": 32}}}
    raw["search"].update(
        num_samples=3, scheduler={"kind": "none"}, points_to_evaluate=[{"augment.back_translation.ratio": r} for r in (0.5, 0.0, 0.5)]
    )
    raw["search"]["space"] = {"method": "lora", "common": {"augment.back_translation.ratio": {"choices": [0.0, 0.5]}}, "methods": {"lora": {"r": 4}}}
    # the tiny base is reused from the session cache; the pool cache starts empty
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "models").symlink_to(cache_root / "models", target_is_directory=True)
    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_back_translation_pool_is_generated_once_for_the_search(tmp_path, cache_root, tiny_base, ray_local):
    results = run_search(bt_space(tmp_path, cache_root), log=lambda m: None)
    df = pd.read_parquet(results / "trials.parquet")
    assert len(df) == 3 and set(df["augment.back_translation.ratio"]) == {0.0, 0.5}  # a results column, both ratios ran
    assert (df["status"] == "completed").all()

    builds = build_log(tmp_path / ".cache")
    assert len(builds) == 1 and builds[0]["sentences"] == 100  # ONE generation: 0.5 x 200 pairs, for all trials
    prepared = read_prepared(results)  # paths relative to the results folder
    assert len(load_tokenized(prepared["augment_pools"]["back_translation"])["train"]) == 100
    cost = prepared["augment_costs"]["back_translation"]
    assert cost["sentences"] == 100 and cost["sentences_per_s"] > 0 and not cost["cached"]
    assert json.loads((results / "timings.json").read_text())["augment_costs"] == prepared["augment_costs"]
    report = (results / "report.md").read_text()
    assert f"back-translation pool: {cost['seconds']:.1f} s for 100 sentences" in report
    assert "shared by the 2 trials that used it" in report
