"""fit.anova() against lmerTest 3.1-3 (tests/reference/inference/*.json)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference_data
from inference_reference import fit_at_reference, r_term

import mixedkit as mk

CASES = [("dietox_fac", 3, "anova_type3_kenward_roger"),
         ("sleepstudy", 3, "anova_type3_kenward_roger"),
         ("dietox_fac", 3, "anova_type3_satterthwaite"),
         ("dietox_fac", 2, "anova_type2_satterthwaite"),
         ("dietox_fac", 1, "anova_type1_satterthwaite"),
         ("sleepstudy", 3, "anova_type3_satterthwaite"),
         ("sleepstudy", 1, "anova_type1_satterthwaite")]


@pytest.mark.parametrize("spec,kind,key", CASES)
def test_f_tests_match_lmertest(spec, kind, key):
    fit, ref = fit_at_reference(spec)
    method = "kenward-roger" if key.endswith("kenward_roger") else "satterthwaite"
    got = fit.anova(kind, df_method=method).set_index("term")
    want = pd.DataFrame(ref[key]["rows"])
    assert list(got.index) == [r_term(t) for t in want["term"]]  # formula order
    for row in want.itertuples():
        mine = got.loc[r_term(row.term)]
        assert mine["statistic"] == pytest.approx(row.F, rel=1e-4)
        assert mine["num_df"] == row.NumDF
        assert mine["den_df"] == pytest.approx(row.DenDF, rel=1e-4)
        assert mine["p_value"] == pytest.approx(row.p, rel=1e-3)
        assert mine["mean_sq"] == pytest.approx(row.MeanSq, rel=1e-4)
        assert mine["sum_sq"] == pytest.approx(row.SumSq, rel=1e-4)


def test_intercept_only_models_have_no_terms():
    fit, ref = fit_at_reference("penicillin")
    assert fit.anova().empty and not ref["anova_type3_satterthwaite"]["rows"]


def test_table_shape_heading_and_attrs():
    fit, _ = fit_at_reference("dietox_fac")
    table = fit.anova()
    assert list(table.columns) == ["term", "sum_sq", "mean_sq", "num_df", "den_df",
                                   "statistic", "p_value"]
    assert table.attrs["type"] == "III" and table.attrs["df_method"] == "satterthwaite"
    assert repr(table).startswith("Type III Analysis of Variance Table with Satterthwaite's")
    assert fit.anova("I").attrs["type"] == "I"


def test_type3_does_not_depend_on_contrast_coding():
    data = load_reference_data("dietox")
    treat = mk.fit_lmm("Weight ~ Time * C(Evit) + C(Cu) + (Time | Pig)", data).anova()
    summed = mk.fit_lmm("Weight ~ Time * C(Evit, Sum) + C(Cu, Sum) + (Time | Pig)",
                        data).anova()
    np.testing.assert_allclose(treat["statistic"], summed["statistic"], rtol=1e-6)
    np.testing.assert_allclose(treat["den_df"], summed["den_df"], rtol=1e-6)


def test_type3_of_an_interaction_model_matches_a_cell_means_reparameterisation():
    """Balanced two-factor data: Type III F of A equals the classic sum-coded test."""
    rng = np.random.default_rng(1)
    rows = [(s, a, b) for s in range(12) for a in "xy" for b in "pqr" for _ in range(2)]
    d = pd.DataFrame(rows, columns=["s", "A", "B"])
    d["y"] = (d.A == "y") * 0.5 + (d.B == "q") * 0.3 + rng.normal(size=12)[d.s] \
        + rng.normal(size=len(d))
    d = d.iloc[rng.permutation(len(d))[:-7]]  # unbalanced
    fit = mk.fit_lmm("y ~ A * B + (1 | s)", d)
    table = fit.anova().set_index("term")
    beta = fit.state.beta
    names = list(fit.fixed_effects["term"])
    # with sum coding, the Type III hypothesis for A is "its sum-coded coefficient = 0"
    summed = mk.fit_lmm("y ~ C(A, Sum) * C(B, Sum) + (1 | s)", d)
    sb = summed.fixed_effects.set_index("term")
    t = sb.loc["C(A, Sum)[S.x]", "statistic"]
    assert table.loc["A", "statistic"] == pytest.approx(t**2, rel=1e-6)
    assert len(beta) == len(names) == 6


def test_bad_type_is_refused():
    fit, _ = fit_at_reference("sleepstudy")
    with pytest.raises(mk.InputValueError, match=r"type must be 1, 2 or 3 \(or 'I', 'II', "
                                                 r"'III'\); got 4"):
        fit.anova(4)


def test_summary_and_card_show_type3_table_only_for_multi_df_terms():
    data = load_reference_data("dietox")
    fit = mk.fit_lmm("Weight ~ Time + C(Evit) + (Time | Pig)", data)
    text = fit.summary()
    assert "Type III Analysis of Variance Table with Satterthwaite's method:" in text
    assert "C(Evit)" in text.split("Type III")[1]
    assert "F tests" in fit._repr_html_()
    simple = mk.fit_lmm("Weight ~ Time + (Time | Pig)", data)
    assert "Analysis of Variance" not in simple.summary()
    assert "F tests" not in simple._repr_html_()


def test_an_anova_table_shows_an_index_the_user_set():
    """fit.anova().set_index("term") (or concat keys) keeps its labels in the display; the
    default 0..n-1 index stays hidden."""
    fit = mk.fit_lmm("Weight ~ Time * C(Cu) + (Time | Pig)", mk.load_dataset("dietox"))
    table = fit.anova()
    lines = repr(table).splitlines()
    assert lines[1].split()[0] == "term" and lines[2].split()[0] == "Time"  # no 0, 1, 2
    lines = repr(table.set_index("term")).splitlines()
    assert lines[2].split() == ["term"] and lines[3].split()[0] == "Time"
    assert "<th>Time:C(Cu)</th>" in table.set_index("term")._repr_html_()
    both = pd.concat([table, fit.anova(df_method="kenward-roger")], keys=["S", "KR"])
    assert any(line.split()[0] == "KR" for line in repr(both).splitlines())


def test_kenward_roger_table_has_lmertests_sums_of_squares():
    """lmerTest 3.1-3, anova(lmer(Reaction ~ factor(Days) + (Days | Subject)), ddf =
    "Kenward-Roger"): Sum Sq 34138, Mean Sq 3793.1 (the Wald F on the adjusted covariance,
    here equal to the unadjusted one, times sigma^2: not Kenward-Roger's scaled F), F 5.6237
    on 9 and 125.54 df, p 1.625e-06."""
    fit = mk.fit_lmm("Reaction ~ C(Days) + (Days | Subject)", mk.load_dataset("sleepstudy"))
    kr = fit.anova(df_method="kenward-roger").iloc[0]
    assert kr["sum_sq"] == pytest.approx(34138, rel=1e-4)
    assert kr["mean_sq"] == pytest.approx(3793.1, rel=1e-4)
    assert kr["statistic"] == pytest.approx(5.6237, rel=1e-4)
    assert kr["den_df"] == pytest.approx(125.54, abs=0.01)
    assert kr["p_value"] == pytest.approx(1.625e-06, rel=1e-3)
    assert kr["mean_sq"] == pytest.approx(fit.anova().iloc[0]["mean_sq"], rel=1e-6)
