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
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..model.engine import blas_threads, scaled_inverse

__all__ = ["Satterthwaite", "deviance", "satterthwaite", "satterthwaite_df"]


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


def _shifted_evaluations(engine, theta: np.ndarray, idx: np.ndarray, reml: bool) -> list:
    """(step, evaluation up, evaluation down) for each free theta: one pass per point
    serves the Hessian's gradient, its residual-variance term and the Jacobian of C."""
    out = []
    for i, step in zip(idx, _steps(theta[idx])):
        up, down = _shifted(theta, i, step)
        out.append((step, engine.evaluate(up, reml, gradient=True),
                    engine.evaluate(down, reml, gradient=True)))
    return out


def _deviance_hessian(engine, theta: np.ndarray, free: np.ndarray, sigma: float,
                      reml: bool, shifted: list | None = None) -> np.ndarray:
    """Hessian of the deviance in (theta[free], sigma) at sigma = sigma-hat(theta).

    With l_p the profiled log-likelihood, a = log sigma-hat^2(theta) and m = n - p
    (REML) or n (ML), the deviance -2 l_p + m(-u + e^u - 1), u = a - 2 log sigma, has
    at u = 0 the Hessian [[-2 l_p'' + m a' a'^T, -2 m a' / sigma], [., 4 m / sigma^2]];
    l_p'' comes from central differences of the engine's analytic gradient, a' from
    central differences of the profiled residual variance (``shifted``: the
    evaluations of :func:`_shifted_evaluations`, made here when not given).
    """
    m = engine.n - (engine.p if reml else 0)
    idx = np.flatnonzero(free)
    if shifted is None:
        shifted = _shifted_evaluations(engine, theta, idx, reml)
    k = len(idx)
    lpp = np.empty((k, k))
    da = np.empty(k)
    for j, (step, up, down) in enumerate(shifted):
        lpp[:, j] = (up.gradient[idx] - down.gradient[idx]) / (2 * step)
        da[j] = (np.log(up.sigma2) - np.log(down.sigma2)) / (2 * step)
    lpp = (lpp + lpp.T) / 2
    hess = np.empty((k + 1, k + 1))
    hess[:k, :k] = -2 * lpp + m * np.outer(da, da)
    hess[:k, k] = hess[k, :k] = -2 * m * da / sigma
    hess[k, k] = 4 * m / sigma**2
    return hess


@dataclass(frozen=True)
class Satterthwaite:
    """What every Satterthwaite test of a fit needs (lmerTest's ``vcov_beta``,
    ``Jac_list`` and ``vcov_varpar``).

    Attributes
    ----------
    vcov : ndarray (p, p)
        Covariance of the fixed effects, C = sigma^2 (X'V^-1 X)^-1.
    jac : ndarray (k, p, p)
        dC/dp for each free variance parameter p = (theta[free], sigma).
    vcov_varpar : ndarray (k, k) or None
        2 H^-1, H the deviance's Hessian in p; None when H is not positive
        definite (then no Satterthwaite approximation exists: df are NaN).
    """

    vcov: np.ndarray
    jac: np.ndarray
    vcov_varpar: np.ndarray | None

    def t_df(self, l: np.ndarray) -> float:
        """Denominator df of the t test of l'beta (lmerTest's ``contest1D``)."""
        l = np.asarray(l, float)
        if self.vcov_varpar is None:
            return np.nan
        var = float(l @ self.vcov @ l)
        grad = np.einsum("i,kij,j->k", l, self.jac, l)
        denom = float(grad @ self.vcov_varpar @ grad)
        if not denom > 0:  # no fixed effects, or a variance that does not depend on p
            return np.nan
        df = 2 * var**2 / denom
        return float(df) if np.isfinite(df) and df > 0 else np.nan

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> tuple[float, int, float, float]:
        """F test of L beta = 0 as lmerTest's ``contestMD``: (F, num_df, den_df, p).

        The hypothesis is rotated onto the eigenvectors of L C L'; each direction gets
        its own Satterthwaite df nu_m, combined as 2E / (E - q), E = sum nu_m/(nu_m - 2)
        (or 2 if any nu_m <= 2). Directions with a zero eigenvalue are dropped (a
        rank-deficient L).
        """
        L = np.atleast_2d(np.asarray(L, float))
        if L.shape[0] == 0:
            return np.nan, 0, np.nan, np.nan
        d, vectors = np.linalg.eigh(L @ self.vcov @ L.T)
        d, vectors = d[::-1], vectors[:, ::-1]
        keep = d > max(np.sqrt(np.finfo(float).eps) * d[0], 0)
        q = int(keep.sum())
        if q == 0:
            return np.nan, 0, np.nan, np.nan
        ptl = vectors[:, keep].T @ L
        f_value = float(np.sum((ptl @ beta) ** 2 / d[keep]) / q)
        nu = np.array([self.t_df(row) for row in ptl])
        if q == 1:
            den = nu[0]
        elif np.all(np.abs(np.diff(nu)) < 1e-8):
            den = float(nu.mean())
        elif np.any(~np.isfinite(nu)):
            den = np.nan
        elif np.any(nu <= 2):
            den = 2.0
        else:
            e = float(np.sum(nu / (nu - 2)))
            den = 2 * e / (e - q)
        p = float(stats.f.sf(f_value, q, den)) if np.isfinite(den) else np.nan
        return f_value, q, float(den), p


def satterthwaite(design, theta: np.ndarray, reml: bool) -> Satterthwaite:
    """The pieces of every Satterthwaite test at ``theta`` (see module docstring).

    Parameters on the boundary (a zero variance) are held there, as lmerTest does.
    """
    engine = design.engine
    theta = np.asarray(theta, float)
    free = np.ones(len(theta), bool)
    free[design.theta_diagonal] = theta[design.theta_diagonal] > 0
    idx = np.flatnonzero(free)

    with warnings.catch_warnings(), blas_threads():
        warnings.simplefilter("ignore")
        here = engine.evaluate(theta, reml)
        sigma = float(np.sqrt(here.sigma2))
        c = here.sigma2 * scaled_inverse(here.xtvx)
        jac = np.zeros((len(idx) + 1,) + c.shape)
        try:
            shifted = _shifted_evaluations(engine, theta, idx, reml)
        except ZeroDivisionError:  # no residual variance near theta: the model interpolates
            return Satterthwaite(c, jac, None)  # the data, and no df exists (NaN)
        hess = _deviance_hessian(engine, theta, free, sigma, reml, shifted)
        for j, (step, up, down) in enumerate(shifted):  # C at sigma fixed, theta moved
            jac[j] = here.sigma2 * (scaled_inverse(up.xtvx) - scaled_inverse(down.xtvx)) \
                / (2 * step)
        jac[-1] = 2 * c / sigma  # C = sigma^2 (X'V^-1 X)^-1, so dC/dsigma = 2 C / sigma
    try:
        vcov_varpar = 2 * np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        vcov_varpar = None
    return Satterthwaite(c, jac, vcov_varpar)


def satterthwaite_df(design, theta: np.ndarray, reml: bool) -> np.ndarray:
    """Satterthwaite degrees of freedom of each fixed effect (lmerTest's ``summary``).

    At ``theta`` (unit-free, a fit's ``state.theta``) of ``design``'s model. NaN for
    every coefficient when the deviance's Hessian is not positive definite at the
    estimate.
    """
    info = satterthwaite(design, theta, reml)
    return np.array([info.t_df(row) for row in np.eye(info.vcov.shape[0])])
