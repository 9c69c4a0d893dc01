"""A REDUCED real-text base built from a cut of Multi30k, then the shipped real_text search
(made small) fine-tunes it with two methods through Ray Tune + Ray Train (issue 18 item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymt.search.run import run_search

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

REDUCED = {
    "vocab_size": 1500,
    "d_model": 64,
    "layers": 1,
    "heads": 2,
    "ffn_dim": 128,
    "epochs": 2,
    "batch_size": 32,
    "pairs_per_direction": 1000,
    "denoise_sentences": 500,
    "eval_sentences": 40,
    "threads": 2,
}


def test_reduced_real_text_base_fine_tuned_with_two_methods(tmp_path, multi30k_cut, ray_local):
    raw = yaml.safe_load((ROOT / "search_spaces" / "real_text.yaml").read_text())
    raw["storage_path"] = str(tmp_path)
    raw["model"]["multilingual"] = {"corpus": str(multi30k_cut), **REDUCED}
    raw["data"].update(path=str(multi30k_cut), max_train_pairs=300)
    raw["train"]["epochs"] = 1
    raw["eval"]["max_samples"] = 40
    raw["search"].update(
        num_samples=2,
        scheduler={"kind": "none"},
        points_to_evaluate=[{"method": "full", "train.lr": 1e-3}, {"method": "lora", "train.lr": 2e-3, "lora.r": 4}],
    )
    raw["search"]["space"]["common"].pop("augment.word_dropout.ratio")
    space = tmp_path / "real_text.yaml"
    space.write_text(yaml.safe_dump(raw))
    logs: list[str] = []
    results = run_search(space, log=logs.append)

    prepared = json.loads((results / "prepared.json").read_text())
    base = prepared["base"]
    assert base["name"] == "tiny-multilingual" and base["spec"]["d_model"] == 64
    assert set(base["validation"]) == {"en-de", "de-en", "en-fr", "fr-en"}
    assert all(0 <= s["bleu"] <= 100 and s["sentences"] == 40 for s in base["validation"].values())
    assert base["train_loss"][-1] < base["train_loss"][0]
    assert base["corpus"]["examples"] == {"en-de": 1000, "de-en": 1000, "en-fr": 1000, "fr-en": 1000, "denoise cs": 500}
    ((source, target),) = prepared["tokenizer_fit"].values()
    assert (source["lang"], target["lang"]) == ("en_XX", "cs_CZ") and target["unk_rate"] < 0.01
    assert prepared["base_scores"][""]["sentences"] == 40

    df = pd.read_parquet(results / "trials.parquet")
    assert sorted(df["method"]) == ["full", "lora"] and set(df["status"]) == {"completed"}, df.get("error")
    assert (df["bleu"] >= 0).all()
    report = (results / "report.md").read_text()
    assert "Tokenizer fit" in report and "cs_CZ" in report and "Untouched base vs the best completed trial" in report
    assert "base's own validation BLEU en-de" in report
    assert any("tokenizer fit (data)" in line for line in logs)
