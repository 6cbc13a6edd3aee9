"""Residual covariance structures within a subject (``mixedkit.model.residual``) against
nlme's ``gls``: log-likelihood, fixed effects, model-based standard errors and the
estimated covariance across visits, REML and ML, for every structure nlme has.

References: ``tests/reference/residual_structures.R`` (nlme 3.1, R 4.2.2) on
``tests/data/residual/trial.csv``, a simulated two-arm trial with 200 subjects, 6 visits
and MAR dropout (1,015 rows); results in ``tests/data/residual/nlme_results.json``. nlme's
structures: us = corSymm + varIdent(visit), cs = corCompSymm, csh = corCompSymm +
varIdent, ar1 = corAR1, ar1h = corAR1 + varIdent, toep(h) = corARMA(p = 5) (+ varIdent),
sp_exp = corExp on a continuous time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
import pytest

from mixedkit.model.residual import (
    ResidualLikelihood,
    ResidualStructure,
    _pacf_to_acf,
    fit_gls,
)

DATA = Path(__file__).parent / "data" / "residual"
FITS = json.loads((DATA / "nlme_results.json").read_text())["fits"]
KINDS = ["us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "sp_exp"]


@pytest.fixture(scope="module")
def trial():
    d = pd.read_csv(DATA / "trial.csv").dropna(subset=["y"])
    x = patsy.dmatrix("base + C(arm) * C(visit)", d, return_type="dataframe")
    names = [re.sub(r"C\((\w+)\)\[T\.(\w+)\]", r"\1\2", c).replace("Intercept", "(Intercept)")
             for c in x.columns]  # R's names: armTRT, visitV2, armTRT:visitV2
    return {"x": x.to_numpy(), "y": d["y"].to_numpy(), "names": names,
            "subject": pd.factorize(d["id"])[0],
            "visit": d["visit"].str[1:].astype(int).to_numpy() - 1,
            "time": d["time"].to_numpy()}


def _fit(trial, kind, reml):
    st = ResidualStructure(kind, 1 if kind == "sp_exp" else 6)
    lik = ResidualLikelihood(trial["x"], trial["y"], trial["subject"], trial["visit"],
                             trial["time"], None, st)
    return fit_gls(lik, reml=reml)


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_fit_matches_nlme(trial, kind, method):
    ref = FITS[f"trial_{kind}_{method}"]
    fit = _fit(trial, kind, method == "REML")
    assert fit.converged
    # nlme's toep (corARMA) stops 1e-7 below the optimum; every other structure agrees to 1e-8
    assert fit.loglik == pytest.approx(ref["loglik"], abs=2e-7 if "toep" in kind else 1e-8)
    assert fit.loglik >= ref["loglik"] - 1e-8
    fixed = ref["fixed"]
    beta = np.array([fixed[n]["estimate"] for n in trial["names"]])
    se = np.array([fixed[n]["se_model_based"] for n in trial["names"]])
    np.testing.assert_allclose(fit.beta, beta, rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), se, rtol=5e-5)
    if kind != "sp_exp":  # sp_exp's depends on the subject's own times
        np.testing.assert_allclose(fit.covariance(), np.array(ref["residual_cov"]), rtol=2e-4)


def test_the_structures_have_the_shapes_they_promise():
    params = np.linspace(-0.7, 0.9, ResidualStructure("toeph", 5).n_params)
    s = ResidualStructure("toeph", 5).matrices(params)[0]
    sd = np.sqrt(np.diag(s))
    corr = s / np.outer(sd, sd)
    for lag in range(1, 5):  # Toeplitz: constant along each diagonal
        assert np.ptp(np.diagonal(corr, lag)) < 1e-12
    assert sd[0] == 1.0 and np.all(np.linalg.eigvalsh(s) > 0)
    ar1 = ResidualStructure("ar1", 4).matrices(np.array([0.5]))[0]
    rho = np.tanh(0.5)
    np.testing.assert_allclose(ar1, rho ** np.abs(np.subtract.outer(range(4), range(4))))
    cs = ResidualStructure("cs", 4).matrices(np.array([-3.0]))[0]
    assert np.all(np.linalg.eigvalsh(cs) > 0) and cs[0, 1] > -1 / 3  # rho > -1/(T - 1)
    ad = ResidualStructure("ad", 4).matrices(np.array([0.2, -0.4, 0.9]))[0]
    r = np.tanh([0.2, -0.4, 0.9])
    assert ad[0, 3] == pytest.approx(r.prod()) and ad[1, 3] == pytest.approx(r[1] * r[2])
    us = ResidualStructure("us", 3)
    assert us.n_params == 5 and ResidualStructure("us", 3, n_groups=2).n_params == 11


def test_durbin_levinson_gives_the_autocorrelations_of_an_ar_process():
    # AR(1) with coefficient 0.6: pacf (0.6, 0, 0) -> r_k = 0.6^k
    np.testing.assert_allclose(_pacf_to_acf(np.array([0.6, 0.0, 0.0])), 0.6 ** np.arange(1, 4))
    # AR(2) x_t = 0.5 x_{t-1} + 0.3 x_{t-2}: Yule-Walker r1 = 0.5/0.7, r2 = 0.5 r1 + 0.3
    r1 = 0.5 / 0.7
    acf = _pacf_to_acf(np.array([r1, 0.3]))
    np.testing.assert_allclose(acf, [r1, 0.5 * r1 + 0.3])


def test_an_evaluation_does_not_grow_with_the_subjects(trial):
    """Subjects with the same visits share one pattern: 200 subjects, MAR dropout, at most
    one pattern per visit set."""
    st = ResidualStructure("us", 6)
    lik = ResidualLikelihood(trial["x"], trial["y"], trial["subject"], trial["visit"], None,
                             None, st)
    assert lik.n_subjects == 200 and len(lik.patterns) < 30
    assert sum(p.count for p in lik.patterns) == 200


# ------------------------------------------------- SAS PROC MIXED, via mmrm's repository
FEV = json.loads((DATA / "fev_results.json").read_text())
SAS = FEV["sas_comparison"]


@pytest.fixture(scope="module")
def fev():
    d = pd.read_csv(DATA / "fev_data.csv").dropna(subset=["FEV1"])
    levels = json.loads((DATA / "levels.json").read_text())["fev_data"]
    for col in ("RACE", "SEX", "ARMCD", "AVISIT"):  # R's level order (its references)
        d[col] = pd.Categorical(d[col], categories=levels[col])
    return d


def _fev_fit(fev, formula, kind, reml, by_arm=False):
    x = patsy.dmatrix(formula, fev, return_type="dataframe")
    arm = fev["ARMCD"].cat.codes.to_numpy()
    st = ResidualStructure(kind, 1 if kind == "sp_exp" else 4, n_groups=2 if by_arm else 1)
    lik = ResidualLikelihood(x.to_numpy(), fev["FEV1"].to_numpy(), pd.factorize(fev["USUBJID"])[0],
                             fev["AVISIT"].cat.codes.to_numpy(),
                             fev["VISITN"].to_numpy(float), arm if by_arm else None, st)
    return fit_gls(lik, reml=reml), x


SAS_CASES = [(k, kind, by_arm) for kind, by_arm in
             [("us", False), ("cs", False), ("csh", False), ("ar1", False), ("ar1h", False),
              ("toep", False), ("toeph", False), ("ad", False), ("adh", False),
              ("cs", True), ("csh", True), ("ar1", True), ("ar1h", True), ("toeph", True),
              ("adh", True)]
             for k in ("ML", "REML")]


@pytest.mark.parametrize("method, kind, by_arm", SAS_CASES,
                         ids=[f"{k}{'_by_arm' if b else ''}-{m}" for m, k, b in SAS_CASES])
def test_the_deviance_matches_sas_proc_mixed(fev, method, kind, by_arm):
    """FEV1 ~ 1 on mmrm's fev_data, each structure (and a separate one per arm, SAS's
    GROUP=ARMCD) against the -2 log-likelihood SAS printed (its iteration history, 8
    decimals; ad: mmrm's, as SAS has no homogeneous ante-dependence). mmrm's tests accept
    1e-5 relative; the differences here are at most 1.4e-5 absolute on ~3800."""
    key = f"fev_int_{'engine_' if kind in ('ad', 'adh') or by_arm else ''}{kind}" \
          f"{'_by_arm' if by_arm else ''}_{method}"
    fit, _ = _fev_fit(fev, "1", kind, method == "REML", by_arm)
    assert fit.converged
    assert -2 * fit.loglik == pytest.approx(SAS[key]["sas_minus2loglik"], abs=2e-4)
    printed = 5e-5 if kind == "ad" else 1e-6  # mmrm printed ad's with 4 decimals
    assert -2 * fit.loglik <= SAS[key]["sas_minus2loglik"] + printed  # never a worse optimum


def test_sp_exp_on_continuous_times_matches_sas(fev):
    """SAS's sp(exp)(VISITN): on integer visit numbers it is AR(1) with rho >= 0."""
    for method in ("ML", "REML"):
        fit, _ = _fev_fit(fev, "1", "sp_exp", method == "REML")
        sas = SAS[f"fev_int_sp_exp_{method}"]["sas_minus2loglik"]
        assert -2 * fit.loglik == pytest.approx(sas, abs=2e-4)


def test_the_full_mmrm_matches_sas_and_nlme(fev):
    """mmrm's headline model: FEV1 ~ RACE + SEX + ARMCD * AVISIT, us(AVISIT | USUBJID), REML:
    SAS -2 Res Log Likelihood 3386.44987722 (design/SAS/sas_log_reml.txt, line 101),
    ARMCDTRT 3.7745 (SE 1.0741); every coefficient against nlme's full precision (nlme's
    REML log-likelihood leaves out 1/2 log|X'X|, as SAS and this module do)."""
    fit, x = _fev_fit(fev, "C(RACE) + C(SEX) + C(ARMCD) * C(AVISIT)", "us", True)
    assert -2 * fit.loglik == pytest.approx(3386.44987722, abs=2e-5)
    ref = FEV["fits"]["fev_full_us_REML"]["fixed"]
    names = [re.sub(r"C\((\w+)\)\[T\.([^\]]+)\]", r"\1\2", c).replace("Intercept", "(Intercept)")
             for c in x.columns]
    beta = np.array([ref[n]["estimate"] for n in names])
    se = np.array([ref[n]["se_model_based"] for n in names])
    np.testing.assert_allclose(fit.beta, beta, atol=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), se, rtol=5e-5)
    trt = names.index("ARMCDTRT")
    # SAS prints 4 decimals from an optimum 6e-6 worse in -2LL than nlme's and this one
    assert fit.beta[trt] == pytest.approx(3.7745, abs=1.5e-4)
    assert np.sqrt(fit.vcov[trt, trt]) == pytest.approx(1.0741, abs=1e-4)


# ------------------------------------------------------------------ Satterthwaite df
def test_satterthwaite_df_match_sas_construction(trial):
    """us REML on the trial: Satterthwaite's df of every coefficient and of TRT - PBO at each
    visit, against the same construction in R (numDeriv's REML Hessian, as SAS PROC MIXED and
    mmrm do; it matches mmrm's df to 0.01 on fev_data): within 2e-3 df."""
    from mixedkit.model.residual import satterthwaite_df

    ref = json.loads((DATA / "nlme_results.json").read_text())["emmeans"][
        "trial_us_REML_satterthwaite_hessian"]
    st = ResidualStructure("us", 6)
    lik = ResidualLikelihood(trial["x"], trial["y"], trial["subject"], trial["visit"], None,
                             None, st)
    fit = fit_gls(lik, reml=True)
    names = trial["names"]
    df = satterthwaite_df(lik, fit, np.eye(len(names)))
    expected = {f["term"]: f["df"] for f in ref["fixed"]}
    np.testing.assert_allclose(df, [expected[n] for n in names], atol=2e-3)
    # TRT - PBO at visit k: armTRT (+ armTRT:visitVk)
    rows = []
    for k in range(1, 7):
        c = np.zeros(len(names))
        c[names.index("armTRT")] = 1
        if k > 1:
            c[names.index(f"armTRT:visitV{k}")] = 1
        rows.append(c)
    rows = np.array(rows)
    got = satterthwaite_df(lik, fit, rows)
    contrasts = {c["visit"]: c for c in ref["contrasts"]}
    for k, value in enumerate(got, start=1):
        want = contrasts[f"V{k}"]
        assert value == pytest.approx(want["df"], abs=2e-3)
        assert rows[k - 1] @ fit.beta == pytest.approx(want["estimate"], abs=1e-4)
        assert np.sqrt(rows[k - 1] @ fit.vcov @ rows[k - 1]) == pytest.approx(want["se"],
                                                                              rel=5e-5)


# ------------------------------------------------------------- empirical covariance
# SAS PROC MIXED with EMPIRICAL, FEV1 ~ ARMCD + <structure>(AVISIT | USUBJID), REML, as mmrm's
# tests/testthat/test-empirical.R records it (lines 43-64 and after): the sandwich
# covariance of (Intercept, ARMCDTRT).
SAS_EMPIRICAL = {
    "ar1": (0.27666930670945, -0.27666930670945, 0.68196697308307),
    "ar1h": (0.19106397930347, -0.19106397930347, 0.46203608554929),
    "cs": (0.26910953746582, -0.26910953746582, 0.6297163326325),
    "csh": (0.19635239056617, -0.19635239056617, 0.46038132267959),
    "toep": (0.30022945455349, -0.30022945455349, 0.76371849328831),
    "toeph": (0.18350201218893, -0.18350201218893, 0.46360435395588),
    "adh": (0.17350223093416, -0.17350223093416, 0.41552647969341),
}


@pytest.mark.parametrize("kind", list(SAS_EMPIRICAL))
def test_the_empirical_covariance_matches_sas(fev, kind):
    fit, x = _fev_fit(fev, "C(ARMCD)", kind, True)
    st = fit.structure
    lik = ResidualLikelihood(x.to_numpy(), fev["FEV1"].to_numpy(),
                             pd.factorize(fev["USUBJID"])[0], fev["AVISIT"].cat.codes.to_numpy(),
                             None, None, st)
    got = lik.empirical_vcov(fit)
    a, b, c = SAS_EMPIRICAL[kind]
    np.testing.assert_allclose(got, [[a, b], [b, c]], rtol=1e-4)
    # the model-based covariance is another matrix: the sandwich is not a copy of it
    assert not np.allclose(got, fit.vcov, rtol=1e-2)
