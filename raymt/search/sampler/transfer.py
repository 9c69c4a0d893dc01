"""A prior for the search on one task, learned from searches on related tasks.

Searches over fine-tuning settings for one language pair say a lot about another: which learning
rates diverge, which sizes win. Raw metric values do not transfer (BLEU on zh-en and en-ja live on
different scales, decode times on different test sets), their *ranks* do. So, following
Salinas, Shen & Perrone (2020, ICML, "A Quantile-based Approach for Hyperparameter Transfer
Learning"), each related task's objective values are mapped through its own empirical CDF to
standard-normal quantiles (a Gaussian copula), one GP per task is fitted to those quantiles, and
the prior for the new task is the (weighted) average of the per-task predictions. The sampler
then learns the new task's scale and its deviations from this prior (see ``gp.py``).

The configurations on each related task's Pareto front are also offered to the sampler as
candidates, so "what was optimal for the other pairs" is always considered first-hand.

Leave-one-out is the caller's job: never put the target task's own table in here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from raymt.errors import DataError
from raymt.search.sampler.candidates import ParamCodec, config_key
from raymt.search.sampler.gp import GPFit, HyperPrior, fit_gp, predict


@dataclass(frozen=True)
class ScalePrior:
    """Where a new task's objective probably lies: offset/scale of ``value = a + b * quantile``."""

    a0: float  # mean over tasks of the median value
    b0: float  # mean over tasks of the robust spread (IQR / 1.349)
    sa: float  # spread of the medians across tasks
    sb: float  # spread of the spreads across tasks


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Non-dominated rows of ``values`` (minimisation form; duplicates all count as optimal)."""
    n = len(values)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        le = np.all(values <= values[i], axis=1)
        lt = np.any(values < values[i], axis=1)
        if np.any(le & lt):
            mask[i] = False
    return mask


def copula(values: np.ndarray) -> np.ndarray:
    """Empirical-CDF -> standard-normal quantiles (ties share their average rank)."""
    ranks = pd.Series(values).rank(method="average").to_numpy()
    p = (ranks - 0.5) / len(values)
    return torch.special.ndtri(torch.as_tensor(p, dtype=torch.float64)).numpy()


class RelatedTrials:
    """Finished trials of earlier searches on related tasks.

    ``frame`` has one row per trial: a task column, one column per parameter (NaN or absent =
    inactive) and one column per objective. The parameter names must match the ones the search
    space suggests; other columns are ignored.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        objectives: Mapping[str, str],
        *,
        task_column: str = "task",
        where: str = "related trials",
        min_rows_per_task: int = 3,
    ):
        missing = [c for c in [task_column, *objectives] if c not in frame.columns]
        if missing:
            raise DataError(
                f"missing column(s) {missing}; has {list(frame.columns)[:12]}",
                where=where,
                fix=f"give one row per trial with a '{task_column}' column and the objective columns {list(objectives)}",
            )
        self.objectives = dict(objectives)
        self._tasks: dict[str, tuple[list[dict[str, Any]], np.ndarray]] = {}
        skip = {task_column}
        for task, df in frame.groupby(task_column, sort=True):
            vals = df[list(objectives)].to_numpy(dtype=np.float64)
            ok = np.all(np.isfinite(vals), axis=1)
            df, vals = df[ok], vals[ok]
            if len(df) < min_rows_per_task:
                continue
            configs = [
                {k: v for k, v in row.items() if k not in skip and k not in objectives and not _is_missing(v)} for row in df.to_dict("records")
            ]
            self._tasks[str(task)] = (configs, vals)
        if not self._tasks:
            raise DataError(
                f"no task has {min_rows_per_task}+ trials with finite {list(objectives)}",
                where=where,
                fix="pass finished trials (status completed) of at least one related search",
            )
        self._fits: dict[tuple, Any] = {}  # per-task GP fits and hyperpriors, by codec

    @property
    def tasks(self) -> list[str]:
        return list(self._tasks)

    def all_positive(self, objective: str) -> bool:
        j = list(self.objectives).index(objective)
        return all(bool(np.all(vals[:, j] > 0)) for _, vals in self._tasks.values())

    def scale(self, objective: str, *, log: bool = False) -> ScalePrior:
        """Offset/scale of the objective (of its log if ``log``) over the related tasks."""
        j = list(self.objectives).index(objective)
        med, spread = [], []
        for _, vals in self._tasks.values():
            v = np.log(vals[:, j]) if log else vals[:, j]
            q25, q50, q75 = np.quantile(v, [0.25, 0.5, 0.75])
            med.append(q50)
            spread.append(max((q75 - q25) / 1.349, 1e-6 * max(1.0, abs(q50))))
        return ScalePrior(float(np.mean(med)), float(np.mean(spread)), float(np.std(med)), float(np.std(spread)))

    def front_configs(self) -> list[dict[str, Any]]:
        """Every related task's Pareto-optimal configurations (deduplicated, task order)."""
        sign = np.array([-1.0 if d == "max" else 1.0 for d in self.objectives.values()])
        seen, out = set(), []
        for configs, vals in self._tasks.values():
            for i in np.flatnonzero(pareto_mask(vals * sign)):
                key = config_key(configs[i])
                if key not in seen:
                    seen.add(key)
                    out.append(configs[i])
        return out

    def _task_fits(self, objective: str, codec: ParamCodec) -> list[GPFit]:
        key = (objective, codec.signature)
        fits = self._fits.get(key)
        if fits is None:
            j = list(self.objectives).index(objective)
            fits = []
            for configs, vals in self._tasks.values():
                Xt = codec.encode(configs)
                fits.append(fit_gp(Xt, copula(vals[:, j]), None, sa2=0.25, max_iter=80))
            self._fits[key] = fits
        return fits

    def task_means(self, objective: str, codec: ParamCodec, X: np.ndarray) -> np.ndarray:
        """Per-task predicted copula quantile of ``objective`` at encoded points X: (tasks, N)."""
        return np.stack([predict(f, X)[0] for f in self._task_fits(objective, codec)])

    def hyper_prior(self, objective: str, codec: ParamCodec) -> HyperPrior:
        """GP hyperprior for the new task centred on the related tasks' fitted hyperparameters.

        Lengthscales: their mean log value. Noise: their mean noise variance in copula units,
        which is how much of the objective the hyperparameters cannot explain (on the NMT tables:
        2-4 % for BLEU, 23-58 % for decode time). Signal variance stays weakly informed: the
        transferred mean already explains part of it.
        """
        key = ("hyper", objective, codec.signature)
        if key in self._fits:
            return self._fits[key]  # type: ignore[return-value]
        fits = self._task_fits(objective, codec)
        log_ls = torch.stack([f.log_ls for f in fits]).mean(0)
        noise = float(np.mean([f.noise for f in fits]))
        prior = HyperPrior(
            ls_loc=tuple(float(v) for v in log_ls),
            ls_scale=0.5,
            sf2_loc=float(np.log(max(self._transfer_residual(objective, codec) - noise, 0.05))),
            sf2_scale=0.5,
            noise_loc=float(np.log(max(noise, 1e-4))),
            noise_scale=0.5,
        )
        self._fits[key] = prior  # type: ignore[assignment]
        return prior

    def _transfer_residual(self, objective: str, codec: ParamCodec) -> float:
        """How much of a task the others do NOT predict: leave one related task out, predict it
        with the rest (best affine fit in copula units), average the residual variance. This is
        the signal variance the new task's GP should expect around the transferred mean; fitted
        on a dozen points MAP shrank it to a third of this and the sampler stopped exploring."""
        if len(self._tasks) < 2:
            return 0.5
        j = list(self.objectives).index(objective)
        fits = self._task_fits(objective, codec)
        res = []
        for t, (configs, vals) in enumerate(self._tasks.values()):
            X = codec.encode(configs)
            z = copula(vals[:, j])
            m = np.mean([predict(f, X)[0] for s, f in enumerate(fits) if s != t], axis=0)
            A = np.c_[np.ones_like(m), m]
            coef, *_ = np.linalg.lstsq(A, z, rcond=None)
            res.append(float(np.var(z - A @ coef)))
        return float(np.mean(res))


def _is_missing(v: Any) -> bool:
    try:
        return v is None or (isinstance(v, float) and np.isnan(v))
    except TypeError:  # pragma: no cover
        return False


def related_from_tables(tables: Sequence[tuple[str, pd.DataFrame]], objectives: Mapping[str, str]) -> RelatedTrials:
    """Stack ``(task name, trials table)`` pairs; keeps only finished rows when a status column exists."""
    frames = []
    for name, df in tables:
        if "status" in df.columns:
            df = df[df["status"] == "completed"]
        frames.append(df.assign(task=name))
    return RelatedTrials(pd.concat(frames, ignore_index=True), objectives)
