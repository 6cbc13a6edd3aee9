"""Small-sample inference for fixed effects: Satterthwaite degrees of freedom.

As lmerTest: for a coefficient with variance C(p) = [sigma^2 (X'V(theta)^-1 X)^-1]_jj,
a function of the variance parameters p = (theta, sigma),

    df = 2 C^2 / (g' A g),   g = dC/dp,   A = 2 H^-1,

where H is the Hessian of the (REML or ML) deviance in p at the estimate (a theta on
its boundary, a zero variance, is held fixed, as lmerTest does).  H is assembled from
central differences of the engine's analytic gradient and of the profiled residual
variance (see ``_deviance_hessian``), the Jacobian of C in theta from central
differences of the engine's X'V^-1 X (in sigma it is 2 C / sigma); the result does
not depend on how theta is parameterised.  Validated against lmerTest 3.1-3
(tests/test_inference.py).
"""

from __future__ import annotations

import warnings

import numpy as np

from .engine import blas_threads

__all__ = ["deviance", "satterthwaite_df"]


def deviance(engine, theta: np.ndarray, sigma: float, reml: bool) -> float:
    """-2 log-likelihood at (theta, sigma), the fixed effects at their GLS values.

    The engine profiles sigma out; with s2 its profiled value and m = n - p (REML)
    or n (ML), the unprofiled log-likelihood is
    l(theta, sigma) = l_p(theta) - m/2 [log(sigma^2 / s2) + s2 / sigma^2 - 1].
    """
    lp, s2, _ = engine.profile(theta, reml)
    m = engine.n - (engine.p if reml else 0)
    ratio = s2 / sigma**2
    return float(-2 * lp + m * (-np.log(ratio) + ratio - 1))


def _steps(x: np.ndarray) -> np.ndarray:
    return 1e-4 * np.maximum(np.abs(x), 0.1)


def _shifted(theta: np.ndarray, i: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    up, down = theta.copy(), theta.copy()
    up[i] += step
    down[i] -= step
    return up, down


def _deviance_hessian(engine, theta: np.ndarray, free: np.ndarray, sigma: float,
                      reml: bool) -> np.ndarray:
    """Hessian of the deviance in (theta[free], sigma) at sigma = sigma-hat(theta).

    With l_p the profiled log-likelihood, a = log sigma-hat^2(theta) and m = n - p
    (REML) or n (ML), the deviance -2 l_p + m(-u + e^u - 1), u = a - 2 log sigma, has
    at u = 0 the Hessian [[-2 l_p'' + m a' a'^T, -2 m a' / sigma], [., 4 m / sigma^2]];
    l_p'' comes from central differences of the engine's analytic gradient, a' from
    central differences of the profiled residual variance.
    """
    m = engine.n - (engine.p if reml else 0)
    idx = np.flatnonzero(free)
    k = len(idx)
    lpp = np.empty((k, k))
    da = np.empty(k)
    for j, (i, step) in enumerate(zip(idx, _steps(theta[idx]))):
        up, down = _shifted(theta, i, step)
        (_, g_up), (_, g_down) = (engine.loglik_and_gradient(t, reml) for t in (up, down))
        lpp[:, j] = (g_up[idx] - g_down[idx]) / (2 * step)
        da[j] = (np.log(engine.profile(up, reml)[1])
                 - np.log(engine.profile(down, reml)[1])) / (2 * step)
    lpp = (lpp + lpp.T) / 2
    hess = np.empty((k + 1, k + 1))
    hess[:k, :k] = -2 * lpp + m * np.outer(da, da)
    hess[:k, k] = hess[k, :k] = -2 * m * da / sigma
    hess[k, k] = 4 * m / sigma**2
    return hess


def satterthwaite_df(design, theta: np.ndarray, reml: bool,
                     variances: np.ndarray | None = None) -> np.ndarray:
    """Satterthwaite degrees of freedom of each fixed effect (see module docstring).

    At ``theta`` (unit-free, a fit's ``state.theta``) of ``design``'s model;
    ``variances`` are the fixed effects' variances there when the caller has them
    already (``diag(vcov)``). Returns NaN for every coefficient when the deviance's
    Hessian is not positive definite at the estimate (then no Satterthwaite
    approximation exists).
    """
    engine = design.engine
    theta = np.asarray(theta, float)
    sigma = float(np.sqrt(engine.profile(theta, reml)[1]))
    # Parameters on the boundary (a zero variance) are held there, as lmerTest does.
    free = np.ones(len(theta), bool)
    free[design.theta_diagonal] = theta[design.theta_diagonal] > 0
    idx = np.flatnonzero(free)

    def variances_at(t):
        return sigma**2 * np.diag(np.linalg.inv(engine.profile(t, reml)[2]))

    with warnings.catch_warnings(), blas_threads(engine.largest_block):
        warnings.simplefilter("ignore")
        c = variances_at(theta) if variances is None else np.asarray(variances, float)
        hess = _deviance_hessian(engine, theta, free, sigma, reml)
        jac = np.empty((len(idx) + 1, len(c)))
        for j, (i, step) in enumerate(zip(idx, _steps(theta[idx]))):
            up, down = _shifted(theta, i, step)
            jac[j] = (variances_at(up) - variances_at(down)) / (2 * step)
        jac[-1] = 2 * c / sigma  # C = sigma^2 (X'V^-1 X)^-1, so dC/dsigma = 2 C / sigma
    try:
        cov_par = 2 * np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return np.full(len(c), np.nan)
    denom = np.einsum("ij,ik,kj->j", jac, cov_par, jac)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2 * c**2 / denom
    return np.where(np.isfinite(df) & (df > 0), df, np.nan)
