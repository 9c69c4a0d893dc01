"""Early stopping for a two-objective search (max BLEU, min storage MB) on Ray Tune.

Why raymt has its own scheduler: Tune's ASHA (Li et al., 2020, "A System for Massively
Parallel Hyperparameter Tuning", MLSys) ranks trials on ONE metric. On (BLEU, storage) that
kills every cheap-storage trial at the first rung, because a LoRA rank-2 adapter of 0.8 MB
rarely matches the BLEU of a 100 MB one half-way through training; yet the cheap trial may
be exactly the point the user wants on the Pareto front. Multi-objective ASHA (Salinas et
al., 2021, "A multi-objective perspective on jointly tuning hardware and hyperparameters",
NAS workshop at ICLR; Schmucker et al., 2021, "Multi-objective multi-fidelity
hyperparameter optimization with application to fairness", arXiv:2106.12639) keeps ASHA's
asynchronous rungs but ranks the trials at a rung by non-dominated sorting instead.

Storage is special among the objectives: it is known exactly from the configuration before
the first step and never changes during training. So the only uncertain objective at a rung
is BLEU, and :class:`MultiObjectiveASHAScheduler` can compare a newcomer with the trials
recorded at the same rung on (BLEU so far, exact storage) without any guesswork about cost.

Which trials were stopped early is recorded the same way by every raymt scheduler
(:mod:`raymt.search.scheduler.record`).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from ray.tune.result import DEFAULT_METRIC
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from raymt.errors import ConfigError
from raymt.search.scheduler.options import MOASHAConfig, validate_options
from raymt.search.scheduler.record import EarlyStop, StopRecord

if TYPE_CHECKING:  # pragma: no cover
    from ray.tune.experiment import Trial

logger = logging.getLogger(__name__)


def rung_milestones(grace_period: float, max_t: float, reduction_factor: float) -> list[float]:
    """ASHA's rungs ``grace_period * reduction_factor**k`` strictly below ``max_t``, ascending.

    A rung at ``max_t`` itself would never decide anything (a trial there has finished), so
    it is left out, also when rounding puts it a hair below (0.1 * 3**3 vs max_t=2.7).
    """
    out: list[float] = []
    t = float(grace_period)
    while t < max_t and not math.isclose(t, max_t, rel_tol=1e-9):
        out.append(t)
        t *= reduction_factor
    return out


def front_indices(metric: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Non-dominated sorting (Deb et al., 2002, IEEE TEC) of points (max metric, min cost).

    Returns the 0-based front of each point: 0 = not dominated by any other point, k = 1 +
    the largest front among the points dominating it. ``a`` dominates ``b`` when it is no
    worse in both and strictly better in one; equal points do not dominate each other. A
    NaN metric counts as the worst possible (a failed evaluation should not survive a rung).
    """
    m = np.where(np.isnan(metric), -np.inf, np.asarray(metric, dtype=float))
    c = np.asarray(cost, dtype=float)
    n = len(m)
    # dom[i, j]: i dominates j.
    no_worse = (m[:, None] >= m[None, :]) & (c[:, None] <= c[None, :])
    better = (m[:, None] > m[None, :]) | (c[:, None] < c[None, :])
    dom = no_worse & better
    # A dominator always has a larger metric, or an equal metric and a smaller cost, so this
    # order visits every dominator before the points it dominates.
    order = np.lexsort((c, -m))
    front = np.zeros(n, dtype=int)
    for j in order:
        dominators = dom[:, j]
        if dominators.any():
            front[j] = front[dominators].max() + 1
    return front


def storage_band(cost: float, band_width_decades: float) -> int:
    """Index of the log-spaced storage band holding ``cost``: floor(log10(cost) / width).

    Log-spaced because storage across methods spans orders of magnitude (a rank-2 LoRA
    adapter is under 1 MB, a full checkpoint hundreds); a fixed width in decades treats
    "twice as large" the same at every scale.
    """
    if not (cost > 0 and math.isfinite(cost)):
        raise ConfigError(
            f"storage bands need a positive finite cost, got {cost!r}",
            where="scheduler.ranking=bands",
            fix="report a positive storage_mb in every result, or use ranking: pareto",
        )
    return math.floor(math.log10(cost) / band_width_decades + 1e-9)


class MultiObjectiveASHAScheduler(StopRecord, FIFOScheduler):
    """Asynchronous successive halving that ranks (metric, exact cost) at each rung.

    Rungs are ASHA's (Li et al., 2020, MLSys): ``grace_period * reduction_factor**k`` below
    ``max_t``. When a trial first reaches a rung it is compared, once, with every trial
    already recorded there (asynchronous: no waiting for a full rung), and either continues
    or stops; it is then recorded at that rung.

    ``ranking="pareto"`` (MO-ASHA; Salinas et al., 2021; Schmucker et al., 2021): the points
    at the rung, newcomer included, are sorted into non-dominated fronts on (max ``metric``,
    min ``cost_attr``). The newcomer continues when fewer than ``n / reduction_factor`` of
    the ``n`` points lie in fronts strictly better than its own; whole fronts are kept, so a
    trial that nobody at its rung dominates is never stopped. A cheap adapter with a low
    BLEU is therefore judged only against trials at most as large as it, while a large one
    must beat the cheaper trials to survive. With a single cost value this reduces to
    single-metric ASHA.

    ``ranking="bands"``: storage is cut into log-spaced bands of ``band_width_decades``
    decades, and ASHA's top-``1/reduction_factor`` rule on the metric alone is applied
    among the trials of the newcomer's band. Simpler to explain, but a trial near a band
    edge competes with trials almost twice its size and not with slightly smaller ones.

    The cost is read from the result (``cost_attr``) and, if absent there, from the trial's
    config; it must be the same in every result of a trial. A result without the metric or
    ``time_attr`` is ignored, as in Tune's ASHA. The first trial at a rung always continues.
    """

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: str | None = None,
        mode: str | None = None,
        cost_attr: str = "storage_mb",
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 3,
        ranking: Literal["pareto", "bands"] = "pareto",
        band_width_decades: float = 0.5,
    ) -> None:
        # Same checks as the pydantic config, for direct construction (tests, notebooks).
        cfg = validate_options(
            MOASHAConfig,
            dict(
                kind="mo_asha",
                time_attr=time_attr,
                metric=metric or "bleu",
                mode=mode or "max",
                cost_attr=cost_attr,
                max_t=max_t,
                grace_period=grace_period,
                reduction_factor=reduction_factor,
                ranking=ranking,
                band_width_decades=band_width_decades,
            ),
        )
        super().__init__()
        self._init_record()
        self._time_attr = cfg.time_attr
        self._metric = metric
        self._mode = mode
        self._cost_attr = cfg.cost_attr
        self._max_t = float(cfg.max_t)
        self._grace_period = float(cfg.grace_period)
        self._rf = float(cfg.reduction_factor)
        self._ranking = cfg.ranking
        self._band_width = float(cfg.band_width_decades)
        self._milestones = rung_milestones(self._grace_period, self._max_t, self._rf)
        # rung milestone -> {trial_id: (metric, cost)}; metric sign-flipped so larger is better
        self._rungs: dict[float, dict[str, tuple[float, float]]] = {m: {} for m in self._milestones}
        self._costs: dict[str, float] = {}

    # -- Tune plumbing -------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        # Same contract as Tune's ASHA: refuse TuneConfig metric/mode when ours are set.
        if (self._metric and metric) or (self._mode and mode):
            return False
        if metric:
            self._metric = metric
        if mode:
            self._mode = mode
        if self._metric is None and self._mode:
            self._metric = DEFAULT_METRIC
        return True

    def _sign(self) -> float:
        return 1.0 if self._mode == "max" else -1.0

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        if not self._metric or self._mode not in ("max", "min"):
            raise ConfigError(
                f"{type(self).__name__} has no metric/mode (metric={self._metric!r}, mode={self._mode!r})",
                where="scheduler.metric / scheduler.mode",
                fix="pass metric='bleu', mode='max' to the scheduler (make_scheduler does)",
            )

    def _cost_of(self, trial: Trial, result: dict) -> float:
        if self._cost_attr in result:
            cost = result[self._cost_attr]
        else:
            config = getattr(trial, "config", None) or {}
            if self._cost_attr not in config:
                raise ConfigError(
                    f"trial {trial.trial_id} reported no {self._cost_attr!r} and has none in its config",
                    where=f"scheduler.cost_attr={self._cost_attr}",
                    fix=f"report {self._cost_attr!r} (storage known before training) in every result",
                )
            cost = config[self._cost_attr]
        cost = float(cost)
        if not math.isfinite(cost):
            raise ConfigError(
                f"trial {trial.trial_id} reported {self._cost_attr}={cost!r}",
                where=f"scheduler.cost_attr={self._cost_attr}",
                fix="report the storage estimate (a finite number of MB) in every result",
            )
        known = self._costs.setdefault(trial.trial_id, cost)
        if not math.isclose(known, cost, rel_tol=1e-6, abs_tol=1e-9):
            logger.warning(
                "trial %s changed %s from %s to %s; the scheduler assumes a fixed cost and keeps %s",
                trial.trial_id,
                self._cost_attr,
                known,
                cost,
                known,
            )
        return known

    def _pending_rung(self, trial_id: str, t: float) -> float | None:
        """The highest rung reached at ``t`` where the trial is not yet recorded (as Tune's ASHA)."""
        for milestone in reversed(self._milestones):
            if t >= milestone and trial_id not in self._rungs[milestone]:
                return milestone
        return None

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        if self._time_attr not in result or self._metric not in result:
            return TrialScheduler.CONTINUE
        t = float(result[self._time_attr])
        if t >= self._max_t:
            return TrialScheduler.STOP  # finished its budget: completion, not an early stop
        rung = self._pending_rung(trial.trial_id, t)
        if rung is None:
            return TrialScheduler.CONTINUE
        raw = float(result[self._metric])
        cost = self._cost_of(trial, result)
        keep, reason = self._decide(rung, trial.trial_id, self._sign() * raw, cost)
        self._rungs[rung][trial.trial_id] = (self._sign() * raw, cost)
        if keep:
            return TrialScheduler.CONTINUE
        self._stopped[trial.trial_id] = EarlyStop(trial_id=trial.trial_id, rung=rung, time=t, metric=raw, cost=cost, reason=reason)
        return TrialScheduler.STOP

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        # A trial that ends between two results still counts at the rung it reached.
        if self._time_attr not in result or self._metric not in result:
            return
        rung = self._pending_rung(trial.trial_id, float(result[self._time_attr]))
        if rung is not None:
            cost = self._cost_of(trial, result)
            self._rungs[rung][trial.trial_id] = (self._sign() * float(result[self._metric]), cost)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        pass  # rung records stay: they are the history later trials are compared with

    def debug_string(self) -> str:
        parts = [f"{m:g}: {len(rec)} recorded" for m, rec in self._rungs.items()]
        return (
            f"Using multi-objective ASHA ({self._ranking}, {self._metric} {self._mode} x "
            f"{self._cost_attr} min): stopped={len(self._stopped)}; rungs " + ", ".join(parts)
        )

    # -- the rule ------------------------------------------------------------------------

    def _decide(self, rung: float, trial_id: str, metric: float, cost: float) -> tuple[bool, str]:
        """(continue?, reason) for a newcomer with sign-flipped ``metric`` at ``rung``."""
        recorded = self._rungs[rung]
        if self._ranking == "bands":
            band = storage_band(cost, self._band_width)
            peers = [m for m, c in recorded.values() if storage_band(c, self._band_width) == band]
            n = len(peers) + 1
            if n == 1:
                return True, "first trial of its band at this rung"
            m = -math.inf if math.isnan(metric) else metric
            better = sum(1 for p in peers if (-math.inf if math.isnan(p) else p) > m)
            lo, hi = 10 ** (band * self._band_width), 10 ** ((band + 1) * self._band_width)
            return better < n / self._rf, (
                f"{better} of {n - 1} trials in storage band [{lo:.3g}, {hi:.3g}) "
                f"{self._cost_attr} beat its {self._metric} at rung {rung:g} "
                f"(keep < {n / self._rf:.2f})"
            )
        n = len(recorded) + 1
        if n == 1:
            return True, "first trial at this rung"
        metrics = np.array([m for m, _ in recorded.values()] + [metric], dtype=float)
        costs = np.array([c for _, c in recorded.values()] + [cost], dtype=float)
        front = front_indices(metrics, costs)
        mine = front[-1]
        better = int((front < mine).sum())
        return better < n / self._rf, (
            f"{better} of {n - 1} trials at rung {rung:g} lie in better non-dominated fronts "
            f"on ({self._metric}, {self._cost_attr}) (its front {mine}; keep < {n / self._rf:.2f})"
        )
