"""Fixtures shared by the data-layer tests: a tiny offline MBart50 tokenizer and the path of
the real corpora in ../shared (absent on machines without the shared folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MULTI30K_RAW = SHARED / "data" / "multi30k" / "task1" / "raw"


def make_tokenizer(words: list[str], src_lang: str = "en_XX", tgt_lang: str = "de_DE"):
    """A Unigram MBart50 tokenizer: one piece per known word plus single letters, so any
    word can be spelled; built in memory (nothing downloaded)."""
    from transformers import MBart50Tokenizer

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁" + w, -1.0) for w in sorted(set(words))]
    vocab += [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz"] + [("▁", -3.0)]
    return MBart50Tokenizer(vocab=vocab, src_lang=src_lang, tgt_lang=tgt_lang)


@pytest.fixture(scope="session")
def tokenizer_factory():
    return make_tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return make_tokenizer("the a cat dog sees sleeps ball red der die das hund katze sieht schläft".split())


@pytest.fixture
def multi30k_raw() -> Path:
    if not (MULTI30K_RAW / "train.de.gz").is_file():
        pytest.skip(f"the shared Multi30k corpus is not at {MULTI30K_RAW} (../shared absent on this machine)")
    return MULTI30K_RAW
