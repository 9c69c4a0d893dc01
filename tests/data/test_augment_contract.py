"""One contract every registered augmentation operator must meet (a new operator is tested
the moment it is registered).

Every operator makes a new source for a pair and keeps its target (``augment_pairs``);
operators that perturb words (``WordOperator``) also meet the word-level contract. Back-
translation writes whole sentences with a model: its contract runs with the tiny base as the
model (a real seq2seq model, reading the target side), so nothing is faked.
"""

from __future__ import annotations

import random

import pytest
from pydantic import BaseModel

from raymt.data.augment import AugmentOperator, WordOperator, apply_ratio, available_operators, get_operator, register_operator
from raymt.errors import ConfigError

SOURCES = [f"the {a} dog sees a {b} ball near the old house" for a in ("small", "big", "red") for b in ("blue", "new", "green")]
PAIRS = [(s, f"target {i}") for i, s in enumerate(SOURCES)]
# parameters that make each operator change its input; a new operator adds its entry here
ACTIVE = {"word_dropout": {"p": 0.5}, "word_shuffle": {"k": 3}, "random_insertion": {"p": 0.5}}
WORD_OPERATORS = [n for n in available_operators() if isinstance(get_operator(n), WordOperator)]


@pytest.fixture
def active(tiny_base):
    """Each operator's active parameters (model-based operators get the tiny base)."""
    model = {"model": str(tiny_base), "input_lang": "de_DE", "output_lang": "en_XX", "max_new_tokens": 16}
    return {**ACTIVE, "back_translation": model}


def test_builtin_operators_are_registered():
    assert {"word_dropout", "word_shuffle", "random_insertion", "back_translation"} <= set(available_operators())


@pytest.mark.parametrize("name", available_operators())
class TestOperatorContract:
    def test_declares_a_strict_documented_params_model(self, name):
        op = get_operator(name)
        assert isinstance(op, AugmentOperator) and op.name == name
        assert issubclass(op.params_cls, BaseModel) and op.params_cls.model_config.get("extra") == "forbid"
        assert all(f.description for f in op.params_cls.model_fields.values())
        op.params_cls()  # every parameter has a default
        with pytest.raises(ConfigError):
            op.augment_pairs(PAIRS, random.Random(0), no_such_param=1)

    def test_one_new_source_per_pair_same_target_deterministic_for_a_seed(self, name, active):
        op = get_operator(name)
        params = active[name]
        a = op.augment_pairs(PAIRS, random.Random(42), **params)
        assert a == op.augment_pairs(PAIRS, random.Random(42), **params)
        assert len(a) == len(PAIRS) and all(isinstance(s, str) and s for s, _ in a)
        assert [t for _, t in a] == [t for _, t in PAIRS]  # targets untouched, in order
        assert [s for s, _ in a] != SOURCES  # with active parameters something changes
        assert op.augment_pairs(PAIRS, random.Random(43), **params) != a

    def test_ratio_keeps_targets_and_originals(self, name, active):
        out = apply_ratio(PAIRS, name, 0.5, active[name], seed=0)
        assert out[: len(PAIRS)] == PAIRS and len(out) == len(PAIRS) + round(0.5 * len(PAIRS))
        targets = dict((t, s) for s, t in PAIRS)
        assert all(t in targets for _, t in out[len(PAIRS) :])
        assert apply_ratio(PAIRS, name, 0.0, active[name], seed=0) == PAIRS


@pytest.mark.parametrize("name", WORD_OPERATORS)
class TestWordOperatorContract:
    def test_one_output_per_sentence(self, name):
        op = get_operator(name)
        a = op.augment_sources(SOURCES, random.Random(42), **ACTIVE[name])
        assert len(a) == len(SOURCES) and a != SOURCES

    def test_handles_empty_and_single_word_sources(self, name):
        op = get_operator(name)
        out = op.augment_sources(["", "word"], random.Random(0), vocabulary=["x"], **ACTIVE[name])
        assert len(out) == 2 and out[0].split() in ([], ["x"]) and out[1]


def test_every_operator_has_active_parameters_here(active):
    assert set(available_operators()) <= set(active)


def test_registry_refuses_duplicates_and_malformed_operators():
    class Params(BaseModel):
        model_config = {"extra": "forbid"}

    class Duplicate(WordOperator):
        name = "word_dropout"
        params_cls = Params

        def perturb(self, words, rng, params, vocabulary):
            return words

    with pytest.raises(ValueError, match="already registered"):
        register_operator(Duplicate)
    Duplicate.name = "Bad Name"
    with pytest.raises(ValueError, match="lower_snake_case"):
        register_operator(Duplicate)

    class Loose(BaseModel):
        pass

    Duplicate.name, Duplicate.params_cls = "loose_op", Loose
    with pytest.raises(ValueError, match="extra='forbid'"):
        register_operator(Duplicate)
    assert "loose_op" not in available_operators()


def test_unknown_operator_suggests_the_closest_name():
    with pytest.raises(ConfigError, match="did you mean 'word_shuffle'"):
        get_operator("word_shufle")
