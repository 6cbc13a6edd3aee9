"""ranef (conditional modes and SDs), fitted values and predictions against lme4."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SPEC_DATA, load_reference_data, load_reference_fit
from test_lme4_reference import fitted

import mixedkit as mk

CASES = [(s, m) for s in SPEC_DATA for m in ("REML", "ML")]


def _term(name):
    return "Intercept" if name == "(Intercept)" else name


@pytest.mark.parametrize("spec,method", CASES)
def test_ranef_matches_lme4(spec, method):
    fit = fitted(spec, method)
    ref = load_reference_fit(spec)["fits"][method]
    resid_sd = np.sqrt(ref["varcorr"]["residual"]["variance"])
    got = fit.ranef()
    assert list(got.columns) == ["group", "level", "term", "estimate", "std_error", "conf_low",
                                 "conf_high"]
    for factor, block in ref["ranef"].items():
        rows = got[got["group"] == factor]
        for term in [k for k in block if k != "levels" and not k.startswith("condsd:")]:
            mine = rows[rows["term"] == _term(term)].set_index("level")
            levels = [_level(lv, factor) for lv in block["levels"]]
            est = mine.loc[levels, "estimate"].to_numpy()
            sd = mine.loc[levels, "std_error"].to_numpy()
            # modes within 1e-3 relative, or 1e-3 of the residual SD when near 0
            np.testing.assert_allclose(est, block[term], rtol=1e-3, atol=1e-3 * resid_sd)
            np.testing.assert_allclose(sd, block[f"condsd:{term}"], rtol=1e-3,
                                       atol=1e-3 * resid_sd)


def _level(level, factor):
    # lme4 names nested levels "cask:batch" as "a:A", and so does mixedkit (it names
    # (1 | batch/cask)'s inner factor cask:batch, as lme4)
    return str(level)


@pytest.mark.parametrize("spec,method", [c for c in CASES
                                         if "fitted_conditional" in
                                         load_reference_fit(c[0])["fits"][c[1]]])
def test_fitted_values_match_lme4(spec, method):
    fit = fitted(spec, method)
    ref = load_reference_fit(spec)["fits"][method]
    scale = np.std(fit.state.design.endog)
    np.testing.assert_allclose(fit.fitted("conditional"), ref["fitted_conditional"], rtol=1e-3,
                               atol=1e-4 * scale)
    np.testing.assert_allclose(fit.fitted("marginal"), ref["fitted_marginal"], rtol=1e-3,
                               atol=1e-4 * scale)


def test_residual_kinds():
    fit = fitted("sleepstudy_corr", "REML")
    y = load_reference_data("sleepstudy")["Reaction"].to_numpy()
    np.testing.assert_allclose(fit.residuals("conditional"), y - fit.fitted())
    np.testing.assert_allclose(fit.residuals("marginal"), y - fit.fitted("marginal"))
    np.testing.assert_allclose(fit.residuals("pearson"),
                               fit.residuals() / np.sqrt(fit.scale))
    with pytest.raises(mk.InputValueError, match=r"kind must be one of \('conditional', "
                                                r"'marginal', 'pearson'\); got 'raw'"):
        fit.residuals("raw")


def test_predict_new_rows_and_new_groups():
    ss = mk.load_dataset("sleepstudy")
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    new = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "999"]}, index=["a", "b"])
    with pytest.raises(mk.DataError, match=r"1 rows in groups the model has not seen "
                                           r"\('Subject': \['999'\]\); pass allow_new_groups=True"):
        fit.predict(new)
    with pytest.warns(mk.DataWarning, match=r"1 rows of newdata are in new groups"):
        pred = fit.predict(new, allow_new_groups=True)
    fe = fit.fixed_effects.set_index("term")["estimate"]
    re = fit.ranef().set_index(["level", "term"])["estimate"]
    assert pred["a"] == pytest.approx(fe["Intercept"] + re[("308", "Intercept")])
    assert pred["b"] == pytest.approx(fe["Intercept"] + 5 * fe["Days"])
    pop = fit.predict(new, include_random=False)
    assert pop["a"] == pytest.approx(fe["Intercept"])
    # predictions for the fitted rows are the conditional fitted values
    np.testing.assert_allclose(fit.predict(ss), fit.fitted())
    with pytest.raises(mk.DataError, match=r"newdata lacks the column\(s\) \['Days'\]"):
        fit.predict(new.drop(columns="Days"))


def test_predict_crossed_and_after_pickling():
    import pickle

    pen = mk.load_dataset("penicillin")
    fit = pickle.loads(pickle.dumps(mk.fit_lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)))
    np.testing.assert_allclose(fit.predict(pen), fit.fitted(), rtol=1e-12)


@pytest.mark.parametrize("method", ["satterthwaite", "kenward_roger"])
def test_population_prediction_intervals_match_emmeans(method):
    """emmeans(m, ~ Days, at = list(Days = 0:9)) on sleepstudy (reference/inference)."""
    from inference_reference import fit_at_reference

    fit, ref = fit_at_reference("sleepstudy")
    want = pd.DataFrame(ref["predict_ci"][f"emmeans_{method}"]["rows"])
    newdata = pd.DataFrame({"Days": np.arange(10)})  # no Subject column needed
    got = fit.predict(newdata, include_random=False, interval="confidence",
                      df_method=method.replace("_", "-"))
    assert list(got.columns) == ["estimate", "std_error", "df", "conf_low", "conf_high"]
    np.testing.assert_allclose(got["estimate"], want["emmean"], rtol=1e-7)
    np.testing.assert_allclose(got["std_error"], want["SE"], rtol=1e-4)
    np.testing.assert_allclose(got["df"], want["df"], rtol=1e-3)
    np.testing.assert_allclose(got["conf_low"], want["lower.CL"], rtol=1e-4)
    np.testing.assert_allclose(got["conf_high"], want["upper.CL"], rtol=1e-4)


def test_prediction_interval_needs_population_level():
    fit = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", mk.load_dataset("sleepstudy"))
    with pytest.raises(mk.InputTypeError, match=r"interval='confidence' is for population-level "
                                                r"predictions .* pass include_random=False"):
        fit.predict(pd.DataFrame({"Days": [1]}), interval="confidence")
    with pytest.raises(mk.InputTypeError, match=r"interval must be None or 'confidence'; got "
                                                r"'prediction'"):
        fit.predict(include_random=False, interval="prediction")
    pop = fit.predict(pd.DataFrame({"Days": [1, 2]}), include_random=False)
    assert len(pop) == 2  # no grouping column needed
