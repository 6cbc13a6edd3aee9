"""``fit.report()``: the paste-ready paragraph says what lmerTest says, in APA style.

The expected paragraphs are written here from the lmerTest reference values
(tests/reference/inference/*.json, made by make_inference_reference.R): estimates, SEs and
Satterthwaite df from ``summary(lmerTest::lmer(...))``, F tests from ``anova(m, type = 3)``,
SDs from ``VarCorr``; the 95 % intervals are estimate ± qt(0.975, df) SE from those
numbers. The prose around the numbers must match word for word; each number must equal
R's, rounded as the report rounds it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import load_reference_data
from inference_reference import MODELS, load_data, load_inference, r_term
from scipy import stats

import mixedkit as mk
from mixedkit.report import FitReport, apa_p

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _dec(se: float) -> int:
    return max(2, 1 - math.floor(math.log10(se)))


def _df(df: float) -> str:
    return f"{round(df)}" if abs(df - round(df)) < 0.05 else f"{df:.1f}"


def _p(p: float) -> str:
    return "p < .001" if p < 0.001 else "p = " + f"{p:.3f}".lstrip("0")


def _coef(row: dict) -> str:
    d = _dec(row["se"])
    half = stats.t.ppf(0.975, row["df_satterthwaite"]) * row["se"]
    return (f"b = {row['estimate']:.{d}f}, SE = {row['se']:.{d}f}, 95% CI "
            f"[{row['estimate'] - half:.{d}f}, {row['estimate'] + half:.{d}f}], "
            f"t({_df(row['df_satterthwaite'])}) = {row['t']:.2f}, "
            f"{_p(row['p_satterthwaite'])}")


def _label(term: str) -> str:
    return re.sub(r"^factor\((\w+)\)(\w+)$", r"C(\1) \2",
                  re.sub(r"^(Type)(T\d)$", r"\1 \2", term))


def expected_results(spec: str) -> str:
    """The results part of the paragraph, written from lmerTest's numbers."""
    ref = load_inference(spec)
    fixef = {r["term"]: r for r in ref["fixef"]}
    icpt = fixef.pop("(Intercept)")
    d = _dec(icpt["se"])
    half = stats.t.ppf(0.975, icpt["df_satterthwaite"]) * icpt["se"]
    out = [(f"The intercept was b = {icpt['estimate']:.{d}f}, 95% CI "
           f"[{icpt['estimate'] - half:.{d}f}, {icpt['estimate'] + half:.{d}f}].")]
    for test in ref["anova_type3_satterthwaite"]["rows"]:
        coefs = [t for t in fixef if t.startswith(test["term"])]
        if test["NumDF"] == 1:
            out.append(f"{r_term(test['term'])}: {_coef(fixef[coefs[0]])}.")
        else:
            each = "; ".join(f"{_label(t)}: {_coef(fixef[t])}" for t in coefs)
            out.append(f"{r_term(test['term'])}: F({test['NumDF']}, {_df(test['DenDF'])}) = "
                       f"{test['F']:.2f}, {_p(test['p'])} (coefficients: {each}).")
    varcorr = ref["fit"]["varcorr"]
    parts = []
    for group in dict.fromkeys(r["group"] for r in varcorr if r["group"] != "Residual"):
        rows = [r for r in varcorr if r["group"] == group]
        sds = [f"{'intercepts' if r['var1'] == '(Intercept)' else 'slopes for ' + r['var1']} "
               f"SD = {r['sdcor']:.{_dec(r['sdcor'])}f}" for r in rows if not r.get("var2")]
        corr = [f" (correlation {r['sdcor']:.2f})" for r in rows if r.get("var2")]
        parts.append(f"by {group}, {' and '.join(sds)}{''.join(corr)}")
    sigma = ref["fit"]["sigma"]
    parts.append(f"residual SD = {sigma:.{_dec(sigma)}f}")
    out.append("Random-effect standard deviations: " + "; ".join(parts) + ".")
    return " ".join(out)


def _same_numbers(got: str, want: str) -> None:
    """The same words, and each number equal to the last digit shown (the optimiser's
    optimum and lme4's differ in the 5th significant digit, which may flip a rounding)."""
    assert NUMBER.sub("#", got) == NUMBER.sub("#", want)
    for g, w in zip(NUMBER.findall(got), NUMBER.findall(want)):
        decimals = len(g.split(".")[1]) if "." in g else 0
        assert abs(float(g) - float(w)) <= 1.01 * 10 ** -decimals, (g, w, got)


@pytest.fixture(scope="module")
def reports():
    out = {}
    for spec in ("sleepstudy", "ergostool", "dietox_fac"):
        formula, data = MODELS[spec]
        out[spec] = mk.fit_lmm(formula, load_data(data if spec != "ergostool" else spec)).report()
    return out


@pytest.mark.parametrize("spec", ["sleepstudy", "ergostool", "dietox_fac"])
def test_results_say_what_lmertest_says(reports, spec):
    report = reports[spec]
    assert isinstance(report, FitReport)
    _same_numbers(report.results, expected_results(spec))


def test_the_sleepstudy_paragraph_as_printed(reports):
    text = str(reports["sleepstudy"])
    methods, _, caveat = text.partition("\n\n")
    assert methods.startswith(
        "We fitted a linear mixed model to Reaction (180 observations from 18 levels of "
        "Subject) with fixed effects of Days and random intercepts and random slopes for Days "
        "by Subject (correlated), by restricted maximum likelihood (REML) in mixedkit ")
    assert ("Fixed effects were tested with t tests using "
            "Satterthwaite's degrees of freedom; intervals are 95% confidence intervals on the "
            "same degrees of freedom. The intercept was b = 251.41, 95% CI [237.01, 265.80]. "
            "Days: b = 10.47, SE = 1.55, 95% CI [7.21, 13.73], t(17) = 6.77, p < .001. "
            "Random-effect standard deviations: by Subject, intercepts SD = 24.74 and slopes "
            "for Days SD = 5.92 (correlation 0.07); residual SD = 25.59.") in methods
    # what fit.health flags is said after the paragraph, not in it
    assert caveat == ("Check before pasting: fit.health flags 2 warnings (normality of "
                      "residuals; outlying observations); read why and what to do there.")


def test_the_ergostool_paragraph_names_the_f_test_then_the_coefficients(reports):
    text = reports["ergostool"].text
    assert "with fixed effects of Type and random intercepts by Subject," in text
    assert ("Type: F(3, 24) = 22.36, p < .001 (coefficients: Type T2: b = 3.89, SE = 0.52, "
            "95% CI [2.82, 4.96], t(24) = 7.50, p < .001;") in text
    assert "Type T4: b = 0.67, SE = 0.52, 95% CI [-0.40, 1.74], t(24) = 1.29, p = .211)" in text
    assert "by Subject, intercepts SD = 1.33; residual SD = 1.10." in text


def test_apa_p():
    assert [apa_p(p) for p in (0.0231, 3.9e-07, 0.05, 0.0009999, 0.001, 0.9996, np.nan)] == \
        ["p = .023", "p < .001", "p = .050", "p < .001", "p = .001", "p > .999", "p = NaN"]


def test_markdown_and_html_set_symbols_in_italics(reports):
    report = reports["sleepstudy"]
    assert "*b* = 10.47, *SE* = 1.55, 95% CI [7.21, 13.73], *t*(17) = 6.77, *p* < .001" \
        in report.markdown
    assert "with *t* tests using" in report.markdown
    assert "with *t* tests and Type III *F* tests using" in reports["ergostool"].markdown
    assert ("<i>b</i>&nbsp;=&nbsp;10.47, <i>SE</i>&nbsp;=&nbsp;1.55, 95% CI [7.21, 13.73], "
            "<i>t</i>(17)&nbsp;=&nbsp;6.77, <i>p</i>&nbsp;&lt;&nbsp;.001") in report.html
    assert report._repr_html_().startswith('<div class="mk-report"><p class="mk-report">')
    assert report._repr_markdown_() == report.markdown
    assert repr(report) == str(report) == report.text


def test_kenward_roger_and_a_residual_structure():
    data = mk.load_dataset("fev_data").dropna(subset=["FEV1"])
    fit = mk.fit_lmm("FEV1 ~ ARMCD * AVISIT + FEV1_BL + ar1(AVISIT | USUBJID)", data,
                     df_method="kenward-roger")
    text = fit.report().text
    assert text.startswith("We fitted a linear model for repeated measures (MMRM) to FEV1 "
                           "(537 observations from 197 levels of USUBJID)")
    assert ("and a first-order autoregressive (ar1) residual covariance over AVISIT within "
            "USUBJID, by restricted maximum likelihood (REML)") in text
    assert "using Kenward–Roger's degrees of freedom and standard errors" in text
    anova = fit.anova().set_index("term")
    row = anova.loc["ARMCD:AVISIT"]
    assert (f"ARMCD × AVISIT: F(3, {row['den_df']:.1f}) = {row['statistic']:.2f}, "
            f"{apa_p(row['p_value'])} (coefficients: ARMCD TRT × AVISIT VIS2: b = ") in text
    vc = fit.variance_components
    assert (f"Standard deviations: residual SD = {vc['std_dev'].iloc[0]:.2f}, residual "
            "correlation (lag 1) "
            f"{vc['corr'].iloc[1]:.2f}.") in text


def test_df_method_of_the_report_and_ml():
    data = mk.load_dataset("sleepstudy")
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", data)
    kr = fit.report(df_method="kenward-roger").text
    assert "Kenward–Roger's degrees of freedom and standard errors" in kr
    assert "t(17) = 6.77" in kr  # balanced: Kenward-Roger's df equal Satterthwaite's here
    ml = fit.refit(reml=False)
    normal = ml.report(df_method="normal").text
    assert "by maximum likelihood (ML)" in normal
    assert "Wald z and chi-square tests" in normal and "z = " in normal and "t(" not in normal


def test_a_singular_fit_is_a_caveat_not_part_of_the_paragraph():
    data = load_reference_data("Dyestuff2")  # lme4's example of a zero batch variance
    with pytest.warns(mk.FitWarning, match="singular fit"):
        fit = mk.fit_lmm("Yield ~ 1 + (1 | Batch)", data)
    report = fit.report()
    assert fit.singular
    assert report.caveats == (
        "fit.health flags 1 warning (singular); read why and what to do there.",)
    assert "singular" not in report.methods + report.results
    assert "**Check before pasting:**" in report.markdown


def test_the_card_folds_the_report_in():
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    card = fit._repr_html_()
    assert '<details class="mk-report"><summary class="mk-sec">Report' in card
    assert fit.report().html in card


def test_the_readme_shows_the_report_as_printed(reports):
    """README.md's example paragraph is what fit.report() prints (line breaks aside)."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("`print(fit.report())` writes the paragraph", 1)[1]
    block = block.split("```\n", 2)[1]
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    assert " ".join(block.split()) == " ".join(str(fit.report()).split())


def test_a_structure_per_arm_is_reported_per_arm():
    data = mk.load_dataset("fev_data").dropna(subset=["FEV1"])
    fit = mk.fit_lmm("FEV1 ~ ARMCD * AVISIT + FEV1_BL + ar1(AVISIT | ARMCD / USUBJID)", data)
    text = fit.report().text
    assert "residual covariance over AVISIT within USUBJID, one per level of ARMCD," in text
    vc = fit.variance_components.set_index(["group", "term"])
    for arm in ("PBO", "TRT"):
        sd = vc.loc[(f"Residual: {arm}", ""), "std_dev"]
        corr = vc.loc[(f"Residual: {arm}", "corr(lag 1)"), "corr"]
        assert f"residual SD ({arm}) = {sd:.2f}, residual correlation (lag 1) {corr:.2f}" in text
    assert "Random-effect" not in text
