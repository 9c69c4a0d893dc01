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
MAP. The lengthscale prior has its mode at 1 on [0, 1]-scaled inputs, like Optuna's GPSampler
prior; the dimension-scaled prior of Hvarfner, Hellsten & Nardi (2024, ICML, "Vanilla Bayesian
Optimization Performs Great in High Dimensions") centres lengthscales near 10 for 6 inputs, and
on the NMT tables that made the GP nearly linear and badly over-confident (decode time predicted
243 +- 9 where the truth was 201), so it was not used.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

_JITTER = 1e-8
_MIN_NOISE = 1e-6


@contextmanager
def single_thread():
    """Run torch on one thread: these matrices are tiny, and on a busy machine torch's default
    thread pool made a 150x150 Cholesky ~100x slower (measured: 210 ms vs 2 ms under load)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


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
        return torch.cat([self.log_ls, torch.tensor([math.log(self.sf2), math.log(self.noise)], dtype=torch.float64)])


def matern52(X1: torch.Tensor, X2: torch.Tensor, log_ls: torch.Tensor) -> torch.Tensor:
    """Matern-5/2 correlation between the rows of X1 and X2 (unit signal variance)."""
    ls = torch.exp(log_ls)
    d2 = ((X1 / ls).unsqueeze(1) - (X2 / ls).unsqueeze(0)).pow(2).sum(-1)
    r = torch.sqrt(d2 + 1e-12)  # the epsilon keeps the gradient finite at r == 0
    s5r = math.sqrt(5.0) * r
    return (1.0 + s5r + 5.0 / 3.0 * d2) * torch.exp(-s5r)


@dataclass(frozen=True)
class HyperPrior:
    """Independent normal priors on the log hyperparameters.

    The default has its lengthscale mode at 1 on [0, 1] inputs and a small noise. With related
    tasks, :meth:`raymt.search.sampler.transfer.RelatedTrials.hyper_prior` centres it on what the GPs of
    the other tasks found (empirical Bayes): with a dozen results MAP cannot tell noise from
    signal (it interpolated decode times and called the rest noise-free), the other tasks can.
    """

    ls_loc: tuple[float, ...] | float = 0.0
    ls_scale: float = 1.0
    sf2_loc: float = math.log(0.5)
    sf2_scale: float = 1.0
    noise_loc: float = math.log(0.02)
    noise_scale: float = 1.5

    def ls_locs(self, d: int) -> torch.Tensor:
        if isinstance(self.ls_loc, tuple):
            if len(self.ls_loc) != d:
                return torch.zeros(d, dtype=torch.float64)
            return torch.tensor(self.ls_loc, dtype=torch.float64)
        return torch.full((d,), float(self.ls_loc), dtype=torch.float64)

    def mode(self, d: int) -> torch.Tensor:
        return torch.cat([self.ls_locs(d), torch.tensor([self.sf2_loc, self.noise_loc], dtype=torch.float64)])

    def log_density(self, log_ls: torch.Tensor, log_sf2: torch.Tensor, log_noise: torch.Tensor) -> torch.Tensor:
        lp = -0.5 * (((log_ls - self.ls_locs(log_ls.numel())) / self.ls_scale) ** 2).sum()
        lp = lp - 0.5 * ((log_sf2 - self.sf2_loc) / self.sf2_scale) ** 2
        return lp - 0.5 * ((log_noise - self.noise_loc) / self.noise_scale) ** 2


DEFAULT_PRIOR = HyperPrior()


def _covariance(X, m, log_ls, sf2, noise, sa2, sb2):
    n = X.shape[0]
    K = sf2 * matern52(X, X, log_ls) + sa2 + sb2 * torch.outer(m, m)
    return K + (noise + _JITTER) * torch.eye(n, dtype=X.dtype)


def _neg_log_posterior(theta, X, u, m, sa2, sb2, prior: HyperPrior):
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
    return nll - prior.log_density(log_ls, log_sf2, log_noise)


def _lbfgs(f, x0: torch.Tensor, *, max_iter: int, m: int = 8, tol: float = 1e-6) -> torch.Tensor:
    """Minimise ``f`` (returns value, gradient) by L-BFGS with a backtracking Armijo search.

    Hand-written because ``torch.optim`` imports torch._dynamo on first use (seconds, and
    hundreds of MB) for what is a 10-dimensional problem.
    """
    x = x0.clone()
    fx, g = f(x)
    if not math.isfinite(fx):
        return x0
    s_hist: list[torch.Tensor] = []
    y_hist: list[torch.Tensor] = []
    for _ in range(max_iter):
        q = g.clone()
        alphas = []
        for s_i, y_i in zip(reversed(s_hist), reversed(y_hist)):
            a = (s_i @ q) / (y_i @ s_i)
            alphas.append(a)
            q = q - a * y_i
        if y_hist:
            q = q * ((s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1]))
        for (s_i, y_i), a in zip(zip(s_hist, y_hist), reversed(alphas)):
            b = (y_i @ q) / (y_i @ s_i)
            q = q + (a - b) * s_i
        d = -q
        if float(d @ g) >= 0:  # not a descent direction: restart from steepest descent
            d, s_hist, y_hist = -g, [], []
        step = 1.0 if s_hist else min(1.0, 1.0 / max(float(g.abs().sum()), 1e-12))
        while True:
            x_new = x + step * d
            f_new, g_new = f(x_new)
            if math.isfinite(f_new) and f_new <= fx + 1e-4 * step * float(g @ d):
                break
            step *= 0.5
            if step < 1e-10:
                return x
        s_k, y_k = x_new - x, g_new - g
        if float(s_k @ y_k) > 1e-12:
            s_hist.append(s_k)
            y_hist.append(y_k)
            if len(s_hist) > m:
                s_hist.pop(0)
                y_hist.pop(0)
        converged = abs(fx - f_new) <= tol * max(1.0, abs(fx))
        x, fx, g = x_new, f_new, g_new
        if converged or float(g.abs().max()) < 1e-5:
            break
    return x


def fit_gp(
    X: np.ndarray,
    u: np.ndarray,
    m: np.ndarray | None = None,
    *,
    sa2: float = 1.0,
    sb2: float = 0.0,
    init: torch.Tensor | None = None,
    max_iter: int = 60,
    prior: HyperPrior = DEFAULT_PRIOR,
) -> GPFit:
    """Fit a GP to (X, u) by MAP. ``u`` should be in standardised units (order 1).

    ``m`` is the prior mean at X (0 if None); ``sa2``/``sb2`` the prior variances of the affine
    re-scaling of ``m`` (see the module docstring). With no data, returns the prior.
    """
    Xt = torch.as_tensor(np.asarray(X, dtype=np.float64))
    n, d = Xt.shape
    ut = torch.as_tensor(np.asarray(u, dtype=np.float64)).reshape(n)
    mt = torch.zeros(n, dtype=torch.float64) if m is None else torch.as_tensor(np.asarray(m, dtype=np.float64)).reshape(n)
    theta0 = prior.mode(d) if init is None or init.numel() != d + 2 else init.clone()
    theta = theta0.clone()
    if n >= 2:

        def f(th: torch.Tensor) -> tuple[float, torch.Tensor]:
            th = th.detach().requires_grad_(True)
            loss = _neg_log_posterior(th, Xt, ut, mt, sa2, sb2, prior)
            if loss is None or not torch.isfinite(loss):
                return math.inf, torch.zeros_like(th)
            (g,) = torch.autograd.grad(loss, th)
            return float(loss.detach()), g

        theta = _lbfgs(f, theta, max_iter=max_iter)
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


def predict(fit: GPFit, Xs: np.ndarray, ms: np.ndarray | None = None, *, observed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance at Xs; ``ms`` is the prior mean there.

    ``observed=True`` adds the noise variance: the spread of the value a trial would *report*,
    which is what enters the Pareto front.
    """
    Xst = torch.as_tensor(np.asarray(Xs, dtype=np.float64))
    N = Xst.shape[0]
    mst = torch.zeros(N, dtype=torch.float64) if ms is None else torch.as_tensor(np.asarray(ms, dtype=np.float64)).reshape(N)
    prior_var = fit.sf2 + fit.sa2 + fit.sb2 * mst**2
    if fit.X.shape[0] == 0:
        return mst.numpy().copy(), (prior_var + (fit.noise if observed else 0.0)).numpy().copy()
    with torch.no_grad():
        Ks = fit.sf2 * matern52(Xst, fit.X, fit.log_ls) + fit.sa2 + fit.sb2 * torch.outer(mst, fit.m)
        mean = mst + Ks @ fit.alpha
        v = torch.linalg.solve_triangular(fit.L, Ks.T, upper=False)
        var = (prior_var - (v**2).sum(0)).clamp_min(1e-12) + (fit.noise if observed else 0.0)
    return mean.numpy(), var.numpy()
