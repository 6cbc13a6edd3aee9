"""lme4 syntax, statsmodels keywords and awkward column names all reach the same model."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import mixedkit as mk
from mixedkit.model.estimation import user_theta
from mixedkit.model.formula import parse_formula

COLS = ["y", "x", "z", "g", "h", "my y", "f"]


@pytest.mark.parametrize("formula,fixed,terms", [
    ("y ~ x + (1 | g)", "y ~ x", [((), True, ("g",), True)]),
    ("y ~ x + (x | g)", "y ~ x", [(("x",), True, ("g",), True)]),
    ("y ~ x + (1 + x | g)", "y ~ x", [(("x",), True, ("g",), True)]),
    ("y ~ x + (0 + x | g)", "y ~ x", [(("x",), False, ("g",), True)]),
    ("y ~ x + (-1 + x | g)", "y ~ x", [(("x",), False, ("g",), True)]),
    ("y ~ x + (x || g)", "y ~ x", [((), True, ("g",), False), (("x",), False, ("g",), False)]),
    ("y ~ 1 + (1 | g/h)", "y ~ 1", [((), True, ("h", "g"), True), ((), True, ("g",), True)]),
    ("y ~ 1 + (1 | g:h)", "y ~ 1", [((), True, ("g", "h"), True)]),
    ("y ~ x*z - 1 + (1 | g) + (1 | h)", "y ~ x*z - 1",
     [((), True, ("g",), True), ((), True, ("h",), True)]),
    ("y ~ (x + z)^2 + (1|g)", "y ~ (x + z)^2", [((), True, ("g",), True)]),
])
def test_parse_lme4_terms(formula, fixed, terms):
    parsed, _ = parse_formula(formula, COLS)
    assert parsed.fixed_formula == fixed
    got = [(t.exprs, t.intercept, t.factor, t.correlated) for t in parsed.random]
    assert got == terms


def test_parse_quoted_and_keyword_names():
    parsed, names = parse_formula("`my y` ~ log(x) + C(f, Treatment('b')) + (1 | g)", COLS)
    assert names.restore(parsed.response) == "my y"
    assert "log(x)" in parsed.fixed_rhs and "Treatment('b')" in parsed.fixed_rhs
    parsed, names = parse_formula('Q("my y") ~ x + (1|g)', COLS)
    assert parsed.columns == ("my y", "x", "g")


@pytest.fixture(scope="module")
def ss():
    return mk.load_dataset("sleepstudy")


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        return mk.fit_lmm(formula, data, **kw)


def test_statsmodels_keywords_equal_lme4_syntax(ss):
    a = _fit("Reaction ~ Days + (Days | Subject)", ss)
    b = _fit("Reaction ~ Days", ss, groups="Subject", re_formula="~Days")
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    pd.testing.assert_frame_equal(a.fixed_effects, b.fixed_effects)
    c = _fit("Reaction ~ Days + (Days || Subject)", ss)
    d = _fit("Reaction ~ Days", ss, groups="Subject", re_formula="1",
             vc_formula={"Days": "0 + Days"})
    assert c.loglik == pytest.approx(d.loglik, abs=1e-8)
    e = _fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", ss)
    assert c.loglik == pytest.approx(e.loglik, abs=1e-8)


def test_nested_forms_agree():
    pastes = mk.load_dataset("pastes")
    a = _fit("strength ~ 1 + (1 | batch/cask)", pastes)
    b = _fit("strength ~ 1 + (1 | batch) + (1 | batch:cask)", pastes)
    c = _fit("strength ~ 1", pastes, groups="batch", re_formula="1",
             vc_formula={"cask": "0 + C(cask)"})
    d = _fit("strength ~ 1 + (1 | batch) + (1 | sample)", pastes)  # sample = batch:cask labels
    assert a.loglik == pytest.approx(-123.495373, abs=1e-5)  # lme4 (tests/reference/fits/pastes)
    for other in (b, c, d):
        assert other.loglik == pytest.approx(a.loglik, abs=1e-7)


def test_keyword_and_spaced_column_names(ss):
    renamed = ss.rename(columns={"Reaction": "yield", "Days": "days of sleep",
                                 "Subject": "subject id"})
    a = _fit("Reaction ~ Days + (Days | Subject)", ss)
    b = _fit("yield ~ `days of sleep` + (`days of sleep` | `subject id`)", renamed)
    assert b.loglik == pytest.approx(a.loglik, abs=1e-8)
    assert list(b.fixed_effects["term"]) == ["Intercept", "days of sleep"]
    assert set(b.variance_components["term"]) >= {"Intercept", "days of sleep"}
    assert "subject id" in b.n_groups
    assert 'Q("days of sleep")' in b.statsmodels_call


def test_categorical_order_sets_the_reference_level():
    dx = mk.load_dataset("dietox")
    dx["Evit"] = pd.Categorical(dx["Evit"].map({1: "none", 2: "high", 3: "low"}),
                                categories=["none", "low", "high"])
    fit = _fit("Weight ~ Time + Evit + (1 | Pig)", dx)
    assert list(fit.fixed_effects["term"]) == ["Intercept", "Evit[T.low]", "Evit[T.high]", "Time"]
    plain = dx.assign(Evit=dx["Evit"].astype(str))
    fit2 = _fit("Weight ~ Time + Evit + (1 | Pig)", plain)  # strings: alphabetical, 'high' first
    assert list(fit2.fixed_effects["term"])[:3] == ["Intercept", "Evit[T.low]", "Evit[T.none]"]
    assert fit.loglik == pytest.approx(fit2.loglik, abs=1e-6)


@pytest.mark.parametrize("formula,dataset", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("Reaction ~ Days + (Days || Subject)", "sleepstudy"),
    ("Reaction ~ Days + (0 + Days | Subject)", "sleepstudy"),
    ("Yield ~ 1 + (1 | Batch)", "dyestuff"),
    ("strength ~ 1 + (1 | batch/cask)", "pastes"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
    ("Weight ~ Time + (Time | Pig)", "dietox"),
])
def test_statsmodels_call_specifies_the_same_model(formula, dataset):
    """The pasted statsmodels call, started at mixedkit's optimum, stays there."""
    data = mk.load_dataset(dataset)
    fit = _fit(formula, data)
    model = eval(fit.statsmodels_call, {"smf": smf, "np": np, "data": data})
    start = user_theta(fit.state.design, fit.state.theta)  # statsmodels' packing
    assert model.k_re2 + model.k_vc == len(start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(reml=True, start_params=start, method="lbfgs")
    assert res.llf == pytest.approx(fit.loglik, abs=1e-5)
    np.testing.assert_allclose(res.fe_params, fit.fixed_effects["estimate"], rtol=1e-5)


def test_double_bar_expands_products_as_lme4():
    """(ac*bc || g) is lme4's (1|g) + (0+ac|g) + (0+bc|g) + (0+ac:bc|g): it was read as one
    correlated block (0 + ac*bc | g) beside the intercept, a different model."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"subject": np.repeat([f"s{i}" for i in range(12)], 8),
                      "ac": np.tile([-0.5, 0.5], 48), "bc": np.tile([-0.5, -0.5, 0.5, 0.5], 24)})
    d["rt"] = rng.normal(size=len(d)) + d["ac"] + rng.normal(size=12).repeat(8)
    parsed, _ = parse_formula("rt ~ ac*bc + (ac*bc || subject)", d.columns)
    assert [(t.exprs, t.intercept, t.correlated) for t in parsed.random] == [
        ((), True, False), (("ac",), False, False), (("bc",), False, False),
        (("ac:bc",), False, False)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        short = mk.fit_lmm("rt ~ ac*bc + (ac*bc || subject)", d)
        long = mk.fit_lmm("rt ~ ac*bc + (ac + bc + ac:bc || subject)", d)
    assert short.loglik == pytest.approx(long.loglik, abs=1e-8)
    assert list(short.variance_components["term"]) == list(long.variance_components["term"])
    assert not short.variance_components["term"].str.startswith("corr").any()


@pytest.mark.parametrize("expr, expanded", [
    ("x", ["x"]), ("a:b", ["a:b"]), ("I(x**2)", ["I(x**2)"]),
    ("a*b", ["a", "b", "a:b"]),
    ("a*b*c", ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]),
])
def test_product_expansion_follows_r_terms(expr, expanded):
    from mixedkit.model.formula import _expand_product

    assert _expand_product(expr) == expanded


@pytest.mark.parametrize("term, kind, within, subject, by", [
    ("us(visit | id)", "us", "visit", "id", None), ("ar1(visit | arm/id)", "ar1", "visit", "id", "arm"),
    ("sp_exp(time | id)", "sp_exp", "time", "id", None), ("toeph(visit|id)", "toeph", "visit", "id", None),
])
def test_a_residual_structure_term_is_parsed(term, kind, within, subject, by):
    """mmrm's syntax is a term of its own (it used to read as "'|' outside parentheses"),
    also through the safe-formula check, which still refuses code inside it."""
    from mixedkit.model.formula import parse_formula

    parsed, names = parse_formula(f"y ~ x + {term}", ["y", "x", "visit", "id", "arm", "time"])
    assert parsed.fixed_rhs == "x" and parsed.random == ()
    r = parsed.residual
    user = [None if v is None else names.restore(v) for v in (r.within, r.subject, r.by)]
    assert (r.kind, *user, r.source) == (kind, within, subject, by, term)
    mk.check_formula(f"y ~ x + {term}")
    with pytest.raises(mk.FormulaError, match=r"the call us\(\.\.\.\) is not allowed"):
        mk.check_formula("y ~ 1 + us(visit | __import__('os'))")
