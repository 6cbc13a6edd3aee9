"""mixedkit's engine against statsmodels' definition of the likelihood.

statsmodels' ``MixedLM.loglike(theta, profile_fe=True)`` and ``score`` define the
function mixedkit optimises; the engine (mixedkit/engine.py) must equal both to
1e-10 relative at random theta away from the boundary, REML and ML, on every
reference model and on simulated designs: unequal group sizes, a 3 x 3 correlated
block (statsmodels packs it row by row), nested variance components with different
level counts, crossed factors, slopes on crossed factors.  At the boundary, where
statsmodels switches to a pseudo-inverse, the engine is checked against the smaller
model it reduces to and against finite differences of itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import SPEC_DATA, load_reference_data, load_reference_fit

import mixedkit as mk
from mixedkit.model.design import build_design
from mixedkit.model.estimation import _prepare_model, fixed_effects_vcov, profiled_estimates
from mixedkit.model.validation import prepare

RTOL = 1e-10


def design_of(formula: str, data: pd.DataFrame):
    return build_design(prepare(formula, data))


def random_theta(design, rng) -> np.ndarray:
    theta = rng.normal(0, 0.5, design.n_theta)
    theta[design.theta_diagonal] = rng.uniform(0.2, 2.0, len(design.theta_diagonal))
    return theta


def assert_engine_equals_statsmodels(design, rng, n_points: int = 3) -> None:
    model = design.model
    for reml in (True, False):
        _prepare_model(model, reml)
        for _ in range(n_points):
            theta = random_theta(design, rng)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                want_ll = model.loglike(theta, profile_fe=True)
                want_grad = model.score(theta, profile_fe=True)
            ll, grad = design.engine.loglik_and_gradient(theta, reml)
            assert ll == pytest.approx(want_ll, rel=RTOL)
            np.testing.assert_allclose(grad, want_grad, rtol=RTOL,
                                       atol=RTOL * np.abs(want_grad).max())
            # profiled fixed effects, residual variance and (X'V^-1 X)^-1 likewise
            sol = design.engine.solve(theta, reml)
            beta, scale = profiled_estimates(design, theta, reml)
            np.testing.assert_allclose(sol.beta, beta, rtol=1e-9, atol=1e-9 * np.abs(beta).max())
            assert sol.sigma2 == pytest.approx(scale, rel=1e-9)
            np.testing.assert_allclose(sol.sigma2 * np.linalg.inv(sol.xtvx),
                                       fixed_effects_vcov(design, theta, scale), rtol=1e-8)


@pytest.mark.parametrize("spec", list(SPEC_DATA))
def test_reference_models(spec):
    ref = load_reference_fit(spec)
    design = design_of(ref["formula"], load_reference_data(SPEC_DATA[spec]))
    assert_engine_equals_statsmodels(design, np.random.default_rng(len(spec)))


def _groups(rng, n_groups, low, high):
    sizes = rng.integers(low, high + 1, n_groups)
    return np.repeat(np.arange(n_groups), sizes)


def test_unequal_group_sizes_random_slope():
    rng = np.random.default_rng(1)
    g = _groups(rng, 40, 1, 30)
    x = rng.normal(size=len(g))
    y = 1 + x + rng.normal(size=40)[g] + 0.5 * x * rng.normal(size=40)[g] + rng.normal(size=len(g))
    data = pd.DataFrame({"y": y, "x": x, "g": g})
    assert_engine_equals_statsmodels(design_of("y ~ x + (x | g)", data), rng)


def test_three_by_three_block_is_packed_row_by_row():
    rng = np.random.default_rng(2)
    g = _groups(rng, 30, 4, 12)
    n = len(g)
    d = pd.DataFrame({"g": g, "x1": rng.normal(size=n), "x2": rng.uniform(0, 5, n)})
    d["y"] = d.x1 - d.x2 + rng.normal(size=30)[g] * (1 + d.x1) + rng.normal(size=n)
    design = design_of("y ~ x1 + x2 + (x1 + x2 | g)", d)
    assert design.n_theta == 6
    assert_engine_equals_statsmodels(design, rng)


def test_nested_components_with_different_level_counts():
    rng = np.random.default_rng(3)
    rows = []
    for a in range(12):
        for b in range(rng.integers(2, 7)):
            for c in range(3):
                for _ in range(rng.integers(1, 4)):
                    rows.append((a, b, c))
    d = pd.DataFrame(rows, columns=["a", "b", "c"])
    n = len(d)
    d["x"] = rng.normal(size=n)
    d["y"] = d.x + rng.normal(size=12)[d.a] + rng.normal(size=n)
    design = design_of("y ~ x + (x | a) + (1 | a:b) + (1 | a:c)", d)
    assert len(design.engine.factors) == 3 and design.engine.Q2 > 0
    assert_engine_equals_statsmodels(design, rng)
    # nested written with '/' and an uncorrelated slope on the outer factor
    assert_engine_equals_statsmodels(design_of("y ~ x + (x || a) + (1 | a:b)", d), rng)


def test_crossed_factors_unbalanced_with_empty_cells():
    rng = np.random.default_rng(4)
    n = 400
    d = pd.DataFrame({"f1": rng.integers(0, 15, n), "f2": rng.integers(0, 9, n),
                      "f3": rng.integers(0, 4, n), "x": rng.normal(size=n)})
    d = d[~((d.f1 < 3) & (d.f2 < 3))]  # empty cells
    d["y"] = d.x + rng.normal(size=15)[d.f1] + rng.normal(size=9)[d.f2] + rng.normal(size=len(d))
    assert_engine_equals_statsmodels(design_of("y ~ x + (1 | f1) + (1 | f2) + (1 | f3)", d), rng)
    assert_engine_equals_statsmodels(design_of("y ~ x + (x || f1) + (1 | f2)", d), rng)


def test_zero_variance_equals_the_smaller_model():
    """At theta = 0 for a term the engine is exactly the model without it (statsmodels
    returns -inf or a pseudo-inverse there)."""
    pen = mk.load_dataset("penicillin")
    both = design_of("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    plate = design_of("diameter ~ 1 + (1 | plate)", pen)
    ss = mk.load_dataset("sleepstudy")
    corr = design_of("Reaction ~ Days + (Days | Subject)", ss)
    intercept = design_of("Reaction ~ Days + (1 | Subject)", ss)
    for reml in (True, False):
        assert both.engine.loglik(np.array([0.7, 0.0]), reml) == pytest.approx(
            plate.engine.loglik(np.array([0.7]), reml), rel=1e-13)
        assert corr.engine.loglik(np.array([0.9, 0.0, 0.0]), reml) == pytest.approx(
            intercept.engine.loglik(np.array([0.9]), reml), rel=1e-13)
        # every variance 0: the linear model, whose REML/ML log-likelihood is closed form
        x, y = corr.exog.to_numpy(), corr.endog
        n, p = x.shape
        rss = float(np.sum((y - x @ np.linalg.lstsq(x, y, rcond=None)[0]) ** 2))
        m = n - p if reml else n
        want = -0.5 * (m * (1 + np.log(2 * np.pi * rss / m))
                       + (np.linalg.slogdet(x.T @ x)[1] if reml else 0))
        assert corr.engine.loglik(np.zeros(3), reml) == pytest.approx(want, rel=1e-12)


def test_gradient_is_exact_on_the_boundary():
    design = design_of("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    theta = np.array([0.9, 0.0, 0.0])
    for reml in (True, False):
        _, grad = design.engine.loglik_and_gradient(theta, reml)
        h = 1e-6
        for i in range(3):
            up, down = theta.copy(), theta.copy()
            up[i] += h
            down[i] -= h
            fd = (design.engine.loglik(up, reml) - design.engine.loglik(down, reml)) / (2 * h)
            assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-6)


def test_conditional_modes_equal_statsmodels_blups():
    """The engine's conditional modes against statsmodels' own random_effects."""
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    sm = fit.statsmodels_result.random_effects
    ranef = fit.ranef().pivot(index="level", columns="term", values="estimate")
    for label, values in sm.items():
        np.testing.assert_allclose(ranef.loc[str(label), ["Intercept", "Days"]].to_numpy(float),
                                   values.to_numpy(), rtol=1e-6)


def test_with_response_shares_the_structure():
    design = design_of("diameter ~ 1 + (1 | plate) + (1 | sample)", mk.load_dataset("penicillin"))
    y = design.endog[::-1].copy()
    other = design.with_response(y)
    assert other.engine._z2t is design.engine._z2t
    fresh = build_design(prepare("diameter ~ 1 + (1 | plate) + (1 | sample)",
                                 mk.load_dataset("penicillin").assign(diameter=y)))
    theta = np.array([0.8, 1.9])
    assert other.engine.loglik(theta, True) == pytest.approx(fresh.engine.loglik(theta, True),
                                                             rel=1e-13)


def test_large_dense_block_of_crossed_levels():
    """A secondary factor with >= 64 levels takes LAPACK's dense path."""
    rng = np.random.default_rng(6)
    n = 900
    d = pd.DataFrame({"f1": rng.integers(0, 120, n), "f2": rng.integers(0, 75, n),
                      "x": rng.normal(size=n)})
    d["y"] = d.x + rng.normal(size=120)[d.f1] + rng.normal(size=75)[d.f2] + rng.normal(size=n)
    design = design_of("y ~ x + (1 | f1) + (1 | f2)", d)
    assert design.engine.largest_block == 75
    assert_engine_equals_statsmodels(design, rng, n_points=2)


def test_fit_records_statsmodels_loglik_at_the_optimum():
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    attrs = fit.attempts.attrs
    assert attrs["engine"] == "mixedkit"
    assert abs(attrs["statsmodels_difference"]) < 1e-9 * abs(fit.loglik)
    with pytest.warns(mk.FitWarning, match="singular fit"):
        singular = mk.fit_lmm("Yield ~ 1 + (1 | Batch)", load_reference_data("Dyestuff2"))
    assert singular.attempts.attrs["statsmodels_loglik"] is None
    assert "pseudo-inverse" in singular.attempts.attrs["statsmodels_check"]


@pytest.mark.parametrize("engine", ["mixedkit", "statsmodels"])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_three_by_three_block_matches_lme4(method, engine):
    """q = 3: theta in lme4's column-major order, covariance, fixed effects, log-likelihood."""
    import json
    from pathlib import Path

    folder = Path(__file__).parent / "reference" / "engine"
    ref = json.loads((folder / "three_slopes.json").read_text())["fits"][method]
    data = pd.read_csv(folder / "three_slopes.csv")
    fit = mk.fit_lmm("y ~ x1 + x2 + (x1 + x2 | g)", data, reml=method == "REML", engine=engine)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-5)
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=2e-3, atol=1e-4)
    cov = fit.statsmodels_result.cov_re.to_numpy()
    np.testing.assert_allclose(cov, ref["vcov_re"], rtol=2e-3, atol=1e-4)
    fe = fit.fixed_effects.set_index("term")
    for term, value in ref["fixef"].items():
        name = "Intercept" if term == "(Intercept)" else term
        assert fe.loc[name, "estimate"] == pytest.approx(value, abs=1e-3 * ref["se"][term])
        assert fe.loc[name, "std_error"] == pytest.approx(ref["se"][term], rel=1e-3)
