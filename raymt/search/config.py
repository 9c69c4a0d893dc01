"""The ``search:`` section that turns a trial config into a search space."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from raymt.errors import ConfigError
from raymt.search.sampler.options import SamplerConfig
from raymt.search.space import SpaceConfig

#: Metrics a trial reports that can be objectives, with their natural direction.
OBJECTIVE_METRICS = {"bleu": "max", "chrf": "max", "storage_mb": "min", "eval_loss": "min",
                     "train_time_s": "min", "trainable_params": "min"}


class SearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_samples: int = Field(8, ge=1, le=100000, description="Trials to run in total.")
    max_concurrent_trials: int | None = Field(None, ge=1, description="Trials running at once (None: as many as the cluster holds now, or as its largest size holds when the autoscaler config is known (docs/cluster.md); at least 1).")
    objectives: dict[str, Literal["max", "min"]] = Field(default_factory=lambda: {"bleu": "max", "storage_mb": "min"},
                                                        description="Metric -> max|min; the Pareto front is taken over these.")
    sampler: SamplerConfig = Field(default_factory=SamplerConfig, description="How configurations are proposed.")
    scheduler: dict[str, Any] = Field(default_factory=lambda: {"kind": "mo_asha"}, description="Early stopping: kind none | asha | mo_asha, with grace_period, reduction_factor, ...")
    space: SpaceConfig = Field(default_factory=SpaceConfig, description="What to vary.")
    points_to_evaluate: list[dict[str, Any]] = Field(default_factory=list, description="Configurations (flat parameter names) to try first.")
    keep_artifacts: Literal["all", "front"] = Field("all", description="Copy the artefact of every completed trial into the results (all) or only the front's.")
    time_budget_s: float | None = Field(None, gt=0, description="Stop starting new trials after this many seconds.")

    @field_validator("objectives")
    @classmethod
    def _known(cls, value: dict) -> dict:
        if not value:
            raise ValueError("no objectives: give e.g. {bleu: max, storage_mb: min}")
        for name in value:
            if name not in OBJECTIVE_METRICS:
                raise ValueError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVE_METRICS)}")
        return value


def parse_search(raw: dict | None, where: str) -> SearchConfig:
    from raymt.config.load import format_validation_error
    from raymt.search.scheduler.options import parse_scheduler_config

    try:
        cfg = SearchConfig.model_validate(raw or {})
    except ValidationError as err:
        raise format_validation_error(err, SearchConfig, where, prefix="search.") from None
    except ConfigError:
        raise
    try:
        parse_scheduler_config(cfg.scheduler, where="search.scheduler")
    except ConfigError as err:
        raise ConfigError(err.message, where=f"{where}: {err.where}", fix=err.fix) from None
    return cfg
