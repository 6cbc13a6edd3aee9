"""compare_models and reml_vs_ml against lme4's anova() (tests/reference/anova/*.json)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import REF, load_reference_data

import mixedkit as mk
from mixedkit.compare import COMPARISON_COLUMNS

PAIRS = ["sleepstudy_fixed_days", "sleepstudy_random_int_vs_corr", "dietox_fixed_evit_cu"]
DATA = {"sleepstudy": "sleepstudy", "dietox": "dietox"}


def _pair(name):
    ref = json.loads((REF / "anova" / f"{name}.json").read_text())
    data = load_reference_data(name.split("_")[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        small = mk.fit_lmm(ref["small"]["formula"], data)
        big = mk.fit_lmm(ref["big"]["formula"], data)
    return ref, small, big


def _check_rows(table, rows, tol=1e-3):
    for got, want in zip(table.itertuples(), rows):
        assert got.n_params == want["npar"]
        assert got.loglik == pytest.approx(want["logLik"], abs=tol)
        assert got.aic == pytest.approx(want["AIC"], abs=tol)
        assert got.bic == pytest.approx(want["BIC"], abs=tol)
    want = rows[1]
    got = table.iloc[1]
    assert got["chisq"] == pytest.approx(want["Chisq"], abs=tol)
    assert got["df_diff"] == want["Df"]
    return got


@pytest.mark.parametrize("name", PAIRS)
def test_ml_refit_matches_lme4_anova(name):
    ref, small, big = _pair(name)
    same_fixed = ref["kind"] == "random"
    comp = mk.compare_models(small, big)
    assert list(comp.table.columns) == COMPARISON_COLUMNS
    if same_fixed:
        # same fixed effects: mixedkit compares REML fits; lme4's default anova refits ML
        ml = mk.compare_models(small, big, method="ML")
        table = ml.table
        assert (comp.table["method"] == "REML").all()
    else:
        table = comp.table
        assert (table["method"] == "ML").all()
        assert "refitted by ML" in comp.notes[0]
    got = _check_rows(table, ref["anova_refit_TRUE"]["rows"])
    if not same_fixed:
        assert got["p_value"] == pytest.approx(ref["anova_refit_TRUE"]["rows"][1]["p"], rel=1e-3)


@pytest.mark.parametrize("name", ["sleepstudy_random_int_vs_corr"])
def test_reml_comparison_with_boundary_correction(name):
    ref, small, big = _pair(name)
    comp = mk.compare_models(big, small)  # order does not matter
    block = ref["anova_refit_FALSE"]
    got = _check_rows(comp.table, block["rows"])
    assert got["p_value_naive"] == pytest.approx(block["rows"][1]["p"], rel=1e-3)
    assert got["p_value"] == pytest.approx(
        block["p_mixture_0.5chisq_df_minus1_plus_0.5chisq_df"], rel=1e-3)
    assert any("50:50 mixture" in n for n in comp.notes)


def test_mixed_model_against_no_random_effects():
    ss = mk.load_dataset("sleepstudy")
    ols = smf.ols("Reaction ~ Days", ss).fit()
    mixed = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", ss)
    comp = mk.compare_models(ols, mixed)
    row = comp.table.iloc[1]
    # REML log-likelihood of the linear model, closed form
    n, p = 180, 2
    rss = float(np.sum(ols.resid**2))
    x = ols.model.exog
    ll0 = -(n - p) / 2 * (np.log(2 * np.pi * rss / (n - p)) + 1) - np.linalg.slogdet(x.T @ x)[1] / 2
    assert comp.table["loglik"].iloc[0] == pytest.approx(ll0, rel=1e-12)
    assert row["chisq"] == pytest.approx(2 * (mixed.loglik - ll0))
    assert row["p_value"] == pytest.approx(row["p_value_naive"] / 2)


def test_correlation_only_difference_is_not_boundary_corrected():
    ss = mk.load_dataset("sleepstudy")
    unc = mk.fit_lmm("Reaction ~ Days + (Days || Subject)", ss)
    cor = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    row = mk.compare_models(unc, cor).table.iloc[1]
    assert row["df_diff"] == 1 and np.isnan(row["p_value_naive"])  # nothing to correct


def test_notes_show_p_values_as_the_table_does():
    dietox = mk.load_dataset("dietox")
    null = mk.fit_lmm("Weight ~ Time + (1 | Pig)", dietox)
    slope = mk.fit_lmm("Weight ~ Time + (Time || Pig)", dietox)
    notes = " ".join(mk.compare_models(null, slope).notes)
    assert "(<1e-16)" in notes and "50:50 mixture" in notes


def test_non_nested_models_get_no_test():
    ss = mk.load_dataset("sleepstudy")
    a = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", ss)
    b = mk.fit_lmm("Reaction ~ 1 + (Days | Subject)", ss)
    comp = mk.compare_models(a, b)
    assert comp.table["chisq"].isna().all()
    assert any("not nested in any smaller model" in n for n in comp.notes)
    assert "Model comparison" in str(comp) and "<table" in comp._repr_html_()


def _fit_dropping_two_rows(ss):
    with pytest.warns(mk.DataWarning, match="2 of 180 rows dropped for missing values in 'x'"):
        return mk.fit_lmm("Reaction ~ Days + x + (1 | Subject)",
                          ss.assign(x=(ss["Days"] ** 2).where(ss.index > 1)))


BAD = [
    ("single model", lambda ss, f: (f,), mk.InputValueError,
     r"compare_models needs at least two fits; got 1"),
    ("non-fit input", lambda ss, f: (f, "Reaction ~ Days"), mk.InputTypeError,
     r"argument 2 must be a fit from mk.fit_lmm .* got str"),
    ("different responses", lambda ss, f: (f, mk.fit_lmm("np.log(Reaction) ~ Days + (1 | Subject)",
                                                          ss)),
     mk.DataError, r"model 2 has response 'np.log\(Reaction\)' but model 1 has 'Reaction'"),
    ("different rows", lambda ss, f: (f, _fit_dropping_two_rows(ss)),
     mk.DataError, (r"different rows \(model 1 has 180 rows, model 2 has 178; rows only in "
                    r"model 1: \[0, 1\]\).*Drop rows with missing values")),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_compare_errors(case):
    _, make, exc, message = case
    ss = mk.load_dataset("sleepstudy")
    fit = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", ss)
    with pytest.raises(exc, match=message):
        mk.compare_models(*make(ss, fit))


def test_reml_vs_ml_side_by_side():
    ss = mk.load_dataset("sleepstudy")
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    comp = mk.reml_vs_ml(fit)
    t = comp.table.set_index("quantity")
    assert list(comp.table.columns) == ["quantity", "reml", "ml", "difference",
                                        "relative_difference"]
    # lme4 (tests/reference/fits/sleepstudy_corr.json)
    assert t.loc["loglik", "reml"] == pytest.approx(-871.814136, abs=1e-4)
    assert t.loc["loglik", "ml"] == pytest.approx(-875.969672, abs=1e-4)
    assert t.loc["variance: Subject Intercept", "ml"] < t.loc["variance: Subject Intercept", "reml"]
    assert t.loc["std_error: Days", "ml"] == pytest.approx(1.50223021383204, rel=1e-3)
    assert any("Use REML to report" in n for n in comp.notes)
    assert "REML and ML fits" in str(comp)
    with pytest.raises(mk.InputTypeError, match=r"reml_vs_ml needs a fit from mk.fit_lmm; got "
                                                r"DataFrame"):
        mk.reml_vs_ml(pd.DataFrame())


def test_each_model_is_tested_against_the_nearest_nested_one():
    """linear < log1p (not nested) < quadratic: quadratic is tested against linear."""
    ss = mk.load_dataset("sleepstudy")
    lin = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", ss)
    log = mk.fit_lmm("Reaction ~ np.log1p(Days) + I(Days > 4) + (1 | Subject)", ss)
    quad = mk.fit_lmm("Reaction ~ Days + I(Days**2) + (1 | Subject)", ss)
    comp = mk.compare_models(lin, log, quad)
    t = comp.table.set_index("model")
    assert t.loc["Reaction ~ Days + I(Days**2) + (1 | Subject)", "df_diff"] == 1
    want = 2 * (t.loc["Reaction ~ Days + I(Days**2) + (1 | Subject)", "loglik"]
                - t.loc["Reaction ~ Days + (1 | Subject)", "loglik"])
    assert t.loc["Reaction ~ Days + I(Days**2) + (1 | Subject)", "chisq"] == pytest.approx(want)
    assert any("nearest smaller model nested in it" in n for n in comp.notes)


def test_reml_vs_ml_shows_equal_numbers_as_equal_and_says_reml_reduces_the_bias():
    """Balanced sleepstudy: REML and ML give the same fixed-effect estimates; the table
    says 0, not -1.6e-14 (float rounding), and the notes follow the one testing rule."""
    sleep = mk.load_dataset("sleepstudy")
    rv = mk.reml_vs_ml(mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep))
    table = rv.table.set_index("quantity")
    assert table.loc["estimate: Days", "difference"] == 0.0
    assert table.loc["estimate: Intercept", "relative_difference"] == 0.0
    assert table.loc["variance: Subject Days", "difference"] < 0  # real differences stay
    assert any("REML reduces this bias (it does not remove it)" in n for n in rv.notes)
    assert any("test fixed effects with the REML fit's F and t tests (fit.anova()" in n
               for n in rv.notes)


def test_compare_models_on_fixed_effects_points_to_the_f_test():
    sleep = mk.load_dataset("sleepstudy")
    m0 = mk.fit_lmm("Reaction ~ 1 + (Days | Subject)", sleep)
    m1 = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)
    notes = mk.compare_models(m0, m1).notes
    assert any(n.startswith("To test fixed effects, prefer the larger model's F tests "
                            "(fit.anova(), Satterthwaite or Kenward-Roger df, on its REML fit)")
               and "treats 18 groups as if they were infinitely many" in n for n in notes)


def test_nesting_is_seen_whatever_the_order_of_an_interaction_factor_and_a_zero_chisq():
    """(1 | batch/cask) names its inner factor cask:batch; batch:cask is the same factor (as
    in lme4). An added variance estimated as 0 gives chisq 0 and p = 1 (the mixture puts
    half its mass at 0), not 0.5."""
    pastes = mk.load_dataset("pastes")
    inner = mk.fit_lmm("strength ~ 1 + (1 | batch:cask)", pastes)
    nested = mk.fit_lmm("strength ~ 1 + (1 | batch/cask)", pastes)
    row = mk.compare_models(inner, nested).table.iloc[1]
    assert row["chisq"] == pytest.approx(0.658, abs=1e-3)  # lme4: 0.6578, p 0.2087 (mixture)
    assert row["p_value"] == pytest.approx(0.2087, abs=1e-3)
    oats = mk.load_dataset("oats")
    small = mk.fit_lmm("yield ~ nitro + (1 | Block/Variety)", oats)
    with pytest.warns(mk.FitWarning, match="singular"):
        big = mk.fit_lmm("yield ~ nitro + (nitro || Block) + (1 | Block:Variety)", oats)
    row = mk.compare_models(small, big).table.iloc[1]
    assert row["chisq"] == 0.0 and row["df_diff"] == 1
    assert row["p_value"] == 1.0 and np.isnan(row["p_value_naive"])  # nothing to correct
    notes = mk.compare_models(small, big).notes
    assert any("is estimated as 0 (chisq 0): no evidence for it" in n for n in notes)


def test_a_random_intercept_is_nested_in_a_structure_containing_cs():
    """(1 | Subject) is compound symmetry within Subject: compared with us(Type | Subject) it
    gives the cs-vs-us test (nlme gls: logLik cs -60.56539, us -52.49600, LRT 16.139 on 8
    df, p 0.0404)."""
    ergo = mk.load_dataset("ergostool")
    ri = mk.fit_lmm("effort ~ Type + (1 | Subject)", ergo)
    with pytest.warns(mk.FitWarning):
        us = mk.fit_lmm("effort ~ Type + us(Type | Subject)", ergo)
    row = mk.compare_models(ri, us).table.iloc[1]
    assert row["chisq"] == pytest.approx(16.139, abs=1e-3)
    assert row["df_diff"] == 8 and row["p_value"] == pytest.approx(0.0404, abs=1e-4)
    ar1 = mk.fit_lmm("effort ~ Type + ar1(Type | Subject)", ergo)  # ar1 does not contain cs
    assert np.isnan(mk.compare_models(ri, ar1).table.iloc[1]["chisq"])


def test_a_tie_between_two_nested_smaller_models_is_said():
    """ar1 and cs (as many parameters) are both special cases of toep: the row says which
    one it was tested against and names the other."""
    data = mk.load_dataset("fev_data").dropna(subset=["FEV1"])
    fits = [mk.fit_lmm(f"FEV1 ~ ARMCD * AVISIT + FEV1_BL + {k}(AVISIT | USUBJID)", data)
            for k in ("ar1", "cs", "toep")]
    notes = mk.compare_models(*fits).notes
    assert any("toep(AVISIT | USUBJID)' is tested against 'FEV1 ~ ARMCD * AVISIT + FEV1_BL + "
               "cs(AVISIT | USUBJID)' (listed later); 'FEV1 ~ ARMCD * AVISIT + FEV1_BL + "
               "ar1(AVISIT | USUBJID)', with as many parameters, is nested in it too" in n
               for n in notes)


def test_no_f_test_advice_where_no_chi_square_test_was_run():
    sleep = mk.load_dataset("sleepstudy")
    a = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)
    b = mk.fit_lmm("Reaction ~ np.log1p(Days) + (Days | Subject)", sleep)  # not nested
    assert not any("prefer the larger model's F tests" in n
                   for n in mk.compare_models(a, b).notes)
