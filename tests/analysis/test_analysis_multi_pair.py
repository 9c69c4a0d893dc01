"""A multi-pair run's trials table: per-pair BLEU columns in the report, K = number of pairs."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from raymt.analysis.report import build_report
from raymt.analysis.results import hyperparameter_columns


def _trials():
    fwd, back = [30.0, 24.0, 20.0], [10.0, 8.0, 4.0]
    return pd.DataFrame(
        {
            "trial_id": ["full0", "lora1", "ad2"],
            "status": ["completed"] * 3,
            "method": ["full", "lora", "adapter"],
            "lr": [1e-4, 1e-3, 1e-3],
            "multi_pair_temperature": [5.0, 1.0, 100.0],
            "bleu": [(a + b) / 2 for a, b in zip(fwd, back)],
            "bleu_en_XX-de_DE": fwd,
            "bleu_de_DE-en_XX": back,
            "chrf_en_XX-de_DE": [50.0, 45.0, 40.0],
            "chrf_de_DE-en_XX": [30.0, 28.0, 20.0],
            "storage_mb": [2000.0, 4.0, 1.0],
            "epochs_done": [3, 3, 3],
        }
    )


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}.*?(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"section {title!r} missing"
    return match.group(0)


def test_per_pair_scores_are_results_not_hyperparameters():
    assert hyperparameter_columns(_trials()) == ["method", "lr", "multi_pair_temperature"]


def test_front_shows_each_pair_and_says_bleu_is_their_mean():
    front = _section(build_report(_trials(), significance=False), "Pareto front")
    assert "bleu_en_XX-de_DE" in front and "bleu_de_DE-en_XX" in front
    assert "unweighted mean of the 2 per-pair BLEU columns" in front
    assert "| lora1 | lora | 16.00 | 4 | 24.00 | 8.00 | 3 | lr=0.001, multi_pair_temperature=1 |" in front
    assert "bleu_en_XX-de_DE=" not in front  # not listed among the hyperparameters


def test_storage_counts_k_equal_to_the_number_of_pairs():
    storage = _section(build_report(_trials(), significance=False), "Storage for K tasks")
    # base = the full trial's 2000 MB; lora1 at K=2: 2000 + 2 x 4 = 2008 MB vs 4000 MB
    assert "K=2: MB (saving)" in storage and "2,008 (1.99x)" in storage
    assert "K=10: MB (saving)" in storage and "K=100: MB (saving)" in storage
    assert "trained its 2 language pairs jointly" in storage
    # as trained, one artefact serves both pairs: the K=1 column (lora1: 2000 + 4 MB)
    assert "| lora1 | lora | 4 | 2,004 (0.998x) | 2,008 (1.99x) |" in storage
    assert "| full0 | full | 2000 | 2,000 (1x) | 4,000 (1x) |" in storage


def test_single_pair_report_is_unchanged():
    single = _trials().drop(columns=[c for c in _trials().columns if c.startswith(("bleu_", "chrf_"))])
    text = build_report(single, significance=False)
    assert "K=2" not in text and "jointly" not in text and "per-pair" not in text
    assert np.isfinite(single["bleu"]).all()
