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
