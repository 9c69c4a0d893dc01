"""The interface every augmentation operator implements, and the operator registry.

An operator makes a new *source* for a training pair; the target stays the reference
translation, so the model learns to translate noisy or varied input into clean output (the
setting of the denoising / noise-robustness literature, e.g. Lample et al., 2018; Wei & Zou,
2019). Most operators perturb the source word by word (:class:`WordOperator`); others write a
whole new source from the target (back-translation, Sennrich et al., 2016), so the common
interface works on pairs. Operators draw all randomness from the ``rng`` they are given, so a
seed fixes their output exactly.
"""

from __future__ import annotations

import difflib
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ValidationError

from raymt.errors import ConfigError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REGISTRY: dict[str, type[AugmentOperator]] = {}


class AugmentOperator(ABC):
    """One way of making a new source for a training pair, with validated parameters."""

    name: ClassVar[str]
    params_cls: ClassVar[type[BaseModel]]
    needs_vocabulary: ClassVar[bool] = False  # True: perturb() draws words from the training vocabulary
    #: What building this operator's experiment-wide pool cost (seconds, sentences, ...), set by
    #: an operator whose ``build_pool`` does expensive work, so the report can show it once.
    cost: dict | None = None

    def validate_params(self, params: dict) -> BaseModel:
        """Parameters as the operator's pydantic model; mistakes become one-line ConfigErrors."""
        try:
            return self.params_cls(**params)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                first["msg"],
                where=f"augment.{self.name}" + (f".{field}" if field else ""),
                fix=f"valid parameters: {', '.join(self.params_cls.model_fields)}",
            ) from None

    @abstractmethod
    def augment_pairs(
        self, pairs: Sequence[tuple[str, str]], rng: random.Random, *, vocabulary: Sequence[str] | None = None, **params
    ) -> list[tuple[str, str]]:
        """One new pair per input pair, in order: a new source, the same target."""


class WordOperator(AugmentOperator):
    """An operator that perturbs each source sentence word by word, independently of its target."""

    def augment_pairs(
        self, pairs: Sequence[tuple[str, str]], rng: random.Random, *, vocabulary: Sequence[str] | None = None, **params
    ) -> list[tuple[str, str]]:
        sources = self.augment_sources([s for s, _ in pairs], rng, vocabulary=vocabulary, **params)
        return [(src, tgt) for src, (_, tgt) in zip(sources, pairs)]

    def augment_sources(self, sources: Sequence[str], rng: random.Random, *, vocabulary: Sequence[str] | None = None, **params) -> list[str]:
        """One perturbed copy of each sentence, in order.

        ``vocabulary`` is the word list operators such as random insertion draw from; when
        omitted it is the vocabulary of ``sources`` themselves.
        """
        p = self.validate_params(params)
        if self.needs_vocabulary and vocabulary is None:
            vocabulary = sorted({w for s in sources for w in s.split()})
        vocab = list(vocabulary or ())
        return [" ".join(self.perturb(s.split(), rng, p, vocab)) for s in sources]

    @abstractmethod
    def perturb(self, words: list[str], rng: random.Random, params: BaseModel, vocabulary: list[str]) -> list[str]:
        """The perturbed word list of one sentence."""


def register_operator(cls: type[AugmentOperator]) -> type[AugmentOperator]:
    """Class decorator adding an operator to the registry; refuses malformed or duplicate ones."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{cls.__qualname__}.name must be a lower_snake_case string, got {name!r}")
    params_cls = getattr(cls, "params_cls", None)
    if not (isinstance(params_cls, type) and issubclass(params_cls, BaseModel)):
        raise ValueError(f"{cls.__qualname__}.params_cls must be a pydantic BaseModel subclass")
    if params_cls.model_config.get("extra") != "forbid":
        raise ValueError(f"{params_cls.__qualname__} must set model_config = ConfigDict(extra='forbid')")
    undocumented = [f for f, info in params_cls.model_fields.items() if not info.description]
    if undocumented:
        raise ValueError(f"{params_cls.__qualname__} fields without description: {undocumented}")
    existing = _REGISTRY.get(name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"augmentation operator {name!r} is already registered by {existing.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def available_operators() -> list[str]:
    return sorted(_REGISTRY)


def get_operator(name: str) -> AugmentOperator:
    """A fresh instance of the named operator; an unknown name suggests the closest one."""
    cls = _REGISTRY.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown augmentation operator {name!r}",
            where="augment",
            fix=f"{hint}available: {', '.join(available_operators())}",
        )
    return cls()
