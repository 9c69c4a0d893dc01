"""A multi-pair search through Ray Tune + Ray Train: both directions of the synthetic pair in
one model, 2 DDP workers sharing the temperature sampler, per-pair BLEU and its mean in the
results table and the report (the shipped search_spaces/multi_pair.yaml, made small and moved
onto the synthetic tiny base: the shipped one runs on the real-text base, whose test is
tests/model/test_multilingual_search.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from raymt.search.run import run_search

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def small_multi_pair_space(tmp_path, cache_root) -> Path:
    raw = yaml.safe_load((ROOT / "search_spaces" / "multi_pair.yaml").read_text())
    raw["storage_path"] = str(tmp_path)
    raw["model"] = {"name_or_path": "tiny", "max_length": 48}
    synthetic = {"source": "synthetic", "domain": "medical", "valid_size": 30, "test_size": 30, "lexicon_size": 20}
    raw["multi_pair"]["pairs"] = [
        {"src_lang": "en_XX", "tgt_lang": "de_DE", "data": {**synthetic, "train_size": 400}},
        {"src_lang": "de_DE", "tgt_lang": "en_XX", "reverse": True, "data": {**synthetic, "seed": 1, "train_size": 100}},
    ]
    raw["train"]["epochs"] = 1
    raw["search"].update(
        num_samples=1,
        scheduler={"kind": "none"},
        points_to_evaluate=[{"method": "lora", "train.lr": 2e-3, "multi_pair.temperature": 5.0, "lora.r": 4}],
    )
    (tmp_path / ".cache").symlink_to(cache_root, target_is_directory=True)
    path = tmp_path / "multi_pair.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_multi_pair_search_reports_per_pair_bleu_and_the_mean(tmp_path, cache_root, tiny_base, ray_local):
    results = run_search(small_multi_pair_space(tmp_path, cache_root), log=lambda m: None)
    df = pd.read_parquet(results / "trials.parquet")
    assert list(df["status"]) == ["completed"], df.get("error")
    row = df.iloc[0]
    forward, backward = row["bleu_en_XX-de_DE"], row["bleu_de_DE-en_XX"]
    assert row["bleu"] == pytest.approx((forward + backward) / 2)
    assert row["chrf"] == pytest.approx((row["chrf_en_XX-de_DE"] + row["chrf_de_DE-en_XX"]) / 2)
    assert forward > 2 and forward > backward, row.to_dict()  # the base was pre-trained on en -> de: it already translates
    assert 0 <= backward <= 100
    # hypotheses and references line up pair by pair (30 each, config order): bootstrap and
    # `raymt evaluate` read these two files
    refs = (results / "references.txt").read_text(encoding="utf-8").splitlines()
    hyps = (results / row["hyps_path"]).read_text(encoding="utf-8").splitlines()  # relative to the folder
    assert len(refs) == len(hyps) == 60
    report = (results / "report.md").read_text()
    assert "bleu_en_XX-de_DE" in report and "unweighted mean of the 2 per-pair BLEU columns" in report
    assert "K=2: MB (saving)" in report and "trained its 2 language pairs jointly" in report
