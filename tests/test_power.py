"""power_lmm: against an exact answer, reproducibility on every executor, the design
extension, and its messages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedkit as mk
from mixedkit.model.extend import extend_design, extended_frame
from mixedkit.scale.power import POWER_COLUMNS, clopper_pearson


def crt_pilot(seed: int = 11, n_groups: int = 20, m: int = 10):
    """A balanced two-arm cluster-randomised pilot: ICC 0.5, arm effect 1."""
    data = mk.simulate_lmm(n_groups, m, icc=0.5, effects={}, treatment_effect=1.0, seed=seed)
    return data, mk.fit_lmm(data.attrs["formula"], data)


def exact_power(fit, n_groups: int, m: int, alpha: float = 0.05, effect=None) -> float:
    """Power of the t test on cluster means, 2G - 2 df, at the fit's estimates.

    In a balanced design with the arm constant within clusters, the REML estimate of
    tau^2 + sigma^2 / m is the between-cluster mean square / m (when positive), so
    Satterthwaite's t statistic for the arm is the two-sample t on cluster means.
    """
    fe = fit.fixed_effects.set_index("term")
    beta = fe.loc["treatment", "estimate"] if effect is None else effect
    vc = fit.variance_components["variance"].to_numpy()
    tau2, sigma2 = vc[0], vc[1]
    per_arm = n_groups / 2
    se = np.sqrt(2 * (tau2 + sigma2 / m) / per_arm)
    df = n_groups - 2
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = beta / se
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


@pytest.fixture(scope="module")
def crt():
    return crt_pilot()


@pytest.fixture(scope="module")
def sleep_fit(sleepstudy):
    return mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleepstudy)


def within_mc_error(table: pd.DataFrame, fit, m: int = 10, k: float = 3.0):
    out = []
    for row in table.itertuples():
        p = exact_power(fit, row.n_groups, m, effect=row.effect)
        se = np.sqrt(p * (1 - p) / (row.n_sims - row.n_failed))
        out.append((row.n_groups, row.power, p, se, abs(row.power - p) <= k * se))
    return out


# ------------------------------------------------------------- exact answer
def test_power_matches_noncentral_t_quick(crt):
    _, fit = crt
    table = mk.power_lmm(fit, "treatment", n_groups=16, n_sims=300, seed=3, progress=False)
    for n_groups, power, exact, se, ok in within_mc_error(table, fit):
        assert ok, f"G={n_groups}: simulated {power:.3f}, exact {exact:.3f}, MC SE {se:.3f}"


@pytest.mark.slow
def test_power_matches_noncentral_t_at_several_sizes(crt):
    """1,000 simulations per size. Measured, simulated vs exact (MC SE): G=6 0.195 vs 0.188
    (0.012; 118 singular refits), G=10 0.358 vs 0.347 (0.015), G=16 0.534 vs 0.553 (0.016);
    G=24 with effect 0.5: 0.317 vs 0.342 (0.015), with effect 0.8: 0.688 vs 0.699 (0.015)."""
    _, fit = crt
    table = mk.power_lmm(fit, "treatment", n_groups=[6, 10, 16], n_sims=1000, seed=1,
                         progress=False)
    table2 = mk.power_lmm(fit, "treatment", effect=[0.5, 0.8], n_groups=24, n_sims=1000,
                          seed=2, progress=False)
    for n_groups, power, exact, se, ok in within_mc_error(pd.concat([table, table2]), fit):
        assert ok, f"G={n_groups}: simulated {power:.3f}, exact {exact:.3f}, MC SE {se:.3f}"


@pytest.mark.slow
def test_type_one_error_is_alpha_without_effect(crt):
    _, fit = crt
    table = mk.power_lmm(fit, "treatment", effect=0.0, n_groups=24, n_sims=1000, seed=4,
                         progress=False)
    row = table.iloc[0]
    se = np.sqrt(0.05 * 0.95 / 1000)
    assert abs(row.power - 0.05) <= 3 * se, row.power


@pytest.mark.slow
def test_power_without_pilot_data_uses_the_true_parameters():
    """simulate_lmm's frame: power at the truth; the exact answer at the truth."""
    frame = mk.simulate_lmm(20, 10, icc=0.3, effects={}, treatment_effect=0.6, seed=2)
    table = mk.power_lmm(frame, "treatment", n_groups=[10, 20], n_sims=600, seed=5,
                         progress=False)
    tau2, sigma2 = 0.3 / 0.7, 1.0
    for row in table.itertuples():
        se_diff = np.sqrt(2 * (tau2 + sigma2 / 10) / (row.n_groups / 2))
        df = row.n_groups - 2
        crit = stats.t.ppf(0.975, df)
        p = stats.nct.sf(crit, df, 0.6 / se_diff) + stats.nct.cdf(-crit, df, 0.6 / se_diff)
        se = np.sqrt(p * (1 - p) / row.n_sims)
        assert abs(row.power - p) <= 3 * se, (row.n_groups, row.power, p)
    assert table.attrs["source"] == "simulate_lmm"


# -------------------------------------------------------- table and executors
def test_table_columns_and_attrs(sleep_fit):
    table = mk.power_lmm(sleep_fit, "Days", effect=5, n_groups=[6, 12], n_sims=20, seed=1,
                         n_jobs=1, progress=False)
    assert list(table.columns) == POWER_COLUMNS
    assert table["n_groups"].tolist() == [6, 12]
    assert table["n_obs"].tolist() == [60, 120]
    assert (table["effect"] == 5).all()
    assert table.attrs["term"] == "Days" and table.attrs["test"] == "satterthwaite"
    assert ((table.conf_low <= table.power) & (table.power <= table.conf_high)).all()
    assert (table.n_sims == 20).all() and (table.n_failed == 0).all()


def test_same_seed_same_table_on_every_executor(sleep_fit, dask_client):
    kw = {"effect": 5, "n_groups": [5, 9], "n_sims": 24, "seed": 7, "progress": False}
    serial = mk.power_lmm(sleep_fit, "Days", n_jobs=1, **kw)
    pool = mk.power_lmm(sleep_fit, "Days", n_jobs=2, **kw)
    with ThreadPoolExecutor(3) as ex:
        threads = mk.power_lmm(sleep_fit, "Days", executor=ex, **kw)
    dask = mk.power_lmm(sleep_fit, "Days", executor=dask_client, **kw)
    dask_ex = mk.power_lmm(sleep_fit, "Days", executor=dask_client.get_executor(), **kw)
    for other in (pool, threads, dask, dask_ex):
        pd.testing.assert_frame_equal(serial, other)


def test_pilot_and_data_are_not_modified(sleepstudy, sleep_fit):
    before = sleepstudy.copy()
    theta = sleep_fit.state.theta.copy()
    mk.power_lmm(sleep_fit, "Days", n_groups=30, n_per_group=5, n_sims=4, seed=1, n_jobs=1,
                 progress=False)
    pd.testing.assert_frame_equal(sleepstudy, before)
    np.testing.assert_array_equal(sleep_fit.state.theta, theta)


def test_kenward_roger_equals_satterthwaite_in_a_balanced_design(crt):
    _, fit = crt
    kw = {"n_groups": 10, "n_sims": 40, "seed": 9, "n_jobs": 1, "progress": False}
    s = mk.power_lmm(fit, "treatment", test="satterthwaite", **kw)
    k = mk.power_lmm(fit, "treatment", test="kenward-roger", **kw)
    assert s["power"].iloc[0] == k["power"].iloc[0]


def test_lrt_and_normal_tests_run(sleep_fit):
    kw = {"effect": 3, "n_groups": 8, "n_sims": 16, "seed": 2, "n_jobs": 1, "progress": False}
    lrt = mk.power_lmm(sleep_fit, "Days", test="lrt", **kw)
    wald = mk.power_lmm(sleep_fit, "Days", test="normal", **kw)
    sat = mk.power_lmm(sleep_fit, "Days", **kw)
    assert lrt.attrs["test"] == "lrt" and wald.attrs["test"] == "normal"
    # z ignores the df and the LRT is anti-conservative with few groups: no less power
    assert wald["power"].iloc[0] >= sat["power"].iloc[0]
    assert lrt["n_failed"].iloc[0] == 0


def test_factor_terms_and_coefficients():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(12), 9)
    dose = np.tile(["a", "b", "c"], 36)
    y = rng.normal(size=12)[g] + (dose == "b") * 0.8 + (dose == "c") * 0.4 + rng.normal(size=108)
    fit = mk.fit_lmm("y ~ dose + (1 | g)", pd.DataFrame({"y": y, "dose": dose, "g": g}))
    f_test = mk.power_lmm(fit, "dose", n_sims=10, seed=1, n_jobs=1, progress=False)
    assert f_test.attrs["term"] == "dose" and np.isnan(f_test["effect"].iloc[0])
    dict_effect = mk.power_lmm(fit, "dose", effect={"dose[T.b]": 0.2, "dose[T.c]": 0.1},
                               n_sims=10, seed=1, n_jobs=1, progress=False)
    list_effect = mk.power_lmm(fit, "dose", effect=[0.2, 0.1], n_sims=10, seed=1, n_jobs=1,
                               progress=False)
    pd.testing.assert_frame_equal(dict_effect, list_effect)
    one = mk.power_lmm(fit, "dose[T.b]", effect=0.5, n_sims=10, seed=1, n_jobs=1,
                       progress=False)
    assert one["effect"].iloc[0] == 0.5 and one.attrs["term"] == "dose[T.b]"
    with pytest.raises(mk.InputValueError, match=r"'dose' has 2 coefficients"):
        mk.power_lmm(fit, "dose", effect=0.3, n_sims=2, progress=False)
    with pytest.raises(mk.InputValueError, match=r"give a value for each coefficient"):
        mk.power_lmm(fit, "dose", effect={"dose[T.b]": 0.3}, n_sims=2, progress=False)


def test_categorical_arm_asked_by_its_column_name(crt):
    data, _ = crt
    data = data.assign(arm=np.where(data["treatment"] == 1, "treated", "control"))
    fit = mk.fit_lmm("y ~ C(arm) + (1 | group)", data)
    table = mk.power_lmm(fit, "arm", n_groups=8, n_sims=8, seed=1, n_jobs=1, progress=False)
    assert table.attrs["term"] == "C(arm)"


def test_effect_list_gives_a_curve_over_effects(sleep_fit):
    table = mk.power_lmm(sleep_fit, "Days", effect=[0, 10], n_groups=6, n_sims=12, seed=1,
                         n_jobs=1, progress=False)
    assert table["effect"].tolist() == [0, 10]
    assert table["power"].iloc[1] > table["power"].iloc[0]


def test_both_sizes_give_a_grid(sleep_fit):
    table = mk.power_lmm(sleep_fit, "Days", n_groups=[5, 6], n_per_group=[3, 5], n_sims=4,
                         seed=1, n_jobs=1, progress=False)
    assert list(zip(table.n_groups, table.n_per_group)) == [(5, 3), (5, 5), (6, 3), (6, 5)]
    assert table["n_obs"].tolist() == [15, 25, 18, 30]


# --------------------------------------------------------------- extension
def test_extension_balances_a_pilot_sorted_by_arm(crt):
    data, _ = crt
    by_arm = data.sort_values(["treatment", "group"], kind="stable")
    fit = mk.fit_lmm(data.attrs["formula"], by_arm)
    for n_groups in (2, 4, 6, 10, 26):
        ext = extend_design(fit.state, fit.state.theta, n_groups=n_groups)
        frame = ext.prep.frame
        arms = frame.groupby("group")["treatment"].first()
        assert len(arms) == n_groups and arms.sum() == n_groups // 2, n_groups
    frame = extended_frame(fit.state.prep, fit.state.design, "group", 26, None)
    assert frame["group"].nunique() == 26
    assert frame["group"].str.contains("#2").sum() == 6 * 10  # six copies of pilot groups


def test_extension_within_groups_cycles_rows(sleep_fit):
    frame = extended_frame(sleep_fit.state.prep, sleep_fit.state.design, "Subject", 2, 15)
    first = frame[frame["Subject"] == frame["Subject"].iloc[0]]
    assert first["Days"].tolist() == list(range(10)) + list(range(5))


def test_extension_keeps_theta_in_the_data_units(sleep_fit):
    from mixedkit.model.estimation import user_theta

    ext = extend_design(sleep_fit.state, sleep_fit.state.theta, n_per_group=4)
    np.testing.assert_allclose(user_theta(ext.design, ext.theta),
                               user_theta(sleep_fit.state.design, sleep_fit.state.theta))


def test_extension_along_one_of_crossed_factors():
    rng = np.random.default_rng(1)
    subj, item = np.meshgrid(np.arange(10), np.arange(6), indexing="ij")
    subj, item = subj.ravel(), item.ravel()
    y = rng.normal(size=10)[subj] + rng.normal(size=6)[item] + 0.3 * (item % 2) + rng.normal(
        size=60)
    data = pd.DataFrame({"y": y, "subj": subj, "item": item, "cond": item % 2})
    fit = mk.fit_lmm("y ~ cond + (1 | subj) + (1 | item)", data)
    with pytest.raises(mk.InputValueError, match=r"several grouping columns \('subj', 'item'\)"):
        mk.power_lmm(fit, "cond", n_groups=20, n_sims=2, progress=False)
    table = mk.power_lmm(fit, "cond", along="subj", n_groups=20, n_sims=6, seed=1, n_jobs=1,
                         progress=False)
    assert table["n_obs"].iloc[0] == 120 and table.attrs["along"] == "subj"


# ---------------------------------------------------------------- messages
@pytest.mark.parametrize("kwargs, match", [
    ({"n_sims": 0}, r"n_sims must be a positive integer; got 0"),
    ({"alpha": 1.5}, r"alpha must be a number in \(0, 1\); got 1.5"),
    ({"test": "t"}, r"test must be one of .*'lrt'.*got 't'"),
    ({"n_groups": [10, "x"]}, r"n_groups must be a positive integer .*got 'x'"),
    ({"n_per_group": 0}, r"n_per_group must be a positive integer .*got 0"),
    ({"along": "Days"}, r"along='Days' is not a grouping column .*'Subject'"),
    ({"effect": "big"}, r"effect must be a number"),
])
def test_bad_arguments_are_named(sleep_fit, kwargs, match):
    with pytest.raises(mk.MixedkitError, match=match):
        mk.power_lmm(sleep_fit, "Days", progress=False, **kwargs)


def test_unknown_term_lists_the_terms(sleep_fit):
    with pytest.raises(mk.InputValueError, match=r"term 'days' is not .*\['Days'\]"):
        mk.power_lmm(sleep_fit, "days", n_sims=2, progress=False)


def test_model_must_be_a_fit(sleepstudy):
    with pytest.raises(mk.InputTypeError, match=r"fitted pilot model .* got DataFrame"):
        mk.power_lmm(sleepstudy, "Days", n_sims=2, progress=False)


def test_lrt_refuses_a_term_inside_an_interaction(sleepstudy):
    data = sleepstudy.assign(late=(sleepstudy["Days"] > 4).astype(int))
    fit = mk.fit_lmm("Reaction ~ Days * late + (1 | Subject)", data)
    with pytest.raises(mk.InputValueError, match=r"test='lrt' drops 'Days'.*\['Days:late'\]"):
        mk.power_lmm(fit, "Days", test="lrt", n_sims=2, progress=False)


def test_too_few_groups_for_every_level(crt):
    data, _ = crt
    data = data.assign(site=np.repeat(np.arange(20) % 5, 10).astype(str))
    fit = mk.fit_lmm("y ~ treatment + C(site) + (1 | group)", data)
    with pytest.raises(mk.InputValueError, match=r"n_groups=2.*(no rows for|cannot hold)"):
        mk.power_lmm(fit, "treatment", n_groups=2, n_sims=2, progress=False)


# ---------------------------------------------------------------- plot, CI
def test_plot_power(sleep_fit):
    table = mk.power_lmm(sleep_fit, "Days", effect=5, n_groups=[5, 8], n_sims=8, seed=1,
                         n_jobs=1, progress=False)
    ax = mk.plot_power(table)
    assert ax.get_xlabel() == "groups (Subject)" and ax.get_ylabel() == "power"
    assert "Days" in ax.get_title()
    mk.plot_power(table.assign(power=table.power / 2), label="half", ax=ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["half"]
    plt.close(ax.figure)
    grid = mk.power_lmm(sleep_fit, "Days", n_groups=[5, 6], n_per_group=[3, 5], n_sims=4,
                        seed=1, n_jobs=1, progress=False)
    ax = mk.plot_power(grid, x="n_per_group")
    assert ax.get_xlabel() == "rows per group" and len(ax.get_legend().get_texts()) == 2
    plt.close(ax.figure)
    with pytest.raises(mk.InputTypeError, match="table returned by mk.power_lmm"):
        mk.plot_power(pd.DataFrame({"x": [1]}))
    with pytest.raises(mk.InputValueError, match="x must be one of"):
        mk.plot_power(table, x="alpha")


def test_clopper_pearson_matches_the_beta_quantiles():
    low, high = clopper_pearson(0, 10)
    assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / 10))
    low, high = clopper_pearson(10, 10)
    assert high == 1 and low == pytest.approx(0.025 ** (1 / 10))
    low, high = clopper_pearson(7, 20)
    assert stats.binom.sf(6, 20, low) == pytest.approx(0.025)
    assert stats.binom.cdf(7, 20, high) == pytest.approx(0.025)


def test_common_random_numbers_nest_the_designs(sleep_fit):
    """The same seed draws the same data for the groups two designs share."""
    from mixedkit.inference.bootstrap import draw_response

    st = sleep_fit.state
    seed = np.random.SeedSequence(5)
    small = extend_design(st, st.theta, n_groups=6)
    large = extend_design(st, st.theta, n_groups=30)
    y6 = draw_response(small.design, st.beta, small.theta, st.sigma2, seed)
    y30 = draw_response(large.design, st.beta, large.theta, st.sigma2, seed)
    np.testing.assert_allclose(y30[:60], y6, rtol=1e-12)
    assert not np.allclose(y30[60:120], y6)


def test_a_curve_over_effects_is_monotone(sleep_fit):
    """Common random numbers: every effect is tested on the same noise, so the curve has
    no Monte Carlo wiggles (near 0 a two-sided test can still dip)."""
    table = mk.power_lmm(sleep_fit, "Days", effect=[3, 6, 9, 12], n_groups=6, n_sims=30,
                         seed=3, n_jobs=1, progress=False)
    assert table["power"].is_monotonic_increasing


def test_attrs_say_what_was_simulated(sleep_fit):
    table = mk.power_lmm(sleep_fit, "Days", effect=4, n_groups=7, n_sims=3,
                         seed=np.int64(4), n_jobs=1, progress=False)
    assert table.attrs["along"] == "Subject" and table.attrs["seed"] == 4
    assert table.attrs["coefficients"] == ["Days"] and table.attrs["effects"] == [{"Days": 4.0}]


def test_a_misspelled_term_gets_a_suggestion(sleep_fit):
    with pytest.raises(mk.InputValueError, match=r"did you mean 'Days'\?"):
        mk.power_lmm(sleep_fit, "days", n_sims=2, progress=False)


@pytest.mark.slow
def test_no_bias_over_independent_runs(crt):
    """Points of one curve share their draws, so one run can err as a whole; over
    independent seeds the errors average out. Measured (12 seeds x 500 sims): mean z
    -0.12 at G=8 and +0.19 at G=16, each with SE 0.29."""
    _, fit = crt
    z = []
    for seed in range(8):
        table = mk.power_lmm(fit, "treatment", effect=1.2, n_groups=8, n_sims=400,
                             seed=100 + seed, progress=False)
        p = exact_power(fit, 8, 10, effect=1.2)
        z.append((table["power"].iloc[0] - p) / np.sqrt(p * (1 - p) / 400))
    assert abs(np.mean(z)) < 3 / np.sqrt(len(z)), z


def test_a_simulate_lmm_frame_gives_its_true_parameters():
    from mixedkit.model.estimation import user_theta
    from mixedkit.scale.power import _pilot

    frame = mk.simulate_lmm(30, 10, icc=0.2, slope_sd=0.3, effects={"x": 0.3, "z": -0.2},
                            sigma=2.0, seed=1)
    pilot = _pilot(frame)
    np.testing.assert_allclose(pilot.beta, [0.0, 0.3, -0.2])
    assert pilot.sigma2 == 4.0
    # lme4's relative Cholesky factor: tau / sigma, no correlation, slope SD / sigma
    np.testing.assert_allclose(user_theta(pilot.state.design, pilot.theta), [0.5, 0.0, 0.15])


# ------------------------------------------------------------- too few groups
def test_two_groups_are_refused_before_any_simulation(crt):
    _, fit = crt
    with pytest.raises(mk.InputValueError, match=(
            r"^n_groups=2: 2 levels of 'group' cannot estimate the variance between them, and "
            r"an effect that varies between them has no degrees of freedom; simulate at least "
            r"3 groups \(5 or more for a usable variance estimate\)$")):
        mk.power_lmm(fit, "treatment", n_groups=[2, 10], n_sims=2, progress=False)


def test_three_or_four_groups_are_warned_about_once(sleep_fit):
    with pytest.warns(mk.DataWarning, match=(
            r"^n_groups=3 and 4: with fewer than 5 levels of 'Subject' each simulated fit "
            r"estimates their variance from that few groups \(often as 0: singular\) and the "
            r"test has few df; read these powers as rough and plan for 5 or more$")) as record:
        mk.power_lmm(sleep_fit, "Days", effect=5, n_groups=[3, 4, 6], n_sims=4, seed=1,
                     n_jobs=1, progress=False)
    assert len([w for w in record if issubclass(w.category, mk.MixedkitWarning)]) == 1


# --------------------------------------------------------------------- target
def test_target_is_read_from_a_list_of_sizes(sleep_fit):
    table = mk.power_lmm(sleep_fit, "Days", effect=5, n_groups=[6, 10, 14, 18, 22], n_sims=60,
                         seed=2, n_jobs=1, progress=False, target=0.8)
    found = table.attrs["target"]
    power = dict(zip(table["n_groups"], table["power"]))
    assert found["smallest"] == min(n for n, p in power.items() if p >= 0.8)
    high = dict(zip(table["n_groups"], table["conf_high"]))
    low = dict(zip(table["n_groups"], table["conf_low"]))
    assert found["conf_low"] == min(n for n, h in high.items() if h >= 0.8)
    assert found["conf_high"] == min((n for n, lo in low.items() if lo >= 0.8), default=None)
    assert found["power"] == 0.8 and found["size"] == "n_groups"


def test_target_search_brackets_the_smallest_size(sleep_fit):
    """Without a list, the sizes are searched: the answer reaches the target and the size
    below it (simulated on the way) does not; the same for each limit of its interval."""
    table = mk.power_lmm(sleep_fit, "Days", effect=5, n_sims=80, seed=3, n_jobs=1,
                         progress=False, target=0.8)
    found = table.attrs["target"]
    by = table.set_index("n_groups")
    assert list(table["n_groups"]) == sorted(table["n_groups"])  # every size simulated
    for key, column in (("smallest", "power"), ("conf_low", "conf_high"),
                        ("conf_high", "conf_low")):
        n = found[key]
        assert by.loc[n, column] >= 0.8, key
        assert by.loc[n - 1, column] < 0.8, key
    assert found["conf_low"] <= found["smallest"] <= found["conf_high"]
    again = mk.power_lmm(sleep_fit, "Days", effect=5, n_sims=80, seed=3, n_jobs=1,
                         progress=False, target=0.8)
    pd.testing.assert_frame_equal(table, again)
    assert again.attrs["target"] == found


def test_target_over_rows_per_group(sleep_fit):
    table = mk.power_lmm(sleep_fit, "Days", effect=8, n_groups=10, n_per_group=[3, 5, 7, 10],
                         n_sims=40, seed=1, n_jobs=1, progress=False, target=0.8)
    assert table.attrs["target"]["size"] == "n_per_group"
    assert list(table["n_per_group"]) == [3, 5, 7, 10]


def test_a_target_out_of_reach_is_said(sleep_fit):
    with pytest.warns(mk.FitWarning, match=r"^power stays below the target 0.9 up to "
                                            r"n_groups=8: the effect may be too small"):
        table = mk.power_lmm(sleep_fit, "Days", effect=1, n_groups=[6, 8], n_sims=20, seed=1,
                             n_jobs=1, progress=False, target=0.9)
    assert table.attrs["target"]["smallest"] is None


@pytest.mark.parametrize("kwargs, match", [
    ({"target": 80}, r"target must be a power in \(0, 1\) such as 0.8; got 80"),
    ({"target": 0.8, "effect": [2, 5]}, r"target= finds the smallest size for one effect"),
    ({"target": 0.8, "n_groups": [6, 8], "n_per_group": [3, 5]},
     r"target= searches over one size: give a list for n_groups or for n_per_group, not both"),
])
def test_bad_targets_are_named(sleep_fit, kwargs, match):
    with pytest.raises(mk.InputValueError, match=match):
        mk.power_lmm(sleep_fit, "Days", progress=False, n_sims=2, **kwargs)


@pytest.mark.slow
def test_target_matches_the_exact_smallest_size(crt):
    """Balanced cluster trial: the exact power (noncentral t, 2G - 2 df) over even sizes;
    the exact smallest size reaching 0.8 lies within the simulated answer's interval."""
    _, fit = crt
    sizes = list(range(8, 41, 4))
    table = mk.power_lmm(fit, "treatment", effect=0.8, n_groups=sizes, n_sims=1000, seed=5,
                         progress=False, target=0.8)
    exact = min(n for n in sizes if exact_power(fit, n, 10, effect=0.8) >= 0.8)
    found = table.attrs["target"]
    assert found["conf_low"] <= exact <= found["conf_high"], (found, exact)


def test_plot_power_marks_the_target_answer(sleep_fit):
    table = mk.power_lmm(sleep_fit, "Days", effect=5, n_groups=[6, 10, 14, 18], n_sims=40,
                         seed=1, n_jobs=1, progress=False, target=0.7)
    ax = mk.plot_power(table)
    found = table.attrs["target"]
    assert any(line.get_linestyle() == ":" and line.get_xdata()[0] == found["smallest"]
               for line in ax.get_lines())
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == 0.7
               for line in ax.get_lines())
    plt.close("all")


# -------------------------------------------------- power at other standard deviations
def _slope_power_exact(n: int, effect: float, slope_sd: float, sigma: float,
                       alpha: float = 0.05) -> float:
    """Balanced sleepstudy design (days 0..9 for each of n subjects, random intercepts and
    slopes): the Satterthwaite t test of Days is the one-sample t test of the subjects'
    own slopes (df n - 1), each with variance slope_sd^2 + sigma^2 / Sxx."""
    sxx = float(np.sum((np.arange(10) - 4.5) ** 2))
    ncp = effect / np.sqrt((slope_sd**2 + sigma**2 / sxx) / n)
    crit = stats.t.ppf(1 - alpha / 2, n - 1)
    return float(stats.nct.sf(crit, n - 1, ncp) + stats.nct.cdf(-crit, n - 1, ncp))


def test_theta_from_covariances_inverts_block_covariances(sleep_fit):
    from mixedkit.model.estimation import block_covariances, theta_from_covariances

    design, st = sleep_fit.state.design, sleep_fit.state
    covs = block_covariances(design, st.theta, st.sigma2)
    vc = sleep_fit.variance_components
    assert covs[0][1, 1] == pytest.approx(vc.loc[1, "variance"], rel=1e-10)
    assert covs[0][0, 1] == pytest.approx(vc.loc[2, "covariance"], rel=1e-10)
    np.testing.assert_allclose(theta_from_covariances(design, covs, st.sigma2), st.theta,
                               rtol=1e-12)
    # singular covariances: a correlation of 1, a variance of 0
    one = np.array([[4.0, 6.0], [6.0, 9.0]])
    back = block_covariances(design, theta_from_covariances(design, [one], 2.0), 2.0)[0]
    np.testing.assert_allclose(back, one, atol=1e-12)
    zero = np.array([[4.0, 0.0], [0.0, 0.0]])
    back = block_covariances(design, theta_from_covariances(design, [zero], 2.0), 2.0)[0]
    np.testing.assert_allclose(back, zero, atol=1e-12)


def test_sd_replaces_the_pilots_standard_deviations_and_keeps_correlations(sleep_fit):
    kw = {"effect": 5, "n_groups": 8, "n_sims": 4, "seed": 1, "n_jobs": 1, "progress": False}
    base = mk.power_lmm(sleep_fit, "Days", **kw).attrs["sd"]
    assert base[("Subject", "Days")] == pytest.approx(5.9221, abs=1e-4)  # lme4: 5.922
    table = mk.power_lmm(sleep_fit, "Days", sd={"Days": 8.75, "Residual": 20.0}, **kw)
    sds = table.attrs["sd"]
    assert sds[("Subject", "Days")] == pytest.approx(8.75, rel=1e-12)
    assert sds["Residual"] == pytest.approx(20.0, rel=1e-12)
    assert sds[("Subject", "Intercept")] == pytest.approx(base[("Subject", "Intercept")])
    from mixedkit.model.estimation import block_covariances
    from mixedkit.scale.power import _pilot, _with_sds
    pilot = _with_sds(_pilot(sleep_fit), {("Subject", "Days"): 8.75})
    cov = block_covariances(pilot.state.design, pilot.theta, pilot.sigma2)[0]
    corr = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    assert corr == pytest.approx(sleep_fit.variance_components.loc[2, "corr"], rel=1e-9)


@pytest.mark.parametrize("sd,match", [
    ({"Dayz": 3.0}, (r"sd: 'Dayz' is not a random term of the model\. The model's: "
                    r"'Intercept', 'Days', 'Residual'")),
    ({"Days": -1.0}, r"sd\['Days'\] must be a standard deviation \(a number >= 0\)"),
    ([8.75], r"sd must be a dict such as"),
])
def test_bad_sd_is_named(sleep_fit, sd, match):
    with pytest.raises((mk.InputValueError, mk.InputTypeError), match=match):
        mk.power_lmm(sleep_fit, "Days", sd=sd, n_sims=2, progress=False)


def test_an_sd_of_several_groups_asks_for_the_group():
    pen = mk.load_dataset("penicillin")
    fit = mk.fit_lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    with pytest.raises(mk.InputValueError, match=r"'Intercept' names random terms of several "
                       r"groups; write \(group, term\)\. The model's: \('plate', 'Intercept'\)"):
        mk.power_lmm(fit, "Intercept", sd={"Intercept": 1.0}, n_sims=2, progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("slope_sd", [3.80, 8.75])  # sleepstudy's profile 95% CI of the SD
def test_power_at_another_slope_sd_matches_the_exact_answer(sleep_fit, slope_sd):
    """Known truth: the power of the Days test at the ends of the slope SD's interval
    agrees with the noncentral-t power of the balanced design within 3.5 Monte Carlo SEs."""
    n_sims = 600
    table = mk.power_lmm(sleep_fit, "Days", effect=5, n_groups=16, sd={"Days": slope_sd},
                         n_sims=n_sims, seed=3, n_jobs=2, progress=False)
    sigma = table.attrs["sd"]["Residual"]
    exact = _slope_power_exact(16, 5.0, slope_sd, sigma)
    got = table.loc[0, "power"]
    assert abs(got - exact) < 3.5 * np.sqrt(exact * (1 - exact) / n_sims), (got, exact)
