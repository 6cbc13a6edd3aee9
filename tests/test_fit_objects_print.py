"""Every fit object mixedkit builds prints and tabulates, also those built by ``refit``.

Regression for the REML rule of Kenward–Roger being checked only at ``fit_lmm``'s entry:
``mk.fit_lmm(f, d, df_method="kenward-roger").refit(reml=False)`` built an ML fit that
kept ``df_method="kenward-roger"``, and its ``summary()``, ``repr``, ``fixed_effects``,
``anova()`` and ``mk.reml_vs_ml`` raised ``DataError``. An ML fit cannot use
Kenward–Roger: the refit falls back to Satterthwaite and says so in ``fit.health`` (a
note); asking for Kenward–Roger explicitly on an ML fit stays an error.
tests/test_fuzz.py checks the same property (no call on a successful fit raises) on random
models, df methods and refits.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk

pytestmark = pytest.mark.filterwarnings("ignore::mixedkit.MixedkitWarning")

FORMULA = "Reaction ~ Days + (Days | Subject)"
NEEDS_REML = "needs a REML fit"


@pytest.fixture(scope="module")
def sleep():
    return mk.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def kr_fit(sleep):
    return mk.fit_lmm(FORMULA, sleep, df_method="kenward-roger")


@pytest.fixture(scope="module")
def ml_fit(kr_fit):
    return kr_fit.refit(reml=False)


def _kr_findings(fit) -> list:
    """The findings of ``fit.health`` about Kenward-Roger that are not a passed check."""
    return [f for f in fit.health.findings
            if f.severity != "ok" and re.search(r"kenward.roger", f.details(), re.IGNORECASE)]


def test_kr_fit_refitted_by_ml_falls_back_to_satterthwaite(kr_fit, ml_fit):
    assert kr_fit.reml and kr_fit.df_method == "kenward-roger"
    assert not ml_fit.reml and ml_fit.method == "ML"
    assert ml_fit.df_method == "satterthwaite"
    assert ml_fit.fixed_effects.attrs["df_method"] == "satterthwaite"


def test_fallback_is_a_note_in_health(kr_fit, ml_fit):
    found = _kr_findings(ml_fit)
    assert len(found) == 1, ml_fit.health.to_frame()
    note = found[0]
    assert note.severity == "note", note
    assert "REML" in note.details()  # Kenward-Roger needs REML ...
    assert re.search("satterthwaite", note.details(), re.IGNORECASE)  # ... so Satterthwaite is used
    assert not _kr_findings(kr_fit)  # the REML fit keeps Kenward-Roger: nothing to say


def test_fallback_gives_the_ml_fits_satterthwaite_table(sleep, ml_fit):
    direct = mk.fit_lmm(FORMULA, sleep, reml=False)  # df_method="satterthwaite"
    got, want = ml_fit.fixed_effects, direct.fixed_effects
    assert list(got.columns) == list(want.columns)
    assert list(got["term"]) == list(want["term"])
    numbers = ["estimate", "std_error", "statistic", "df", "p_value", "conf_low", "conf_high"]
    assert got[numbers].to_numpy() == pytest.approx(want[numbers].to_numpy(), rel=1e-3)


def test_ml_refit_of_kr_fit_prints(ml_fit):
    text = ml_fit.summary()
    assert isinstance(text, str) and "Days" in text
    assert "Satterthwaite" in text  # the inference the table uses
    assert repr(ml_fit) == text
    html = ml_fit._repr_html_()
    assert isinstance(html, str) and "Days" in html


def test_ml_refit_of_kr_fit_tables(ml_fit):
    fixed = ml_fit.fixed_effects
    assert list(fixed["term"]) == ["Intercept", "Days"]
    assert fixed[["std_error", "df", "p_value"]].notna().all().all()
    anova = ml_fit.anova()
    assert list(anova["term"]) == ["Days"]
    assert anova.attrs["df_method"] == "satterthwaite"
    means = ml_fit.marginal_means()  # no factor: the grand mean
    assert len(means) == 1 and means["df"].notna().all()
    assert len(ml_fit.predict(include_random=False, interval="confidence")) == ml_fit.n_obs


def test_reml_vs_ml_of_kr_fits(kr_fit, ml_fit):
    comparison = mk.reml_vs_ml(ml_fit)
    assert comparison.ml_fit is ml_fit and comparison.reml_fit.reml
    assert str(comparison) and repr(comparison)
    comparison = mk.reml_vs_ml(kr_fit)  # refits kr_fit by ML inside
    assert comparison.reml_fit is kr_fit and not comparison.ml_fit.reml
    assert comparison.ml_fit.df_method == "satterthwaite"
    assert str(comparison)


def test_compare_models_kr_fit_and_its_ml_refit(kr_fit):
    # same fixed effects: compare_models may refit (by REML) and warn; it must not raise
    result = mk.compare_models(kr_fit, kr_fit.refit(reml=False))
    assert str(result) and repr(result)


def test_ml_refit_refits_by_reml(ml_fit):
    back = ml_fit.refit(reml=True)
    assert back.reml and back.method == "REML"
    assert back.summary()
    assert len(back.fixed_effects) == 2


def test_kenward_roger_with_ml_at_fit_lmm_is_an_error(sleep):
    with pytest.raises(mk.InputValueError, match=NEEDS_REML):
        mk.fit_lmm(FORMULA, sleep, reml=False, df_method="kenward-roger")


def test_kenward_roger_asked_of_an_ml_fit_is_an_error(ml_fit):
    with pytest.raises(mk.InputValueError, match=NEEDS_REML):
        ml_fit.anova(df_method="kenward-roger")


@pytest.mark.parametrize("call", [
    lambda fit: fit.marginal_means(df_method="kenward-roger"),
    lambda fit: fit.predict(include_random=False, interval="confidence",
                            df_method="kenward-roger"),
], ids=["marginal_means", "predict"])
def test_kenward_roger_asked_of_an_ml_fit_elsewhere_is_the_same_error(ml_fit, call):
    # the same rule as anova(df_method=...) for every table that takes df_method=
    with pytest.raises(mk.InputValueError, match=NEEDS_REML):
        call(ml_fit)


# --------------------------------------------------- found by a fresh-seed fuzz run
# tests/test_fuzz.py with seed 3181064087 (derandomize=False, 8,300 examples) and 12345.

def test_kenward_roger_without_fixed_effects_gives_nan_df():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": rng.normal(size=40), "g": np.repeat(list("abcdefgh"), 5)})
    fit = mk.fit_lmm("y ~ 0 + (1|g)", d, df_method="kenward-roger")
    means = fit.marginal_means()
    assert np.isnan(means["df"]).all()
    band = fit.predict(include_random=False, interval="confidence")
    assert np.isnan(band["df"]).all() and len(band) == 40
    assert isinstance(fit.summary(), str)


def test_a_model_that_interpolates_the_data_prints():
    d = pd.DataFrame({"y": [10.0, 10, 10, 11, 9], "f": ["b", "b", "b", "a", "c"],
                      "g": ["g0", "g2", "g1", "g2", "g1"]})
    with pytest.warns(mk.FitWarning, match="the model interpolates the data"):
        fit = mk.fit_lmm("y ~ f + (1|g)", d)
    assert isinstance(fit.summary(), str) and isinstance(fit._repr_html_(), str)
    assert isinstance(fit.anova(), pd.DataFrame)
    # the residual sum of squares is 0 up to rounding (exactly 0 with some numpy builds):
    # the same fit everywhere, at the engine's floor, reported as an error
    assert fit.scale < 1e-30 and fit.health["residual variance"].severity == "error"


@pytest.mark.parametrize("df_method", ["satterthwaite", "normal"])
def test_standard_errors_do_not_depend_on_a_predictors_units(sleep, df_method):
    """vcov_fixed was sigma^2 pinv(X'V^-1 X), whose cutoff dropped the intercept's direction
    when a predictor is in 1e9 (SE 2e-20): the inverse is taken on unit-diagonal scaling."""
    base = mk.fit_lmm("Reaction ~ Days + (1|Subject)", sleep, df_method=df_method)
    big = mk.fit_lmm("Reaction ~ Days + (1|Subject)", sleep.eval("Days = Days * 1e9"),
                     df_method=df_method)
    se, se_big = base.fixed_effects["std_error"], big.fixed_effects["std_error"]
    assert se_big[0] == pytest.approx(se[0], rel=1e-6)
    assert se_big[1] * 1e9 == pytest.approx(se[1], rel=1e-6)


def test_type3_anova_does_not_depend_on_a_predictors_units():
    rng = np.random.default_rng(7)
    d = pd.DataFrame({"x": rng.normal(size=40) * 1e9, "b": rng.random(40) < 0.5,
                      "g": np.repeat([f"s{i}" for i in range(8)], 5), "y": rng.normal(size=40)})
    big = mk.fit_lmm("y ~ I(x**2) + b + (1|g)", d).anova(3)
    small = mk.fit_lmm("y ~ I(x**2) + b + (1|g)", d.assign(x=d["x"] / 1e9)).anova(3)
    assert big["statistic"].to_numpy() == pytest.approx(small["statistic"].to_numpy(), rel=1e-6)
