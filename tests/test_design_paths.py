"""Plain numeric columns skip patsy; the design must be the one patsy builds."""

import numpy as np
import pandas as pd
import patsy
import pytest

import mixedkit as mk
from mixedkit.model import design as design_module
from mixedkit.model.design import build_design
from mixedkit.model.validation import prepare


def _data():
    rng = np.random.default_rng(4)
    n = 120
    d = pd.DataFrame({"g": np.repeat([f"s{i}" for i in range(12)], 10),
                      "x": rng.normal(size=n), "t": np.tile(np.arange(10), 12),
                      "c": rng.choice(["a", "b"], n), "flag": rng.random(n) < 0.5})
    group = np.repeat(np.arange(12), 10)
    d["y"] = 1 + d["x"] + (0.3 + rng.normal(0, 0.3, 12)[group]) * d["t"] \
        + rng.normal(size=12)[group] + rng.normal(size=n)
    return d


PLAIN = 6  # the first formulas need no patsy
FORMULAS = ["y ~ x + (1 | g)", "y ~ x + t + (t | g)", "y ~ 0 + x + (0 + t | g)",
            "y ~ t - 1 + x + (1 + x + t | g)", "y ~ 1 + (x || g)", "y ~ x + x + (1 | g)",
            # patsy's own path: factors, interactions, transformations, booleans
            "y ~ x * t + (1 | g)", "y ~ c + np.log(t + 1) + (1 | g)", "y ~ flag + (x | g)"]


def _patsy_only(monkeypatch):
    monkeypatch.setattr(design_module, "_plain_fixed_part", lambda prep: None)
    monkeypatch.setattr(design_module, "_plain_columns", lambda frame, codes: False)


@pytest.mark.parametrize("formula", FORMULAS)
def test_plain_columns_give_patsys_design(formula, monkeypatch):
    data = _data()
    fast = build_design(prepare(formula, data))
    with monkeypatch.context() as m:
        _patsy_only(m)
        slow = build_design(prepare(formula, data))
    assert (fast.design_info is None) == (FORMULAS.index(formula) < PLAIN)
    np.testing.assert_array_equal(fast.endog, slow.endog)
    pd.testing.assert_frame_equal(fast.exog, slow.exog)
    for a, b in zip(fast.blocks, slow.blocks, strict=True):
        assert a.terms == b.terms
        np.testing.assert_array_equal(a.z, b.z)
    assert fast.statsmodels_call == slow.statsmodels_call


def test_a_plain_fit_builds_patsys_description_when_asked(monkeypatch):
    """Without patsy at the fit, predictions, anova and means read the DesignInfo built on
    first use: the same answers as a fit that went through patsy."""
    data = _data()
    formula = "y ~ x + t + (t | g)"
    fast = mk.fit_lmm(formula, data)
    assert fast.state.design.design_info is None
    with monkeypatch.context() as m:
        _patsy_only(m)
        slow = mk.fit_lmm(formula, data)
    assert slow.state.design.design_info is not None
    new = data.iloc[:7].assign(x=np.linspace(-1, 1, 7))
    pd.testing.assert_series_equal(fast.predict(new), slow.predict(new))
    pd.testing.assert_frame_equal(fast.anova(), slow.anova())
    pd.testing.assert_frame_equal(fast.fixed_effects, slow.fixed_effects)
    assert fast.loglik == pytest.approx(slow.loglik, rel=1e-12)  # patsy 0.5: last digit


def test_text_factors_in_newdata_and_type3_tests_are_coded_as_patsy_codes_them(monkeypatch):
    """New rows' text factors become Categoricals of the fitted levels before patsy
    (``coded_like``), and type III tests read level indicators off the codes: the same
    numbers as patsy's value-by-value coding of the text."""
    from mixedkit.model.design import coded_like

    data = _data()
    fit = mk.fit_lmm("y ~ c * x + t + (1 | g)", data)
    new = data.iloc[[3, 1, 4, 1, 5]].assign(x=[0.1, -1.0, 2.0, 0.0, 1.5])
    frame = coded_like(fit.state.design_info, new.rename(columns=fit.state.prep.names.safe))
    assert isinstance(frame["c"].dtype, pd.CategoricalDtype)
    assert list(frame["c"].cat.categories) == ["a", "b"]
    fast_pred, fast_anova = fit.predict(new), fit.anova(type=3)
    with monkeypatch.context() as m:
        m.setattr("mixedkit.inference.predictions.coded_like", lambda info, frame: frame)
        m.setattr(type(fit.state), "patsy_frame", property(lambda self: self.prep.frame))
        slow = mk.fit_lmm("y ~ c * x + t + (1 | g)", data)
        pd.testing.assert_series_equal(fast_pred, slow.predict(new))
        pd.testing.assert_frame_equal(fast_anova, slow.anova(type=3))
    unseen = new.assign(c=["a", "b", "z", "a", "b"])  # patsy's (and mixedkit's) own message
    with pytest.raises(mk.DataError, match=r"values the model was not fitted with: \['z'\]"):
        fit.predict(unseen)


@pytest.mark.parametrize("formula", ["y ~ C(t) + x + (1 | g)", "y ~ C(flag) * x + (1 | g)",
                                     "y ~ C(c) + C(t, Sum) + (1 | g)", "y ~ x + C(t) + (t | g)"])
def test_columns_declared_with_c_are_coded_as_patsy_codes_them(formula, monkeypatch):
    """Numeric and boolean columns used only as C(col) reach patsy as Categoricals of their
    sorted values, and C() of a Categorical is the Categorical: the same columns, names,
    estimates, predictions on new rows with a subset of the levels, and type III tests as
    patsy's own C(), value by value."""
    data = _data()
    fast = mk.fit_lmm(formula, data)
    new = data.iloc[[2, 5, 7]].assign(x=[0.3, -0.2, 1.1])  # some levels of t only
    with monkeypatch.context() as m:
        m.setattr(design_module, "_categorical_c", patsy.builtins.C)
        m.setattr(design_module, "patsy_frame", lambda prep: prep.frame)
        m.setattr("mixedkit.model.state.patsy_frame", lambda prep: prep.frame)
        m.setattr("mixedkit.inference.predictions.coded_like", lambda info, frame: frame)
        slow = mk.fit_lmm(formula, data)
        pd.testing.assert_frame_equal(fast.state.design.exog, slow.state.design.exog)
        pd.testing.assert_frame_equal(fast.fixed_effects, slow.fixed_effects)
        pd.testing.assert_series_equal(fast.predict(new), slow.predict(new))
        pd.testing.assert_frame_equal(fast.anova(type=3), slow.anova(type=3))
    if formula.startswith("y ~ C(t)"):  # t only inside C(): a Categorical for patsy
        assert isinstance(design_module.patsy_frame(fast.state.prep)["t"].dtype,
                          pd.CategoricalDtype)
    if formula.endswith("(t | g)"):  # t also a numeric slope: left as it is
        assert design_module.patsy_frame(fast.state.prep)["t"].dtype.kind == "i"
