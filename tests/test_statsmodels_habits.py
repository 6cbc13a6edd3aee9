"""Coming from statsmodels: its summary's lines, its keyword calls and lme4's syntax.

statsmodels' ``MixedLMResults.summary()`` shows "Subject Var", "Subject x Days Cov", "Days
Var" and "Scale"; ``fit.statsmodels_lines()`` says where each is in mixedkit's tables. The
labels are checked against statsmodels' own parameter names for ``fit.statsmodels_call``
(evaluated as a user would paste it) and the numbers against ``fit.statsmodels_result`` (its
``cov_re``, ``vcomp``, ``scale``, ``llf``), on every kind of model statsmodels expresses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import mixedkit as mk

SLEEP = mk.load_dataset("sleepstudy")


def _sleep_with_x2() -> pd.DataFrame:
    return SLEEP.assign(x2=np.sqrt(SLEEP["Days"]))


MODELS = {
    "intercept": ("Reaction ~ Days + (1 | Subject)", SLEEP, {}),
    "slope": ("Reaction ~ Days + (Days | Subject)", SLEEP, {}),
    "double bar": ("Reaction ~ Days + (Days || Subject)", SLEEP, {}),
    "keywords with vc": ("Reaction ~ Days", _sleep_with_x2(),
                         {"groups": "Subject", "re_formula": "~Days",
                          "vc_formula": {"q": "0 + x2"}}),
    "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", mk.load_dataset("penicillin"), {}),
    "nested": ("strength ~ 1 + (1 | batch/cask)", mk.load_dataset("pastes"), {}),
}


def _statsmodels_values(r) -> list[float]:
    """The numbers of statsmodels' summary in its order: Coef., each Var and Cov, Scale, llf."""
    out = list(r.fe_params)
    cov = np.asarray(r.cov_re)
    out += [cov[i, j] for i in range(cov.shape[0]) for j in range(i + 1)]
    return out + list(np.atleast_1d(r.vcomp)) + [r.scale, r.llf]


@pytest.mark.parametrize("name", list(MODELS))
def test_each_statsmodels_summary_line_is_found_in_mixedkits_tables(name):
    formula, data, kw = MODELS[name]
    fit = mk.fit_lmm(formula, data, **kw)
    lines = fit.statsmodels_lines()
    env = {"smf": smf, "np": np, "data": data}
    model = eval(fit.statsmodels_call, env)  # the call as a user would paste it
    assert lines["statsmodels"].tolist() == [*model.data.param_names, "Scale", "Log-Likelihood"]
    np.testing.assert_allclose(lines["estimate"], _statsmodels_values(fit.statsmodels_result),
                               rtol=1e-6)
    # each row names a cell that holds its number
    tables = {"fixed_effects": fit.fixed_effects.set_index("term"),
              "variance_components": fit.variance_components.set_index(["group", "term"])}
    for row in lines.itertuples():
        if row.table == "fit":
            assert getattr(fit, row.column) == row.estimate
        elif row.table == "fixed_effects":
            assert tables[row.table].loc[row.term, row.column] == row.estimate
        else:
            assert tables[row.table].loc[(row.group, row.term), row.column] == row.estimate


def test_the_lines_say_what_differs():
    lines = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", SLEEP).statsmodels_lines()
    by = lines.set_index("statsmodels")["note"]
    assert by["Days"] == ("Coef.; Std.Err. can differ slightly (statsmodels: the joint observed "
                          "information of every parameter; mixedkit: (X'V^-1 X)^-1, as lme4's "
                          "vcov); z and P>|z| are normal tests without df.")
    assert by["Days Var"] == ("variance of the random 'Days' across 'Subject'; std_dev is its "
                              "square root; its Std.Err. is not for tests or intervals (a "
                              "variance is bounded at 0 and skewed): use fit.confint().")
    assert by["Subject x Days Cov"].startswith("covariance of the two random effects")
    assert by["Scale"] == "the residual variance (sigma^2); std_dev is the residual SD."


def test_a_model_statsmodels_cannot_express_has_no_lines():
    weights = np.linspace(0.5, 1.5, len(SLEEP))  # prior weights: beyond MixedLM
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", SLEEP, weights=weights)
    with pytest.raises(mk.StatsmodelsLimitError,
                       match=r"^fit.statsmodels_lines\(\) is not available for this model: "):
        fit.statsmodels_lines()


def test_each_column_of_the_variance_table_means_one_thing():
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", SLEEP)
    vc = fit.variance_components.set_index("term")
    corr = vc.loc["corr(Intercept, Days)"]
    assert np.isnan(corr["variance"]) and np.isnan(corr["std_dev"])
    sd = vc.loc[["Intercept", "Days"], "std_dev"]
    assert corr["covariance"] == pytest.approx(corr["corr"] * sd.prod(), rel=1e-12)
    assert corr["covariance"] == pytest.approx(fit.statsmodels_result.cov_re.iloc[1, 0],
                                               rel=1e-6)
    assert vc[["covariance"]].drop(index="corr(Intercept, Days)").isna().all().all()
    assert "covariance" not in fit.summary()  # the printed table shows corr, as lme4's


@pytest.mark.parametrize("kw, lme4", [
    ({"groups": "Subject"}, "Reaction ~ Days + (1 | Subject)"),
    ({"groups": "Subject", "re_formula": "~Days"}, "Reaction ~ Days + (Days | Subject)"),
    ({"groups": "Subject", "re_formula": "~0 + Days"}, "Reaction ~ Days + (0 + Days | Subject)"),
    ({"groups": SLEEP["Subject"], "re_formula": "1", "vc_formula": {"d": "0 + Days"}},
     "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
])
def test_a_statsmodels_style_call_shows_its_lme4_formula(kw, lme4):
    fit = mk.fit_lmm("Reaction ~ Days", SLEEP, **kw)
    assert fit.lme4_formula == lme4
    text = fit.summary()
    shown = ", ".join(f"{k}={v!r}" for k, v in kw.items() if k != "groups")
    assert f"\nlme4:    {lme4}\n" in text
    assert text.splitlines()[1].startswith("Formula: Reaction ~ Days; groups='Subject'")
    assert text.splitlines()[1].endswith(shown)


def test_an_lme4_formula_is_shown_once():
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", SLEEP)
    assert fit.lme4_formula == "Reaction ~ Days + (Days | Subject)"
    assert "\nlme4:" not in fit.summary()
    nested = mk.fit_lmm("strength ~ 1 + (1 | batch/cask)", mk.load_dataset("pastes"))
    assert nested.lme4_formula == "strength ~ 1 + (1 | cask:batch) + (1 | batch)"


def test_statsmodels_result_names_the_random_intercept_as_from_formula_does():
    """smf.mixedlm(..., groups="Subject") prints "Subject Var" (and "Subject x Days Cov");
    the escape hatch prints the same, as statsmodels_lines() and statsmodels_call say."""
    sleep = mk.load_dataset("sleepstudy")
    for formula, names in [("Reaction ~ Days + (1 | Subject)", ["Subject Var"]),
                           ("Reaction ~ Days + (Days | Subject)",
                            ["Subject Var", "Subject x Days Cov", "Days Var"])]:
        fit = mk.fit_lmm(formula, sleep)
        rows = fit.statsmodels_result.summary().tables[1].index.tolist()
        assert rows[-len(names):] == names
        assert set(names) <= set(fit.statsmodels_lines()["statsmodels"])
