"""A validated ``scheduler:`` config -> the Tune scheduler it asks for."""

from __future__ import annotations

from typing import Any, Literal

from ray.tune.schedulers import TrialScheduler

from raymt.errors import ConfigError
from raymt.search.scheduler.asha import NoEarlyStopping, RecordingASHAScheduler
from raymt.search.scheduler.mo_asha import MultiObjectiveASHAScheduler
from raymt.search.scheduler.options import ASHAConfig, NoSchedulerConfig, parse_scheduler_config


def scheduler_from_config(cfg: Any, *, max_t: float | None = None) -> TrialScheduler:
    """Build the scheduler a validated config asks for; ``max_t`` fills a config left at None."""
    if isinstance(cfg, NoSchedulerConfig):
        return NoEarlyStopping()
    budget = cfg.max_t if cfg.max_t is not None else max_t
    if budget is None:
        raise ConfigError(
            "max_t (the epoch budget per trial) is not set",
            where="scheduler.max_t",
            fix="set scheduler.max_t, or let the tuner pass the search's epoch budget",
        )
    if cfg.grace_period > budget:
        raise ConfigError(
            f"grace_period ({cfg.grace_period:g}) is larger than max_t ({budget:g})",
            where="scheduler.grace_period",
            fix="use a grace_period of at most max_t (typically 1 epoch)",
        )
    common = dict(
        time_attr=cfg.time_attr,
        metric=cfg.metric,
        mode=cfg.mode,
        max_t=budget,
        grace_period=cfg.grace_period,
        reduction_factor=cfg.reduction_factor,
    )
    if isinstance(cfg, ASHAConfig):
        return RecordingASHAScheduler(**common)
    return MultiObjectiveASHAScheduler(**common, cost_attr=cfg.cost_attr, ranking=cfg.ranking, band_width_decades=cfg.band_width_decades)


def make_scheduler(kind: Literal["none", "asha", "mo_asha"], **params: Any) -> TrialScheduler:
    """``make_scheduler("mo_asha", max_t=4, grace_period=1)`` -> a validated scheduler.

    ``params`` are the fields of the matching config model (NoSchedulerConfig, ASHAConfig,
    MOASHAConfig); every returned scheduler has ``stopped_trials`` and works with
    :class:`EarlyStopMarker`.
    """
    return scheduler_from_config(parse_scheduler_config({"kind": kind, **params}))
