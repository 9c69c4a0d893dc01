"""Exact Gaussian-process regression for raymt's sampler (torch only, no scipy).

Why not Optuna's ``optuna._gp``: it is private API, needs scipy (not a raymt dependency), and
cannot take a *prior mean from related tasks*. Here the mean of the GP is
``m(x)`` (a prediction transferred from other language pairs, or 0) with an unknown affine
re-scaling ``a + b * m(x)``; ``a`` and ``b`` have Gaussian priors and are integrated out
analytically, which is the same as adding ``sa2 + sb2 * m(x) m(x')`` to the kernel. This is the
Gaussian-copula-prior-plus-GP-residual idea of Salinas, Shen & Perrone (2020, ICML, "A
Quantile-based Approach for Hyperparameter Transfer Learning") in closed form: with no target
data the prediction is the transferred one; each target observation pins the scale and then the
residual GP takes over.

Kernel: Matern-5/2 with one lengthscale per input dimension (ARD). Hyperparameters are fitted by
MAP with the dimension-scaled log-normal lengthscale prior of Hvarfner, Hellsten & Nardi (2024,
ICML, "Vanilla Bayesian Optimization Performs Great in High Dimensions"), which keeps the fit sane
with the handful of points an NMT search has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

_JITTER = 1e-8
_MIN_NOISE = 1e-6


@dataclass
class GPFit:
    """A fitted GP: everything :func:`predict` needs (tensors are float64, CPU)."""

    X: torch.Tensor  # (n, d) training inputs
    m: torch.Tensor  # (n,) prior mean at the inputs
    L: torch.Tensor  # (n, n) Cholesky factor of the training covariance
    alpha: torch.Tensor  # (n,) K^{-1} (u - m)
    log_ls: torch.Tensor  # (d,) log lengthscales
    sf2: float  # residual signal variance
    noise: float  # observation noise variance
    sa2: float  # prior variance of the offset a
    sb2: float  # prior variance of the scale b around 1

    def hyperparameters(self) -> torch.Tensor:
        """Packed raw hyperparameters, to warm-start the next fit."""
        return torch.cat(
            [self.log_ls, torch.tensor([math.log(self.sf2), math.log(self.noise)], dtype=torch.float64)]
        )


def matern52(X1: torch.Tensor, X2: torch.Tensor, log_ls: torch.Tensor) -> torch.Tensor:
    """Matern-5/2 correlation between the rows of X1 and X2 (unit signal variance)."""
    ls = torch.exp(log_ls)
    d2 = torch.cdist(X1 / ls, X2 / ls).pow(2)
    r = torch.sqrt(d2 + 1e-12)  # the epsilon keeps the gradient finite at r == 0
    s5r = math.sqrt(5.0) * r
    return (1.0 + s5r + 5.0 / 3.0 * d2) * torch.exp(-s5r)


def _log_prior(log_ls: torch.Tensor, log_sf2: torch.Tensor, log_noise: torch.Tensor) -> torch.Tensor:
    d = log_ls.numel()
    loc = math.sqrt(2.0) + 0.5 * math.log(max(d, 1))
    lp = -0.5 * (((log_ls - loc) / math.sqrt(3.0)) ** 2).sum()
    lp = lp - 0.5 * ((log_sf2 - math.log(0.5)) / 1.0) ** 2
    lp = lp - 0.5 * ((log_noise - math.log(0.02)) / 1.5) ** 2
    return lp


def _covariance(X, m, log_ls, sf2, noise, sa2, sb2):
    n = X.shape[0]
    K = sf2 * matern52(X, X, log_ls) + sa2 + sb2 * torch.outer(m, m)
    return K + (noise + _JITTER) * torch.eye(n, dtype=X.dtype)


def _neg_log_posterior(theta, X, u, m, sa2, sb2):
    d = X.shape[1]
    log_ls, log_sf2, log_noise = theta[:d], theta[d], theta[d + 1]
    noise = torch.exp(log_noise) + _MIN_NOISE
    K = _covariance(X, m, log_ls, torch.exp(log_sf2), noise, sa2, sb2)
    L, info = torch.linalg.cholesky_ex(K)
    if int(info) != 0:
        return None
    r = (u - m).unsqueeze(-1)
    alpha = torch.cholesky_solve(r, L)
    nll = 0.5 * (r * alpha).sum() + torch.log(torch.diagonal(L)).sum()
    return nll - _log_prior(log_ls, log_sf2, log_noise)


def default_hyperparameters(d: int) -> torch.Tensor:
    """The prior mode: where a fit starts when nothing better is known."""
    loc = math.sqrt(2.0) + 0.5 * math.log(max(d, 1))
    return torch.tensor([loc] * d + [math.log(0.5), math.log(0.02)], dtype=torch.float64)


def fit_gp(
    X: np.ndarray,
    u: np.ndarray,
    m: np.ndarray | None = None,
    *,
    sa2: float = 1.0,
    sb2: float = 0.0,
    init: torch.Tensor | None = None,
    max_iter: int = 60,
) -> GPFit:
    """Fit a GP to (X, u) by MAP. ``u`` should be in standardised units (order 1).

    ``m`` is the prior mean at X (0 if None); ``sa2``/``sb2`` the prior variances of the affine
    re-scaling of ``m`` (see the module docstring). With no data, returns the prior.
    """
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float64))
    n, d = Xt.shape
    ut = torch.as_tensor(np.asarray(u, dtype=np.float64)).reshape(n)
    mt = torch.zeros(n, dtype=torch.float64) if m is None else torch.as_tensor(np.asarray(m, dtype=np.float64)).reshape(n)
    theta0 = default_hyperparameters(d) if init is None or init.numel() != d + 2 else init.clone()
    theta = theta0.clone()
    if n >= 2:
        theta.requires_grad_(True)
        opt = torch.optim.LBFGS([theta], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = _neg_log_posterior(theta, Xt, ut, mt, sa2, sb2)
            if loss is None or not torch.isfinite(loss):
                # An unstable step: a large finite loss makes the line search back off.
                loss = (theta * 0).sum() + 1e10
            loss.backward()
            return loss

        try:
            opt.step(closure)
        except RuntimeError:  # numerical trouble: keep the starting point
            theta = theta0.clone()
        theta = theta.detach()
        if not torch.all(torch.isfinite(theta)):
            theta = theta0.clone()
        # Keep hyperparameters in a sane box (flat likelihoods can drift).
        theta[:d] = theta[:d].clamp(math.log(1e-2), math.log(1e2))
        theta[d] = theta[d].clamp(math.log(1e-3), math.log(1e2))
        theta[d + 1] = theta[d + 1].clamp(math.log(1e-6), math.log(10.0))
    log_ls, sf2, noise = theta[:d], float(torch.exp(theta[d])), float(torch.exp(theta[d + 1])) + _MIN_NOISE
    K = _covariance(Xt, mt, log_ls, sf2, noise, sa2, sb2)
    L, info = torch.linalg.cholesky_ex(K)
    if int(info) != 0:  # add noise until it factorises
        for extra in (1e-6, 1e-4, 1e-2, 1e-1):
            L, info = torch.linalg.cholesky_ex(K + extra * torch.eye(n, dtype=torch.float64))
            if int(info) == 0:
                noise += extra
                break
    alpha = torch.cholesky_solve((ut - mt).unsqueeze(-1), L).squeeze(-1) if n else torch.zeros(0, dtype=torch.float64)
    return GPFit(Xt, mt, L, alpha, log_ls, sf2, noise, sa2, sb2)


def predict(fit: GPFit, Xs: np.ndarray, ms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and latent (noise-free) variance at Xs; ``ms`` is the prior mean there."""
    Xst = torch.as_tensor(np.asarray(Xs, dtype=np.float64))
    N = Xst.shape[0]
    mst = torch.zeros(N, dtype=torch.float64) if ms is None else torch.as_tensor(np.asarray(ms, dtype=np.float64)).reshape(N)
    prior_var = fit.sf2 + fit.sa2 + fit.sb2 * mst**2
    if fit.X.shape[0] == 0:
        return mst.numpy().copy(), prior_var.numpy().copy()
    with torch.no_grad():
        Ks = fit.sf2 * matern52(Xst, fit.X, fit.log_ls) + fit.sa2 + fit.sb2 * torch.outer(mst, fit.m)
        mean = mst + Ks @ fit.alpha
        v = torch.linalg.solve_triangular(fit.L, Ks.T, upper=False)
        var = (prior_var - (v**2).sum(0)).clamp_min(1e-12)
    return mean.numpy(), var.numpy()
