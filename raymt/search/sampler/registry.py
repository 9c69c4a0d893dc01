"""Which Optuna sampler proposes the next trial: a registry of builders, one per ``kind``.

Kinds:

- ``raymt`` (default): :class:`~raymt.search.sampler.cost_aware.CostAwareSampler`. Computes objectives
  that are known before a trial runs (storage MB), models only the unknown ones (BLEU) with a GP,
  and picks whole configurations by expected hypervolume improvement; optionally warm-started
  from searches on related tasks (other language pairs). Measured against the others in
  BENCHMARKS.md ("Samplers on the Zhang & Duh NMT HPO tables").
- ``tpe``: Optuna's TPE (Bergstra et al., 2011, NeurIPS; Ozaki et al., 2022, GECCO for the
  multi-objective variant), multivariate and grouped so conditional branches are modelled jointly,
  with the constant liar for parallel trials.
- ``nsga2``: NSGA-II (Deb et al., 2002, IEEE TEC). Needs many trials; Optuna notes it handles
  conditional spaces poorly (inactive parameters are drawn at random).
- ``random``: uniform random sampling; the baseline every other kind must beat.
- ``gp``: Optuna's GPSampler (log-EHVI for several objectives); needs scipy.
- ``grid``: every configuration of the space, discretised by ``grid.values``, each once, in a
  seeded random order: Optuna's BruteForceSampler, which walks a define-by-run space as a tree
  (LoRA's rank only under ``method: lora``). Optuna's GridSampler takes one flat product of all
  parameters, so on raymt's conditional space it would run each full fine-tuning once per LoRA
  rank and adapter size, and it refuses a parameter missing from its grid.

Which kind to use, what each costs and how they compare on raymt's own space (a ground-truth
table every sampler is replayed on): docs/samplers.md.

A new kind is a builder function registered with :func:`register_sampler`, plus its name in
``SamplerKind`` and an options model in :mod:`raymt.search.sampler.options` (the config side,
which must stay importable without torch); a test checks the registry and the ``Literal`` agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from raymt.errors import ConfigError
from raymt.search.sampler.cost_aware import CostAwareSampler, KnownFn, SpaceFn
from raymt.search.sampler.options import SamplerConfig
from raymt.search.sampler.sources import SpaceParam, read_related, related_sources
from raymt.search.sampler.transfer import RelatedTrials, related_from_tables


@dataclass
class SamplerContext:
    """What a builder may need besides the config (all optional except ``objectives``)."""

    objectives: dict[str, str]
    space_fn: SpaceFn | None = None
    known_objectives: dict[str, KnownFn] = field(default_factory=dict)
    related: RelatedTrials | None = None
    param_names: list[str] | None = None
    space_params: dict[str, SpaceParam] | None = None
    transfer_from: list[str] = field(default_factory=list)


Builder = Callable[[SamplerConfig, SamplerContext], optuna.samplers.BaseSampler]
_BUILDERS: dict[str, Builder] = {}


def register_sampler(kind: str) -> Callable[[Builder], Builder]:
    """Register ``builder(cfg, ctx) -> BaseSampler`` under ``kind`` (refuses duplicates)."""

    def deco(fn: Builder) -> Builder:
        if kind in _BUILDERS:
            raise ValueError(f"sampler kind {kind!r} is already registered")
        _BUILDERS[kind] = fn
        return fn

    return deco


def available_samplers() -> list[str]:
    return sorted(_BUILDERS)


def make_sampler(
    cfg: SamplerConfig,
    *,
    objectives: Mapping[str, str],
    space_fn: SpaceFn | None = None,
    known_objectives: Mapping[str, KnownFn] | None = None,
    related: RelatedTrials | pd.DataFrame | None = None,
    param_names: list[str] | None = None,
    space_params: Mapping[str, SpaceParam] | None = None,
    transfer_from: list[str] | None = None,
) -> optuna.samplers.BaseSampler:
    """Build the sampler ``cfg`` describes.

    ``objectives`` is ``{metric: "max" | "min"}`` in the order given to the searcher.
    ``space_fn`` (the define-by-run space) and ``known_objectives`` (``{metric: f(params)}`` for
    metrics computable before a trial runs) are used by kind ``raymt`` and ignored by the others.
    ``related`` (trials of related tasks, with a ``task`` column) adds to
    ``cfg.raymt.related_trials`` and ``transfer_from`` (results folders of earlier searches,
    ``search.transfer_from``); ``param_names`` (the space's parameter names) lets tables
    written with raymt 0.1's names be read as the space's; ``space_params``
    (:func:`raymt.search.sampler.sources.space_params`) makes a table whose parameters do not
    match the space's an error instead of a silent drop.
    """
    if cfg.kind not in _BUILDERS:  # pragma: no cover - the Literal and the registry are tested equal
        raise ConfigError(f"unknown sampler kind {cfg.kind!r}", where="sampler.kind", fix=f"use one of {available_samplers()}")
    objectives = dict(objectives)
    for name, mode in objectives.items():
        if mode not in ("max", "min"):
            raise ConfigError(f"objective {name!r} has mode {mode!r}", where="objectives", fix="use 'max' or 'min'")
    known = dict(known_objectives or {})
    stray = sorted(set(known) - set(objectives))
    if stray:
        raise ConfigError(
            f"known objective(s) {stray} are not objectives {list(objectives)}",
            where="known_objectives",
            fix="name only metrics listed in objectives",
        )
    if isinstance(related, pd.DataFrame):
        related = RelatedTrials(related, objectives)
    ctx = SamplerContext(
        objectives,
        space_fn,
        known,
        related,
        list(param_names) if param_names else None,
        dict(space_params) if space_params is not None else None,
        list(transfer_from or []),
    )
    return _BUILDERS[cfg.kind](cfg, ctx)


def _load_related(ctx: SamplerContext, related_trials: list[Path]) -> RelatedTrials | None:
    sources = related_sources(ctx.transfer_from, related_trials)
    tables = read_related(sources, ctx.objectives, params=ctx.space_params, param_names=ctx.param_names)
    return related_from_tables(tables, ctx.objectives) if tables else None


@register_sampler("raymt")
def _build_raymt(cfg: SamplerConfig, ctx: SamplerContext) -> optuna.samplers.BaseSampler:
    if ctx.space_fn is None:
        raise ConfigError(
            "sampler kind 'raymt' needs the define-by-run space function",
            where="sampler.kind",
            fix="pass space_fn= to make_sampler (raymt.search.tuner does), or choose kind: tpe",
        )
    opts = cfg.raymt
    related = ctx.related
    from_files = _load_related(ctx, opts.related_trials)
    if from_files is not None:
        if related is not None:
            raise ConfigError(
                "related trials given both in the config and as an argument",
                where="search.transfer_from" if ctx.transfer_from else "sampler.raymt.related_trials",
                fix="use one of the two",
            )
        related = from_files
    return CostAwareSampler(
        ctx.space_fn,
        ctx.objectives,
        known_objectives=ctx.known_objectives,
        related=related,
        seed=cfg.seed,
        n_startup_trials=opts.n_startup_trials,
        n_candidates=opts.n_candidates,
        weight_related=opts.weight_related,
        learn_from_failures=opts.learn_from_failures,
    )


@register_sampler("tpe")
def _build_tpe(cfg: SamplerConfig, ctx: SamplerContext) -> optuna.samplers.BaseSampler:
    o = cfg.tpe
    kwargs: dict[str, Any] = dict(
        n_startup_trials=o.n_startup_trials,
        n_ei_candidates=o.n_ei_candidates,
        multivariate=o.multivariate,
        constant_liar=o.constant_liar,
        seed=cfg.seed,
    )
    if o.group:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(group=True, **kwargs)
    return optuna.samplers.TPESampler(**kwargs)


@register_sampler("nsga2")
def _build_nsga2(cfg: SamplerConfig, ctx: SamplerContext) -> optuna.samplers.BaseSampler:
    o = cfg.nsga2
    return optuna.samplers.NSGAIISampler(
        population_size=o.population_size,
        crossover_prob=o.crossover_prob,
        mutation_prob=o.mutation_prob,
        seed=cfg.seed,
    )


@register_sampler("random")
def _build_random(cfg: SamplerConfig, ctx: SamplerContext) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=cfg.seed)


@register_sampler("gp")
def _build_gp(cfg: SamplerConfig, ctx: SamplerContext) -> optuna.samplers.BaseSampler:
    try:
        import scipy  # noqa: F401  (GPSampler imports it lazily, i.e. mid-search)
    except ImportError as exc:
        raise ConfigError(
            "sampler kind 'gp' (Optuna's GPSampler) needs scipy, which is not installed",
            where="sampler.kind",
            fix="pip install scipy, or use kind: raymt (its GP needs only torch)",
        ) from exc
    o = cfg.gp
    return optuna.samplers.GPSampler(
        seed=cfg.seed,
        n_startup_trials=o.n_startup_trials,
        deterministic_objective=o.deterministic_objective,
        warn_independent_sampling=False,
    )


class _ExhaustiveSampler(optuna.samplers.BruteForceSampler):
    """Optuna's BruteForceSampler without its ``study.stop()`` once the grid is exhausted: that
    call works only inside ``Study.optimize``, and Tune drives the study by ask/tell. raymt
    stops instead by running no more trials than the grid has (``raymt.search.run``)."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


@register_sampler("grid")
def _build_grid(cfg: SamplerConfig, ctx: SamplerContext) -> optuna.samplers.BaseSampler:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _ExhaustiveSampler(seed=cfg.seed)
