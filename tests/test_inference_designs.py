"""anova, marginal means, contrasts and intervals on designs made for mixedkit
(tests/reference/inference/README_extra.md): a within-subject factor (ergoStool), a
split-plot with a whole-plot factor (Oats), two factors with an interaction and a
covariate (unbalanced), an additive model on data with an empty cell, and a random
slope with a between-subject factor.  References: lmerTest 3.1-3, emmeans 1.8.4,
pbkrtest 0.5.2, lme4 1.1-31, evaluated at lme4's optimum."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from inference_reference import EXTRA, fit_at_reference, load_data

import mixedkit as mk

_FITS: dict = {}


def fitted(spec):
    if spec not in _FITS:
        _FITS[spec] = fit_at_reference(spec)
    return _FITS[spec]


def _spec(text: str) -> tuple[list[str], list[str]]:
    """'~ B | A' -> (['B'], ['A']); '~ A:B' -> (['A', 'B'], [])."""
    body = text.replace("~", "").strip()
    spec, _, by = body.partition("|")
    return [s.strip() for s in spec.split(":")], [b.strip() for b in by.split(",") if b.strip()]


@pytest.mark.parametrize("spec", EXTRA)
@pytest.mark.parametrize("kind", [1, 2, 3])
@pytest.mark.parametrize("method", ["satterthwaite", "kenward_roger"])
def test_anova(spec, kind, method):
    fit, ref = fitted(spec)
    want = pd.DataFrame(ref[f"anova_type{kind}_{method}"]["rows"])
    got = fit.anova(kind, df_method=method.replace("_", "-")).set_index("term")
    assert list(got.index) == list(want["term"])
    for row in want.itertuples():
        mine = got.loc[row.term]
        assert mine["num_df"] == row.NumDF
        assert mine["statistic"] == pytest.approx(row.F, rel=1e-4)
        assert mine["den_df"] == pytest.approx(row.DenDF, rel=1e-3)
        assert mine["p_value"] == pytest.approx(row.p, rel=1e-3, abs=1e-14)


@pytest.mark.parametrize("spec", EXTRA)
@pytest.mark.parametrize("method", ["satterthwaite", "kenward_roger"])
def test_marginal_means(spec, method):
    fit, ref = fitted(spec)
    for item in ref["emmeans"]["specs"]:
        keys, by = _spec(item["spec"])
        got = fit.marginal_means(keys, by=by or None, df_method=method.replace("_", "-"))
        want = item[method]["rows"]
        assert len(got) == len(want)
        got = got.set_index(keys + by)
        for w in want:
            label = tuple(w["levels"][k] for k in keys + by)
            row = got.loc[label if len(label) > 1 else label[0]]
            assert row["estimate"] == pytest.approx(w["emmean"], rel=1e-6)
            assert row["std_error"] == pytest.approx(w["SE"], rel=1e-4)
            assert row["df"] == pytest.approx(w["df"], rel=1e-3)
            assert row["conf_low"] == pytest.approx(w["lower.CL"], rel=1e-4, abs=1e-9)
            assert row["conf_high"] == pytest.approx(w["upper.CL"], rel=1e-4, abs=1e-9)


def _check_contrasts(got: pd.DataFrame, rows: list[dict]):
    want = pd.DataFrame(rows)
    assert len(got) == len(want)
    np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(got["std_error"], want["SE"], rtol=1e-4)
    np.testing.assert_allclose(got["df"], want["df"], rtol=1e-3)
    # below ~1e-12 both R's ptukey and scipy's studentized range are rounding noise
    np.testing.assert_allclose(got["p_value"], want["p.value"], rtol=1e-3, atol=1e-12)
    np.testing.assert_allclose(got["conf_low"], want["lower.CL"], rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(got["conf_high"], want["upper.CL"], rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("spec", EXTRA)
@pytest.mark.parametrize("adjust", ["tukey", "none", "holm", "bonferroni"])
def test_pairwise(spec, adjust):
    fit, ref = fitted(spec)
    for item in ref["pairwise"]["specs"]:
        keys, by = _spec(item["spec"])
        if len(keys) > 1:
            continue  # emmeans labels cell pairs its own way; families are checked by 'by'
        got = fit.contrasts(keys, adjust=adjust, by=by or None)
        _check_contrasts(got, item[adjust]["rows"])


@pytest.mark.parametrize("spec", [s for s in EXTRA if s in ("splitplot", "interaction_cov")])
@pytest.mark.parametrize("adjust", ["tukey", "none", "holm"])
def test_pairwise_within_by_families(spec, adjust):
    fit, ref = fitted(spec)
    for item in ref["pairwise_by"]["specs"]:
        keys, by = _spec(item["spec"])
        got = fit.contrasts(keys, adjust=adjust, by=by)
        _check_contrasts(got, item[adjust]["rows"])


@pytest.mark.parametrize("spec", EXTRA)
def test_treatment_contrasts_unadjusted(spec):
    fit, ref = fitted(spec)
    for item in ref["trt_vs_ctrl"]["specs"]:
        keys, by = _spec(item["spec"])
        got = fit.contrasts(keys, method="treatment", adjust="none", by=by or None)
        _check_contrasts(got, item["none"]["rows"])


@pytest.mark.parametrize("spec", EXTRA)
def test_profile_intervals(spec):
    fit, ref = fitted(spec)
    got = fit.confint()
    want = pd.DataFrame(ref["confint_profile"]["rows"])
    fixed = want[want["kind"] == "fixed"]
    mine = got[got["effect"] == "fixed"].set_index(got.loc[got["effect"] == "fixed", "term"]
                                                   .map(_r_name))
    assert len(mine) == len(fixed)
    for _, w in fixed.iterrows():
        g = mine.loc[w["parameter"]]
        width = w["upper"] - w["lower"]
        assert abs(g["conf_low"] - w["lower"]) < 5e-3 * width
        assert abs(g["conf_high"] - w["upper"]) < 5e-3 * width
    sigma = want[want["kind"] == "sigma"].iloc[0]
    res = got[got["group"] == "Residual"].iloc[0]
    assert abs(res["conf_low"] - sigma["lower"]) < 5e-3 * (sigma["upper"] - sigma["lower"])


def _r_name(patsy_name: str) -> str:
    """'A[T.a2]:B[T.b2]' -> 'Aa2:Bb2', 'Intercept' -> '(Intercept)', as R names them."""
    if patsy_name == "Intercept":
        return "(Intercept)"
    return re.sub(r"([\w.]+)\[T\.([^\]]+)\]", r"\1\2", patsy_name)


def test_empty_cell_interaction_is_refused_with_the_aliased_term():
    """lme4 drops the aliased column (lmerTest then tests A:B on 3 df); mixedkit refuses a
    rank-deficient fixed design and names the columns (README_extra.md)."""
    with pytest.raises(mk.DataError, match=r"column 'A\[T.a2\]:B\[T.b3\]' is all zeros: the "
                                           r"cell A = a2, B = b3 has no rows"):
        mk.fit_lmm("y ~ A * B + (1 | g)", load_data("empty_cell"))
