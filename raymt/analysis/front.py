"""The Pareto front of a search as an object a user asks questions of.

Which model do I ship under 50 MB? Which point is the best trade-off? Did search B do
better than search A? How much disk do K tasks cost with this method? :class:`Front`
answers these over a trials table; the arithmetic lives in :mod:`raymt.analysis.pareto`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from raymt.analysis.knee import Knee, find_knee
from raymt.analysis.pareto import (
    DEFAULT_OBJECTIVES,
    DEFAULT_STATUSES,
    default_reference,
    eligible_mask,
    hypervolume,
    pareto_front,
    reference_vector,
    validate_objectives,
)
from raymt.errors import ConfigError, DataError

__all__ = ["Front", "FULL_METHOD", "front_flags"]

#: The method whose artefact is a whole model (no base to share between tasks).
FULL_METHOD = "full"
QUALITY = "bleu"
COST = "storage_mb"


class Front:
    """Pareto front of ``df`` under ``objectives`` (eligible rows only; see ``pareto.py``).

    ``select`` and ``storage_for_tasks`` speak of BLEU and storage, so they need the
    ``bleu`` and ``storage_mb`` columns; the rest works for any objectives.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        objectives: Mapping[str, str] = DEFAULT_OBJECTIVES,
        *,
        statuses: Iterable[str] | None = DEFAULT_STATUSES,
    ):
        self.objectives = validate_objectives(objectives, df)
        self.statuses = tuple(statuses) if statuses is not None else None
        self.df = df
        self.members: pd.DataFrame = pareto_front(df, self.objectives, statuses=self.statuses)

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"Front({len(self.members)} of {len(self.df)} trials, objectives={self.objectives})"

    @property
    def eligible(self) -> pd.DataFrame:
        """The rows that competed for the front."""
        return self.df.loc[eligible_mask(self.df, self.objectives, statuses=self.statuses).to_numpy()]

    # ------------------------------------------------------------------ selection
    def _require(self, *columns: str) -> None:
        missing = [c for c in columns if c not in self.members.columns]
        if missing:
            raise ConfigError(
                f"this needs the column(s) {missing} in the trials table",
                where="Front",
                fix="build the Front from a raymt trials table (see docs/architecture.md)",
            )

    def _require_nonempty(self, what: str) -> None:
        if self.members.empty:
            raise DataError(
                f"cannot {what}: the front is empty (no eligible trial"
                + (f" with status in {list(self.statuses)}" if self.statuses else "")
                + " and finite objectives)",
                where="trials table",
                fix="wait for trials to complete, or look at the failures in report.md",
            )

    def select(
        self,
        max_storage_mb: float | None = None,
        min_bleu: float | None = None,
        prefer_smallest_indistinguishable: bool = False,
        *,
        alpha: float = 0.05,
        n_samples: int = 1000,
    ) -> pd.Series:
        """The front member with the highest BLEU within the limits (ties: the smaller one).

        Searching the front is enough: any eligible trial within the limits is matched or
        beaten by a front member that is also within them.

        ``prefer_smallest_indistinguishable``: then return the smallest qualifying member
        whose BLEU is not significantly different (paired bootstrap, p >= ``alpha``) from
        that best one; a difference of 0.2 BLEU that is noise should not cost 10x the disk.
        Needs ``hyps_path``/``refs_path`` (see :mod:`raymt.analysis.significance`).
        """
        self._require(QUALITY, COST)
        for name, limit in (("max_storage_mb", max_storage_mb), ("min_bleu", min_bleu)):
            if limit is not None and not np.isfinite(_as_float(limit)):
                raise ConfigError(
                    f"{name} must be a number, got {limit!r}", where=f"select({name}=)", fix="pass a finite number, or None for no limit"
                )
        if max_storage_mb is not None and max_storage_mb <= 0:
            raise ConfigError(
                f"a storage limit must be above 0 MB, got {max_storage_mb:g}",
                where="select(max_storage_mb=)",
                fix="pass the most disk one model may take, in MB (e.g. 1.0), or None for no limit",
            )
        self._require_nonempty("select a trial")
        members = self.members
        ok = np.ones(len(members), dtype=bool)
        if max_storage_mb is not None:
            ok &= members[COST].to_numpy(dtype=float) <= float(max_storage_mb)
        if min_bleu is not None:
            ok &= members[QUALITY].to_numpy(dtype=float) >= float(min_bleu)
        candidates = members.loc[ok]
        if candidates.empty:
            limits = [f"{COST} <= {max_storage_mb:g}"] if max_storage_mb is not None else []
            limits += [f"{QUALITY} >= {min_bleu:g}"] if min_bleu is not None else []
            smallest = members.iloc[int(np.argmin(members[COST].to_numpy(dtype=float)))]
            best = members.iloc[int(np.argmax(members[QUALITY].to_numpy(dtype=float)))]
            raise ConfigError(
                "no trial on the front has " + " and ".join(limits),
                where="select(max_storage_mb=..., min_bleu=...)",
                fix=f"relax a limit: the smallest front member is {smallest[COST]:.4g} MB "
                f"(bleu {smallest[QUALITY]:.2f}), the best is bleu {best[QUALITY]:.2f} "
                f"({best[COST]:.4g} MB)",
            )
        ranked = candidates.sort_values([QUALITY, COST], ascending=[False, True], kind="mergesort")
        best = ranked.iloc[0]
        if not prefer_smallest_indistinguishable:
            return best
        from raymt.analysis.significance import paired_bootstrap

        smaller = candidates.loc[candidates[COST] < best[COST]].sort_values(COST, kind="mergesort")
        for _, row in smaller.iterrows():
            p = paired_bootstrap(best, row, n_samples=n_samples)
            if p >= alpha:
                return row
        return best

    # ------------------------------------------------------------------ knee
    def knee(self, *, log_objectives: Sequence[str] | None = None) -> Knee:
        """The knee of a 2-D front, or, when it has none, the member chosen instead and why.

        One definition for the report, ``raymt export --knee`` and pareto.png (see
        :mod:`raymt.analysis.knee`): the member farthest beyond the line joining the front's
        extremes (Das 1999), each objective scaled to [0, 1] over the front and storage on a
        log10 scale (``log_objectives=None``; pass ``()`` for linear scales). A front with
        fewer than three members, or whose middle members all lie on or beyond that line, has
        no knee: ``found`` is then False and the member with the best first objective (the
        highest BLEU) is chosen, with ``why`` saying so. ``knee["trial_id"]`` reads the row.
        """
        self._require_nonempty("find a knee")
        return find_knee(self.members, self.objectives, log_objectives=log_objectives)

    # ------------------------------------------------------------------ hypervolume
    def hypervolume(self, reference: Mapping[str, float] | Sequence[float] | None = None) -> float:
        """Hypervolume of the front; ``reference`` defaults to ``default_reference`` of the table."""
        if reference is None:
            if self.members.empty:
                return 0.0
            reference = default_reference(self.df, self.objectives, statuses=self.statuses)
        return hypervolume(self.members, self.objectives, reference, statuses=self.statuses)

    def compare(
        self,
        other: Front,
        reference: Mapping[str, float] | Sequence[float] | None = None,
        *,
        names: tuple[str, str] = ("this", "other"),
    ) -> pd.DataFrame:
        """Hypervolume of both fronts under ONE reference point (one row per front).

        With ``reference=None`` the reference is :func:`default_reference` over the union of
        both tables, so neither front's own worst trial decides the yardstick. The frame's
        ``attrs["reference"]`` records the point used; ``hv_ratio`` is relative to ``names[0]``.
        """
        if dict(other.objectives) != dict(self.objectives):
            raise ConfigError(
                f"cannot compare fronts over different objectives: {self.objectives} vs {other.objectives}",
                where="Front.compare",
                fix="build both fronts with the same objectives mapping",
            )
        if reference is None:
            union = pd.concat([self.eligible, other.eligible], ignore_index=True)
            reference = default_reference(union, self.objectives, statuses=None)
        ref = _reference_dict(reference, self.objectives)
        volumes = [self.hypervolume(ref), other.hypervolume(ref)]
        table = pd.DataFrame(
            {
                "front": list(names),
                "hypervolume": volumes,
                "members": [len(self), len(other)],
                "eligible": [len(self.eligible), len(other.eligible)],
            }
        )
        table["hv_ratio"] = table["hypervolume"] / volumes[0] if volumes[0] > 0 else np.nan
        for name, value in ref.items():
            table[f"ref_{name}"] = value
        table.attrs["reference"] = ref
        return table

    # ------------------------------------------------------------------ storage
    def storage_for_tasks(self, k: int, base_mb: float) -> pd.DataFrame:
        """Disk needed to serve ``k`` tasks with each front member's method.

        A parameter-efficient artefact is stored next to ONE shared base model:
        ``base_mb + k * storage_mb``. Full fine-tuning has no base to share; its artefact is
        the whole model: ``k * storage_mb``. The baseline, ``k_full_models_mb``, is ``k`` full
        models (``k * base_mb``). ``saving`` is baseline / needed.
        """
        self._require(COST)
        if int(k) != k or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k}", where="storage_for_tasks(k=)", fix="pass the number of tasks, e.g. 10")
        if not np.isfinite(base_mb) or base_mb <= 0:
            raise ConfigError(
                f"base_mb must be a positive size in MB, got {base_mb}",
                where="storage_for_tasks(base_mb=)",
                fix="pass the size of the base model on disk",
            )
        k = int(k)
        members = self.members
        artefact = members[COST].to_numpy(dtype=float)
        is_full = members["method"].astype(str).eq(FULL_METHOD).to_numpy() if "method" in members.columns else np.zeros(len(members), dtype=bool)
        needed = np.where(is_full, k * artefact, base_mb + k * artefact)
        baseline = np.full(len(members), k * float(base_mb))
        keep = [c for c in ("trial_id", "method", QUALITY) if c in members.columns]
        out = members[keep].reset_index(drop=True).copy()
        out["artifact_mb"] = artefact
        out["k"] = k
        out["shared_base_mb"] = np.where(is_full, 0.0, float(base_mb))
        out["needed_mb"] = needed
        out["k_full_models_mb"] = baseline
        out["saving"] = baseline / needed
        return out


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _reference_dict(reference: Mapping[str, float] | Sequence[float], objectives: Mapping[str, str]) -> dict[str, float]:
    return {name: float(v) for name, v in zip(objectives, reference_vector(reference, objectives))}


def front_flags(df: pd.DataFrame, objectives: Mapping[str, str]) -> tuple[pd.Series, pd.Series]:
    """``is_pareto`` and ``is_knee`` of each row of a trials table, as the report sees them.

    The front is :class:`Front`'s (completed trials with finite objectives); ``is_knee`` is
    True for the knee of a two-objective front (:mod:`raymt.analysis.knee`) and False everywhere
    when the front has none (the report and ``raymt export --knee`` then name the member chosen
    instead) or more than two objectives."""
    front = Front(df, objectives)
    is_pareto = pd.Series(df.index.isin(front.members.index), index=df.index)
    is_knee = pd.Series(False, index=df.index)
    if len(front.objectives) == 2 and len(front):
        try:
            knee = front.knee()
        except DataError:  # e.g. a storage of 0 MB has no logarithm: the table is written all the same
            return is_pareto, is_knee
        if knee.found:
            is_knee[knee.row.name] = True
    return is_pareto, is_knee
