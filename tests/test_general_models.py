"""Models beyond statsmodels: correlated slopes on crossed factors, slopes at a nested
level, several correlated blocks on one factor.  mixedkit fits them; statsmodels' call,
results object and engine each say in one sentence why statsmodels cannot."""

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk


def crossed(seed=3, n_subjects=12, n_items=8):
    rng = np.random.default_rng(seed)
    subj, item = np.meshgrid(np.arange(n_subjects), np.arange(n_items), indexing="ij")
    subj, item = subj.ravel(), item.ravel()
    a = np.where((subj + item) % 2 == 0, "a1", "a2")
    ac = np.where(a == "a2", 0.5, -0.5)
    us = rng.normal(size=(n_subjects, 2)) * [40, 20]
    ui = rng.normal(size=(n_items, 2)) * [30, 15]
    rt = 600 + 30 * ac + us[subj, 0] + us[subj, 1] * ac + ui[item, 0] + ui[item, 1] * ac \
        + rng.normal(0, 30, len(subj))
    return pd.DataFrame({"subject": [f"s{s:02d}" for s in subj],
                         "item": [f"i{i:02d}" for i in item], "a": a, "ac": ac, "rt": rt})


def nested(seed=5):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(8):
        u_s = rng.normal(size=2) * [2.0, 0.5]
        for c in range(5):
            u_c = rng.normal(size=2) * [1.5, 0.4]
            for t in range(4):
                y = 10 + t + u_s[0] + u_s[1] * t + u_c[0] + u_c[1] * t + rng.normal(0, 0.5)
                rows.append((f"school{s}", f"c{c}", t, y))
    return pd.DataFrame(rows, columns=["school", "child", "time", "y"])


CROSSED = ("(ac | subject) is a block of 2 correlated random effects per level of 'subject', "
           "and with crossed grouping factors ('subject', 'item') statsmodels fits only "
           "independent variance components of one column each")


def test_crossed_correlated_slopes_fit_and_say_why_statsmodels_cannot():
    fit = mk.fit_lmm("rt ~ ac + (ac | subject) + (ac | item)", crossed())
    vc = fit.variance_components
    assert list(vc["group"].unique()) == ["subject", "item", "Residual"]
    assert vc["term"].tolist()[:3] == ["Intercept", "ac", "corr(Intercept, ac)"]
    assert fit.statsmodels_call == f"# statsmodels cannot express this model: {CROSSED}"
    assert f"statsmodels equivalent:\n  none: {CROSSED}" in fit.summary()
    assert "lme4's likelihood (beyond statsmodels)" in fit.summary()
    assert "statsmodels: none: (ac | subject)" in fit._repr_html_()
    with pytest.raises(mk.StatsmodelsLimitError,
                       match=r"^fit.statsmodels_result is not available for this model: "
                             + CROSSED.replace("(", r"\(").replace(")", r"\)")
                             + r"\. mixedkit's own engine fits it \(engine='mixedkit', the "
                               r"default\), with lme4 as its reference$"):
        fit.statsmodels_result  # noqa: B018
    with pytest.raises(mk.StatsmodelsLimitError, match=r"^engine='statsmodels' is not available"):
        mk.fit_lmm("rt ~ ac + (ac | subject) + (ac | item)", crossed(), engine="statsmodels")
    assert issubclass(mk.StatsmodelsLimitError, mk.FormulaError)


def test_nested_slopes_say_why_statsmodels_cannot():
    fit = mk.fit_lmm("y ~ time + (time | school/child)", nested())
    assert fit.state.design.statsmodels_reason == (
        "(time | school/child) is a block of 2 correlated random effects per level of "
        "'child:school', and statsmodels allows correlated random effects only on its "
        "grouping factor, the one every other factor is nested in ('school')")
    assert list(fit.n_groups) == ["child:school", "school"]  # lme4's names and order
    assert fit.n_groups["child:school"] == 40


def test_two_correlated_blocks_on_one_factor():
    d = nested()
    d["x2"] = np.random.default_rng(0).normal(size=len(d))
    with pytest.warns(mk.FitWarning, match="singular fit: 'time:x2' for 'school'"):
        fit = mk.fit_lmm("y ~ time + (time | school) + (0 + x2 + time:x2 | school)", d)
    assert fit.state.design.statsmodels_reason == (
        "statsmodels fits one correlated block, on its grouping factor 'school', and "
        "(time | school) and (0 + x2 + time:x2 | school) are two")


def test_expressible_models_keep_statsmodels_order_and_call():
    fit = mk.fit_lmm("rt ~ ac + (1 | subject) + (1 | item)", crossed())
    assert fit.statsmodels_call.startswith("smf.mixedlm(")
    assert fit.state.design.expressible


@pytest.mark.parametrize("formula, message", [
    ("rt ~ ac + (ac | subject) + (1 | subject)",
     (r"the random terms \(ac \| subject\) and \(1 \| subject\) both give 'subject' a random "
     r"intercept; keep one of them")),
    ("rt ~ ac + (ac | subject) + (0 + ac | subject)",
     (r"the random term for 'subject:ac' appears twice \(\(ac \| subject\) and "
     r"\(0 \+ ac \| subject\)\); remove the duplicate")),
])
def test_the_same_random_effect_twice_is_refused(formula, message):
    with pytest.raises(mk.FormulaError, match=message):
        mk.fit_lmm(formula, crossed())


# ------------------------------------------------------------------------ weights
def weighted(seed=2):
    d = crossed(seed)
    d["w"] = np.random.default_rng(seed).uniform(0.5, 2.0, len(d))
    return d


def test_weights_as_column_array_or_series_give_one_model():
    d = weighted()
    by_name = mk.fit_lmm("rt ~ ac + (1 | subject)", d, weights="w")
    by_array = mk.fit_lmm("rt ~ ac + (1 | subject)", d, weights=d["w"].to_numpy())
    shuffled = d["w"].sample(frac=1.0, random_state=1)  # a Series is aligned on the index
    by_series = mk.fit_lmm("rt ~ ac + (1 | subject)", d, weights=shuffled)
    assert by_array.loglik == pytest.approx(by_name.loglik, rel=1e-12)
    assert by_series.loglik == pytest.approx(by_name.loglik, rel=1e-12)
    assert by_name.statsmodels_call == (
        "# statsmodels cannot express this model: statsmodels' MixedLM has no prior weights "
        "(weights='w')")
    assert "Weights: w\n" in by_name.summary()
    unit = mk.fit_lmm("rt ~ ac + (1 | subject)", d.assign(w=1.0), weights="w")
    plain = mk.fit_lmm("rt ~ ac + (1 | subject)", d)
    assert unit.loglik == pytest.approx(plain.loglik, rel=1e-12)
    assert unit.statsmodels_call == plain.statsmodels_call  # all 1: the unweighted model


def test_weights_scale_the_residual_variance():
    """w = 2 everywhere is the unweighted model with sigma^2 halved (lme4's sigma^2 / w)."""
    d = weighted()
    plain = mk.fit_lmm("rt ~ ac + (ac | subject)", d)
    doubled = mk.fit_lmm("rt ~ ac + (ac | subject)", d.assign(w=2.0), weights="w")
    assert doubled.scale == pytest.approx(2 * plain.scale, rel=1e-5)
    np.testing.assert_allclose(doubled.fixed_effects["std_error"],
                               plain.fixed_effects["std_error"], rtol=1e-5)
    # the Jacobian: log-likelihood of y is the transformed model's plus sum(log w) / 2
    assert doubled.loglik == pytest.approx(plain.loglik, abs=1e-6)
    pearson = doubled.residuals("pearson")
    np.testing.assert_allclose(pearson, plain.residuals("pearson"), atol=1e-4)


@pytest.mark.parametrize("change, weights, error, message", [
    (lambda d: d.assign(w=d["w"].where(d.index != 3, 0.0)), "w", mk.DataError,
     (r"weights 'w' has 1 zero value \(rows \[3\]\); weights must be positive \(a zero weight "
      r"removes a row from the fit: drop those rows instead\)")),
    (lambda d: d.assign(w=-d["w"]), "w", mk.DataError,
     r"weights 'w' has 96 negative values \(rows \[0, 1, 2, 3, 4\]\)"),
    (lambda d: d.assign(w=d["w"].where(d.index != 5, np.inf)), "w", mk.DataError,
     r"weights 'w' has 1 infinite value\(s\) \(rows \[5\]\)"),
    (lambda d: d.assign(w="heavy"), "w", mk.DataError,
     r"weights 'w' must be numeric; got text values such as 'heavy'"),
    (lambda d: d, "ww", mk.ColumnNotFoundError,
     r"weights='ww' is not a column of data; did you mean 'w'\?"),
    (lambda d: d.assign(w=d["w"].where(d.index != 0, -1.0)), np.asarray(
        weighted()["w"].where(lambda s: s.index != 0, -1.0)), mk.DataError,
     r"^weights has 1 negative value \(rows \[0\]\)"),
    (lambda d: d, np.ones(5), mk.InputValueError,
     r"weights has 5 values but data has 96 rows; give one weight per row"),
    (lambda d: d, {"w": 1}, mk.InputTypeError,
     r"weights must be a column name or one value per row of data"),
])
def test_bad_weights_are_refused_with_the_fix(change, weights, error, message):
    d = change(weighted())
    before = d.copy()
    with pytest.raises(error, match=message):
        mk.fit_lmm("rt ~ ac + (1 | subject)", d, weights=weights)
    pd.testing.assert_frame_equal(d, before)
    assert mk.check_data("rt ~ ac + (1 | subject)", d, weights=weights).verdict == "error"


def test_missing_weights_drop_their_rows():
    d = weighted()
    d.loc[[2, 7], "w"] = np.nan
    with pytest.warns(mk.DataWarning, match=r"2 of 96 rows dropped for missing values in 'w'"):
        fit = mk.fit_lmm("rt ~ ac + (1 | subject)", d, weights="w")
    assert fit.n_obs == 94 and fit.dropped == {"w": 2}


def test_compare_models_refuses_different_weights():
    d = weighted()
    a = mk.fit_lmm("rt ~ ac + (1 | subject)", d, weights="w", reml=False)
    b = mk.fit_lmm("rt ~ ac + (1 | subject) + (1 | item)", d, reml=False)
    with pytest.raises(mk.DataError, match=r"model 2 and model 1 have different prior weights "
                                           r"\(no weights against weights='w'\)"):
        mk.compare_models(a, b)


def test_cli_passes_weights(tmp_path, capsys):
    from mixedkit.cli import main

    path = tmp_path / "d.csv"
    weighted().to_csv(path, index=False)
    assert main(["fit", str(path), "rt ~ ac + (1 | subject)", "--weights", "w", "--json"]) == 0
    out = capsys.readouterr().out
    fit = mk.fit_lmm("rt ~ ac + (1 | subject)", weighted(), weights="w")
    assert f'"loglik": {fit.loglik}' in out.replace(f"{fit.loglik!r}", str(fit.loglik))
    assert main(["anova", str(path), "rt ~ ac + (1 | subject)", "--weights", "ww"]) == 2
    assert "weights='ww' is not a column of data" in capsys.readouterr().err


# ---------------------------------------------------------------- health advice
def test_singular_crossed_model_advises_double_bar_then_dropping():
    d = crossed(seed=11, n_subjects=10, n_items=6)
    with pytest.warns(mk.FitWarning, match="singular fit"):
        fit = mk.fit_lmm("rt ~ ac + (ac | subject) + (ac | item)", d)
    finding = fit.health["singular"]
    # the zero sits in a correlated 2 x 2 block: lme4 users drop the correlations first
    assert finding.fix.startswith("Drop the correlations first: write (ac || ")


def test_factor_in_double_bar_is_explained():
    fit = mk.fit_lmm("rt ~ a + (a || subject) + (1 | item)", crossed())
    note = fit.health["factor in '||'"]
    assert note.what == (
        "in (a || subject), 'a' is categorical: as in lme4, its 2 columns form one block of "
        "correlated random effects per level of 'subject' ((0 + a | subject)); '||' removes "
        "only their correlation with the intercept.")
    assert note.fix.startswith("For independent effects, code 'a' as numbers")


# ------------------------------------------------------------ everything downstream
@pytest.fixture(scope="module")
def crossed_fit():
    with pytest.warns(mk.FitWarning, match="singular fit: 'ac' for 'subject'"):
        return mk.fit_lmm("rt ~ ac + (ac | subject) + (ac | item)", crossed(seed=4))


def test_predictions_use_each_factor_and_fall_back_per_factor(crossed_fit):
    fit = crossed_fit
    d = fit.state.prep.frame
    np.testing.assert_allclose(fit.predict(), fit.fitted("conditional"), rtol=1e-12)
    ranef = fit.ranef().set_index(["group", "level", "term"])["estimate"]
    fe = fit.fixed_effects.set_index("term")["estimate"]
    new = pd.DataFrame({"ac": [0.5], "subject": ["nobody"], "item": ["i03"]})
    with pytest.warns(mk.DataWarning):
        got = fit.predict(new, allow_new_groups=True).iloc[0]
    item = ranef["item", "i03", "Intercept"] + 0.5 * ranef["item", "i03", "ac"]
    assert got == pytest.approx(fe["Intercept"] + 0.5 * fe["ac"] + item, rel=1e-12)
    assert len(d) == fit.n_obs


def test_bootstrap_power_and_many_run_on_crossed_slopes(crossed_fit):
    fit = crossed_fit
    ci = fit.confint(method="boot", n_boot=20, seed=1, n_jobs=1)
    assert ci["conf_low"].notna().all() and (ci["conf_low"] <= ci["conf_high"]).all()
    power = mk.power_lmm(fit, "ac", along="item", n_groups=[8, 12], n_sims=6, seed=2, n_jobs=1,
                         progress=False)
    assert list(power["n_groups"]) == [8, 12] and power["n_failed"].eq(0).all()
    d = crossed(seed=4).assign(rt2=lambda t: t["rt"] * 1.1)
    many = mk.fit_many("~ ac + (ac | subject) + (ac | item)", d, responses=["rt", "rt2"],
                       n_jobs=1)
    assert "2 fitted" in str(many)
    again = mk.power_lmm(fit, "ac", along="item", n_groups=[8, 12], n_sims=6, seed=2, n_jobs=1,
                         progress=False)
    pd.testing.assert_frame_equal(power, again)  # reproducible with seed=


def test_plots_draw_every_factor(crossed_fit):
    import matplotlib

    matplotlib.use("Agg")
    from mixedkit.inference.diagnostics import sorted_ranef

    rows = sorted_ranef(crossed_fit)
    order = list(dict.fromkeys(zip(rows["group"], rows["term"])))
    assert order == [("subject", "Intercept"), ("subject", "ac"), ("item", "Intercept"),
                     ("item", "ac")]
    fig = mk.plot_ranef(crossed_fit)
    assert len([ax for ax in fig.axes if ax.has_data()]) == 4
    assert mk.plot_diagnostics(crossed_fit) is not None
