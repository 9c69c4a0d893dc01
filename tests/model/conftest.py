"""Fixtures of the model tests: a small cut of the real Multi30k corpus (read from ../shared,
written to a temporary folder, never into the repository)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

MULTI30K_RAW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "multi30k" / "task1" / "raw"


def cut_multi30k(dest: Path, *, train: int, val: int, langs=("en", "de", "fr", "cs")) -> Path:
    """The first ``train`` / ``val`` lines of Multi30k's train and val (and ``val`` of its test_2016_flickr) files, as plain text."""
    if not (MULTI30K_RAW / "train.en.gz").is_file():
        pytest.skip(f"the shared Multi30k corpus is not at {MULTI30K_RAW} (../shared absent on this machine)")
    dest.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train", train), ("val", val), ("test_2016_flickr", val)):
        for lang in langs:
            with gzip.open(MULTI30K_RAW / f"{stem}.{lang}.gz", "rt", encoding="utf-8") as fh:
                lines = [next(fh).rstrip("\n") for _ in range(n)]
            (dest / f"{stem}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dest


@pytest.fixture(scope="session")
def multi30k_cut(tmp_path_factory) -> Path:
    """2,000 training and 100 validation (and test) lines of en/de/fr/cs Multi30k."""
    return cut_multi30k(tmp_path_factory.mktemp("multi30k-cut"), train=2000, val=100)
