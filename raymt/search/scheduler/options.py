"""The ``scheduler:`` section of a search: which early stopping, with which rungs.

Kept apart from the schedulers (which import Ray) so that loading and validating a YAML file
imports only pydantic. A user's mistake raises a ConfigError naming the field, with a
did-you-mean for unknown keys.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from raymt.errors import ConfigError


class NoSchedulerConfig(BaseModel):
    """Every trial runs all its epochs."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["none"] = Field(description="No early stopping: every trial runs to its end.")


class _RungConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_attr: str = Field(
        "training_iteration",
        min_length=1,
        description="Reported key that measures progress (monotonic), e.g. training_iteration = epochs done.",
    )
    metric: str = Field("bleu", min_length=1, description="Reported metric the rungs compare, e.g. bleu.")
    mode: Literal["max", "min"] = Field("max", description="Whether the metric is maximised or minimised.")
    max_t: float | None = Field(
        None,
        gt=0,
        description="Budget per trial in time_attr units (epochs); trials stop there. None: the tuner sets it to the search's largest epoch budget.",
    )
    grace_period: float = Field(1, gt=0, description="First rung: no trial is stopped before this much time_attr.")
    reduction_factor: float = Field(
        3,
        gt=1,
        description="Rungs at grace_period * reduction_factor**k; about 1/reduction_factor of the trials reaching a rung continue past it.",
    )

    @model_validator(mode="after")
    def _grace_within_budget(self) -> _RungConfig:
        if self.max_t is not None and self.grace_period > self.max_t:
            raise ValueError(f"grace_period ({self.grace_period}) is larger than max_t ({self.max_t})")
        return self


class ASHAConfig(_RungConfig):
    """Tune's ASHA on one metric (Li et al., 2020, MLSys). Baseline: blind to storage."""

    kind: Literal["asha"] = Field(description="Single-metric asynchronous successive halving.")


class MOASHAConfig(_RungConfig):
    """Multi-objective ASHA: rank (metric, storage) at each rung (see MultiObjectiveASHAScheduler)."""

    kind: Literal["mo_asha"] = Field(description="Multi-objective ASHA on (metric, cost_attr).")
    cost_attr: str = Field(
        "storage_mb",
        min_length=1,
        description="Reported (or config) key of the cost to minimise, known before training.",
    )
    ranking: Literal["pareto", "bands"] = Field(
        "pareto",
        description="pareto: non-dominated sorting of (metric, cost) at each rung; bands: ASHA on the metric within log-spaced cost bands.",
    )
    band_width_decades: float = Field(0.5, gt=0, le=3, description="Width of a cost band in decades (0.5 = a factor of 3.16); ranking=bands only.")


SchedulerConfig = Annotated[
    NoSchedulerConfig | ASHAConfig | MOASHAConfig,
    Field(discriminator="kind", description="Early stopping of trials (none | asha | mo_asha)."),
]

_ADAPTER: TypeAdapter[Any] = TypeAdapter(SchedulerConfig)


def validate_options(model: Any, data: dict[str, Any], where: str = "scheduler") -> Any:
    try:
        return (model.model_validate if isinstance(model, type) else model.validate_python)(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"] if p not in ("none", "asha", "mo_asha")]
        field = ".".join([where, *loc])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = _fields_of(data.get("kind"))
            close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.5) if loc else []
            fix = (f"did you mean {close[0]!r}? " if close else "remove it; ") + (
                f"the fields of kind {data.get('kind')!r} are: {', '.join(allowed)}"
            )
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field, fix = f"{where}.kind", "set kind to one of: none, asha, mo_asha"
        elif "grace_period" in message and "max_t" in message:
            field, fix = f"{where}.grace_period", "use a grace_period of at most max_t (typically 1 epoch)"
        else:
            fix = "see the field's description in raymt/search/scheduler/options.py (class " + (
                {"none": "NoSchedulerConfig", "asha": "ASHAConfig", "mo_asha": "MOASHAConfig"}.get(data.get("kind"), "SchedulerConfig") + ")"
            )
        raise ConfigError(message, where=field, fix=fix) from None


def _fields_of(kind: Any) -> list[str]:
    model = {"none": NoSchedulerConfig, "asha": ASHAConfig, "mo_asha": MOASHAConfig}.get(kind)
    return sorted(model.model_fields) if model else []


def parse_scheduler_config(data: dict[str, Any], where: str = "scheduler") -> Any:
    """Validate a YAML ``scheduler:`` mapping; user mistakes raise ConfigError naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {type(data).__name__}", where=where, fix="write e.g. `kind: mo_asha`")
    return validate_options(_ADAPTER, data, where)
