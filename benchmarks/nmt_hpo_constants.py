"""The tuned constants of raymt's default sampler, as knobs the NMT-HPO benchmark can set.

Why this exists: raymt's sampler (``raymt.search.sampler.cost_aware`` with ``gp``, ``transfer``) has
constants that were chosen by looking at the Zhang & Duh TED/WMT tables (git history of those
modules, 2026-11-25: the empirical-Bayes hyperprior from related tasks and its 0.5 scales, the
log scale for costs, the bad-tail fence, the floors on the prior-scaling variances). A benchmark
that reports on a table must not use constants chosen on it, so ``benchmarks.nmt_hpo_tune``
re-selects them on the tuning tables only and writes ``nmt_hpo_constants.json``; the benchmark
then runs the sampler with those values on the report tables. :data:`SHIPPED` is what
``raymt`` ships; a knob here changes nothing in raymt itself.

How a knob is applied (without editing the sampler, which lives in another engineer's area):
a subclass of :class:`~raymt.search.sampler.cost_aware.CostAwareSampler` overrides the two small hooks
that hold the constants (``_use_log``, ``_prior_mean``), a view of
:class:`~raymt.search.sampler.transfer.RelatedTrials` rescales its hyperprior, and the module-level
pieces (bad-tail fence, default hyperprior, predictive noise) are swapped around the sampler's
own planning step only.
"""

from __future__ import annotations

import dataclasses
import json
import math
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

from raymt.search.sampler import cost_aware, gp
from raymt.search.sampler.cost_aware import CostAwareSampler
from raymt.search.sampler.gp import HyperPrior
from raymt.search.sampler.transfer import RelatedTrials

CONSTANTS_JSON = Path(__file__).resolve().parent / "nmt_hpo_constants.json"


@dataclasses.dataclass(frozen=True)
class SamplerConstants:
    """The knobs, each with the value raymt ships and where it lives.

    - ``related_hyperprior``: GP hyperprior centred on the related tasks' fits
      (``RelatedTrials.hyper_prior``); False = the generic ``gp.DEFAULT_PRIOR``.
    - ``hyperprior_scale``: the log-normal widths (lengthscales, signal and noise variance) of
      that hyperprior, 0.5 in ``transfer.py``.
    - ``sa2_floor`` / ``sb2_floor``: lower bounds on the prior variances of the offset and the
      scale with which the transferred mean is re-fitted to the new task
      (``CostAwareSampler._prior_mean``: 0.25, 0.09).
    - ``squash_bad_tail``: clip results below the 1.5 IQR fence before the GP fit
      (``cost_aware._squash_bad_tail``).
    - ``log_costs``: model positive "min" objectives on log scale (``_use_log``).
    - ``weight_related``: weight related tasks by their Kendall tau with the new task's results
      (a constructor option).
    - ``n_startup_related``: random trials before the model is used when related tasks are given
      (constructor default 0).
    - ``default_ls_prior``: lengthscale prior without related tasks (``gp.DEFAULT_PRIOR``):
      ``"mode1"`` (log-normal, mode 1 on [0, 1] inputs, width 1; shipped) or ``"hvarfner"``
      (mode sqrt(2) + log(d)/2, width sqrt(3): Hvarfner, Hellsten & Nardi, 2024, ICML; what the
      first version used).
    - ``predictive_noise``: the EHVI sees the spread of a *reported* value (GP noise included,
      ``predict(..., observed=True)``); False = the latent function's spread.
    """

    related_hyperprior: bool = True
    hyperprior_scale: float = 0.5
    sa2_floor: float = 0.25
    sb2_floor: float = 0.09
    squash_bad_tail: bool = True
    log_costs: bool = True
    weight_related: bool = True
    n_startup_related: int = 0
    default_ls_prior: str = "mode1"
    predictive_noise: bool = True

    def __post_init__(self) -> None:
        if self.default_ls_prior not in ("mode1", "hvarfner"):
            raise ValueError(f"default_ls_prior must be 'mode1' or 'hvarfner', got {self.default_ls_prior!r}")

    def changed(self) -> dict[str, Any]:
        """The knobs that differ from what raymt ships."""
        return {k: v for k, v in dataclasses.asdict(self).items() if getattr(SHIPPED, k) != v}

    def label(self) -> str:
        diff = self.changed()
        return "shipped" if not diff else ",".join(f"{k}={v}" for k, v in diff.items())


SHIPPED = SamplerConstants()


def load_constants(path: Path = CONSTANTS_JSON) -> SamplerConstants:
    """The ``constants`` block of a file written by ``benchmarks.nmt_hpo_tune``."""
    data = json.loads(Path(path).read_text())
    block = data["constants"]
    unknown = sorted(set(block) - {f.name for f in dataclasses.fields(SamplerConstants)})
    if unknown:
        raise ValueError(f"{path}: unknown constant(s) {unknown}; known: {[f.name for f in dataclasses.fields(SamplerConstants)]}")
    return SamplerConstants(**block)


@dataclasses.dataclass(frozen=True)
class _HvarfnerPrior(HyperPrior):
    """The dimension-scaled lengthscale prior (its location depends on the input dimension)."""

    ls_scale: float = math.sqrt(3.0)

    def ls_locs(self, d: int) -> torch.Tensor:
        return torch.full((d,), math.sqrt(2.0) + 0.5 * math.log(max(d, 1)), dtype=torch.float64)


def _latent_predict(fit: Any, Xs: np.ndarray, ms: np.ndarray | None = None, *, observed: bool = False):
    return gp.predict(fit, Xs, ms)


class _RelatedView:
    """A RelatedTrials whose hyperprior follows the constants; everything else is delegated,
    so one RelatedTrials (its per-task GP fits are the slow part) serves every setting."""

    def __init__(self, related: RelatedTrials, constants: SamplerConstants):
        self._related = related
        self._c = constants

    def __getattr__(self, name: str) -> Any:
        return getattr(self._related, name)

    def hyper_prior(self, objective: str, codec: Any) -> HyperPrior:
        if not self._c.related_hyperprior:
            return cost_aware.DEFAULT_PRIOR  # looked up now: the default-prior knob swaps it
        hp = self._related.hyper_prior(objective, codec)
        s = self._c.hyperprior_scale
        return dataclasses.replace(hp, ls_scale=s, sf2_scale=s, noise_scale=s)


class TunableSampler(CostAwareSampler):
    """raymt's sampler with :class:`SamplerConstants` applied (identical with :data:`SHIPPED`)."""

    def __init__(self, *args: Any, constants: SamplerConstants = SHIPPED, **kwargs: Any):
        self._c = constants
        related = kwargs.get("related")
        if related is not None and constants != SHIPPED:
            kwargs["related"] = _RelatedView(related, constants)
        super().__init__(*args, **kwargs)

    def before_trial(self, study: Any, trial: Any) -> None:
        with ExitStack() as stack:
            if not self._c.squash_bad_tail:
                stack.enter_context(mock.patch.object(cost_aware, "_squash_bad_tail", lambda y, mode: y))
            if self._c.default_ls_prior == "hvarfner":
                stack.enter_context(mock.patch.object(cost_aware, "DEFAULT_PRIOR", _HvarfnerPrior()))
            if not self._c.predictive_noise:
                stack.enter_context(mock.patch.object(cost_aware, "predict", _latent_predict))
            super().before_trial(study, trial)

    def _use_log(self, j: int, y: np.ndarray) -> bool:
        return self._c.log_costs and super()._use_log(j, y)

    def _prior_mean(self, name: str, X: np.ndarray, y: np.ndarray, log_scale: bool):
        m, (a0, b0, sa2, sb2) = super()._prior_mean(name, X, y, log_scale)
        if m is None or (self._c.sa2_floor, self._c.sb2_floor) == (SHIPPED.sa2_floor, SHIPPED.sb2_floor):
            return m, (a0, b0, sa2, sb2)
        sp = self._related.scale(name, log=log_scale)
        b = sp.b0 if sp.b0 > 0 else 1.0
        return m, (a0, b0, max((sp.sa / b) ** 2, self._c.sa2_floor), max((sp.sb / b) ** 2, self._c.sb2_floor))


def make_raymt_sampler(
    space_fn: Any,
    objectives: dict[str, str],
    *,
    seed: int,
    related: RelatedTrials | None,
    constants: SamplerConstants = SHIPPED,
) -> CostAwareSampler:
    """The sampler ``make_sampler(SamplerConfig(kind="raymt"))`` builds, with ``constants``."""
    return TunableSampler(
        space_fn,
        objectives,
        related=related,
        seed=seed,
        n_startup_trials=constants.n_startup_related if related is not None else None,
        weight_related=constants.weight_related,
        constants=constants,
    )
