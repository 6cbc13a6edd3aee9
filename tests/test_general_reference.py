"""Models beyond statsmodels against lme4, lmerTest, emmeans and performance.

The references are ``tests/reference/general/*.json``, made by
``tests/reference/general/make_general_reference.R`` (R 4.2.2, lme4 1.1-31; see its
README): crossed factors with correlated slopes (4 x 4 blocks on both), a factor slope
on crossed factors, ``||`` on crossed factors, slopes at a nested level, partially
crossed factors and prior weights, each by REML and ML.  lme4's best optimum (the better
of bobyqa and nloptwrap) is the target; mixedkit must reach it.
"""

import json
import re
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk

HERE = Path(__file__).parent / "reference" / "general"
MODELS = sorted(p.stem for p in HERE.glob("*.json") if p.stem != "confint")
METHODS = ["REML", "ML"]


@cache
def reference(model: str) -> dict:
    return json.loads((HERE / f"{model}.json").read_text())


@cache
def fitted(model: str, method: str, df_method: str = "satterthwaite") -> mk.LmmFit:
    ref = reference(model)
    data = pd.read_csv(HERE / Path(ref["data_csv"]).name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.FitWarning)
        return mk.fit_lmm(ref["formula"], data, reml=method == "REML", weights=ref["weights"],
                          df_method=df_method)


def lme4_name(term: str) -> str:
    """mixedkit's column name in lme4's spelling: a[T.a2] -> aa2, Intercept -> (Intercept)."""
    if term == "Intercept":
        return "(Intercept)"
    return re.sub(r"(\w+)\[T\.([^\]]+)\]", r"\1\2", term)


def base_group(group: str) -> str:
    """lme4 names the terms of (x || g) g, g.1, g.2 ...: the factor is g."""
    return re.sub(r"\.\d+$", "", group)


def best_loglik(fit_ref: dict) -> float:
    alt = fit_ref.get("optimizer_check", {}).get("refit", {}) or {}
    return max(fit_ref["logLik"], alt.get("logLik") or -np.inf)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", MODELS)
def test_loglik_fixed_effects_and_covariance(model, method):
    fit, ref = fitted(model, method), reference(model)["fits"][method]
    assert fit.loglik == pytest.approx(best_loglik(ref), abs=1e-6)
    assert fit.loglik >= best_loglik(ref) - 1e-6
    assert fit.n_params == ref["df"]
    assert fit.aic == pytest.approx(ref["AIC"], abs=2e-6)
    assert fit.bic == pytest.approx(ref["BIC"], abs=2e-6)
    assert fit.singular == ref["isSingular"]
    fe = fit.fixed_effects.assign(term=lambda t: t["term"].map(lme4_name)).set_index("term")
    names = [f["term"] for f in ref["fixef"]]
    np.testing.assert_allclose(fe.loc[names, "estimate"], [f["estimate"] for f in ref["fixef"]],
                               rtol=1e-6, atol=1e-6)
    # lme4's own optimum moves by ~2e-5 in the variance components between runs (README)
    np.testing.assert_allclose(fe.loc[names, "std_error"], [f["se"] for f in ref["fixef"]],
                               rtol=5e-5)
    order = [list(map(lme4_name, fit.fixed_effects["term"])).index(n)
             for n in ref["vcov_fixef"]["names"]]
    np.testing.assert_allclose(fit.vcov_fixed.to_numpy()[np.ix_(order, order)],
                               ref["vcov_fixef"]["matrix"], rtol=5e-4, atol=1e-8)
    assert np.sqrt(fit.scale) == pytest.approx(ref["sigma"], rel=1e-5)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", MODELS)
def test_variance_components_and_theta(model, method):
    fit, ref = fitted(model, method), reference(model)["fits"][method]
    vc = fit.variance_components
    mine = {}
    for row in vc.itertuples():
        if row.term.startswith("corr("):
            a, b = row.term[5:-1].split(", ")
            mine[(row.group, lme4_name(a), lme4_name(b))] = row.corr
        elif row.group == "Residual":
            mine[("Residual", None, None)] = row.std_dev
        else:
            mine[(row.group, lme4_name(row.term), None)] = row.std_dev
    assert len(mine) == len(ref["varcorr_df"])
    for r in ref["varcorr_df"]:
        key = (base_group(r["grp"]), r["var1"], r["var2"])
        assert mine[key] == pytest.approx(r["sdcor"], rel=1e-4, abs=1e-4), key
    np.testing.assert_allclose(fit.theta, ref["theta"]["values"], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward-roger"])
def test_denominator_df_and_kenward_roger_errors(model, df_method):
    fit, ref = fitted(model, "REML", df_method), reference(model)["fits"]["REML"]
    fe = fit.fixed_effects.assign(term=lambda t: t["term"].map(lme4_name)).set_index("term")
    key = "satterthwaite" if df_method == "satterthwaite" else "kenward_roger"
    rows = ref["fixef"]
    if key == "kenward_roger" and "kenward_roger_weighted" in ref:
        # pbkrtest 0.5.2 ignores prior weights (sigma^2 I): the reference redoes its
        # computation with sigma^2 W^-1 (see the README), which mixedkit must match
        rows = ref["kenward_roger_weighted"]["rows"]
    for f in rows:
        assert fe.loc[f["term"], "df"] == pytest.approx(f[f"df_{key}"], rel=1e-3), f["term"]
        assert fe.loc[f["term"], "p_value"] == pytest.approx(f[f"p_{key}"], rel=2e-3, abs=1e-12)
        if key == "kenward_roger":
            assert fe.loc[f["term"], "std_error"] == pytest.approx(f["se_kenward_roger"], rel=1e-4)


@pytest.mark.parametrize("anova_type", [1, 3])
@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward-roger"])
@pytest.mark.parametrize("model", MODELS)
def test_anova_tables(model, df_method, anova_type):
    ref = reference(model)["fits"]["REML"]
    if df_method == "kenward-roger" and "kenward_roger_weighted" in ref:
        pytest.skip("pbkrtest ignores prior weights: its F tables are not a reference here")
    rows = ref[f"anova_type{anova_type}_{df_method.replace('-', '_')}"]["rows"]
    table = fitted(model, "REML", df_method).anova(type=anova_type).set_index("term")
    assert list(table.index) == [r["term"] for r in rows]
    for r in rows:
        assert table.loc[r["term"], "num_df"] == r["NumDF"]
        assert table.loc[r["term"], "statistic"] == pytest.approx(r["F"], rel=1e-4)
        assert table.loc[r["term"], "den_df"] == pytest.approx(r["DenDF"], rel=1e-3)


EMMEANS = [(m, i) for m in MODELS for i, _ in enumerate(reference(m)["fits"]["REML"].get(
    "emmeans", []))]


@pytest.mark.parametrize("df_method", ["satterthwaite", "kenward-roger"])
@pytest.mark.parametrize("model, which", EMMEANS)
def test_marginal_means_and_contrasts(model, which, df_method):
    entry = reference(model)["fits"]["REML"]["emmeans"][which]
    ref = entry[df_method.replace("-", "_")]
    factors = [f.strip() for f in entry["spec"].lstrip("~ ").split("*")]
    fit = fitted(model, "REML", df_method)
    spec = factors[0] if len(factors) == 1 else factors
    means = fit.marginal_means(spec).set_index(factors)
    assert len(means) == len(ref["rows"])
    for r in ref["rows"]:
        key = tuple(r["levels"][f] for f in factors)
        row = means.loc[key if len(key) > 1 else key[0]]
        assert row["estimate"] == pytest.approx(r["emmean"], rel=1e-7)
        assert row["std_error"] == pytest.approx(r["SE"], rel=1e-4)
        assert row["df"] == pytest.approx(r["df"], rel=1e-3)
        assert row["conf_low"] == pytest.approx(r["lower.CL"], rel=1e-5)
    pairs = fit.contrasts(spec).set_index("contrast")
    for r in ref["pairs"]["rows"]:
        # emmeans lists cells with the first factor varying fastest, mixedkit the last:
        # the same pair may be written the other way round (the sign flips)
        first, second = r["contrast"].split(" - ")
        sign = 1 if r["contrast"] in pairs.index else -1
        row = pairs.loc[r["contrast"] if sign == 1 else f"{second} - {first}"]
        assert sign * row["estimate"] == pytest.approx(r["estimate"], rel=1e-7)
        assert row["std_error"] == pytest.approx(r["SE"], rel=1e-4)
        assert row["df"] == pytest.approx(r["df"], rel=1e-3)
        assert row["p_value"] == pytest.approx(r["p.value"], rel=2e-3, abs=1e-8)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("model", MODELS)
def test_conditional_modes_and_fitted_values(model, method):
    fit, ref = fitted(model, method), reference(model)["fits"][method]
    ranef = fit.ranef()
    ranef = ranef.assign(term=ranef["term"].map(lme4_name)).set_index(["group", "level", "term"])
    for group, block in ref["ranef"].items():
        for term in block["terms"]:
            idx = pd.MultiIndex.from_arrays([[base_group(group)] * len(block["levels"]),
                                             block["levels"], [term] * len(block["levels"])])
            scale = np.max(np.abs(block[term])) + 1e-12
            np.testing.assert_allclose(ranef.loc[idx, "estimate"], block[term], rtol=1e-4,
                                       atol=1e-5 * scale)
            condsd = block.get(f"condsd:{term}")
            if condsd is not None:
                np.testing.assert_allclose(ranef.loc[idx, "std_error"], condsd, rtol=1e-3,
                                           atol=1e-6 * scale)
    np.testing.assert_allclose(fit.fitted("conditional"), ref["fitted_conditional"], rtol=1e-5)
    np.testing.assert_allclose(fit.fitted("marginal"), ref["fitted_marginal"], rtol=1e-7)


@pytest.mark.parametrize("model", MODELS)
def test_icc_and_r2_match_performance(model):
    perf = reference(model)["fits"]["REML"]["performance"]
    fit = fitted(model, "REML")
    if any(g != base_group(g) for g in reference(model)["group_names"]):
        pytest.skip("performance uses only the intercept variances for '||' terms (its "
                    "inconsistency, tests/reference/README.md); mixedkit uses every term's")
    if perf["r2_nakagawa"].get("error"):
        pytest.skip(f"performance failed: {perf['r2_nakagawa']['error']}")
    r2 = fit.r2().set_index("kind")["estimate"]
    assert r2["marginal"] == pytest.approx(perf["r2_nakagawa"]["marginal"], rel=1e-4)
    assert r2["conditional"] == pytest.approx(perf["r2_nakagawa"]["conditional"], rel=1e-4)
    icc = fit.icc()
    total = icc[icc["kind"] == "adjusted"].iloc[0]["estimate"]
    assert total == pytest.approx(perf["icc"]["adjusted"], rel=1e-4)


CONFINT = json.loads((HERE / "confint.json").read_text())


def _lme4_keys(ci: pd.DataFrame) -> list[str]:
    """fit.confint() rows named as lme4's confint(oldNames = FALSE) names them."""
    keys = []
    for row in ci.itertuples():
        if row.effect == "fixed":
            keys.append(lme4_name(row.term))
        elif row.group == "Residual":
            keys.append("sigma")
        elif row.term.startswith("sd("):
            keys.append(f"sd_{lme4_name(row.term[3:-1])}|{row.group}")
        else:
            a, b = row.term[5:-1].split(", ")
            keys.append(f"cor_{lme4_name(b)}.{lme4_name(a)}|{row.group}")
    return keys


@pytest.mark.slow
@pytest.mark.parametrize("model", ["crossed_factor", "nested_slopes", "crossed_weights"])
def test_profile_intervals_match_lme4(model):
    """lme4::confint(method = "profile") (make_confint_reference.R): within 1e-3 of lme4,
    whose limits are spline interpolations. With prior weights lme4's profiles of the fixed
    effects are not a reference: they come out about ten times narrower than its own Wald
    intervals (e.g. (Intercept) [596.9, 603.4] against Wald [566.0, 627.1]), while the
    variance parameters agree; mixedkit's fixed-effect profiles are checked against the
    Wald intervals there (an LMM's fixed-effect profile is nearly Wald)."""
    ref = CONFINT[model]
    ci = fitted(model, "REML").confint()
    ci.index = _lme4_keys(ci)
    weighted = ref["weights"] is not None
    for name, lo, hi in zip(ref["profile"]["names"], ref["profile"]["lower"],
                            ref["profile"]["upper"]):
        row = ci.loc[name]
        if weighted and name in ref["wald"]["names"] and not name.startswith(("sd_", "cor_",
                                                                              "sigma")):
            i = ref["wald"]["names"].index(name)
            lo, hi = ref["wald"]["lower"][i], ref["wald"]["upper"][i]
            width = hi - lo
            assert row["conf_low"] == pytest.approx(lo, abs=0.02 * width), name
            assert row["conf_high"] == pytest.approx(hi, abs=0.02 * width), name
            continue
        assert row["conf_low"] == pytest.approx(lo, abs=1e-3, rel=1e-4), name
        assert row["conf_high"] == pytest.approx(hi, abs=1e-3, rel=1e-4), name
