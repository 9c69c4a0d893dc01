"""Acquisition functions for raymt's sampler: expected hypervolume improvement (EHVI).

Everything here is in *minimisation form* (maximised objectives are negated by the caller).

Two objectives, one of them known before the trial runs (the usual raymt case: storage MB is
computed from the configuration; only BLEU is uncertain): the EHVI is exact and cheap. With the
front's staircase ``U(t)`` (the largest value of the uncertain objective that is still
non-dominated at known cost ``t``), a candidate with known cost ``c`` and uncertain value
``Y ~ N(mu, s^2)`` gains ``sum_j |[c, r0] ∩ seg_j| * E[max(0, u_j - Y)]``, and
``E[max(0, u - Y)] = s * h((u - mu) / s)`` with ``h(z) = phi(z) + z Phi(z)``. Computing it in
log space keeps candidates far behind the front comparable instead of all rounding to zero
(Ament et al., 2023, NeurIPS, "Unexpected Improvements to Expected Improvement for Bayesian
Optimization"). EHVI itself: Emmerich, Giannakoglou & Naujoks (2006, IEEE TEC).

Two uncertain objectives: Monte-Carlo EHVI with common random numbers across candidates (the
hypervolume improvement of each draw is exact in 2-D). Other numbers of objectives: ParEGO's
augmented Chebyshev scalarisation with a random weight vector per trial (Knowles, 2006, IEEE
TEC), Monte-Carlo expected improvement of the scalarised value.
"""

from __future__ import annotations

import math

import numpy as np
import torch

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)), accurate far into the left tail."""
    zt = torch.as_tensor(np.asarray(z, dtype=np.float64))
    out = torch.empty_like(zt)
    mid = zt >= -25.0
    zm = zt[mid]
    phi = torch.exp(-0.5 * zm**2 - _LOG_SQRT_2PI)
    h = phi + zm * torch.special.ndtr(zm)
    out[mid] = torch.log(h.clamp_min(1e-300))
    zl = zt[~mid]
    # phi(z) / z^2 * (1 - 3/z^2 + 15/z^4): the asymptotic expansion of h for z -> -inf.
    out[~mid] = -0.5 * zl**2 - _LOG_SQRT_2PI - 2 * torch.log(-zl) + torch.log1p(-3 / zl**2 + 15 / zl**4)
    return out.numpy()


def staircase(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments [lo, hi) along objective 0 with the free bound ``u`` on objective 1.

    ``front``: (k, 2) non-dominated points (minimisation form); points outside the reference box
    are ignored. Returns ``lo, hi, u`` arrays of length k+1 (``lo[0] = -inf``).
    """
    pts = front[(front[:, 0] < ref[0]) & (front[:, 1] < ref[1])] if len(front) else front
    pts = pts[np.argsort(pts[:, 0], kind="stable")] if len(pts) else np.zeros((0, 2))
    lo, u = [-np.inf], [ref[1]]
    for f0, f1 in pts:
        if f1 < u[-1]:
            lo.append(f0)
            u.append(f1)
    lo_a = np.array(lo)
    hi_a = np.append(lo_a[1:], ref[0])
    return lo_a, hi_a, np.array(u)


def hvi_2d(points: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exact hypervolume improvement of each of ``points`` (N, 2) over ``front``."""
    lo, hi, u = staircase(front, ref)
    c = points[:, :1]
    overlap = np.clip(hi[None, :] - np.maximum(lo[None, :], c), 0.0, None)
    gain = np.clip(u[None, :] - points[:, 1:2], 0.0, None)
    return (overlap * gain).sum(1)


def log_ehvi_known_cost(cost: np.ndarray, mu: np.ndarray, sd: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """log EHVI when objective 0 is known exactly (``cost``) and objective 1 is N(mu, sd^2)."""
    lo, hi, u = staircase(front, ref)
    overlap = np.clip(hi[None, :] - np.maximum(lo[None, :], cost[:, None]), 0.0, None)  # (N, K)
    sd = np.maximum(sd, 1e-9)[:, None]
    z = (u[None, :] - mu[:, None]) / sd
    with np.errstate(divide="ignore"):
        terms = np.log(overlap) + np.log(sd) + log_h(z)
    m = terms.max(1)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    out = m_safe + np.log(np.exp(terms - m_safe[:, None]).sum(1))
    return np.where(np.isfinite(m), out, -np.inf)


def ehvi_mc(draws: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Monte-Carlo EHVI for 2 objectives from ``draws`` (N candidates, S samples, 2)."""
    lo, hi, u = staircase(front, ref)
    overlap = np.clip(hi - np.maximum(lo, draws[..., 0:1]), 0.0, None)  # (N, S, K)
    gain = np.clip(u - draws[..., 1:2], 0.0, None)
    return (overlap * gain).sum(-1).mean(1)


def parego_ei_mc(
    draws: np.ndarray,
    observed: np.ndarray,
    weights: np.ndarray,
    lo: np.ndarray,
    span: np.ndarray,
    rho: float = 0.05,
) -> np.ndarray:
    """MC expected improvement of the augmented Chebyshev scalarisation (ParEGO).

    ``draws``: (N, S, M) samples of each candidate's objectives (known ones repeated);
    ``observed``: (n, M); all in minimisation form, normalised by ``lo``/``span``.
    """

    def scal(y: np.ndarray) -> np.ndarray:
        t = (y - lo) / span * weights
        return t.max(-1) + rho * t.sum(-1)

    s = scal(draws)
    if not len(observed):
        return -s.mean(1)
    best = scal(observed).min()
    return np.clip(best - s, 0.0, None).mean(1)
