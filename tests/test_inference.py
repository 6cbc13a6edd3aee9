"""Satterthwaite degrees of freedom and p-values against lmerTest 3.1-3.

Two checks. At lme4's own theta the method must reproduce lmerTest to numerical
precision (df 1e-4 relative, p 1e-3 relative or 1e-12 absolute). At mixedkit's optimum
the df can differ slightly more, because on flat likelihoods the two optima differ in
theta by ~1e-5 relative with log-likelihoods equal to 1e-8 (Penicillin REML: mixedkit's
is 4e-9 higher), and Satterthwaite df move with theta.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEC_DATA, load_reference_fit
from scipy import stats
from test_lme4_reference import fitted

from mixedkit.inference.satterthwaite import satterthwaite_df
from mixedkit.model.estimation import std_theta

CASES = [(s, m) for s in SPEC_DATA for m in ("REML", "ML")]


def _ref_rows(spec, method):
    return load_reference_fit(spec)["fits"][method]


def lme4_theta_in_our_order(fit, ref) -> np.ndarray:
    """lme4 orders theta by grouping factor its own way; take each block's entries."""
    pending: dict[frozenset, list[float]] = {}
    for name, value in zip(ref["theta"]["names"], ref["theta"]["values"]):
        pending.setdefault(frozenset(name.split(".")[0].split(":")), []).append(value)
    out = []
    for block in fit.state.design.blocks:
        k = len(block.terms)
        values = pending[frozenset(block.group.split(":"))]
        out += values[: k * (k + 1) // 2]
        del values[: k * (k + 1) // 2]
    return np.array(out)


@pytest.mark.parametrize("spec,method", CASES)
def test_satterthwaite_at_lme4_theta_reproduces_lmertest(spec, method):
    fit, ref = fitted(spec, method), _ref_rows(spec, method)
    design = fit.state.design
    theta = std_theta(design, lme4_theta_in_our_order(fit, ref), order="lme4")
    sol = design.engine.solve(theta, fit.reml)
    beta, scale = sol.beta, sol.sigma2
    df = satterthwaite_df(design, theta, fit.reml)
    se = np.sqrt(np.diag(scale * np.linalg.inv(sol.xtvx)))
    p = 2 * stats.t.sf(np.abs(beta / se), df)
    want_df = np.array([r["df_satterthwaite"] for r in ref["fixef"]])
    want_p = np.array([r["p_satterthwaite"] for r in ref["fixef"]])
    np.testing.assert_allclose(df, want_df, rtol=1e-4)
    np.testing.assert_allclose(p, want_p, rtol=1e-3, atol=1e-12)


@pytest.mark.parametrize("spec,method", CASES)
def test_fixed_effects_table_uses_satterthwaite(spec, method):
    fit, ref = fitted(spec, method), _ref_rows(spec, method)
    rel_df = 1e-3
    fe = fit.fixed_effects.set_index("term")
    for row in ref["fixef"]:
        if (spec, method) == ("dietox_evit_cu", "REML"):
            continue  # lme4 stopped short of the optimum there (tests/reference/README.md)
        got = fe.loc["Intercept" if row["term"] == "(Intercept)" else row["term"]]
        assert got["df"] == pytest.approx(row["df_satterthwaite"], rel=rel_df)
        assert got["p_value"] == pytest.approx(row["p_satterthwaite"], rel=3e-3, abs=1e-12)
    assert fit.fixed_effects.attrs["df_method"] == "satterthwaite"


def test_singular_fit_holds_the_zero_variance_fixed():
    """Dyestuff2: the Batch variance is 0, so df = n - 1 as lmerTest reports (29)."""
    fe = fitted("dyestuff2", "REML").fixed_effects
    assert fe["df"].item() == pytest.approx(29.0, rel=1e-6)


def test_deviance_hessian_equals_finite_differences_of_the_deviance():
    """The assembled Hessian against plain second differences of the unprofiled deviance."""
    from mixedkit.inference.satterthwaite import _deviance_hessian, deviance

    fit = fitted("sleepstudy_corr", "REML")
    theta, sigma = fit.state.theta, np.sqrt(fit.scale)
    engine = fit.state.design.engine
    x0 = np.append(theta, sigma)
    f = lambda p: deviance(engine, p[:-1], p[-1], True)
    h = 1e-4 * np.maximum(np.abs(x0), 0.1)
    k = len(x0)
    want = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            want[i, j] = (f(x0 + ei + ej) - f(x0 + ei - ej) - f(x0 - ei + ej)
                          + f(x0 - ei - ej)) / (4 * h[i] * h[j])
    got = _deviance_hessian(engine, theta, np.ones(len(theta), bool), sigma, True)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-6 * np.abs(want).max())
