"""Pareto dominance, fronts and hypervolume over a trials table (pure functions).

Objectives are a mapping from a column name to ``"max"`` or ``"min"``, e.g.
``{"bleu": "max", "storage_mb": "min"}``; any number >= 1. Internally every objective is
turned into a loss to minimise (``max`` columns are negated), so one dominance rule serves
all: row *a* dominates row *b* when *a* is no worse in every objective and strictly better
in at least one. Equal rows do not dominate each other, so duplicates of a front point are
all on the front (the convention of the Zhang & Duh 2020 NMT-HPO tables, against which this
module is tested).

Only *eligible* rows compete: finite values in every objective and, by default, status
``completed``. An early-stopped trial reports the BLEU of a truncated run together with the
small storage of its method; letting it compete would put a half-trained model on the
front. Failed trials have no objectives at all.

Hypervolume (Zitzler & Thiele, 1998, PPSN V) is the volume dominated by a point set and
bounded by a reference point; it rewards a front for being both good and spread out, and
is the standard single number to compare two searches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from raymt.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_OBJECTIVES",
    "DEFAULT_STATUSES",
    "default_reference",
    "dominates",
    "eligible_mask",
    "hypervolume",
    "pareto_front",
    "pareto_mask",
    "reference_vector",
    "to_losses",
    "validate_objectives",
]

DEFAULT_OBJECTIVES: dict[str, str] = {"bleu": "max", "storage_mb": "min"}
DEFAULT_STATUSES: tuple[str, ...] = ("completed",)
#: Spellings of a direction accepted on the way in: Tune's ``mode`` ("max"/"min") and Optuna's
#: ``direction`` ("maximize"/"minimize", or its ``StudyDirection`` enum, read by name).
_ALIASES = {"max": "max", "min": "min", "maximize": "max", "minimize": "min"}


def _direction(value) -> str | None:
    name = getattr(value, "name", value)  # optuna.study.StudyDirection.MAXIMIZE -> "MAXIMIZE"
    return _ALIASES.get(name.strip().lower()) if isinstance(name, str) else None


def validate_objectives(objectives: Mapping[str, str], df: pd.DataFrame | None = None) -> dict[str, str]:
    """Check an objectives mapping (and that ``df`` has those columns); return it as a dict.

    Directions may be written as Tune does ("max"/"min") or as Optuna does
    ("maximize"/"minimize", or a ``StudyDirection``); the result always says "max"/"min".
    """
    if not isinstance(objectives, Mapping) or len(objectives) == 0:
        raise ConfigError(
            f"objectives must be a non-empty mapping of column -> 'max'|'min', got {objectives!r}",
            where="objectives",
            fix='use e.g. {"bleu": "max", "storage_mb": "min"}',
        )
    out: dict[str, str] = {}
    for name, given in objectives.items():
        direction = _direction(given)
        if direction is None:
            raise ConfigError(
                f"objective {name!r} has direction {given!r}",
                where=f"objectives.{name}",
                fix="use 'max' or 'min' (Optuna's 'maximize' / 'minimize' work too)",
            )
        if df is not None and name not in df.columns:
            raise ConfigError(
                f"objective {name!r} is not a column of the trials table",
                where=f"objectives.{name}",
                fix=f"use one of the columns: {', '.join(map(str, df.columns))}",
            )
        out[str(name)] = direction
    return out


def to_losses(values: np.ndarray, objectives: Mapping[str, str]) -> np.ndarray:
    """Turn raw objective values (n x k, in ``objectives`` order) into losses to minimise."""
    values = np.asarray(values, dtype=float)
    objectives = validate_objectives(objectives)
    signs = np.array([-1.0 if d == "max" else 1.0 for d in objectives.values()])
    return values * signs


def _objective_matrix(df: pd.DataFrame, objectives: Mapping[str, str]) -> np.ndarray:
    cols = list(objectives)
    return df[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def eligible_mask(
    df: pd.DataFrame,
    objectives: Mapping[str, str],
    *,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
) -> pd.Series:
    """Rows allowed to compete: finite objectives and (unless ``statuses`` is None) a listed status.

    A frame without a ``status`` column is refused unless ``statuses=None`` is passed: a
    silent "all rows count" would let early-stopped trials onto the front of a table that
    merely lost its status column.
    """
    objectives = validate_objectives(objectives, df)
    ok = np.isfinite(_objective_matrix(df, objectives)).all(axis=1)
    if statuses is not None:
        if "status" not in df.columns:
            raise DataError(
                "the table has no 'status' column, so early-stopped and failed trials cannot be told apart from completed ones",
                where="status column",
                fix="add a status column, or pass statuses=None to let every row with finite objectives compete",
            )
        ok &= df["status"].isin(list(statuses)).to_numpy(dtype=bool)
    return pd.Series(ok, index=df.index, name="eligible")


def dominates(a: Sequence[float], b: Sequence[float], objectives: Mapping[str, str]) -> bool:
    """True when point ``a`` dominates ``b`` (raw values in ``objectives`` order)."""
    la, lb = to_losses(np.array([a]), objectives)[0], to_losses(np.array([b]), objectives)[0]
    return bool(np.all(la <= lb) and np.any(la < lb))


def _nondominated(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of rows not dominated by any other row (all rows finite, minimise).

    O(n * front size), as in optuna's ``_is_pareto_front``: in lexicographic order the first
    remaining point is never dominated; it removes every point it dominates (all points no
    better anywhere, duplicates aside), and whatever it dominates is dominated by nothing
    that survives it. Equal rows share one verdict, so duplicates of a front point stay on.
    """
    if len(losses) == 0:
        return np.zeros(0, dtype=bool)
    unique, inverse = np.unique(losses, axis=0, return_inverse=True)
    on_front = np.zeros(len(unique), dtype=bool)
    index = np.arange(len(unique))
    remaining = unique
    while len(remaining):
        on_front[index[0]] = True
        not_dominated = (remaining < remaining[0]).any(axis=1)
        remaining, index = remaining[not_dominated], index[not_dominated]
    return on_front[np.asarray(inverse).reshape(-1)]


def pareto_mask(
    df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
) -> pd.Series:
    """Boolean Series (aligned with ``df``): True for eligible rows no eligible row dominates."""
    objectives = validate_objectives(objectives, df)
    eligible = eligible_mask(df, objectives, statuses=statuses).to_numpy()
    mask = np.zeros(len(df), dtype=bool)
    if eligible.any():
        losses = to_losses(_objective_matrix(df, objectives)[eligible], objectives)
        mask[np.flatnonzero(eligible)] = _nondominated(losses)
    return pd.Series(mask, index=df.index, name="pareto")


def pareto_front(
    df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
) -> pd.DataFrame:
    """The front's rows, sorted by ascending value of the first objective (then the others).

    For the usual (max BLEU, min storage) pair this orders the front from the smallest,
    weakest model to the largest, strongest one: the order of a trade-off curve.
    """
    objectives = validate_objectives(objectives, df)
    front = df.loc[pareto_mask(df, objectives, statuses=statuses).to_numpy()]
    return front.sort_values(list(objectives), kind="mergesort")


def _as_points(
    df_or_points: pd.DataFrame | np.ndarray | Sequence[Sequence[float]],
    objectives: Mapping[str, str],
    statuses: Iterable[str] | None,
) -> np.ndarray:
    if isinstance(df_or_points, pd.DataFrame):
        df = df_or_points
        keep = eligible_mask(df, objectives, statuses=statuses).to_numpy()
        return _objective_matrix(df, objectives)[keep]
    points = np.asarray(df_or_points, dtype=float)
    if points.size == 0:
        return points.reshape(0, len(objectives))
    if points.ndim != 2 or points.shape[1] != len(objectives):
        raise ValueError(f"points must be an (n, {len(objectives)}) array in the order of {list(objectives)}, got shape {points.shape}")
    return points[np.isfinite(points).all(axis=1)]


def reference_vector(reference: Mapping[str, float] | Sequence[float], objectives: Mapping[str, str]) -> np.ndarray:
    """A reference point (mapping or sequence of raw values) as an array in ``objectives`` order."""
    if isinstance(reference, Mapping):
        missing = [name for name in objectives if name not in reference]
        if missing:
            raise ConfigError(
                f"reference point lacks objective(s) {missing}",
                where="reference",
                fix=f"give a value for each of {list(objectives)}",
            )
        ref = np.array([float(reference[name]) for name in objectives])
    else:
        ref = np.asarray(reference, dtype=float).reshape(-1)
        if len(ref) != len(objectives):
            raise ConfigError(
                f"reference point has {len(ref)} values for {len(objectives)} objectives",
                where="reference",
                fix=f"give one value per objective, in the order {list(objectives)}",
            )
    if not np.isfinite(ref).all():
        raise ConfigError("reference point must be finite", where="reference", fix="use finite numbers")
    return ref


def _hv_2d(losses: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume by a sweep over the first loss (O(n log n))."""
    order = np.lexsort((losses[:, 1], losses[:, 0]))
    volume, best_y = 0.0, ref[1]
    for x, y in losses[order]:
        if y < best_y:
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(volume)


def _hv_slicing(losses: np.ndarray, ref: np.ndarray) -> float:
    """Exact k-D hypervolume by slicing along the last objective (HSO; While et al., 2006).

    Exponential in k in the worst case but exact and dependency-free; used when optuna's
    WFG implementation is unavailable, and as an independent check of it in the tests.
    """
    if len(losses) == 0:
        return 0.0
    if losses.shape[1] == 1:
        return float(ref[0] - losses[:, 0].min())
    if losses.shape[1] == 2:
        return _hv_2d(losses, ref)
    order = np.argsort(losses[:, -1], kind="mergesort")
    pts = losses[order]
    volume = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        depth = upper - pts[i, -1]
        if depth > 0:
            volume += depth * _hv_slicing(pts[: i + 1, :-1], ref[:-1])
    return float(volume)


def _hv_kd(losses: np.ndarray, ref: np.ndarray) -> float:
    try:  # WFG (While et al., 2012), exact; a private optuna module, so guarded.
        from optuna._hypervolume import compute_hypervolume
    except ImportError:  # pragma: no cover - depends on the installed optuna
        return _hv_slicing(losses, ref)
    return float(compute_hypervolume(losses, ref))


def hypervolume(
    df_or_points: pd.DataFrame | np.ndarray | Sequence[Sequence[float]],
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    reference: Mapping[str, float] | Sequence[float] | None = None,
    *,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
) -> float:
    """Exact hypervolume of the points (raw objective values) w.r.t. ``reference``.

    ``df_or_points`` is a trials DataFrame (only eligible rows count, see
    :func:`eligible_mask`) or an (n, k) array in ``objectives`` order. ``reference`` holds
    raw values (e.g. ``{"bleu": 0, "storage_mb": 2000}``); ``None`` uses
    :func:`default_reference` of a DataFrame. Points that do not strictly dominate the
    reference add nothing. Two fronts are comparable only under the same reference.
    """
    objectives = validate_objectives(objectives, df_or_points if isinstance(df_or_points, pd.DataFrame) else None)
    points = _as_points(df_or_points, objectives, statuses)
    if reference is None:
        if not isinstance(df_or_points, pd.DataFrame):
            raise ConfigError(
                "a reference point is required for a bare array of points",
                where="hypervolume(reference=)",
                fix="pass reference=..., or pass the trials DataFrame to use default_reference",
            )
        reference = default_reference(df_or_points, objectives, statuses=statuses)
    ref = to_losses(reference_vector(reference, objectives)[None, :], objectives)[0]
    losses = to_losses(points, objectives)
    losses = losses[(losses < ref).all(axis=1)] if len(losses) else losses
    if len(losses) == 0:
        return 0.0
    losses = losses[_nondominated(losses)]
    if losses.shape[1] <= 2:
        return _hv_slicing(losses, ref)
    return _hv_kd(losses, ref)


def default_reference(
    df: pd.DataFrame,
    objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
    *,
    margin: float = 0.1,
    statuses: Iterable[str] | None = DEFAULT_STATUSES,
) -> dict[str, float]:
    """A reference point: the worst eligible value of each objective, pushed out by a margin.

    Definition: for each objective, ``worst ± margin * (worst - best)`` over the eligible
    rows (``-`` for a max objective, ``+`` for a min one); if all rows are equal in that
    objective the span is replaced by ``|worst|`` (or 1 when that is 0). The margin keeps the
    extreme front points from contributing zero volume, following the advice of Ishibuchi
    et al. (2018, Evolutionary Computation 26(3), "How to specify a reference point in
    hypervolume calculation for fair performance comparison") to place the reference
    slightly beyond the nadir. When comparing fronts, compute it once over the union of
    their tables (see ``Front.compare``).
    """
    objectives = validate_objectives(objectives, df)
    if margin < 0:
        raise ConfigError(
            f"margin must be >= 0, got {margin}", where="default_reference(margin=)", fix="use a small non-negative fraction such as 0.1"
        )
    values = _objective_matrix(df, objectives)[eligible_mask(df, objectives, statuses=statuses).to_numpy()]
    if len(values) == 0:
        raise DataError(
            "no eligible trial (finite objectives"
            + (f", status in {list(statuses)}" if statuses is not None else "")
            + ") to derive a reference point from",
            where="trials table",
            fix="wait for at least one trial to complete, or pass an explicit reference point",
        )
    reference: dict[str, float] = {}
    for j, (name, direction) in enumerate(objectives.items()):
        col = values[:, j]
        worst, best = (col.min(), col.max()) if direction == "max" else (col.max(), col.min())
        span = abs(worst - best) or abs(worst) or 1.0
        reference[name] = float(worst - margin * span if direction == "max" else worst + margin * span)
    return reference
