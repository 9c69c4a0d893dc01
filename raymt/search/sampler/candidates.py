"""Whole configurations for a define-by-run space, drawn *outside* a running trial.

A model-based sampler has to score complete configurations, but a define-by-run space (Optuna's
``space(trial)`` calling ``trial.suggest_*``) only reveals which parameters exist once the
earlier ones are chosen: with ``method == "lora"`` the space asks for ``lora_r``, with ``"full"``
it does not. So we *replay* the user's space function on a stand-in trial whose ``suggest_*``
methods draw values (at random, or as a mutation of a parent configuration). Each replay yields
a valid configuration of one branch together with its distributions; inactive parameters are
simply absent. This is the same trick Optuna's own ``FixedTrial`` uses for re-running a space.

:class:`ParamCodec` turns such configurations into vectors for a GP: numeric parameters and
categorical choices that are all numbers (``lora_r in [4, 8, 16]``) become one ordinal coordinate
in [0, 1] (log scale where the values span a wide ratio); other categoricals are one-hot. An
inactive parameter is imputed at the centre (numeric) or all zeros (one-hot), so the branch
indicator (e.g. ``method``) carries the difference between branches, as in SMAC's imputation
(Hutter, Hoos & Leyton-Brown, 2011, LION).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

Params = dict[str, Any]
Proposal = Callable[[str, BaseDistribution], Any]


class ReplayTrial:
    """A stand-in for ``optuna.Trial`` that answers ``suggest_*`` from a proposal function."""

    def __init__(self, propose: Proposal, number: int = -1):
        self._propose = propose
        self.number = number
        self.params: Params = {}
        self.distributions: dict[str, BaseDistribution] = {}
        self.user_attrs: dict[str, Any] = {}
        self.system_attrs: dict[str, Any] = {}

    def _suggest(self, name: str, dist: BaseDistribution) -> Any:
        if name in self.params:
            return self.params[name]
        if dist.single():
            value = dist.to_external_repr(dist.to_internal_repr(_single_value(dist)))
        else:
            value = self._propose(name, dist)
        self.params[name] = value
        self.distributions[name] = dist
        return value

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False) -> float:
        return self._suggest(name, _dist(FloatDistribution, low, high, log=log, step=step))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        return self._suggest(name, _dist(IntDistribution, low, high, log=log, step=step))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        try:
            return self._suggest(name, _dist(CategoricalDistribution, tuple(choices)))
        except TypeError:  # unhashable choices: no memo
            return self._suggest(name, CategoricalDistribution(choices))

    # Deprecated Optuna aliases, still accepted by optuna 5.
    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        return self.suggest_float(name, low, high, step=q)

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value

    def report(self, value: float, step: int) -> None:  # pragma: no cover - spaces rarely report
        pass

    def should_prune(self) -> bool:  # pragma: no cover
        return False


@functools.lru_cache(maxsize=4096)
def _dist(cls: type, *args: Any, **kwargs: Any) -> BaseDistribution:
    """Distributions are immutable; building them validates arguments, so replays memoise them."""
    return cls(*args, **kwargs)


def _single_value(dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[0]
    return dist.low  # type: ignore[attr-defined]


def replay(space_fn: Callable[[Any], Any], propose: Proposal) -> tuple[Params, dict[str, BaseDistribution]]:
    """Run the define-by-run space once with ``propose`` choosing every value."""
    stub = ReplayTrial(propose)
    space_fn(stub)
    return stub.params, stub.distributions


# ----------------------------------------------------------------------------- proposals
def random_value(dist: BaseDistribution, rng: np.random.Generator) -> Any:
    """A uniform draw from an Optuna distribution (log-uniform where ``log=True``)."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(rng.integers(len(dist.choices)))]
    if isinstance(dist, IntDistribution):
        if dist.log:
            # log=True implies low >= 1 and step == 1: widen by half a step so the ends are fair.
            v = math.exp(rng.uniform(math.log(dist.low - 0.5), math.log(dist.high + 0.5)))
            return int(min(max(round(v), dist.low), dist.high))
        n = (dist.high - dist.low) // dist.step
        return int(dist.low + dist.step * int(rng.integers(n + 1)))
    assert isinstance(dist, FloatDistribution)
    if dist.step is not None:
        n = int(round((dist.high - dist.low) / dist.step))
        return float(min(dist.low + dist.step * int(rng.integers(n + 1)), dist.high))
    if dist.log:
        return float(math.exp(rng.uniform(math.log(dist.low), math.log(dist.high))))
    return float(rng.uniform(dist.low, dist.high))


def coerce(value: Any, dist: BaseDistribution) -> Any | None:
    """``value`` as a valid value of ``dist`` (snapping numbers into range), or None."""
    try:
        if isinstance(dist, CategoricalDistribution):
            for c in dist.choices:
                if c is value or (c == value and not isinstance(c, bool) and not isinstance(value, bool)):
                    return c
            return None
        v = float(value)
        if not math.isfinite(v):
            return None
    except (TypeError, ValueError):
        return None
    v = min(max(v, dist.low), dist.high)  # type: ignore[attr-defined]
    if isinstance(dist, IntDistribution):
        return int(dist.low + dist.step * round((v - dist.low) / dist.step))
    assert isinstance(dist, FloatDistribution)
    if dist.step is not None:
        return float(min(dist.low + dist.step * round((v - dist.low) / dist.step), dist.high))
    return v


def mutate_value(value: Any, dist: BaseDistribution, rng: np.random.Generator, scale: float = 0.15) -> Any:
    """A neighbour of ``value``: a Gaussian step in the normalised coordinate, or another choice."""
    if isinstance(dist, CategoricalDistribution):
        return random_value(dist, rng)
    lo, hi = float(dist.low), float(dist.high)  # type: ignore[attr-defined]
    log = bool(dist.log) and lo > 0  # type: ignore[attr-defined]
    f = (lambda x: math.log(x)) if log else (lambda x: x)
    g = (lambda t: math.exp(t)) if log else (lambda t: t)
    a, b = f(lo), f(hi)
    t = (f(max(float(value), lo)) - a) / (b - a) + rng.normal(0.0, scale)
    t = min(max(t, 0.0), 1.0)
    return coerce(g(a + t * (b - a)), dist)


def random_proposal(rng: np.random.Generator) -> Proposal:
    return lambda name, dist: random_value(dist, rng)


def template_proposal(template: Mapping[str, Any], rng: np.random.Generator, mutate_prob: float = 0.0) -> Proposal:
    """Copy ``template`` where it fits the space; mutate each copied value with ``mutate_prob``."""

    def propose(name: str, dist: BaseDistribution) -> Any:
        if name in template:
            v = coerce(template[name], dist)
            if v is not None:
                if mutate_prob > 0 and rng.random() < mutate_prob:
                    return mutate_value(v, dist, rng)
                return v
        return random_value(dist, rng)

    return propose


def config_key(params: Mapping[str, Any]) -> tuple:
    """A hashable identity of a configuration (``2`` and ``2.0`` are the same)."""
    out = []
    for k in sorted(params):
        v = params[k]
        if isinstance(v, (bool, str)) or v is None:
            out.append((k, repr(v)))
        else:
            try:
                out.append((k, round(float(v), 12)))
            except (TypeError, ValueError):
                out.append((k, repr(v)))
    return tuple(out)


# ----------------------------------------------------------------------------- encoding
def _is_number(c: Any) -> bool:
    return isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, (bool, np.bool_))


class ParamCodec:
    """Maps configurations (with absent = inactive parameters) to vectors for a GP.

    Built from the union of every distribution seen; :meth:`extend` only ever widens it, so
    the encoding (and the caches keyed on :attr:`signature`) is stable across trials.
    """

    def __init__(self) -> None:
        self._dists: dict[str, BaseDistribution] = {}
        self._layout: list[tuple] = []

    def extend(self, distributions: Mapping[str, BaseDistribution]) -> bool:
        changed = False
        for name, dist in distributions.items():
            old = self._dists.get(name)
            if old is None:
                self._dists[name] = dist
                changed = True
            elif isinstance(dist, (FloatDistribution, IntDistribution)) and isinstance(old, type(dist)):
                if dist.low < old.low or dist.high > old.high:
                    kw = dict(log=old.log, step=old.step)
                    self._dists[name] = type(old)(min(old.low, dist.low), max(old.high, dist.high), **kw)
                    changed = True
        if changed or not self._layout:
            self._layout = self._build_layout()
        return changed

    def _build_layout(self) -> list[tuple]:
        layout = []
        for name in sorted(self._dists):
            dist = self._dists[name]
            if dist.single():
                continue
            if isinstance(dist, CategoricalDistribution):
                choices = list(dist.choices)
                if all(_is_number(c) for c in choices):
                    vals = [float(c) for c in choices]
                    lo, hi = min(vals), max(vals)
                    log = lo > 0 and hi / lo >= 3.0
                    layout.append(("num", name, math.log(lo) if log else lo, math.log(hi) if log else hi, log))
                else:
                    layout.append(("cat", name, tuple(repr(c) for c in choices)))
            else:
                log = bool(dist.log) and dist.low > 0  # type: ignore[attr-defined]
                lo, hi = float(dist.low), float(dist.high)  # type: ignore[attr-defined]
                layout.append(("num", name, math.log(lo) if log else lo, math.log(hi) if log else hi, log))
        return layout

    @property
    def signature(self) -> tuple:
        return tuple(self._layout)

    @property
    def dim(self) -> int:
        return sum(1 if e[0] == "num" else len(e[2]) for e in self._layout)

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        X = np.zeros((len(configs), self.dim))
        col = 0
        for entry in self._layout:
            name = entry[1]
            if entry[0] == "num":
                _, _, lo, hi, log = entry
                span = hi - lo if hi > lo else 1.0
                for i, cfg in enumerate(configs):
                    v = cfg.get(name)
                    x = 0.5
                    if v is not None and _is_number(v) and math.isfinite(float(v)):
                        fv = float(v)
                        if log:
                            fv = math.log(fv) if fv > 0 else lo
                        x = min(max((fv - lo) / span, -0.5), 1.5)
                    X[i, col] = x
                col += 1
            else:
                reprs = entry[2]
                scale = 1.0 / math.sqrt(2.0)
                for i, cfg in enumerate(configs):
                    if name in cfg and cfg[name] is not None:
                        r = repr(cfg[name])
                        if r in reprs:
                            X[i, col + reprs.index(r)] = scale
                col += len(reprs)
        return X
