"""One dispatch for the inference on fixed effects: Satterthwaite, Kenward–Roger or normal.

Every table that tests or bounds a linear function of the fixed effects (the
fixed-effects table, ``anova``, marginal means, contrasts, prediction intervals, power
simulations) asks :func:`fixed_inference` for a :class:`FixedInference` and reads the
covariance, the t degrees of freedom of one contrast and the F test of several from it.
The methods themselves live in :mod:`mixedkit.inference.satterthwaite` (lmerTest),
:mod:`mixedkit.inference.kenward_roger` (pbkrtest) and here (Wald, df = inf).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..arguments import check_df_method
from ..model.state import FitState
from .kenward_roger import kenward_roger
from .satterthwaite import satterthwaite

__all__ = ["FixedInference", "fixed_inference", "t_table", "wald_test"]


@dataclass(frozen=True)
class FixedInference:
    """How a fit tests linear functions of its fixed effects.

    Attributes
    ----------
    df_method : {"satterthwaite", "kenward-roger", "normal"}
    vcov : ndarray, shape (p, p)
        The covariance of beta the tests use (Kenward–Roger's adjusted one for KR).
    t_df : callable
        ``t_df(l)``: denominator df of the t test of ``l @ beta`` (inf for normal).
    f_test : callable
        ``f_test(L, beta) -> (F, num_df, den_df, p)``: the F test of ``L beta = 0``.
    """

    df_method: str
    vcov: np.ndarray
    t_df: Callable[[np.ndarray], float]
    f_test: Callable[[np.ndarray, np.ndarray], tuple[float, int, float, float]]


def fixed_inference(state: FitState, df_method: str) -> FixedInference:
    """The :class:`FixedInference` of a fit's state for ``df_method``.

    Kenward–Roger needs a REML fit; an ML state is refused with the rule's message.
    """
    check_df_method(df_method, reml=state.reml)
    if df_method == "satterthwaite":
        info = satterthwaite(state.design, state.theta, state.reml)
        return FixedInference(df_method, info.vcov, info.t_df, info.f_test)
    if df_method == "kenward-roger":
        info = kenward_roger(state)
        return FixedInference(df_method, info.vcov, info.t_df, info.f_test)
    return FixedInference(df_method, state.vcov_fixed, lambda l: np.inf,
                          wald_test(state.vcov_fixed))


def wald_test(vcov: np.ndarray) -> Callable[[np.ndarray, np.ndarray],
                                             tuple[float, int, float, float]]:
    """The Wald (chi-square) test of L beta = 0 with covariance ``vcov``, as an ``f_test``:
    (F = chi-square / q, q, inf, p); q is the rank of L vcov L'."""
    def wald(L, beta):
        L = np.atleast_2d(L)
        v = L @ vcov @ L.T
        q = int(np.linalg.matrix_rank(v))
        if q == 0:
            return np.nan, 0, np.nan, np.nan
        lb = L @ beta
        f_value = float(lb @ np.linalg.pinv(v) @ lb) / q
        return f_value, q, np.inf, float(stats.chi2.sf(f_value * q, q))

    return wald


def t_table(inference: FixedInference, rows: np.ndarray, beta: np.ndarray,
            conf_level: float) -> dict[str, np.ndarray]:
    """Estimate, standard error, df, t (z) statistic, two-sided p and interval of each
    ``rows[i] @ beta``: the columns every t-based table shares."""
    rows = np.atleast_2d(rows)
    est = rows @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", rows, inference.vcov, rows))
    df = np.array([inference.t_df(r) for r in rows], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    half = 0.5 + conf_level / 2
    if inference.df_method == "normal":
        p, q = 2 * stats.norm.sf(np.abs(stat)), stats.norm.ppf(half)
    else:
        p, q = 2 * stats.t.sf(np.abs(stat), df), stats.t.ppf(half, df)
    return {"estimate": est, "std_error": se, "df": df, "statistic": stat, "p_value": p,
            "conf_low": est - q * se, "conf_high": est + q * se}
