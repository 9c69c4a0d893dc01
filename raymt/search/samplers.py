"""Which Optuna sampler proposes the next trial: the ``sampler:`` config section and a registry.

Kinds:

- ``raymt`` (default): :class:`~raymt.search.cost_aware.CostAwareSampler`. Computes objectives
  that are known before a trial runs (storage MB), models only the unknown ones (BLEU) with a GP,
  and picks whole configurations by expected hypervolume improvement; optionally warm-started
  from searches on related tasks (other language pairs). Measured against the others in
  ``docs/samplers.md``.
- ``tpe``: Optuna's TPE (Bergstra et al., 2011, NeurIPS; Ozaki et al., 2022, GECCO for the
  multi-objective variant), multivariate and grouped so conditional branches are modelled jointly,
  with the constant liar for parallel trials.
- ``nsga2``: NSGA-II (Deb et al., 2002, IEEE TEC). Needs many trials; Optuna notes it handles
  conditional spaces poorly (inactive parameters are drawn at random).
- ``random``: uniform random sampling; the baseline every other kind must beat.
- ``gp``: Optuna's GPSampler (log-EHVI for several objectives); needs scipy.

A new kind is a builder function registered with :func:`register_sampler`; the ``kind`` field's
allowed values come from the ``Literal`` below and a test checks both agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from raymt.errors import ConfigError, DataError
from raymt.search.cost_aware import CostAwareSampler, KnownFn, SpaceFn
from raymt.search.transfer import RelatedTrials, related_from_tables

SamplerKind = Literal["raymt", "tpe", "nsga2", "random", "gp"]


class RaymtSamplerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_startup_trials: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="Random trials before the model is used. Default: 5 (at least 2 while an "
        "objective is modelled), 0 when related_trials are given.",
    )
    n_candidates: int = Field(
        1024,
        ge=16,
        le=100_000,
        description="Whole configurations drawn and scored per trial (half random, half "
        "mutations of the current Pareto front). More = finer search, slower proposals.",
    )
    related_trials: list[Path] = Field(
        default_factory=list,
        description="Trials tables (parquet or csv, e.g. trials.parquet of earlier raymt searches "
        "on OTHER language pairs) used as a prior and whose Pareto-optimal configurations are "
        "tried early. One task per file unless the file has a 'task' column. Never list the "
        "current search's own table.",
    )
    weight_related: bool = Field(
        True,
        description="Re-weight related tasks by how well they rank this search's results "
        "(from 3 finished trials on); false = plain average.",
    )
    learn_from_failures: bool = Field(
        True,
        description="Failed trials (an exception, a NaN/inf loss) teach the quality model the worst "
        "BLEU seen so far, so the sampler steers away from regions that crash (SMAC's crash cost); "
        "false = ignore them, as Optuna's samplers do.",
    )


class TPEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_startup_trials: int = Field(10, ge=0, le=1000, description="Random trials before TPE models the results.")
    n_ei_candidates: int = Field(24, ge=1, le=10_000, description="Candidates drawn from the good-region density per parameter.")
    multivariate: bool = Field(True, description="Model parameters jointly (Falkner et al., 2018); Optuna's own multi-objective default is False.")
    group: bool = Field(True, description="Split the space into conditional groups so each branch is modelled jointly (needs multivariate).")
    constant_liar: bool = Field(True, description="Treat running trials as bad results so parallel trials spread out.")

    @model_validator(mode="after")
    def _group_needs_multivariate(self) -> TPEOptions:
        if self.group and not self.multivariate:
            raise ValueError("group: true needs multivariate: true (Optuna refuses grouped univariate TPE)")
        return self


class NSGA2Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    population_size: int = Field(20, ge=2, le=10_000, description="Trials per generation; the first generation is random.")
    crossover_prob: float = Field(0.9, ge=0.0, le=1.0, description="Probability that a child is a crossover of two parents.")
    mutation_prob: float | None = Field(None, ge=0.0, le=1.0, description="Per-parameter mutation probability; default 1 / number of parameters.")


class GPOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_startup_trials: int = Field(10, ge=0, le=1000, description="Random trials before the GP is used.")
    deterministic_objective: bool = Field(False, description="Fix the GP noise at ~0 (only if re-running a configuration gives identical results).")


class SamplerConfig(BaseModel):
    """The ``sampler:`` section: which algorithm proposes configurations, and its options."""

    model_config = ConfigDict(extra="forbid")

    kind: SamplerKind = Field(
        "raymt",
        description="raymt (default: known costs computed, BLEU modelled, EHVI), tpe, nsga2, "
        "random or gp (Optuna's GPSampler, needs scipy).",
    )
    seed: int | None = Field(None, ge=0, description="Seed of the sampler's random numbers; same seed + same results = same proposals.")
    raymt: RaymtSamplerOptions = Field(default_factory=RaymtSamplerOptions, description="Options of kind: raymt.")
    tpe: TPEOptions = Field(default_factory=TPEOptions, description="Options of kind: tpe.")
    nsga2: NSGA2Options = Field(default_factory=NSGA2Options, description="Options of kind: nsga2.")
    gp: GPOptions = Field(default_factory=GPOptions, description="Options of kind: gp.")

    @model_validator(mode="after")
    def _options_match_kind(self) -> SamplerConfig:
        given = [k for k in ("raymt", "tpe", "nsga2", "gp") if k in self.model_fields_set and k != self.kind]
        if given:
            raise ValueError(
                f"options for {given} are set but kind is '{self.kind}': set kind: {given[0]} or remove the '{given[0]}:' block"
            )
        return self


@dataclass
class SamplerContext:
    """What a builder may need besides the config (all optional except ``objectives``)."""

    objectives: dict[str, str]
    space_fn: SpaceFn | None = None
    known_objectives: dict[str, KnownFn] = field(default_factory=dict)
    related: RelatedTrials | None = None


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
) -> optuna.samplers.BaseSampler:
    """Build the sampler ``cfg`` describes.

    ``objectives`` is ``{metric: "max" | "min"}`` in the order given to the searcher.
    ``space_fn`` (the define-by-run space) and ``known_objectives`` (``{metric: f(params)}`` for
    metrics computable before a trial runs) are used by kind ``raymt`` and ignored by the others.
    ``related`` (trials of related tasks, with a ``task`` column) adds to
    ``cfg.raymt.related_trials``.
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
        raise ConfigError(f"known objective(s) {stray} are not objectives {list(objectives)}", where="known_objectives", fix="name only metrics listed in objectives")
    if isinstance(related, pd.DataFrame):
        related = RelatedTrials(related, objectives)
    ctx = SamplerContext(objectives, space_fn, known, related)
    return _BUILDERS[cfg.kind](cfg, ctx)


def _load_related(paths: list[Path], objectives: dict[str, str]) -> RelatedTrials | None:
    tables = []
    for i, path in enumerate(paths):
        where = f"sampler.raymt.related_trials[{i}]"
        if not path.exists():
            raise DataError(f"{path} does not exist", where=where, fix="point to a trials.parquet/.csv of an earlier search")
        try:
            df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except Exception as exc:
            raise DataError(f"cannot read {path}: {exc}", where=where, fix="give a parquet or csv trials table") from exc
        if "task" in df.columns:
            for task, sub in df.groupby("task"):
                tables.append((str(task), sub))
        else:
            tables.append((str(path), df))
    return related_from_tables(tables, objectives) if tables else None


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
    from_files = _load_related(opts.related_trials, ctx.objectives)
    if from_files is not None:
        if related is not None:
            raise ConfigError(
                "related trials given both in the config and as an argument",
                where="sampler.raymt.related_trials",
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
