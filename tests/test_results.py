"""The result object: tables, health, warnings, refit, pickling, display."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk
from mixedkit.model import estimation
from mixedkit.results import FIXED_COLUMNS, VARIANCE_COLUMNS


def ss_subjects():
    return list(mk.load_dataset("sleepstudy")["Subject"].unique())


@pytest.fixture(scope="module")
def ss():
    return mk.load_dataset("sleepstudy")


@pytest.fixture(scope="module")
def fit(ss):
    return mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)


def test_table_columns_are_the_documented_vocabulary(fit):
    assert list(fit.fixed_effects.columns) == FIXED_COLUMNS == [
        "term", "estimate", "std_error", "statistic", "df", "p_value", "conf_low", "conf_high"]
    assert list(fit.variance_components.columns) == VARIANCE_COLUMNS == [
        "group", "term", "variance", "std_dev", "covariance", "corr"]
    assert fit.fixed_effects.attrs == {"conf_level": 0.95, "df_method": "satterthwaite"}
    vc = fit.variance_components
    assert list(vc["term"]) == ["Intercept", "Days", "corr(Intercept, Days)", ""]
    assert vc["group"].iloc[-1] == "Residual"
    # variance and std_dev agree, full precision is kept
    rows = vc[vc["std_dev"].notna()]
    np.testing.assert_allclose(rows["std_dev"] ** 2, rows["variance"], rtol=1e-12)


def test_fixed_effect_intervals_follow_conf_level(ss):
    fit90 = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss, conf_level=0.9,
                       df_method="normal")
    fe = fit90.fixed_effects
    half = (fe["conf_high"] - fe["conf_low"]) / 2
    np.testing.assert_allclose(half, 1.6448536269514722 * fe["std_error"], rtol=1e-10)
    np.testing.assert_allclose(fe["statistic"], fe["estimate"] / fe["std_error"])
    assert fe.attrs["df_method"] == "normal" and np.isinf(fe["df"]).all()
    t_fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss, conf_level=0.9)
    fe = t_fit.fixed_effects
    from scipy import stats
    q = stats.t.ppf(0.95, fe["df"])
    np.testing.assert_allclose((fe["conf_high"] - fe["conf_low"]) / 2, q * fe["std_error"])


def test_fixed_effects_se_is_lme4_kind_not_statsmodels_hessian(fit):
    # lme4 vcov for sleepstudy (tests/reference/fits/sleepstudy_corr.json, REML)
    se = fit.fixed_effects.set_index("term")["std_error"]
    assert se["Days"] == pytest.approx(1.54578964390598, rel=1e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov_fixed)), se)


def test_scalars_and_escape_hatch(fit):
    assert fit.method == "REML" and fit.reml
    assert fit.n_obs == 180 and fit.n_groups == {"Subject": 18}
    assert fit.n_params == 6
    assert fit.aic == pytest.approx(-2 * fit.loglik + 12)
    assert fit.converged and not fit.singular
    res = fit.statsmodels_result
    assert res.llf == pytest.approx(fit.loglik, abs=1e-8)
    assert "Mixed Linear Model Regression Results" in str(res.summary())
    assert sorted(res.random_effects) == sorted(ss_subjects())
    np.testing.assert_allclose(res.cov_re.to_numpy()[1, 1],
                               fit.variance_components["variance"].iloc[1], rtol=1e-6)
    assert list(fit.attempts.columns) == ["optimizer", "start", "loglik", "n_evals", "max_grad",
                                          "converged", "message", "seconds"]


def test_refit_ml_then_reml_round_trips(fit):
    ml = fit.refit(reml=False)
    assert ml.method == "ML" and ml.loglik == pytest.approx(-875.969672, abs=1e-4)  # lme4
    assert ml.attempts["start"].iloc[0] == "warm start"
    back = ml.refit(reml=True)
    assert back.loglik == pytest.approx(fit.loglik, abs=1e-6)


def test_pickle_round_trip(fit):
    again = pickle.loads(pickle.dumps(fit))
    pd.testing.assert_frame_equal(again.fixed_effects, fit.fixed_effects)
    assert again.summary() == fit.summary()


def test_summary_and_html_carry_the_content(fit):
    text = fit.summary()
    for piece in ["fit by REML", "Reaction ~ Days + (Days | Subject)", "180 rows",
                  "Subject 18", "logLik (REML): -871.814", "AIC (REML): 1755.63",
                  "Random effects:", "Fixed effects (Satterthwaite t inference):",
                  "Health: warning", "[!] outlying observations", "[✓] convergence",
                  "smf.mixedlm('Reaction ~ Days', data, groups='Subject', re_formula='~Days')"]:
        assert piece in text
    html = fit._repr_html_()
    for piece in ["mk-card", "Reaction ~ Days + (Days | Subject)", "<table", "Health: warning",
                  "mk-badge mk-ok", "251.41"]:
        assert piece in html


def test_singular_fit_warns_once_and_reports(recwarn):
    dy2 = pd.read_csv(pytest.importorskip("pathlib").Path(__file__).parent
                      / "reference" / "data" / "Dyestuff2.csv")
    fit = mk.fit_lmm("Yield ~ 1 + (1 | Batch)", dy2)
    ours = [w for w in recwarn if issubclass(w.category, mk.MixedkitWarning)]
    assert len(ours) == 1 and len(recwarn) == 1  # statsmodels' own warnings are absorbed
    assert "singular fit: the 'Intercept' variance for 'Batch' is estimated as 0" in str(
        ours[0].message)
    assert fit.singular
    assert fit.variance_components["variance"].iloc[0] == 0.0
    assert fit.health.verdict == "warning"


def test_singularity_is_unit_free(ss):
    """statsmodels flags variances below 0.01 whatever the units; mixedkit does not."""
    seconds = ss.assign(Reaction=ss["Reaction"] / 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all
        fit_s = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", seconds)
    fit_ms = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    assert not fit_s.singular
    np.testing.assert_allclose(fit_s.theta, fit_ms.theta, rtol=1e-4)
    # REML: the log-likelihood shifts by (n - p) log(1000)
    assert fit_s.loglik == pytest.approx(fit_ms.loglik + 178 * np.log(1000), abs=1e-4)


def test_failed_first_attempt_falls_back(monkeypatch, ss):
    calls = {"n": 0}
    real = estimation._lbfgsb

    def flaky(obj, theta0, design, lower):
        calls["n"] += 1
        if calls["n"] == 1:
            raise np.linalg.LinAlgError("Singular matrix")
        return real(obj, theta0, design, lower)

    monkeypatch.setattr(estimation, "_lbfgsb", flaky)
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    att = fit.attempts
    assert att["message"].iloc[0] == "LinAlgError: Singular matrix"
    assert not att["converged"].iloc[0] and att["converged"].iloc[-1]
    assert fit.converged and fit.loglik == pytest.approx(-871.814136, abs=1e-4)


def test_no_converged_attempt_is_said_clearly(monkeypatch, ss):
    monkeypatch.setattr(estimation, "_lbfgsb", lambda obj, t, d, lo: (np.asarray(t), "stopped"))
    monkeypatch.setattr(estimation, "_nelder_mead",
                        lambda obj, t, d, lo, **kw: (np.asarray(t), "stopped"))
    with pytest.warns(mk.FitWarning, match=r"no optimisation attempt converged \(4 tried"):
        fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    assert not fit.converged
    assert fit.health["convergence"].severity == "error"
    assert "fit.attempts" in fit.health["convergence"].fix


def test_no_finite_likelihood_raises(monkeypatch, ss):
    monkeypatch.setattr(estimation.EngineObjective, "loglik", lambda self, theta: -np.inf)
    with pytest.raises(mk.FitError, match=r"no optimisation attempt reached a finite likelihood"):
        mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)


def test_import_is_light():
    import subprocess
    import sys

    code = ("import sys, mixedkit; heavy = [m for m in ('matplotlib', 'statsmodels', 'scipy', "
            "'patsy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_fit_in_a_fresh_process_imports_only_what_a_fit_needs():
    """The first fit loads neither statsmodels nor scipy.stats (0.4 s of a cold start):
    the tables that need them load them."""
    import subprocess
    import sys

    code = ("import sys, warnings, mixedkit as mk; warnings.simplefilter('ignore'); "
            "fit = mk.fit_lmm('Reaction ~ Days + (Days | Subject)', mk.load_dataset('sleepstudy')); "
            "print([m for m in ('statsmodels', 'scipy.stats', 'matplotlib') if m in sys.modules]); "
            "fit.fixed_effects; print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


def test_a_model_that_interpolates_the_data_says_so(ss):
    """A response that varies between subjects but not within them: the random intercepts
    reproduce every row, the residual variance is 0 to rounding, and fit.health says the
    model interpolates the data (it said "converged, not singular")."""
    d = ss.assign(y=np.where(ss["Subject"] == ss["Subject"].iloc[0], 120.0, 100.0))
    with pytest.warns(mk.FitWarning, match=r"^the model interpolates the data: the residual "
                      r"variance is [0-9.e-]+, [0-9.e-]+ of the response's variance \(20\.99\)"):
        fit = mk.fit_lmm("y ~ Days + (1 | Subject)", d)
    finding = fit.health["residual variance"]
    assert finding.severity == "error" and fit.health.verdict == "error"
    assert "varies between levels of 'Subject' but not within them" in finding.fix
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ordinary fit has no such finding
        assert "residual variance" not in {f.check for f in mk.fit_lmm(
            "Reaction ~ Days + (Days | Subject)", ss).health.findings}


def test_a_binary_or_count_response_is_named_with_the_usual_model(ss):
    """A 0/1 response fits as a linear probability model, with a warning that names
    glmer/BinomialBayesMixedGLM; small counts get a note naming the Poisson model; a
    continuous response neither."""
    d = ss.assign(acc=(ss["Reaction"] > 280).astype(int),
                  count=(ss["Reaction"] // 60 - 2).astype(int))
    with pytest.warns(mk.FitWarning, match=r"the response 'acc' has two values \(0 and 1\): "
                      r"this linear model of it is a linear probability model"):
        fit = mk.fit_lmm("acc ~ Days + (1 | Subject)", d)
    assert "glmer(..., family = binomial)" in fit.health["response type"].fix
    assert "BinomialBayesMixedGLM" in fit.health["response type"].fix
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a note: no warning
        counts = mk.fit_lmm("count ~ Days + (1 | Subject)", d)
        continuous = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", d)
    finding = counts.health["response type"]
    assert finding.severity == "note" and "looks like counts" in finding.what
    assert "PoissonBayesMixedGLM" in finding.fix
    assert "response type" not in {f.check for f in continuous.health.findings}


class _Quadratic:
    """-loglik/n = (theta - opt)' H (theta - opt) / 2, counting gradient calls."""

    def __init__(self, opt, hess, n=100_000):
        self.opt, self.hess, self.n, self.calls = np.asarray(opt), np.asarray(hess), n, 0

    def grad(self, theta):
        self.calls += 1
        return self.hess @ (np.asarray(theta) - self.opt)


def test_convergence_check_reads_lbfgsbs_curvature_before_finite_differences():
    """A large sample's deviance gradient exceeds 2e-3 at a Newton step of 1e-6: L-BFGS-B's
    inverse Hessian says so without evaluations; a poor approximation is overruled by the
    finite-difference Hessian (lme4's check)."""
    from types import SimpleNamespace

    design = SimpleNamespace(theta_diagonal=np.array([0, 1]))
    hess = np.array([[2.0, 0.3], [0.3, 1.0]])
    theta = np.array([0.5, 0.7])
    obj = _Quadratic(theta - 1e-6, hess)  # deviance gradient about 0.5, step 1e-6
    obj.curvature = (theta.copy(), np.linalg.inv(hess))
    assert estimation._converged(obj, theta, design, 0.0)[0]
    assert obj.calls == 1  # the gradient at theta only
    obj = _Quadratic(theta - 1e-6, hess)
    obj.curvature = (theta.copy(), np.eye(2) * 1e4)  # a wildly wrong approximation
    assert estimation._converged(obj, theta, design, 0.0)[0]
    assert obj.calls > 1  # decided by finite differences
    obj = _Quadratic(theta - 1e-2, hess)  # a real step of 1e-2: not converged either way
    obj.curvature = (theta.copy(), np.linalg.inv(hess))
    assert not estimation._converged(obj, theta, design, 0.0)[0]


# REML: scaling a fixed-effect column by 1e4 shifts log|X'V^-1 X| and so the REML
# log-likelihood by -log(1e4); the ML log-likelihood is unchanged.
@pytest.mark.parametrize("reml,lme4_loglik", [(True, -2217.047459 - np.log(1e4)),
                                               (False, -2215.752793)])
def test_predictor_units_do_not_change_the_fit(reml, lme4_loglik):
    """Time x 1e4 is the same model (lme4 itself stops 0.02-0.04 short there and calls it
    singular); reference: tests/reference/fits/dietox_slope.json."""
    dx = mk.load_dataset("dietox")
    fit = mk.fit_lmm("Weight ~ Time + (Time | Pig)", dx.assign(Time=dx["Time"] * 1e4), reml=reml)
    assert fit.loglik == pytest.approx(lme4_loglik, abs=1e-4)
    assert not fit.singular and fit.converged
    ref = mk.fit_lmm("Weight ~ Time + (Time | Pig)", dx, reml=reml)
    vc, vc_ref = fit.variance_components, ref.variance_components
    np.testing.assert_allclose(vc["variance"] * [1, 1e8, 1e4, 1], vc_ref["variance"], rtol=1e-4)
    np.testing.assert_allclose(fit.theta * [1, 1e4, 1e4], ref.theta, rtol=1e-4)


def test_public_names_are_listed_and_importable():
    lazy = set(mk._LAZY)
    assert lazy <= set(mk.__all__) | {"LmmFit"}
    assert set(dir(mk)) >= lazy
    for name in mk.__all__:
        assert getattr(mk, name) is not None


def test_seed_accepts_a_generator_and_conf_level_follows_the_fit(ss):
    fit = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", ss, conf_level=0.9)
    a = fit.icc(n_boot=5, seed=np.random.default_rng(4), n_jobs=1, progress=False)
    b = fit.icc(n_boot=5, seed=np.random.default_rng(4), n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["conf_level"] == 0.9 and fit.r2().attrs["conf_level"] is None
    with pytest.raises(mk.InputTypeError, match=r"seed must be None, an integer, a numpy "
                                                r"SeedSequence or Generator; got 'x'"):
        fit.icc(n_boot=2, seed="x", n_jobs=1)
