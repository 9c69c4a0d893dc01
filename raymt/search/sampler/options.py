"""The ``sampler:`` section of a search: which algorithm proposes configurations, and its options.

Kept apart from the samplers themselves (:mod:`raymt.search.sampler.registry`) so that loading
and validating a YAML file imports only pydantic, never torch or Optuna. The ``kind`` field's
allowed values are the registry's kinds; a test checks both agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SamplerKind = Literal["raymt", "tpe", "nsga2", "random", "gp", "grid"]


class RaymtSamplerOptions(BaseModel):
    """raymt's sampler: storage computed, BLEU modelled by a GP, whole configurations scored by EHVI."""

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
        description="Re-weight related tasks by how well they rank this search's results (from 3 finished trials on); false = plain average.",
    )
    learn_from_failures: bool = Field(
        True,
        description="Failed trials (an exception, a NaN/inf loss) teach the quality model the worst "
        "BLEU seen so far, so the sampler steers away from regions that crash (SMAC's crash cost); "
        "false = ignore them, as Optuna's samplers do.",
    )


class TPEOptions(BaseModel):
    """Optuna's TPE (Bergstra et al., 2011; multi-objective: Ozaki et al., 2022)."""

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
    """Optuna's NSGA-II (Deb et al., 2002): needs many trials, handles conditional spaces poorly."""

    model_config = ConfigDict(extra="forbid")

    population_size: int = Field(20, ge=2, le=10_000, description="Trials per generation; the first generation is random.")
    crossover_prob: float = Field(0.9, ge=0.0, le=1.0, description="Probability that a child is a crossover of two parents.")
    mutation_prob: float | None = Field(None, ge=0.0, le=1.0, description="Per-parameter mutation probability; default 1 / number of parameters.")


class GPOptions(BaseModel):
    """Optuna's GPSampler (log-EHVI for several objectives); needs scipy."""

    model_config = ConfigDict(extra="forbid")

    n_startup_trials: int = Field(10, ge=0, le=1000, description="Random trials before the GP is used.")
    deterministic_objective: bool = Field(False, description="Fix the GP noise at ~0 (only if re-running a configuration gives identical results).")


class GridOptions(BaseModel):
    """Every configuration of a discretised space, each once (Optuna's BruteForceSampler)."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Parameter name (train.lr, lora.r, ...) -> the values the grid takes. Needed for every "
        "uniform / log_uniform parameter; a choices or int parameter without values takes all of its own.",
    )

    @model_validator(mode="after")
    def _no_empty_lists(self) -> GridOptions:
        for name, vals in self.values.items():
            if not vals:
                raise ValueError(f"grid.values.{name} is empty: list at least one value")
            if len(set(map(repr, vals))) != len(vals):
                raise ValueError(f"grid.values.{name} lists a value twice: {vals}")
        return self


class SamplerConfig(BaseModel):
    """The ``sampler:`` section: which algorithm proposes configurations, and its options."""

    model_config = ConfigDict(extra="forbid")

    kind: SamplerKind = Field(
        "raymt",
        description="raymt (default: known costs computed, BLEU modelled, EHVI), tpe, nsga2, random, gp (Optuna's "
        "GPSampler, needs scipy) or grid (every configuration of the space discretised by grid.values, each once).",
    )
    seed: int | None = Field(None, ge=0, description="Seed of the sampler's random numbers; same seed + same results = same proposals.")
    raymt: RaymtSamplerOptions = Field(default_factory=RaymtSamplerOptions, description="Options of kind: raymt.")
    tpe: TPEOptions = Field(default_factory=TPEOptions, description="Options of kind: tpe.")
    nsga2: NSGA2Options = Field(default_factory=NSGA2Options, description="Options of kind: nsga2.")
    gp: GPOptions = Field(default_factory=GPOptions, description="Options of kind: gp.")
    grid: GridOptions = Field(default_factory=GridOptions, description="Options of kind: grid.")

    @model_validator(mode="after")
    def _options_match_kind(self) -> SamplerConfig:
        given = [k for k in ("raymt", "tpe", "nsga2", "gp", "grid") if k in self.model_fields_set and k != self.kind]
        if given:
            raise ValueError(f"options for {given} are set but kind is '{self.kind}': set kind: {given[0]} or remove the '{given[0]}:' block")
        return self
