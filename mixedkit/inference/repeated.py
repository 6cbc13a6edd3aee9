"""Inference on the fixed effects of a model with a residual structure (the MMRM):
Satterthwaite's and Kenward–Roger's degrees of freedom, and the empirical (sandwich)
covariance.

Each returns a :class:`~mixedkit.inference.df_methods.FixedInference`, so the
fixed-effects table, ``anova``, marginal means and contrasts are computed as for every
other fit.  The covariance parameters are ``theta = (log sigma^2, *params)``
(``GlsFit``); V_i = sigma^2 S_i(params) per subject.

**Satterthwaite** (SAS's DDFM=SATTERTHWAITE, mmrm's, lmerTest's construction): the
Jacobian of C = sigma^2 (X'V^-1 X)^-1 in theta by central differences and the inverse of
the observed information (minus the Hessian of the REML log-likelihood).

**Kenward–Roger** (Kenward & Roger 1997) with W the inverse observed information, as
mmrm does::

    P_i = -X'V^-1 V_i V^-1 X,   Q_ij = X'V^-1 V_i V^-1 V_j V^-1 X
    Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j)] Phi

with V_i = dV/dtheta_i.  This is the form without the second derivatives of V (SAS's
``ddfm=kr(linear)``, mmrm's ``"Kenward-Roger-Linear"``, and pbkrtest's, whose variance
parameters enter V linearly); it does not depend on how the structure is parameterised.
For the structures SAS parameterises linearly (UN, CS, TOEP) it is also SAS's
``ddfm=kr``.  P_i and Q_ij are sums over subjects; subjects with the same visits share
their S_i, so each pattern's summed cross-products of X (the likelihood's) give them at
the cost of one T x T product per pattern.

**Empirical** covariance: B (sum_i u_i u_i') B, u_i = X_i'V_i^-1 r_i (SAS's EMPIRICAL,
mmrm's ``vcov = "Empirical"``), with the model-based Satterthwaite df.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..arguments import check_vcov
from ..errors import InputValueError
from ..model.repeated import RepeatedState
from ..model.residual import information, vcov_jacobian
from .df_methods import FixedInference, wald_test
from .kenward_roger import KenwardRoger
from .satterthwaite import Satterthwaite

__all__ = ["check_supported", "repeated_inference"]

_STEP = 1e-5  # relative step of the central differences of S


def repeated_inference(state: RepeatedState, df_method: str,
                       vcov: str = "model") -> FixedInference:
    """The :class:`FixedInference` of a residual-structure fit for ``df_method``
    ("satterthwaite", "kenward-roger" or "normal") and ``vcov`` ("model" or "empirical")."""
    lik, fit = state.design.likelihood, state.gls
    check_supported(state.design, df_method, vcov)
    if df_method == "normal":
        cov = lik.empirical_vcov(fit) if vcov == "empirical" else fit.vcov
        return FixedInference(df_method, cov, lambda l: np.inf, wald_test(cov))
    info = information(lik, fit)
    cov_theta = _inverse(info)
    if df_method == "kenward-roger" and cov_theta is not None:
        p_mats, q_mats = _kr_components(state)
        phi = fit.vcov
        inner = np.einsum("ij,ijab->ab", cov_theta, q_mats) - \
            np.einsum("ij,iab,bc,jcd->ad", cov_theta, p_mats, phi, p_mats)
        adjusted = phi + 2 * phi @ inner @ phi
        kr = KenwardRoger(adjusted, phi, p_mats, cov_theta, info)
        return FixedInference(df_method, kr.vcov, kr.t_df, kr.f_test)
    # (Kenward-Roger without a positive definite information: Satterthwaite's NaN df)
    sat = Satterthwaite(fit.vcov, vcov_jacobian(lik, fit), cov_theta)
    if vcov == "empirical":  # the sandwich's SEs with the model-based df
        cov = lik.empirical_vcov(fit)
        return FixedInference(df_method, cov, sat.t_df, _f_with_df(cov, sat))
    return FixedInference(df_method, sat.vcov, sat.t_df, sat.f_test)


def check_supported(design, df_method: str, vcov: str) -> None:
    """Refuse what is not computed for this design: Kenward-Roger with the sandwich, and
    (with random effects beside the structure) Kenward-Roger or the sandwich at all."""
    check_vcov(vcov, df_method)
    if design.random is None:
        return
    if df_method == "kenward-roger" or vcov == "empirical":
        what = "df_method='kenward-roger'" if df_method == "kenward-roger" else \
            "vcov='empirical'"
        raise InputValueError(
            f"{what} is not implemented for random effects together with a residual "
            f"structure ({design.term.source} beside "
            f"{', '.join(dict.fromkeys(b.term.source for b in design.blocks))}); "
            "Satterthwaite's df (the default) are")


def _inverse(info: np.ndarray) -> np.ndarray | None:
    """The covariance of the covariance parameters, None when the information is not
    positive definite (the optimum is on a boundary: no df approximation exists)."""
    try:
        np.linalg.cholesky(info)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.inv(info)


def _f_with_df(cov: np.ndarray, model: Satterthwaite):
    """The F test of L beta = 0 with covariance ``cov`` and the model-based
    Satterthwaite denominator df."""
    def test(L, beta):
        L = np.atleast_2d(L)
        f_value, q, _, _ = wald_test(cov)(L, beta)
        if q == 0:
            return np.nan, 0, np.nan, np.nan
        den = model.f_test(L, beta)[2]
        p = float(stats.f.sf(f_value, q, den)) if np.isfinite(den) else np.nan
        return f_value, q, den, p
    return test


# ------------------------------------------------------------------- Kenward-Roger
def _derivatives(structure, params: np.ndarray, matrix) -> list:
    """dS/dparam_k of ``matrix(params)`` (a list of arrays) by central differences."""
    out = []
    for k in range(len(params)):
        h = _STEP * max(1.0, abs(params[k]))
        up, down = params.copy(), params.copy()
        up[k] += h
        down[k] -= h
        out.append([(a - b) / (2 * h) for a, b in zip(matrix(up), matrix(down))])
    return out


def _kr_components(state: RepeatedState) -> tuple[np.ndarray, np.ndarray]:
    """P (k, p, p) and Q (k, k, p, p) for theta = (log sigma^2, *params)."""
    lik, fit = state.design.likelihood, state.gls
    st, params, s2, p = lik.structure, fit.params, fit.sigma2, lik.p
    k = 1 + len(params)
    pm = np.zeros((k, p, p))
    qm = np.zeros((k, k, p, p))

    def add(sinv, derivs, cross):
        """One pattern (or subject batch): sinv (m, t, t), derivs list of (m, t, t) for
        E_0 = S, E_k = dS/dparam_k (V_i = sigma^2 E_i), cross (m, t, t, p, p) or the
        summed (t, t, p, p)."""
        left = [sinv @ e @ sinv for e in derivs]  # S^-1 E_i S^-1
        for i in range(k):
            pm[i] -= _contract(left[i], cross) / s2
            for j in range(i + 1):
                q = _contract(left[i] @ derivs[j] @ sinv, cross) / s2
                qm[i, j] += q
                if i != j:
                    qm[j, i] += q.T

    if st.kind != "sp_exp":
        mats = st.matrices(params)
        d_mats = _derivatives(st, params, st.matrices)
        for pat in lik.patterns:
            ix = np.ix_(pat.visits, pat.visits)
            s = mats[pat.group][ix]
            derivs = [s] + [d[pat.group][ix] for d in d_mats]
            add(np.linalg.inv(s)[None], [e[None] for e in derivs],
                pat.cross[:, :, :p, :p][None])
    else:
        for b in lik.batches:
            def batch_s(prm, b=b):
                rho = np.asarray(st.sp_exp_rho(prm))[b.group][:, None, None]
                scale = np.asarray(st.sp_exp_scale(prm))[b.group][:, None, None]
                return [scale * rho ** b.dist]
            s = batch_s(params)[0]
            derivs = [s] + [d[0] for d in _derivatives(st, params, batch_s)]
            x = b.a[:, :, :p]
            cross = np.einsum("mai,mbj->mabij", x, x)
            add(np.linalg.inv(s), derivs, cross)
    return pm, qm


def _contract(m: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """sum over subjects and visits a, b of M_ab X_a' X_b: m (n, t, t), cross
    (n, t, t, p, p)."""
    return np.einsum("nab,nabij->ij", m, cross, optimize=True)
