"""The knee of a two-objective front: the one definition the report, ``raymt export --knee``,
``Front.knee()`` and pareto.png all use.

Definition: the knee is the front member farthest beyond the line joining the front's two
extremes, towards the ideal point: the "maximum distance from the convex hull of individual
minima" knee of Das (1999, Structural Optimization 18(2-3), "On characterizing the 'knee' of
the Pareto curve based on normal-boundary intersection"), also used by Deb & Gupta (2011,
Engineering Optimization 43(11), "Understanding knee points in bicriteria problems").

Normalisation, the same everywhere: both objectives become losses (a ``max`` objective is
negated) and each is scaled to [0, 1] over the front's members, so the extremes sit at (0, 1)
and (1, 0) and a member's signed distance from their line is ``(1 - x - y) / sqrt(2)``.
``storage_mb`` is taken as log10 first (:data:`LOG_SCALE_OBJECTIVES`): sizes span orders of
magnitude (0.03 MB adapters next to 2 GB full models) and a user weighs "10x the disk", not
"+100 MB"; pareto.png draws storage on the same log axis, so the knee is where it looks.

No knee: with fewer than three members there is nothing between the extremes, and when every
middle member lies on or beyond the extremes' line (distance <= 0) the front bends the other
way: past each middle member, the rest of the way to the best-quality extreme buys at least
as much quality per (log) unit of cost as the way up to that member did, so no member marks
the point where paying more stops paying off. Das's definition then has no knee; picking the
member "least beyond" the line (distance 0 = an extreme) is what used to return the cheapest,
weakest model. raymt says so and chooses the member best in the FIRST objective instead (the
highest BLEU for raymt's ``{bleu: max, storage_mb: min}``): it is where the trade-off the
front offers leads. Ties (equal distance, or duplicates of the
best member) go to the better first objective, then the better second one, then table order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from raymt.errors import ConfigError, DataError

__all__ = ["LOG_SCALE_OBJECTIVES", "Knee", "default_log_objectives", "find_knee", "normalised_losses"]

#: Objectives taken on a log10 scale by default (knee and pareto.png alike).
LOG_SCALE_OBJECTIVES: tuple[str, ...] = ("storage_mb",)
#: A middle member must lie this far beyond the extremes' line (normalised units) to be a knee:
#: a member exactly on the line (up to float noise) is not a bend.
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Knee:
    """The member chosen as the front's knee, or instead of one, and why.

    ``found`` is False when the front has no knee (see the module docstring); ``row`` is then
    the stated fallback. ``distance`` is the chosen member's signed, normalised distance from
    the extremes' line (> 0 only for a real knee). ``why`` is one sentence for a person.
    ``knee["trial_id"]`` reads the chosen row, as the plain row ``Front.knee()`` once returned.
    """

    row: pd.Series
    found: bool
    distance: float
    log_objectives: tuple[str, ...]
    why: str

    def __getitem__(self, key):
        return self.row[key]

    def get(self, key, default=None):
        return self.row.get(key, default)

    @property
    def trial_id(self) -> str:
        return str(self.row.get("trial_id", self.row.name))


def default_log_objectives(objectives: Mapping[str, str]) -> tuple[str, ...]:
    """The objectives put on a log10 scale when the caller does not say: storage, if searched."""
    return tuple(name for name in objectives if name in LOG_SCALE_OBJECTIVES)


def normalised_losses(members: pd.DataFrame, objectives: Mapping[str, str], log_objectives: Sequence[str]) -> np.ndarray:
    """(n, k) losses in [0, 1] per objective over ``members`` (0 = that objective's best member)."""
    columns = []
    for name, direction in objectives.items():
        col = pd.to_numeric(members[name], errors="coerce").to_numpy(dtype=float)
        if name in log_objectives:
            if (col <= 0).any():
                raise DataError(
                    f"{name} has values <= 0, which have no logarithm",
                    where=f"knee (log_objectives={list(log_objectives)})",
                    fix="pass log_objectives=() for a linear scale",
                )
            col = np.log10(col)
        col = -col if direction == "max" else col
        span = col.max() - col.min() if len(col) else 0.0
        columns.append((col - col.min()) / span if span > 0 else np.zeros_like(col))
    return np.column_stack(columns) if columns else np.empty((len(members), 0))


def _scale_text(log_objectives: Sequence[str]) -> str:
    logs = " and ".join(log_objectives)
    return "each objective scaled to [0, 1] over the front" + (f", {logs} on a log10 scale" if logs else "")


def _values_text(row: pd.Series, objectives: Mapping[str, str]) -> str:
    return ", ".join(f"{name} {float(row[name]):.4g}" for name in objectives)


def find_knee(members: pd.DataFrame, objectives: Mapping[str, str], *, log_objectives: Sequence[str] | None = None) -> Knee:
    """The knee of the front ``members`` (its rows, any order) under two ``objectives``.

    ``log_objectives=None`` means :func:`default_log_objectives`; pass ``()`` for linear
    scales. Returns a :class:`Knee` whose ``found`` says whether the front has one.
    """
    if len(objectives) != 2:
        raise ConfigError(
            f"a knee is defined for two objectives, this front has {len(objectives)}",
            where="Front.knee",
            fix="build a Front over two objectives, e.g. bleu and storage_mb",
        )
    if members.empty:
        raise DataError(
            "cannot find a knee: the front is empty", where="trials table", fix="wait for trials to complete, or look at the failures in report.md"
        )
    logs = default_log_objectives(objectives) if log_objectives is None else tuple(log_objectives)
    unknown = [name for name in logs if name not in objectives]
    if unknown:
        raise ConfigError(
            f"log_objectives {unknown} are not objectives of this front",
            where="Front.knee(log_objectives=)",
            fix=f"use names from {list(objectives)}",
        )
    losses = normalised_losses(members, objectives, logs)
    x, y = losses[:, 0], losses[:, 1]
    distance = (1.0 - x - y) / np.sqrt(2.0)
    first, second = objectives
    scale = _scale_text(logs)
    if len(members) >= 3 and distance.max() > TOLERANCE:
        # the farthest; ties: the better first objective, then the better second one
        i = int(np.lexsort((y, x, -np.round(distance, 12)))[0])
        row = members.iloc[i]
        why = (
            f"knee: trial {_id(row)} ({_values_text(row, objectives)}) lies {distance[i]:.3g} beyond the line "
            f"joining the front's extremes, the farthest of its {len(members)} members ({scale}; Das 1999)"
        )
        return Knee(row, True, float(distance[i]), logs, why)
    i = int(np.lexsort((y, x))[0])
    row = members.iloc[i]
    if len(members) < 3:
        reason = f"the front has {len(members)} member{'s' if len(members) != 1 else ''}, and a knee needs one between the extremes"
    else:
        per = f"log10 {second}" if second in logs else second
        reason = (
            f"every middle member lies on or beyond the line joining the front's extremes ({scale}): "
            f"past each of them, {first} per {per} is at least what it was up to it, so none marks "
            f"where more {second} stops paying off"
        )
    why = f"no knee: {reason}; chosen instead: trial {_id(row)} ({_values_text(row, objectives)}), the member with the best {first}"
    return Knee(row, False, float(distance[i]), logs, why)


def _id(row: pd.Series) -> str:
    return str(row.get("trial_id", row.name))
