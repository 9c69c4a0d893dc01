"""The synthetic language pair: deterministic, disjoint, two distinct domains, and knobs
that change the task the way their names promise."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from pydantic import ValidationError

from raymt.data.synthetic import DOMAINS, SyntheticSpec, generate_monolingual, generate_splits
from raymt.data.synthetic_lexicon import build_lexicon
from raymt.errors import DataError

FUNCTION_WORDS = {"the", "a", "an", "some", "who"}


def _vocab(pairs, side=0):
    return {w for p in pairs for w in p[side].split()}


def test_same_spec_gives_identical_splits_and_other_seed_differs():
    spec = SyntheticSpec(train_size=300, valid_size=50, test_size=50, seed=7)
    assert generate_splits(spec) == generate_splits(spec)
    other = generate_splits(spec.model_copy(update={"seed": 8}))
    assert other["train"] != generate_splits(spec)["train"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_splits_have_requested_sizes_and_are_disjoint(domain):
    splits = generate_splits(SyntheticSpec(domain=domain, train_size=2000, valid_size=200, test_size=150))
    assert {k: len(v) for k, v in splits.items()} == {"train": 2000, "validation": 200, "test": 150}
    sources = [{s for s, _ in splits[name]} for name in ("train", "validation", "test")]
    assert sum(len(s) for s in sources) == 2350  # unique within splits, no overlap between
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])


def test_eval_splits_do_not_change_with_train_size():
    small = generate_splits(SyntheticSpec(train_size=100))
    big = generate_splits(SyntheticSpec(train_size=3000))
    assert small["validation"] == big["validation"] and small["test"] == big["test"]


def test_domains_share_almost_no_vocabulary():
    general = generate_splits(SyntheticSpec(domain="general", train_size=3000))["train"]
    medical = generate_splits(SyntheticSpec(domain="medical", train_size=3000))["train"]
    for side in (0, 1):
        a, b = _vocab(general, side), _vocab(medical, side)
        assert len(a & b) / len(a | b) < 0.03, sorted(a & b)
    assert _vocab(general) & _vocab(medical) <= FUNCTION_WORDS


def test_domains_differ_in_constructions():
    general = generate_splits(SyntheticSpec(domain="general", train_size=2000))["train"]
    medical = generate_splits(SyntheticSpec(domain="medical", train_size=2000))["train"]
    with_relative = lambda pairs: sum(" who " in f" {s} " for s, _ in pairs) / len(pairs)  # noqa: E731
    assert with_relative(general) == 0
    assert with_relative(medical) > 0.15


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize(("lo", "hi"), [(3, 3), (5, 9), (15, 15), (3, 15)])
def test_source_lengths_stay_in_range(domain, lo, hi):
    splits = generate_splits(SyntheticSpec(domain=domain, min_words=lo, max_words=hi, train_size=1000, valid_size=10, test_size=10))
    lengths = Counter(len(s.split()) for s, _ in splits["train"])
    assert min(lengths) >= lo and max(lengths) <= hi
    if hi - lo >= 4:
        assert len(lengths) == hi - lo + 1  # every length in the range is produced


def _positional_map(pairs):
    mapping = defaultdict(set)
    for s, t in pairs:
        for sw, tw in zip(s.split(), t.split()):
            mapping[sw].add(tw)
    return mapping


def test_without_reorder_and_agreement_translation_is_word_by_word():
    pairs = generate_splits(SyntheticSpec(reorder=False, agreement=False, train_size=2000))["train"]
    assert all(len(s.split()) == len(t.split()) for s, t in pairs)
    mapping = _positional_map(pairs)
    ambiguous = {w: ts for w, ts in mapping.items() if len(ts) > 1}
    assert not ambiguous  # each English word form has exactly one target word


def test_agreement_makes_one_adjective_take_several_forms():
    lex = build_lexicon("general")
    on = _positional_map(generate_splits(SyntheticSpec(reorder=False, agreement=True, train_size=3000))["train"])
    off = _positional_map(generate_splits(SyntheticSpec(reorder=False, agreement=False, train_size=3000))["train"])
    adjectives = [a for a in lex.words["adjectives"] if a in on]
    assert adjectives
    assert all(len(off[a]) == 1 for a in adjectives)
    assert sum(len(on[a]) >= 3 for a in adjectives) > len(adjectives) / 2  # gender x number forms
    assert len(on["the"]) == 4 and len(off["the"]) == 1


def test_reorder_makes_target_verb_final():
    lex = build_lexicon("general")
    verbs = {lex.translation[f"{c}:{v}"] + "et" for c in ("transitive", "intransitive") for v in lex.words[c]}
    reordered = generate_splits(SyntheticSpec(reorder=True, agreement=False, train_size=1000))["train"]
    monotone = generate_splits(SyntheticSpec(reorder=False, agreement=False, train_size=1000))["train"]
    assert all(t.split()[-1] in verbs for _, t in reordered)
    assert sum(t.split()[-1] in verbs for _, t in monotone) < 0.5 * len(monotone)


def test_noise_touches_only_training_targets():
    clean = generate_splits(SyntheticSpec(train_size=2000))
    noisy = generate_splits(SyntheticSpec(train_size=2000, noise_rate=0.1))
    assert noisy["validation"] == clean["validation"] and noisy["test"] == clean["test"]
    assert [s for s, _ in noisy["train"]] == [s for s, _ in clean["train"]]
    changed = sum(a != b for a, b in zip(noisy["train"], clean["train"])) / 2000
    # P(no word of ~9 corrupted at rate 0.1) ~ 0.4, so roughly 60% of targets change
    assert 0.35 < changed < 0.8


def test_lexicon_size_limits_distinct_content_words():
    full = _vocab(generate_splits(SyntheticSpec(train_size=3000))["train"]) - FUNCTION_WORDS
    small = _vocab(generate_splits(SyntheticSpec(train_size=3000, lexicon_size=5))["train"]) - FUNCTION_WORDS
    # 5 lemmas in each of 5 open classes, plus plural / 3rd-person forms and 6 prepositions
    assert len(small) <= 5 * 5 * 2 + 6 < len(full)


def test_rare_word_rate_controls_how_often_the_rare_tail_appears():
    lex = build_lexicon("general")
    nouns = lex.words["things"]
    tail = set(nouns[len(nouns) - len(nouns) // 4 :])

    def tail_share(rate):
        pairs = generate_splits(SyntheticSpec(train_size=2000, rare_word_rate=rate))["train"]
        return sum(w in tail for s, _ in pairs for w in s.split()) / len(pairs)

    assert tail_share(0.0) == 0
    assert 0 < tail_share(0.05) < tail_share(0.5)


def test_too_small_a_grammar_for_the_requested_size_is_a_clear_error():
    with pytest.raises(DataError, match="distinct source sentences.*lexicon_size"):
        generate_splits(SyntheticSpec(lexicon_size=4, min_words=3, max_words=3, train_size=5000))


def test_spec_validation():
    with pytest.raises(ValidationError, match="min_words"):
        SyntheticSpec(min_words=9, max_words=4)
    with pytest.raises(ValidationError):
        SyntheticSpec(typo_field=1)
    with pytest.raises(ValidationError):
        SyntheticSpec(noise_rate=0.9)


def test_monolingual_is_deterministic_distinct_and_free_of_eval_sentences():
    spec = SyntheticSpec(domain="medical", valid_size=300, test_size=300)
    src = generate_monolingual(spec, side="src", n=3000)
    assert src == generate_monolingual(spec, side="src", n=3000)
    assert len(set(src)) == 3000
    splits = generate_splits(spec)
    held_out = {s for name in ("validation", "test") for s, _ in splits[name]}
    assert not held_out & set(src)
    tgt = generate_monolingual(spec, side="tgt", n=500)
    tgt_vocab = _vocab([(t, t) for t in tgt])
    assert not tgt_vocab & _vocab(splits["train"], side=0)  # target language, not English
    assert len(tgt_vocab & _vocab(splits["train"], side=1)) > 0.9 * len(tgt_vocab)


def test_twenty_thousand_pairs_generate():
    """A user-sized corpus: all the pairs asked for, none repeated. How long it takes is measured
    by ``python -m benchmarks.data_prep`` (corpus_s), not asserted here."""
    splits = generate_splits(SyntheticSpec(train_size=20_000))
    assert len(splits["train"]) == 20_000
    assert len(set(splits["train"])) == 20_000
