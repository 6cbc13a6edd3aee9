"""fit.marginal_means(), fit.contrasts() and fit.marginal_trends() against emmeans 1.8.4
(tests/reference/inference/*.json), at lme4's optimum."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from inference_reference import at_lme4_optimum, fit_at_reference

import mixedkit as mk

SPECS = ["dietox_fac", "sleepstudy", "penicillin", "pastes"]


def _spec_name(spec: str) -> str | None:
    name = spec.replace("~", "").strip()
    return None if name == "1" else name


@pytest.mark.parametrize("method", ["satterthwaite", "kenward_roger"])
@pytest.mark.parametrize("spec", SPECS)
def test_marginal_means_match_emmeans(spec, method):
    fit, ref = fit_at_reference(spec)
    for item in ref["emmeans"]["specs"]:
        factor = _spec_name(item["spec"])
        got = fit.marginal_means(factor, df_method=method.replace("_", "-"))
        want = item[method]["rows"]
        assert len(got) == len(want)
        for (_, row), w in zip(got.iterrows(), want):
            if factor:  # levels as the data hold them (dietox's Cu is a float column)
                level = w["levels"][factor]
                assert str(row[factor]) == level or float(row[factor]) == float(level)
            assert row["estimate"] == pytest.approx(w["emmean"], rel=1e-6)
            assert row["std_error"] == pytest.approx(w["SE"], rel=1e-4)
            assert row["df"] == pytest.approx(w["df"], rel=1e-3)
            assert row["conf_low"] == pytest.approx(w["lower.CL"], rel=1e-4)
            assert row["conf_high"] == pytest.approx(w["upper.CL"], rel=1e-4)


@pytest.mark.parametrize("adjust", ["tukey", "none"])
def test_pairwise_contrasts_match_emmeans(adjust):
    fit, ref = fit_at_reference("dietox_fac")
    for item in ref["pairwise"]["specs"]:
        factor = _spec_name(item["spec"])
        got = fit.contrasts(factor, adjust=adjust)
        want = pd.DataFrame(item[adjust]["rows"])
        assert list(got["contrast"]) == list(want["contrast"])
        _same_as_emmeans(got, want.rename(columns={"estimate": "trend"}), 1e-6, 1e-4, 1e-3)
        np.testing.assert_allclose(got["p_value"], want["p.value"], rtol=1e-3)


def test_means_table_columns_and_attrs():
    fit, _ = fit_at_reference("dietox_fac")
    table = fit.marginal_means("Cu")
    assert list(table.columns) == ["Cu", "estimate", "std_error", "df", "conf_low", "conf_high"]
    assert table.attrs["averaged_over"] == ["Evit"]
    assert table.attrs["covariates"]["Time"] == pytest.approx(6.4808362369338, rel=1e-12)
    cells = fit.marginal_means(["Evit", "Cu"])
    assert len(cells) == 9 and cells.attrs["averaged_over"] == []
    # the mean of a factor is the equal-weight mean of its cells
    np.testing.assert_allclose(cells.groupby("Cu", sort=False)["estimate"].mean().to_numpy(),
                               table["estimate"], rtol=1e-12)


def test_contrast_families_by_and_custom_weights():
    fit, _ = fit_at_reference("dietox_fac")
    by = fit.contrasts("Evit", by="Cu", adjust="none")
    assert list(by.columns[:2]) == ["Cu", "contrast"] and len(by) == 9
    trt = fit.contrasts("Evit", method="treatment", adjust="none")
    assert list(trt["contrast"]) == ["Evit2 - Evit1", "Evit3 - Evit1"]
    pairs = fit.contrasts("Evit", adjust="none").set_index("contrast")
    assert trt["estimate"].iloc[0] == pytest.approx(-pairs.loc["Evit1 - Evit2", "estimate"])
    custom = fit.contrasts("Evit", method={"2 vs rest": [-0.5, 1, -0.5]}, adjust="none")
    means = fit.marginal_means("Evit")["estimate"].to_numpy()
    assert custom["estimate"].item() == pytest.approx(means[1] - (means[0] + means[2]) / 2)
    sidak = fit.contrasts("Evit", method="treatment")
    assert sidak.attrs["adjust"] == "sidak" and "changed to 'sidak'" in sidak.attrs["notes"][0]


def test_adjustments_are_ordered_as_expected():
    fit, _ = fit_at_reference("dietox_fac")
    p = {a: fit.contrasts("Evit", adjust=a)["p_value"].to_numpy()
         for a in ("none", "holm", "bonferroni", "tukey", "sidak")}
    assert np.all(p["none"] <= p["holm"] + 1e-15) and np.all(p["holm"] <= p["bonferroni"])
    assert np.all(p["tukey"] <= p["bonferroni"]) and np.all(p["none"] <= p["sidak"])


def test_means_of_a_factor_written_as_C_x_are_asked_by_column_name():
    data = mk.load_dataset("dietox")
    fit = mk.fit_lmm("Weight ~ Time + C(Cu) + (1 | Pig)", data)
    assert len(fit.marginal_means("Cu")) == data["Cu"].nunique()


def test_errors_name_the_argument_and_the_factors():
    fit, _ = fit_at_reference("dietox_fac")
    with pytest.raises(mk.ColumnNotFoundError,
                       match=r"spec='Evitt' is not a factor of the fixed part; its factors are "
                             r"\['Evit', 'Cu'\]; did you mean 'Evit'"):
        fit.marginal_means("Evitt")
    with pytest.raises(mk.InputTypeError, match=r"'Time' is a numeric covariate \(held at "
                                                     r"6.481\): use at="):
        fit.marginal_means("Time")
    with pytest.raises(mk.InputValueError, match=r"adjust must be one of \('tukey', 'sidak', "
                                                r"'bonferroni', 'holm', 'none'\); got 'scheffe'"):
        fit.contrasts("Evit", adjust="scheffe")
    with pytest.raises(mk.InputValueError, match=r"contrast 'x' has 2 weights; the spec has 3 "
                                                r"levels"):
        fit.contrasts("Evit", method={"x": [1, -1]})


def test_labels_by_errors_and_attrs_found_in_review():
    pen = mk.load_dataset("penicillin")
    fit = mk.fit_lmm("diameter ~ sample + (1 | plate)", pen)
    labels = list(fit.contrasts("sample", adjust="none")["contrast"])
    assert "A - E" in labels and not any("sampleE" in label for label in labels)
    with pytest.raises(mk.ColumnNotFoundError, match=r"by='plat' is not a factor of the fixed "
                                                     r"part"):
        fit.marginal_means("sample", by="plat")
    holm = fit.contrasts("sample", adjust="holm")
    assert "Bonferroni-adjusted" in holm.attrs["notes"][0] and holm.attrs["covariates"] == {}
    table = fit.anova()
    assert "Type III Analysis of Variance Table" in table._repr_html_()


def _same_as_emmeans(got: pd.DataFrame, want: pd.DataFrame, rtol_estimate: float,
                     rtol_se: float, rtol_df: float) -> None:
    """An emmeans table (``trend`` or renamed ``estimate``, SE, df, t.ratio, lower.CL,
    upper.CL) against mixedkit's columns; statistic and limits at the SE's tolerance."""
    np.testing.assert_allclose(got["estimate"], want["trend"], rtol=rtol_estimate)
    np.testing.assert_allclose(got["std_error"], want["SE"], rtol=rtol_se)
    np.testing.assert_allclose(got["df"], want["df"], rtol=rtol_df)
    np.testing.assert_allclose(got["statistic"], want["t.ratio"], rtol=rtol_se)
    np.testing.assert_allclose(got["conf_low"], want["lower.CL"], rtol=rtol_se)
    np.testing.assert_allclose(got["conf_high"], want["upper.CL"], rtol=rtol_se)


# ------------------------------------------------------------------- marginal trends
TRENDS = Path(__file__).parent / "reference" / "trends" / "trends.json"


def _dietox_factors() -> pd.DataFrame:
    data = mk.load_dataset("dietox")
    for col in ("Evit", "Cu"):
        data[col] = pd.Categorical(data[col].astype(int).astype(str))
    return data


@pytest.mark.parametrize("case", range(6))
def test_marginal_trends_match_emtrends(case):
    """emmeans::emtrends (tests/reference/trends/make_trends_reference.R): slopes by level
    of a factor interacting with the trend variable, the average slope, and a quadratic's
    slope at three weeks; Satterthwaite and Kenward-Roger df; at lme4's optimum (nloptwrap
    stops a little short on dietox)."""
    ref = json.loads(TRENDS.read_text())["cases"][case]
    formula = ref["formula"].replace("I(Time^2)", "I(Time**2)")
    fit = at_lme4_optimum(mk.fit_lmm(formula, _dietox_factors()), ref)
    at = {"Time": ref["at"]} if "at" in ref else None
    got = fit.marginal_trends(ref["var"], ref["specs"], at=at, df_method=ref["df_method"])
    want = pd.DataFrame(ref["table"])
    if ref["specs"]:
        assert got[ref["specs"]].astype(str).tolist() == want[ref["specs"]].tolist()
    _same_as_emmeans(got, want, 1e-6, 1e-5, 1e-4)
    assert got.attrs["var"] == "Time" and got.attrs["df_method"] == ref["df_method"]


def test_marginal_trends_of_a_quadratic_are_its_derivative_and_errors_name_the_argument():
    fit = mk.fit_lmm("Weight ~ Time + I(Time**2) + (Time | Pig)", _dietox_factors())
    b = fit.fixed_effects.set_index("term")["estimate"]
    for week in (1.0, 6.5, 12.0):  # closed form: b1 + 2 b2 t
        slope = fit.marginal_trends("Time", at={"Time": week})["estimate"].iloc[0]
        assert slope == pytest.approx(b["Time"] + 2 * b["I(Time ** 2)"] * week, rel=1e-9)
    with pytest.raises(mk.InputValueError, match=r"var='Pig' is not a numeric column of the "
                       r"fixed part; a trend is the slope .* \['Time'\]"):
        fit.marginal_trends("Pig")
    evit = mk.fit_lmm("Weight ~ Time * Evit + (Time | Pig)", _dietox_factors())
    with pytest.raises(mk.InputValueError, match="var='Evit' is a factor: compare its levels "
                                                 "with fit.contrasts"):
        evit.marginal_trends("Evit")
