"""Pair filters: each removes what it names, counted once, and can be switched off."""

from __future__ import annotations

from raymt.data.cleaning import CleaningReport, clean_pairs
from raymt.data.config import CleaningConfig

PAIRS = [
    ("a dog", "ein Hund"),
    ("", "leer"),
    ("   ", "nur Leerzeichen"),
    ("one two three four five six", "x"),  # ratio 6
    (" ".join(["w"] * 12), " ".join(["v"] * 12)),  # 12 words
]


def test_each_filter_counts_the_pairs_it_removed():
    kept, counts = clean_pairs(PAIRS, CleaningConfig(max_words=10, max_length_ratio=3.0))
    assert kept == [("a dog", "ein Hund")]
    assert counts == {"empty": 2, "max_words": 1, "length_ratio": 1}
    assert sum(counts.values()) + len(kept) == len(PAIRS)


def test_disabled_filters_keep_everything():
    kept, counts = clean_pairs(PAIRS, CleaningConfig(drop_empty=False, max_words=None, max_length_ratio=None))
    assert kept == PAIRS and sum(counts.values()) == 0


def test_length_ratio_boundary_is_inclusive():
    pairs = [("a b c", "x"), ("a b c d", "x")]
    kept, counts = clean_pairs(pairs, CleaningConfig(max_length_ratio=3.0))
    assert kept == [("a b c", "x")] and counts["length_ratio"] == 1


def test_report_summary_mentions_drops_carving_and_capping():
    report = CleaningReport(
        read={"train": 100, "validation": 10},
        dropped={"train": {"empty": 3, "max_words": 0, "length_ratio": 2}},
        carved={"test": 5},
        capped=40,
        kept={"train": 50, "validation": 10, "test": 5},
    )
    text = report.summary()
    assert "train: 50 pairs; read 100; dropped empty=3, length_ratio=2" in text
    assert "test: 5 pairs; carved from train (5)" in text
    assert "max_train_pairs" in text
    assert report.to_dict()["dropped"]["train"]["empty"] == 3
