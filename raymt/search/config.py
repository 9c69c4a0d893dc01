"""The ``search:`` section of an experiment: what to vary and how to search it.

A typed section of :class:`raymt.config.schema.ExperimentConfig` like the others, validated with
the rest of the file. Its models are pydantic only (the sampler's and scheduler's options live in
their light ``options`` modules, apart from the samplers and schedulers), so the search section
adds neither torch, Optuna nor Ray to loading a config (tests/test_imports.py).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from raymt.errors import RaymtDeprecationWarning
from raymt.results.columns import METHOD, deprecation_note, legacy_renames, method_param_name
from raymt.search.sampler.options import SamplerConfig
from raymt.search.scheduler.options import MOASHAConfig, SchedulerConfig
from raymt.search.space import SpaceConfig, grid_choices

#: The most extra seeds per front member ``search.repeat_front`` takes: each is a full trial.
MAX_REPEATS = 10

#: Metrics a trial reports that can be objectives, with their natural direction.
OBJECTIVE_METRICS = {"bleu": "max", "chrf": "max", "storage_mb": "min", "eval_loss": "min", "train_time_s": "min", "trainable_params": "min"}


class SearchConfig(BaseModel):
    """What to vary (``space``), how to propose (``sampler``) and stop (``scheduler``) trials."""

    model_config = ConfigDict(extra="forbid")

    num_samples: int = Field(8, ge=1, le=100000, description="Trials to run in total.")
    max_concurrent_trials: int | None = Field(
        None,
        ge=1,
        description="Trials running at once (None: as many as the cluster holds now, or as its largest size holds when the autoscaler config is known (docs/cluster.md); at least 1).",
    )
    objectives: dict[str, Literal["max", "min"]] = Field(
        default_factory=lambda: {"bleu": "max", "storage_mb": "min"}, description="Metric -> max|min; the Pareto front is taken over these."
    )
    sampler: SamplerConfig = Field(default_factory=SamplerConfig, description="How configurations are proposed.")
    scheduler: SchedulerConfig = Field(
        default_factory=lambda: MOASHAConfig(kind="mo_asha"),
        description="Early stopping: kind none | asha | mo_asha, with grace_period, reduction_factor, ... (docs/early_stopping.md)",
    )
    space: SpaceConfig = Field(default_factory=SpaceConfig, description="What to vary.")
    points_to_evaluate: list[dict[str, Any]] = Field(
        default_factory=list, description="Configurations to try first, by the space's parameter names (train.lr, lora.r, ...)."
    )
    keep_artifacts: Literal["all", "front"] = Field(
        "all", description="Copy the artefact of every completed trial into the results (all) or only the front's."
    )
    keep_checkpoints: Literal["front", "all"] = Field(
        "front",
        description="At the end of a search, keep the checkpoints of the front's completed trials only (front: the others keep their state and hypotheses, not their tensors) or of every trial (all).",
    )
    time_budget_s: float | None = Field(None, gt=0, description="Stop starting new trials after this many seconds.")
    repeat_front: int = Field(
        0,
        ge=0,
        le=MAX_REPEATS,
        description=f"After the search, re-run each completed trial of the validation front with this many more seeds (train.seed + 1, + 2, ...; 0 to {MAX_REPEATS}): the report gives BLEU mean ± sd per member and which members differ once seed variance is counted (docs/seed_variance.md).",
    )
    transfer_from: list[str] = Field(
        default_factory=list,
        description="Results folders (or object-store URIs) of earlier raymt searches over the same parameters, e.g. "
        "another language pair: their finished trials are the related tasks of the default sampler's prior "
        "(docs/samplers.md). Parameters must match this space by name and kind.",
    )

    @field_validator("objectives")
    @classmethod
    def _known(cls, value: dict) -> dict:
        if not value:
            raise ValueError("no objectives: give e.g. {bleu: max, storage_mb: min}")
        for name in value:
            if name not in OBJECTIVE_METRICS:
                raise ValueError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVE_METRICS)}")
        return value

    @field_validator("scheduler")
    @classmethod
    def _stops_by_an_objective(cls, value, info: ValidationInfo):
        objectives = info.data.get("objectives")
        if value.kind != "none" and objectives and value.metric not in objectives:
            raise ValueError(
                f"the scheduler stops trials by {value.metric!r}, which is not an objective; set scheduler.metric to one of {', '.join(objectives)}"
            )
        return value

    @model_validator(mode="after")
    def _grid_covers_the_space(self) -> SearchConfig:
        """A grid search needs a finite value list for every searched parameter (checked here,
        before Ray: a continuous one without values is an error naming it)."""
        if self.sampler.kind != "grid":
            return self
        grid_choices(self.space, self.sampler.grid.values)
        if self.points_to_evaluate:
            raise ValueError("points_to_evaluate are not used by sampler kind grid (it runs every configuration once): remove them")
        return self

    @model_validator(mode="after")
    def _transfer_needs_the_default_sampler(self) -> SearchConfig:
        if self.transfer_from and self.sampler.kind != "raymt":
            raise ValueError(
                f"transfer_from needs sampler kind raymt (its prior takes related tasks), not {self.sampler.kind!r}: "
                "set sampler.kind: raymt or remove transfer_from"
            )
        return self

    @property
    def grid_values(self) -> dict | None:
        """``sampler.grid.values`` when the sampler is a grid search, else None (the space's own distributions)."""
        return self.sampler.grid.values if self.sampler.kind == "grid" else None

    @model_validator(mode="after")
    def _points_by_the_space_names(self) -> SearchConfig:
        """Points written with raymt 0.1's names (``lr``, ``lora_r``) still work, with a warning."""
        names = [METHOD, *self.space.common]
        names += [method_param_name(m, p) for m, params in self.space.methods.items() for p in params]
        used: dict[str, str] = {}
        for i, point in enumerate(self.points_to_evaluate):
            renames = legacy_renames(point, names)
            used.update(renames)
            self.points_to_evaluate[i] = {renames.get(k, k): v for k, v in point.items()}
        if used:
            warnings.warn(deprecation_note(used, "search.points_to_evaluate"), RaymtDeprecationWarning, stacklevel=2)
        return self
