"""Ratio arithmetic: r adds round(r x |train|) perturbed pairs to the originals."""

from __future__ import annotations

import pytest

from raymt.data.augment import apply_augmentations, apply_ratio, augmented_pairs
from raymt.errors import ConfigError

TRAIN = [(f"w{i} x{i} y{i} z{i} v{i}", f"t{i}") for i in range(37)]


@pytest.mark.parametrize(("ratio", "added"), [(0.0, 0), (0.1, 4), (0.5, 18), (1.0, 37), (0.25, 9)])
def test_ratio_adds_round_r_times_train(ratio, added):
    out = apply_ratio(TRAIN, "word_dropout", ratio, {"p": 0.3}, seed=1)
    assert out[: len(TRAIN)] == TRAIN
    assert len(out) - len(TRAIN) == added == round(ratio * len(TRAIN))


def test_ratio_below_one_perturbs_distinct_pairs_and_keeps_their_targets():
    new = augmented_pairs(TRAIN, "word_shuffle", 1.0, {"k": 2}, seed=3)
    assert sorted(t for _, t in new) == sorted(t for _, t in TRAIN)  # each pair used exactly once
    by_target = dict((t, s) for s, t in TRAIN)
    assert all(sorted(s.split()) == sorted(by_target[t].split()) for s, t in new)


def test_same_seed_same_pairs_other_seed_other_pairs():
    a = apply_ratio(TRAIN, "word_dropout", 0.5, {"p": 0.3}, seed=7)
    assert a == apply_ratio(TRAIN, "word_dropout", 0.5, {"p": 0.3}, seed=7)
    assert a != apply_ratio(TRAIN, "word_dropout", 0.5, {"p": 0.3}, seed=8)


def test_ratio_above_max_is_refused_unless_allowed():
    with pytest.raises(ConfigError, match="outside \\[0, 1.0\\]") as info:
        apply_ratio(TRAIN, "word_dropout", 1.5, {"p": 0.1})
    assert info.value.where == "augment.word_dropout.ratio"
    with pytest.raises(ConfigError):
        apply_ratio(TRAIN, "word_dropout", -0.1, {})
    out = apply_ratio(TRAIN, "word_dropout", 2.5, {"p": 0.1}, max_ratio=3.0)
    assert len(out) == len(TRAIN) + round(2.5 * 37)
    from collections import Counter

    uses = Counter(t for _, t in out[len(TRAIN) :])
    assert max(uses.values()) - min(uses.values()) <= 1  # whole passes before any pair repeats a third time


def test_bad_params_fail_even_at_ratio_zero():
    with pytest.raises(ConfigError, match="augment.word_dropout.q"):
        apply_ratio(TRAIN, "word_dropout", 0.0, {"q": 0.1})


def test_several_operators_draw_from_the_originals_independently():
    combined = apply_augmentations(TRAIN, {"word_dropout": (0.5, {"p": 0.3}), "word_shuffle": (0.2, {"k": 2})}, seed=0)
    assert len(combined) == 37 + 18 + 7
    alone = augmented_pairs(TRAIN, "word_shuffle", 0.2, {"k": 2}, seed=0)
    assert combined[-7:] == alone  # adding word_dropout did not change word_shuffle's pairs


def test_insertion_draws_from_the_whole_training_vocabulary():
    new = augmented_pairs(TRAIN, "random_insertion", 0.2, {"p": 1.0}, seed=0)
    vocab = {w for s, _ in TRAIN for w in s.split()}
    by_target = dict((t, s) for s, t in TRAIN)
    inserted = {w for s, t in new for w in s.split()[1::2]}
    assert inserted <= vocab
    assert inserted - {w for t in (t for _, t in new) for w in by_target[t].split()}  # not only own words


@pytest.mark.parametrize(("name", "params"), [("random_insertion", {}), ("word_dropout", {"p": 0.3}), ("word_shuffle", {"k": 2})])
def test_a_large_pool_tells_its_progress_and_is_the_same_pool(monkeypatch, name, params):
    """A real corpus's pool is millions of sentences: it says how far it is and the time left,
    and counting its progress in chunks does not change a single pair."""
    import raymt.data.augment.ratio as ratio

    monkeypatch.setattr(ratio, "PROGRESS_CHUNK", 10)  # 37 pairs: chunks of 10, 10, 10, 7
    lines: list[str] = []
    told = augmented_pairs(TRAIN, name, 1.0, params, seed=5, log=lines.append, every_s=0)
    assert told == augmented_pairs(TRAIN, name, 1.0, params, seed=5)
    assert [line.split(": ")[1].split(",")[0] for line in lines] == [
        "27% (10/37 pairs)",
        "54% (20/37 pairs)",
        "81% (30/37 pairs)",
        "100% (37/37 pairs)",
    ]
    assert lines[0].startswith(f"{name} pool: ") and "left" in lines[0] and lines[-1].endswith("done")
