"""Each built-in operator's statistics on a fixed seed: it does what its name promises."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raymt.data.augment import get_operator

SENTENCES = [" ".join(f"w{i}_{j}" for j in range(20)) for i in range(500)]  # 10,000 distinct words


def test_word_dropout_removes_about_p_of_the_words():
    op = get_operator("word_dropout")
    out = op.augment_sources(SENTENCES, random.Random(0), p=0.2)
    kept = sum(len(s.split()) for s in out) / sum(len(s.split()) for s in SENTENCES)
    assert abs((1 - kept) - 0.2) < 0.02
    for before, after in zip(SENTENCES, out):  # only deletions: survivors keep their order
        words = after.split()
        assert words == [w for w in before.split() if w in set(words)]


def test_word_dropout_never_empties_a_sentence():
    op = get_operator("word_dropout")
    out = op.augment_sources(["one", "two words"] * 200, random.Random(1), p=0.95)
    assert all(s.split() for s in out)


def test_word_shuffle_moves_words_but_never_more_than_k():
    op = get_operator("word_shuffle")
    out = op.augment_sources(SENTENCES, random.Random(0), k=3)
    moved = 0
    for before, after in zip(SENTENCES, out):
        b, a = before.split(), after.split()
        assert sorted(a) == sorted(b)  # a permutation
        for new_pos, w in enumerate(a):
            assert abs(new_pos - b.index(w)) <= 3
            moved += new_pos != b.index(w)
    assert moved > 0.5 * 500 * 20  # most words do move for k=3


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 30), k=st.integers(0, 6), seed=st.integers(0, 2**32))
def test_word_shuffle_bound_holds_for_any_length_and_k(n, k, seed):
    words = [f"t{i}" for i in range(n)]
    out = get_operator("word_shuffle").augment_sources([" ".join(words)], random.Random(seed), k=k)[0].split()
    assert sorted(out) == sorted(words)
    assert all(abs(pos - int(w[1:])) <= k for pos, w in enumerate(out))


def test_word_shuffle_with_k_zero_is_identity():
    assert get_operator("word_shuffle").augment_sources(SENTENCES[:20], random.Random(0), k=0) == SENTENCES[:20]


def test_random_insertion_adds_about_p_words_from_the_vocabulary():
    op = get_operator("random_insertion")
    vocab = ["alpha", "beta", "gamma"]
    out = op.augment_sources(SENTENCES, random.Random(0), vocabulary=vocab, p=0.15)
    n_before = sum(len(s.split()) for s in SENTENCES)
    added = sum(len(s.split()) for s in out) - n_before
    assert abs(added / n_before - 0.15) < 0.02
    for before, after in zip(SENTENCES, out):
        inserted = [w for w in after.split() if w not in set(before.split())]
        assert set(inserted) <= set(vocab)
        assert [w for w in after.split() if w not in vocab] == before.split()  # originals in order


def test_random_insertion_defaults_to_the_vocabulary_of_its_input():
    out = get_operator("random_insertion").augment_sources(["a b c", "d e"], random.Random(0), p=1.0)
    assert {w for s in out for w in s.split()} <= set("abcde") and len(out[0].split()) == 6


@pytest.mark.parametrize(("name", "params"), [("word_dropout", {"p": 1.0}), ("word_shuffle", {"k": -1}), ("random_insertion", {"rate": 0.1})])
def test_invalid_parameters_are_refused(name, params):
    from raymt.errors import ConfigError

    with pytest.raises(ConfigError, match=f"augment.{name}"):
        get_operator(name).augment_sources(["a b"], random.Random(0), **params)
