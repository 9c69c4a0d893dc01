"""The real Multi30k de-en corpus (Moses-style gzip files) from the shared data folder."""

from __future__ import annotations

import gzip

from raymt.data.config import parse_data_config
from raymt.data.sources import load_corpus


def test_multi30k_de_en_reads_all_splits_line_aligned(multi30k_raw):
    cfg = parse_data_config(
        {
            "source": "local",
            "path": str(multi30k_raw),
            "format": "moses",
            "src": "de",
            "tgt": "en",
            "validation": "val",
            "test": "test_2016_flickr",
            "cleaning": {"apply_to": ["train", "validation", "test"]},
        }
    )
    splits, report = load_corpus(cfg)
    # SOURCE.md: train 29,000, val 1,014, test_2016_flickr 1,000 lines
    assert report.read == {"train": 29000, "validation": 1014, "test": 1000}
    assert report.carved == {}
    assert splits["train"][0] == (
        "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
        "Two young, White males are outside near many bushes.",
    )
    # captions are short and parallel: the default filters remove almost nothing
    assert report.total_dropped("train") < 100
    assert report.total_dropped("validation") < 10 and report.total_dropped("test") < 10
    assert all(s and t for name in splits for s, t in splits[name])


def test_multi30k_subset_with_carving_is_reproducible(multi30k_raw):
    raw = {
        "source": "local",
        "path": str(multi30k_raw),
        "format": "moses",
        "src": "en",
        "tgt": "de",
        "validation": None,
        "test": None,
        "valid_size": 200,
        "test_size": 200,
        "max_train_pairs": 2000,
    }
    first, report = load_corpus(parse_data_config(raw))
    second, _ = load_corpus(parse_data_config(raw))
    assert first == second
    assert (len(first["train"]), len(first["validation"]), len(first["test"])) == (2000, 200, 200)
    english = set(gzip.decompress((multi30k_raw / "train.en.gz").read_bytes()).decode().split("\n"))
    assert all(src in english for name in first for src, _ in first[name])  # src: en picked train.en
    held_out = {src for name in ("validation", "test") for src, _ in first[name]}
    assert not held_out & {src for src, _ in first["train"]}
