"""The tokenised corpus: built once, keyed on content, atomic under concurrent builders."""

from __future__ import annotations

import pytest

import raymt.data.cache as cache
from raymt.data.cache import build_tokenized, cache_key, load_tokenized
from raymt.errors import ConfigError, DataError

SPLITS = {
    "train": [("the cat sees the dog", "die katze sieht den hund"), ("the dog sleeps", "der hund schläft")] * 5,
    "validation": [("a red ball", "ein roter ball")],
    "test": [("the cat sleeps", "die katze schläft")],
}


@pytest.fixture
def counting(monkeypatch):
    calls = []
    original = cache._tokenize_split

    def wrapped(pairs, tokenizer, max_length, progress):
        calls.append(len(pairs))
        return original(pairs, tokenizer, max_length, progress)

    monkeypatch.setattr(cache, "_tokenize_split", wrapped)
    return calls


def test_columns_hold_ids_with_language_codes_and_raw_text(tmp_path, tiny_tokenizer):
    path = build_tokenized(SPLITS, tiny_tokenizer, 16, tmp_path)
    dd = load_tokenized(path)
    assert set(dd) == {"train", "validation", "test"} and len(dd["train"]) == 10
    row = dd["validation"][0]
    assert row["src_text"] == "a red ball" and row["tgt_text"] == "ein roter ball"
    assert row["input_ids"][0] == tiny_tokenizer.convert_tokens_to_ids("en_XX")
    assert row["labels"][0] == tiny_tokenizer.convert_tokens_to_ids("de_DE")
    assert row["input_ids"][-1] == row["labels"][-1] == tiny_tokenizer.eos_token_id
    assert tiny_tokenizer.convert_ids_to_tokens(dd["train"][0]["input_ids"])[1:3] == ["▁the", "▁cat"]
    assert row["attention_mask"] == [1] * len(row["input_ids"])


def test_truncation_respects_max_length(tmp_path, tiny_tokenizer):
    long = {"train": [(" ".join(["the cat"] * 20), " ".join(["die katze"] * 20))], "validation": [], "test": []}
    dd = load_tokenized(build_tokenized(long, tiny_tokenizer, 8, tmp_path))
    assert len(dd["train"][0]["input_ids"]) == 8 and len(dd["train"][0]["labels"]) == 8
    assert len(dd["validation"]) == 0


def test_second_build_reuses_the_cache_without_tokenising(tmp_path, tiny_tokenizer, counting):
    first = build_tokenized(SPLITS, tiny_tokenizer, 16, tmp_path)
    n_calls = len(counting)
    mtimes = {p: p.stat().st_mtime_ns for p in first.rglob("*")}
    second = build_tokenized({k: list(v) for k, v in SPLITS.items()}, tiny_tokenizer, 16, tmp_path)
    assert second == first and len(counting) == n_calls == 3
    assert {p: p.stat().st_mtime_ns for p in first.rglob("*")} == mtimes
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp folders left behind


def test_key_changes_with_text_tokenizer_languages_and_max_length(tiny_tokenizer, tokenizer_factory):
    make_tokenizer = tokenizer_factory
    base = cache_key(SPLITS, tiny_tokenizer, 16)
    assert cache_key(SPLITS, tiny_tokenizer, 32) != base
    edited = dict(SPLITS, test=[("the cat sleeps", "die Katze schläft")])
    assert cache_key(edited, tiny_tokenizer, 16) != base
    words = "the a cat dog sees sleeps ball red der die das hund katze sieht schläft".split()
    assert cache_key(SPLITS, make_tokenizer(words), 16) == base  # same tokenizer rebuilt: same key
    assert cache_key(SPLITS, make_tokenizer(words + ["roter"]), 16) != base
    assert cache_key(SPLITS, make_tokenizer(words, tgt_lang="fr_XX"), 16) != base


def test_losing_a_concurrent_build_race_uses_the_winners_copy(tmp_path, tiny_tokenizer, monkeypatch):
    original = cache._tokenize_split
    state = {"raced": False}

    def racing(pairs, tokenizer, max_length, progress):
        if not state["raced"]:  # while we tokenise, another builder finishes first
            state["raced"] = True
            monkeypatch.setattr(cache, "_tokenize_split", original)
            winner = build_tokenized(SPLITS, tokenizer, 16, tmp_path)
            (winner / "winner.txt").write_text("first")
            monkeypatch.setattr(cache, "_tokenize_split", racing)
        return original(pairs, tokenizer, max_length, progress)

    monkeypatch.setattr(cache, "_tokenize_split", racing)
    path = build_tokenized(SPLITS, tiny_tokenizer, 16, tmp_path)
    assert (path / "winner.txt").read_text() == "first"  # the loser did not overwrite it
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    assert len(load_tokenized(path)["train"]) == 10


def test_bad_inputs(tmp_path, tiny_tokenizer, tokenizer_factory):
    with pytest.raises(DataError, match="not a finished raymt tokenised cache"):
        load_tokenized(tmp_path)
    with pytest.raises(ConfigError, match="max_length"):
        build_tokenized(SPLITS, tiny_tokenizer, 2, tmp_path)
    no_tgt = tokenizer_factory(["the"], tgt_lang=None)
    with pytest.raises(ConfigError, match="tgt_lang"):
        build_tokenized(SPLITS, no_tgt, 16, tmp_path)
