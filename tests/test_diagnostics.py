"""check_assumptions: planted problems are found, clean data pass (simulations with known truth).

Rates measured with 100 data sets per scenario (30 groups x 10 rows, random intercept,
y = 1 + 0.8 x + u + e, var(u) = var(e) = 1; seed 7): clean data raised a "problem" in 4 of
100; heteroscedastic errors (sd = exp(0.6 x)) were flagged by the constant-variance check in
92; t(3) errors by the residual-normality check in 85 (97 had some problem); one group
shifted by 10 by the outlying-groups check in 100. The tests below use 20 data sets each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk

N = 20


def simulate(kind: str, rng, n_groups: int = 30, per: int = 10) -> pd.DataFrame:
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=n_groups * per)
    u = rng.normal(0, 1, n_groups)
    e = rng.normal(size=n_groups * per)
    if kind == "heteroscedastic":
        e = e * np.exp(0.6 * x)
    elif kind == "heavy-tailed":
        e = rng.standard_t(3, size=n_groups * per)
    y = 1 + 0.8 * x + u[g] + e
    if kind == "outlying group":
        y[g == 0] += 10
    return pd.DataFrame({"y": y, "x": x, "g": g})


def problems(kind: str, seed: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N):
        table = mk.check_assumptions(mk.fit_lmm("y ~ x + (1 | g)", simulate(kind, rng)))
        out.append(table.loc[table["severity"] == "warning", "check"].tolist())
    return out


def test_clean_data_rarely_raise_an_alarm():
    found = problems("clean", 11)
    assert sum(bool(p) for p in found) <= 3  # measured 4% of 100


@pytest.mark.parametrize("kind,check,minimum", [
    ("heteroscedastic", "constant variance (vs fitted)", 15),   # measured 92%
    ("heavy-tailed", "normality of residuals", 13),             # measured 85%
    ("outlying group", "outlying groups (Intercept | g)", 19),  # measured 100%
])
def test_planted_problem_is_detected(kind, check, minimum):
    found = problems(kind, 12)
    assert sum(check in p for p in found) >= minimum


def test_table_and_health():
    fit = mk.fit_lmm("y ~ x + (1 | g)", simulate("outlying group", np.random.default_rng(3)))
    table = fit.check_assumptions()
    assert list(table.columns) == ["check", "test", "statistic", "p_value", "severity", "fix"]
    assert set(table["severity"]) <= {"ok", "note", "warning"}
    assert pd.api.types.is_float_dtype(table["statistic"])  # a number, the name is in test
    assert table.attrs["outlying_groups"] == ["g=0"]
    finding = fit.health["outlying groups (Intercept | g)"]
    assert finding.severity == "warning" and "Levels ['0']" in finding.fix


def test_influential_group_by_deletion():
    """Leave-one-group-out at fixed variance parameters equals an exact GLS refit."""
    ss = mk.load_dataset("sleepstudy")
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    from mixedkit.inference.diagnostics import _group_deletion

    changes, labels = _group_deletion(fit.state)
    se = fit.fixed_effects["std_error"].to_numpy()
    # exact: drop each subject's rows and solve GLS with the same theta (statsmodels)
    from mixedkit.model.estimation import profiled_estimates
    for i in (0, 7, 17):
        sub = ss[ss["Subject"] != labels[i]]
        other = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sub)
        beta, _ = profiled_estimates(other.state.design, fit.state.theta, True)
        np.testing.assert_allclose(changes[i], np.abs(beta - fit.state.beta) / se, rtol=1e-6)


def test_crossed_design_skips_group_deletion():
    pen = mk.load_dataset("penicillin")
    table = mk.check_assumptions(mk.fit_lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen))
    row = table.set_index("check").loc["influential groups"]
    assert row["severity"] == "note" and row["fix"].startswith("Not run: Crossed")


def test_missed_curve_is_flagged():
    """y = x^2 + u + e fitted as a straight line: the curvature check fires."""
    rng = np.random.default_rng(21)
    hits = 0
    for _ in range(10):
        d = simulate("clean", rng)
        d["y"] = d["y"] - 0.8 * d["x"] + d["x"] ** 2
        table = mk.check_assumptions(mk.fit_lmm("y ~ x + (1 | g)", d)).set_index("check")
        hits += table.loc["mean structure (curvature)", "severity"] == "warning"
    assert hits >= 9


def test_brown_forsythe_equals_scipy_levene():
    from scipy import stats

    from mixedkit.inference.diagnostics import _brown_forsythe

    rng = np.random.default_rng(5)
    codes = rng.integers(0, 12, 300)
    values = rng.standard_t(4, 300) * (1 + (codes % 3))
    codes[:1] = 99  # a group of one value is left out, as before
    groups = [values[codes == g] for g in np.unique(codes) if (codes == g).sum() >= 2]
    want = stats.levene(*groups, center="median")
    stat, p, ratio = _brown_forsythe(values, codes)
    assert stat == pytest.approx(want[0], rel=1e-10)
    assert p == pytest.approx(want[1], rel=1e-8)
    sds = [g.std(ddof=1) for g in groups]
    assert ratio == pytest.approx(max(sds) / min(sds), rel=1e-12)


def test_shrinkage_table_is_per_group_least_squares_and_the_mixed_model():
    ss = mk.load_dataset("sleepstudy")
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    table = mk.diagnostics_data(fit)["shrinkage"].set_index(["level", "term"])
    fe = fit.fixed_effects.set_index("term")["estimate"]
    ranef = fit.ranef().set_index(["level", "term"])["estimate"]
    for subject, part in ss.groupby("Subject", observed=True):
        x = np.column_stack([np.ones(len(part)), part["Days"]])
        raw = np.linalg.lstsq(x, part["Reaction"].to_numpy(), rcond=None)[0]
        for j, term in enumerate(["Intercept", "Days"]):
            row = table.loc[(str(subject), term)]
            assert row["raw"] == pytest.approx(raw[j], rel=1e-9)
            assert row["mixed"] == pytest.approx(fe[term] + ranef[(str(subject), term)], rel=1e-12)
            assert row["population"] == fe[term]


def test_spearman_equals_scipy():
    from scipy import stats

    from mixedkit.inference.diagnostics import _spearman

    rng = np.random.default_rng(8)
    a = rng.normal(size=500)
    b = a + rng.normal(size=500) + np.round(rng.normal(size=500))  # some ties
    want = stats.spearmanr(a, b)
    rho, p = _spearman(a, b)
    assert rho == pytest.approx(want[0], rel=1e-12)  # scipy 1.9's result has no .statistic
    assert p == pytest.approx(want[1], rel=1e-8)


def _growth(rng, slope_sd: float, curve: float, n_groups: int = 20, per: int = 10):
    """Growth over 10 occasions: random intercepts, slopes with SD ``slope_sd``, and a
    common bend of size ``curve``."""
    g = np.repeat(np.arange(n_groups), per)
    x = np.tile(np.arange(per, dtype=float), n_groups)
    u, b = rng.normal(0, 3, n_groups), rng.normal(0, slope_sd, n_groups)
    y = 10 + x + curve * (x - 4.5) ** 2 + u[g] + b[g] * x + rng.normal(size=len(x))
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def _curvature_advice(data, formula="y ~ x + (1 | g)") -> str:
    row = mk.check_assumptions(mk.fit_lmm(formula, data)).set_index("check") \
        .loc["mean structure (curvature)"]
    if row["severity"] == "ok":
        return "ok"
    fix = row["fix"]
    return "slope" if fix.startswith("The bend comes") else "both" if fix.startswith("Two") \
        else "curve"


@pytest.mark.parametrize("slope_sd,curve,formula,want", [
    (1.0, 0.0, "y ~ x + (1 | g)", "slope"),   # measured 20 of 20
    (0.0, 0.3, "y ~ x + (1 | g)", "curve"),   # 20 of 20
    (1.0, 0.3, "y ~ x + (1 | g)", "both"),    # 20 of 20
    (1.0, 0.0, "y ~ x + (x | g)", "ok"),      # 20 of 20: the slope is in the model
])
def test_curvature_check_tells_a_missing_slope_from_a_missing_curve(slope_sd, curve, formula,
                                                                    want):
    """Known truth: slopes that vary by group, fitted with one slope, bend the residuals
    as a curve does; the check says which it is, and suggests a random slope, not
    I(x**2), when the slopes are the cause."""
    rng = np.random.default_rng(8)
    found = [_curvature_advice(_growth(rng, slope_sd, curve), formula) for _ in range(10)]
    assert found.count(want) >= 9, found


def test_sleepstudy_random_intercept_model_is_told_to_add_the_slope():
    """On Reaction ~ Days + (1 | Subject) the bend is the missing slope: with (Days |
    Subject) it goes away and the quadratic is not significant (the issue's example)."""
    sleep = mk.load_dataset("sleepstudy")
    row = mk.check_assumptions(mk.fit_lmm("Reaction ~ Days + (1 | Subject)", sleep)) \
        .set_index("check").loc["mean structure (curvature)"]
    assert row["severity"] == "warning"
    assert row["fix"].startswith("The bend comes from Days slopes that differ between Subject")
    assert "Add a random slope (Days | Subject) rather than a curved term" in row["fix"]
    assert "I(x**2)" not in row["fix"]
    assert row["test"] == "correlation resid ~ (fitted values - mean)^2"
    slope = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)
    assert slope.health["mean structure (curvature)"].severity == "ok"
    # dietox has the slope and a real curve: the advice stays a curve
    dietox = mk.fit_lmm("Weight ~ Time + (Time | Pig)", mk.load_dataset("dietox"))
    fix = dietox.check_assumptions().set_index("check").loc["mean structure (curvature)", "fix"]
    assert fix.startswith("The residuals bend against Time: the fixed part misses a curve")


def test_curvature_advice_names_variables_not_design_columns():
    """With a between-subject factor interacting with Time, the design has columns such as
    Time:C(Cu)[T.3]; a random slope is only ever suggested for a variable of the data, by
    the name the data give it."""
    data = mk.load_dataset("dietox").rename(columns={"Time": "week no"})
    fit = mk.fit_lmm("Weight ~ Q('week no') * C(Cu) + (1 | Pig)", data)
    fix = fit.check_assumptions().set_index("check").loc["mean structure (curvature)", "fix"]
    assert "[T." not in fix and "_mk" not in fix
    assert "Add a random slope (week no | Pig) first" in fix
