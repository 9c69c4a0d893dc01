"""One contract every registered augmentation operator must meet (a new operator is tested
the moment it is registered)."""

from __future__ import annotations

import random

import pytest
from pydantic import BaseModel

from raymt.data.augment import AugmentOperator, apply_ratio, available_operators, get_operator, register_operator
from raymt.errors import ConfigError

SOURCES = [f"the {a} dog sees a {b} ball near the old house" for a in ("small", "big", "red") for b in ("blue", "new", "green")]
PAIRS = [(s, f"target {i}") for i, s in enumerate(SOURCES)]
# parameters that make each operator change its input; a new operator adds its entry here
ACTIVE = {"word_dropout": {"p": 0.5}, "word_shuffle": {"k": 3}, "random_insertion": {"p": 0.5}}


def test_builtin_operators_are_registered():
    assert {"word_dropout", "word_shuffle", "random_insertion"} <= set(available_operators())


@pytest.mark.parametrize("name", available_operators())
class TestOperatorContract:
    def test_declares_a_strict_documented_params_model(self, name):
        op = get_operator(name)
        assert isinstance(op, AugmentOperator) and op.name == name
        assert issubclass(op.params_cls, BaseModel) and op.params_cls.model_config.get("extra") == "forbid"
        assert all(f.description for f in op.params_cls.model_fields.values())
        op.params_cls()  # every parameter has a default
        with pytest.raises(ConfigError):
            op.augment_sources(SOURCES, random.Random(0), no_such_param=1)

    def test_one_output_per_input_deterministic_for_a_seed(self, name):
        op = get_operator(name)
        params = ACTIVE.get(name, {})
        a = op.augment_sources(SOURCES, random.Random(42), **params)
        b = op.augment_sources(SOURCES, random.Random(42), **params)
        assert a == b and len(a) == len(SOURCES) and all(isinstance(s, str) and s for s in a)
        assert a != SOURCES  # with active parameters something changes
        assert op.augment_sources(SOURCES, random.Random(43), **params) != a

    def test_handles_empty_and_single_word_sources(self, name):
        op = get_operator(name)
        out = op.augment_sources(["", "word"], random.Random(0), vocabulary=["x"], **ACTIVE.get(name, {}))
        assert len(out) == 2 and out[0].split() in ([], ["x"]) and out[1]

    def test_ratio_keeps_targets_and_originals(self, name):
        out = apply_ratio(PAIRS, name, 0.5, ACTIVE.get(name, {}), seed=0)
        assert out[: len(PAIRS)] == PAIRS and len(out) == len(PAIRS) + round(0.5 * len(PAIRS))
        targets = dict((t, s) for s, t in PAIRS)
        assert all(t in targets for _, t in out[len(PAIRS) :])


def test_registry_refuses_duplicates_and_malformed_operators():
    class Params(BaseModel):
        model_config = {"extra": "forbid"}

    class Duplicate(AugmentOperator):
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
