"""Kenward-Roger inference against pbkrtest 0.5.2 / lmerTest 3.1-3 / emmeans 1.8.4-1.

Two checks per model. At lme4's own theta the method must reproduce pbkrtest to
numerical precision (it is the same algebra; measured differences <= 1e-11). At
mixedkit's optimum the numbers move with the optimum: KR df within 1e-4 relative
(measured <= 6e-6), SE and p within 1e-3 (p of |t| ~ 25 magnifies SE differences
~60-fold: measured up to 8e-4 on dietox_slope).

References: tests/reference/fits/*.json (KR df/p/SE per coefficient),
tests/reference/kr/*.json (made by tests/reference/kr/make_kr_reference.R: unbalanced,
crossed and nested designs with fixed effects, multi-df F tests, the full adjusted
vcov), and literals copied from tests/reference/inference/dietox_fac.json.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REF, SPEC_DATA, load_reference_data, load_reference_fit
from scipy import stats
from test_lme4_reference import fitted

import mixedkit as mk
from mixedkit.errors import DesignTooLargeError, InputValueError
from mixedkit.inference.kenward_roger import _data_scales, kenward_roger

KR_DIR = REF / "kr"
KR_REFS = {  # reference file -> (data loader, mixedkit formula)
    "sleepstudy_unbal": (lambda: _sleepstudy_unbalanced(),
                         "Reaction ~ C(Days) + (Days | Subject)"),
    "crossed_sim": (lambda: pd.read_csv(KR_DIR / "crossed_sim.csv"),
                    "y ~ x + trt + (1 | a) + (1 | b)"),
    "nested_sim": (lambda: pd.read_csv(KR_DIR / "nested_sim.csv"),
                   "y ~ x + (x | g) + (1 | g:h)"),
    "dietox_evit_cu_bobyqa": (lambda: load_reference_data("dietox"),
                              "Weight ~ Time + Evit + Cu + (Time | Pig)"),
    "three_slopes": (lambda: pd.read_csv(REF / "engine" / "three_slopes.csv"),
                     "y ~ x1 + x2 + (x1 + x2 | g)"),
}
_FITS: dict = {}


# ------------------------------------------------------------------ helpers
def _sleepstudy_unbalanced() -> pd.DataFrame:
    data = load_reference_data("sleepstudy")
    return data[(np.arange(len(data)) + 1) % 7 != 3]  # R: rows with (row %% 7) != 3


def _kr_ref(name: str) -> dict:
    return json.loads((KR_DIR / f"{name}.json").read_text())


def _kr_fit(name: str):
    if name not in _FITS:
        load, formula = KR_REFS[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mk.MixedkitWarning)
            _FITS[name] = mk.fit_lmm(formula, load())
    return _FITS[name]


def _r_term(column: str) -> str:
    """mixedkit's (patsy's) coefficient name as lme4 writes it."""
    if column == "Intercept":
        return "(Intercept)"
    column = re.sub(r"^C\((\w+)\)\[T\.(.+)\]$", r"factor(\1)\2", column)
    return re.sub(r"^(\w+)\[T\.(.+)\]$", r"\1\2", column)


def _order(state, rows: list[dict]) -> np.ndarray:
    """Index of each reference row's coefficient among mixedkit's columns."""
    cols = [_r_term(c) for c in state.design.exog.columns]
    return np.array([cols.index(r["term"]) for r in rows])


def _at_lme4_theta(state, theta_ref: dict):
    """The state re-solved at lme4's theta (names like ``g.x.(Intercept)``)."""
    def key(name):
        group, rest = name.split(".", 1)
        return frozenset(group.split(":")), rest

    values = {key(n): v for n, v in zip(theta_ref["names"], theta_ref["values"])}
    design = state.design
    theta = np.zeros_like(state.theta)
    for factor, block, scale in zip(design.factors(), design.blocks,
                                    _data_scales(design, design.factors())):
        terms = ["(Intercept)" if t == "Intercept" else t for t in block.terms]
        for k, a, b in factor.theta_pos:
            rest = terms[a] if a == b else f"{terms[a]}.{terms[b]}"
            # lme4's Lambda is in the data's units; mixedkit's columns are divided by scale
            theta[k] = values[frozenset(block.group.split(":")), rest] * scale[a]
    return dataclasses.replace(state, theta=theta, solution=design.engine.solve(theta, True))


def _coef_table(state, kr, idx):
    eye = np.eye(len(state.beta))
    df = np.array([kr.t_df(eye[j]) for j in idx])
    se = np.array([kr.se(eye[j]) for j in idx])
    p = 2 * stats.t.sf(np.abs(state.beta[idx] / se), df)
    return df, se, p


def _check_coefs(state, rows, rtol_df, rtol_se, rtol_p):
    idx = _order(state, rows)
    df, se, p = _coef_table(state, kenward_roger(state), idx)
    np.testing.assert_allclose(df, [r["df_kenward_roger"] for r in rows], rtol=rtol_df)
    np.testing.assert_allclose(se, [r["se_kenward_roger"] for r in rows], rtol=rtol_se)
    np.testing.assert_allclose(p, [r["p_kenward_roger"] for r in rows], rtol=rtol_p,
                               atol=1e-300)


# -------------------------------------------------- lme4 reference models (fits/)
@pytest.mark.parametrize("spec", list(SPEC_DATA))
def test_reproduces_pbkrtest_at_lme4_theta(spec):
    ref = load_reference_fit(spec)["fits"]["REML"]
    state = _at_lme4_theta(fitted(spec, "REML").state, ref["theta"])
    _check_coefs(state, ref["fixef"], 1e-8, 1e-8, 1e-7)


@pytest.mark.parametrize("spec", list(SPEC_DATA))
def test_matches_lmertest_at_mixedkit_optimum(spec):
    ref = load_reference_fit(spec)["fits"]["REML"]
    if spec == "dietox_evit_cu":
        # lme4's default optimizer stops short there (tests/reference/README.md): compare
        # with pbkrtest at the bobyqa optimum, which mixedkit's matches.
        ref = _kr_ref("dietox_evit_cu_bobyqa")
    _check_coefs(fitted(spec, "REML").state, ref["fixef"], 1e-4, 1e-3, 1e-3)


# ------------------------------------------ further designs (kr/, made for this module)
@pytest.mark.parametrize("name", list(KR_REFS))
def test_further_designs_at_lme4_theta(name):
    ref = _kr_ref(name)
    state = _at_lme4_theta(_kr_fit(name).state, ref["theta"])
    _check_coefs(state, ref["fixef"], 1e-8, 1e-8, 1e-7)
    idx = _order(state, ref["fixef"])
    got = kenward_roger(state).vcov[np.ix_(idx, idx)]
    np.testing.assert_allclose(got, np.array(ref["vcov_adj"]), rtol=1e-8,
                               atol=1e-10 * np.abs(got).max())


@pytest.mark.parametrize("name", list(KR_REFS))
def test_further_designs_at_mixedkit_optimum(name):
    _check_coefs(_kr_fit(name).state, _kr_ref(name)["fixef"], 1e-4, 1e-3, 1e-3)


def _anova_l(state, term: str) -> np.ndarray:
    """Type III L of an additive model: the rows selecting the term's coefficients."""
    cols = [_r_term(c) for c in state.design.exog.columns]
    pattern = re.escape(term) + r"(\w*)$"
    return np.eye(len(cols))[[i for i, c in enumerate(cols) if re.match(pattern, c)]]


@pytest.mark.parametrize("name,at_lme4", [("sleepstudy_unbal", True), ("crossed_sim", True),
                                          ("sleepstudy_unbal", False),
                                          ("crossed_sim", False)])
def test_anova_type3_f_tests(name, at_lme4):
    ref = _kr_ref(name)
    state = _kr_fit(name).state
    state = _at_lme4_theta(state, ref["theta"]) if at_lme4 else state
    kr = kenward_roger(state)
    rtol = (1e-8, 1e-7) if at_lme4 else (1e-4, 1e-3)
    for row in ref["anova_type3_kenward_roger"]:
        f, q, ddf, p = kr.f_test(_anova_l(state, row["term"]), state.beta)
        assert q == row["NumDF"]
        assert ddf == pytest.approx(row["DenDF"], rel=rtol[0])
        assert f == pytest.approx(row["F"], rel=rtol[1])
        assert p == pytest.approx(row["p"], rel=rtol[1])


def test_rank_deficient_hypothesis_is_reduced_as_pbkrtest_does():
    ref = _kr_ref("sleepstudy_unbal")
    state = _at_lme4_theta(_kr_fit("sleepstudy_unbal").state, ref["theta"])
    test = ref["krmodcomp_rank_deficient"]
    lmat = np.zeros((3, len(state.beta)))
    lmat[:, _order(state, ref["fixef"])] = np.array(test["L"])
    f, q, ddf, p = kenward_roger(state).f_test(lmat, state.beta)
    assert q == test["NumDF"] == 2
    assert (f, ddf, p) == pytest.approx((test["F"], test["DenDF"], test["p"]), rel=1e-8)


# --------------------------------------------------- dietox_fac: anova and emmeans
DIETOX_FAC = "Weight ~ Time + C(Evit) + C(Cu) + (Time | Pig)"
# tests/reference/inference/dietox_fac.json, anova_type3_kenward_roger:
# term -> (F, NumDF, DenDF, p) of anova(m, type = 3, ddf = "Kenward-Roger")
DIETOX_FAC_ANOVA = {
    "Time": (7554.15786440426, 1, 70.9978804455157, 7.55609863520945e-74),
    "C(Evit)": (0.673705453831526, 2, 66.9978899347337, 0.513235534512108),
    "C(Cu)": (1.1920656228095, 2, 67.0013332505282, 0.309949205090349),
}
# same file, emmeans specs ~ Evit and ~ Cu, kenward_roger rows: (SE, df) per level 1, 2, 3
DIETOX_FAC_EMMEANS = {
    "Evit": [(1.10719217668427, 86.9882987577873), (1.08807196037285, 87.0865164969046),
             (1.07115983165274, 87.1567742162207)],
    "Cu": [(1.1071987610897, 86.9701902122177), (1.07117429989976, 87.1669300657438),
           (1.08807801381593, 87.0962380091195)],
}
DIETOX_FAC_TIME_MEAN = 6.4808362369338  # covariates_held_at.Time


@pytest.fixture(scope="module")
def dietox_fac(dietox):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        state = mk.fit_lmm(DIETOX_FAC, dietox).state
    return state, kenward_roger(state)


def test_dietox_fac_anova_type3_kenward_roger(dietox_fac):
    state, kr = dietox_fac
    cols = list(state.design.exog.columns)
    for term, (f_want, q_want, ddf_want, p_want) in DIETOX_FAC_ANOVA.items():
        lmat = np.eye(len(cols))[[i for i, c in enumerate(cols) if c.startswith(term)]]
        f, q, ddf, p = kr.f_test(lmat, state.beta)
        assert q == q_want
        assert ddf == pytest.approx(ddf_want, rel=1e-4)
        assert f == pytest.approx(f_want, rel=1e-3)
        assert p == pytest.approx(p_want, rel=1e-3)


def test_dietox_fac_emmeans_kenward_roger(dietox_fac):
    """Marginal means: equal-weight average over the other factor, Time at its mean."""
    state, kr = dietox_fac
    cols = list(state.design.exog.columns)
    for factor, other in (("Evit", "Cu"), ("Cu", "Evit")):
        for level, (se_want, df_want) in zip((1, 2, 3), DIETOX_FAC_EMMEANS[factor]):
            l = np.array([{"Intercept": 1.0, "Time": DIETOX_FAC_TIME_MEAN}.get(c, 0.0)
                          for c in cols])
            l[[i for i, c in enumerate(cols) if c.startswith(f"C({other})")]] = 1 / 3
            if level > 1:
                l[cols.index(f"C({factor})[T.{level}]")] = 1.0
            assert kr.se(l) == pytest.approx(se_want, rel=1e-4)
            assert kr.t_df(l) == pytest.approx(df_want, rel=1e-4)


# ------------------------------------------------------------------ properties
@pytest.mark.parametrize("spec", ["sleepstudy_corr", "dyestuff", "pastes"])
def test_balanced_design_needs_no_adjustment(spec):
    """pbkrtest's SEs equal lme4's there (fits/*.json), and KR df are the exact ones."""
    kr = kenward_roger(fitted(spec, "REML").state)
    np.testing.assert_allclose(kr.vcov, kr.vcov_unadjusted, rtol=1e-9,
                               atol=1e-12 * np.abs(kr.vcov).max())
    want = {"sleepstudy_corr": 17.0, "dyestuff": 5.0, "pastes": 9.0}[spec]
    assert kr.t_df(np.eye(len(kr.vcov))[0]) == pytest.approx(want, rel=1e-8)


def test_zero_variance_is_kept_as_a_parameter():
    """Dyestuff2 (Batch variance 0): pbkrtest keeps it, so KR df = 5, not lmerTest's 29."""
    kr = kenward_roger(fitted("dyestuff2", "REML").state)
    assert kr.w.shape == (2, 2)
    assert kr.t_df(np.ones(1)) == pytest.approx(5.0, rel=1e-12)
    np.testing.assert_allclose(kr.vcov, kr.vcov_unadjusted, rtol=1e-12)


def test_one_row_f_test_is_the_squared_t_test():
    state = _kr_fit("crossed_sim").state
    kr = kenward_roger(state)
    l = np.eye(len(state.beta))[1]
    f, q, ddf, p = kr.f_test(l, state.beta)
    t = l @ state.beta / kr.se(l)
    assert q == 1
    assert f == pytest.approx(t**2, rel=1e-10)
    assert ddf == pytest.approx(kr.t_df(l), rel=1e-12)
    assert p == pytest.approx(2 * stats.t.sf(abs(t), kr.t_df(l)), rel=1e-8)


def test_ml_fit_is_refused():
    with pytest.raises(InputValueError, match="needs a REML fit"):
        kenward_roger(fitted("sleepstudy_corr", "ML").state)


def test_too_large_crossed_design_is_refused():
    state = fitted("penicillin", "REML").state
    assert state.design.group_factor is None
    with pytest.raises(DesignTooLargeError, match="Kenward-Roger"):
        kenward_roger(state, memory_limit=1e4)


def test_two_thousand_rows_adjustment_only_inflates_variances():
    """The 2,000-row case of the issue (timed in benchmarks, not here)."""
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(100), 20)
    x = rng.normal(size=len(g))
    u = rng.normal(size=(100, 2)) * [2.0, 0.5]
    data = pd.DataFrame({"y": 1 + 0.5 * x + u[g, 0] + u[g, 1] * x + rng.normal(size=len(g)),
                         "x": x, "f": rng.choice(list("abcd"), len(g)), "g": g.astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        state = mk.fit_lmm("y ~ x + f + (x | g)", data).state
    kr = kenward_roger(state)
    assert np.all(np.diag(kr.vcov) >= np.diag(kr.vcov_unadjusted))


def test_empty_hypothesis_gives_no_test():
    kr = kenward_roger(fitted("sleepstudy_int", "REML").state)
    beta = fitted("sleepstudy_int", "REML").state.beta
    for lmat in (np.zeros((0, 2)), np.zeros((2, 2))):
        f, q, ddf, p = kr.f_test(lmat, beta)
        assert q == 0 and np.isnan(f) and np.isnan(ddf) and np.isnan(p)
