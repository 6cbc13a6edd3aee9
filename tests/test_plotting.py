"""Plots, checked structurally on the Agg backend: the artists hold diagnostics_data."""

from __future__ import annotations

import subprocess
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.markers import MarkerStyle

import mixedkit as mk
from mixedkit.errors import DataError, InputTypeError, InputValueError
from mixedkit.inference.diagnostics import diagnostics_data
from mixedkit.plots import diagnostics as plotting

FORMULAS = {
    "sleepstudy": "Reaction ~ Days + (Days | Subject)",
    "dietox": "Weight ~ Time + (Time | Pig)",
    "dyestuff": "Yield ~ 1 + (1 | Batch)",
    "penicillin": "diameter ~ 1 + (1 | plate) + (1 | sample)",
    "pastes": "strength ~ 1 + (1 | batch/cask)",
}
SINGLE_PLOTS = [plotting.plot_residuals, plotting.plot_qq, plotting.plot_scale_location,
                plotting.plot_ranef_qq, plotting.plot_shrinkage]


@pytest.fixture(scope="module")
def fits():
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        for name, formula in FORMULAS.items():
            out[name] = mk.fit_lmm(formula, mk.load_dataset(name))
    return out


@pytest.fixture(scope="module")
def dd(fits):
    return {name: diagnostics_data(fit) for name, fit in fits.items()}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _by_label(artists, label):
    found = [a for a in artists if a.get_label() == label]
    assert len(found) == 1, [a.get_label() for a in artists]
    return found[0]


def _points(ax, label="_points"):
    return _by_label(ax.collections, label).get_offsets()


def _suptitle(fig) -> str:
    """Figure.get_suptitle() is matplotlib >= 3.8; the project supports 3.6."""
    title = getattr(fig, "_suptitle", None)
    return "" if title is None else title.get_text()


def _xy(line):
    return np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)


def _arrows(ax):
    arrows = [t for t in ax.texts if t.get_gid() == "shrinkage-arrow"]
    start = np.array([a.xyann for a in arrows], float)
    end = np.array([a.xy for a in arrows], float)
    return start, end


def _sorted_rows(a):
    a = np.asarray(a, float)
    return a[np.lexsort(a.T[::-1])]


# ------------------------------------------------------------------ API conventions

@pytest.mark.parametrize("func", SINGLE_PLOTS, ids=lambda f: f.__name__)
def test_single_plots_return_a_new_axes(func, fits):
    ax = func(fits["sleepstudy"])
    assert isinstance(ax, Axes)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


@pytest.mark.parametrize("func", SINGLE_PLOTS, ids=lambda f: f.__name__)
def test_single_plots_draw_on_the_axes_given(func, fits):
    fig, (left, right) = plt.subplots(1, 2)
    assert func(fits["sleepstudy"], ax=right) is right
    assert not left.has_data()
    assert right.has_data()
    assert len(fig.axes) == 2
    assert plt.get_fignums() == [fig.number]


@pytest.mark.parametrize("func, label", [
    (plotting.plot_residuals, "_points"),
    (plotting.plot_qq, "_points"),
    (plotting.plot_scale_location, "_points"),
    (plotting.plot_ranef_qq, "_points"),
    (plotting.plot_shrinkage, "Mixed model (partial pooling)"),
], ids=lambda v: getattr(v, "__name__", v))
def test_kwargs_reach_the_main_points(func, label, fits):
    ax = func(fits["sleepstudy"], color="green", marker="s")
    points = _by_label(ax.collections, label)
    assert np.allclose(points.get_facecolor()[0][:3], to_rgba("green")[:3])
    square = MarkerStyle("s")
    square = square.get_path().transformed(square.get_transform()).vertices
    assert np.allclose(points.get_paths()[0].vertices, square)
    ax = func(fits["sleepstudy"], s=99)
    assert np.allclose(_by_label(ax.collections, label).get_sizes(), 99)


@pytest.mark.parametrize("func", [plotting.plot_diagnostics, plotting.plot_ranef,
                                  plotting.plot_fitted], ids=lambda f: f.__name__)
def test_multi_panel_plots_return_a_figure(func, fits):
    fig = func(fits["sleepstudy"])
    assert isinstance(fig, Figure)
    assert _suptitle(fig)


def test_no_plot_calls_show(fits, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", fail)
    fit = fits["sleepstudy"]
    for func in SINGLE_PLOTS + [plotting.plot_diagnostics, plotting.plot_ranef,
                                plotting.plot_fitted]:
        func(fit)


def test_importing_mixedkit_and_plotting_does_not_import_matplotlib():
    code = ("import sys, mixedkit, mixedkit.plots.diagnostics; "
            "print(any(m == 'matplotlib' or m.startswith('matplotlib.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_public_names():
    assert sorted(plotting.__all__) == [
        "plot_diagnostics", "plot_fitted", "plot_qq", "plot_ranef", "plot_ranef_qq",
        "plot_residuals", "plot_scale_location", "plot_shrinkage"]


# ------------------------------------------------------------------ the data in the artists

@pytest.mark.parametrize("name", ["sleepstudy", "penicillin"])
def test_residuals_plot_draws_residuals_trend_and_zero(name, fits, dd):
    d = dd[name]
    ax = plotting.plot_residuals(fits[name])
    assert np.allclose(_points(ax), d["residuals"][["fitted", "residual"]].to_numpy())
    trend = _by_label(ax.lines, "Lowess trend")
    assert np.allclose(_xy(trend), d["residual_smooth"][["x", "smooth"]].to_numpy())
    assert np.allclose(_by_label(ax.lines, "_zero").get_ydata(), 0)
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == (
        "Residuals vs fitted", "Fitted values", "Residuals")


def test_scale_location_plot_draws_sqrt_abs_pearson_and_trend(fits, dd):
    d = dd["dietox"]
    ax = plotting.plot_scale_location(fits["dietox"])
    assert np.allclose(_points(ax), d["residuals"][["fitted", "sqrt_abs_pearson"]].to_numpy())
    trend = _by_label(ax.lines, "Lowess trend")
    assert np.allclose(_xy(trend), d["scale_smooth"][["x", "smooth"]].to_numpy())
    assert ax.get_ylim()[0] == 0


def _check_qq(ax, q):
    assert np.allclose(_points(ax), q[["theoretical", "sample"]].to_numpy())
    ref = _by_label(ax.lines, "y = x")
    assert np.allclose(ref.get_xdata(), ref.get_ydata())
    assert np.allclose(ref.get_xdata(), [q["theoretical"].min(), q["theoretical"].max()])
    band = _by_label(ax.collections, "95% pointwise band")
    vertices = {tuple(np.round(v, 9)) for v in band.get_paths()[0].vertices}
    for col in ("band_low", "band_high"):
        expected = {tuple(np.round(v, 9)) for v in q[["theoretical", col]].to_numpy()}
        assert expected <= vertices


@pytest.mark.parametrize("name", ["sleepstudy", "dyestuff"])
def test_qq_plot_draws_points_reference_line_and_band(name, fits, dd):
    _check_qq(plotting.plot_qq(fits[name]), dd[name]["qq"])


def test_ranef_qq_defaults_to_the_first_term(fits, dd):
    rq = dd["sleepstudy"]["ranef_qq"]
    group, term = rq["group"].iloc[0], rq["term"].iloc[0]
    ax = plotting.plot_ranef_qq(fits["sleepstudy"])
    _check_qq(ax, rq[(rq["group"] == group) & (rq["term"] == term)])
    assert term in ax.get_title() and group in ax.get_title()


@pytest.mark.parametrize("name, group, term", [
    ("sleepstudy", "Subject", "Intercept"), ("sleepstudy", None, "Days"),
    ("penicillin", "sample", None), ("pastes", "cask:batch", "Intercept"),
])
def test_ranef_qq_draws_the_chosen_term(name, group, term, fits, dd):
    rq = dd[name]["ranef_qq"]
    ax = plotting.plot_ranef_qq(fits[name], group=group, term=term)
    want = rq[(rq["group"] == (group or rq["group"].iloc[0]))]
    want = want[want["term"] == (term or want["term"].iloc[0])]
    assert len(want) >= 3
    _check_qq(ax, want)


@pytest.mark.parametrize("kwargs, match", [
    ({"group": "Subjekt"}, r"group must be one of \['Subject'\].*got 'Subjekt'"),
    ({"term": "Time"}, r"term must be one of \['Intercept', 'Days'\].*got 'Time'"),
])
def test_ranef_qq_rejects_unknown_group_or_term(kwargs, match, fits):
    with pytest.raises(InputTypeError, match=match):
        plotting.plot_ranef_qq(fits["sleepstudy"], **kwargs)


@pytest.mark.parametrize("name", ["sleepstudy", "penicillin", "dietox", "pastes"])
def test_diagnostics_has_three_panels_plus_one_per_random_term(name, fits, dd):
    fig = plotting.plot_diagnostics(fits[name])
    n_terms = dd[name]["ranef_qq"].groupby(["group", "term"]).ngroups
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3 + n_terms
    if name != "pastes":
        assert len(visible) == 5
    titles = [ax.get_title() for ax in visible]
    assert titles[:3] == ["Residuals vs fitted", "Normal QQ plot of residuals",
                          "Scale-location"]
    assert all(t.startswith("Random effects QQ") for t in titles[3:])
    assert fits[name].formula in _suptitle(fig)
    assert np.allclose(_points(visible[0]),
                       dd[name]["residuals"][["fitted", "residual"]].to_numpy())
    _check_qq(visible[1], dd[name]["qq"])


def test_diagnostics_figsize(fits):
    fig = plotting.plot_diagnostics(fits["dyestuff"], figsize=(8, 6))
    assert tuple(fig.get_size_inches()) == (8, 6)
    assert len(fig.axes) == 4


def _errorbars(ax):
    (container,) = ax.containers
    data_line, _, (bars,) = container.lines
    segments = np.array(bars.get_segments())
    return _xy(data_line), segments


@pytest.mark.parametrize("name", ["sleepstudy", "penicillin", "pastes"])
def test_caterpillar_draws_sorted_modes_with_intervals(name, fits, dd):
    ranef = dd[name]["ranef"]
    fig = plotting.plot_ranef(fits[name])
    parts = list(ranef.groupby(["group", "term"], sort=False))
    assert len(fig.axes) == len(parts)
    for ax, ((group, term), part) in zip(fig.axes, parts):
        part = part.sort_values("estimate", kind="stable")
        xy, segments = _errorbars(ax)
        assert np.allclose(xy[:, 0], part["estimate"])
        assert np.all(np.diff(xy[:, 0]) >= 0)
        assert np.allclose(xy[:, 1], np.arange(len(part)))
        assert np.allclose(segments[:, 0, 0], part["conf_low"])
        assert np.allclose(segments[:, 1, 0], part["conf_high"])
        assert [t.get_text() for t in ax.get_yticklabels()] == part["level"].tolist()
        assert np.allclose(_by_label(ax.lines, "_zero").get_xdata(), 0)
        assert group in ax.get_title() and term in ax.get_title()


def test_caterpillar_names_every_kth_level_when_there_are_many(fits, dd):
    ranef = dd["dietox"]["ranef"]
    fig = plotting.plot_ranef(fits["dietox"])  # 72 pigs: every 2nd named
    assert len(fig.axes) == 2
    for ax, (_, part) in zip(fig.axes, ranef.groupby(["group", "term"], sort=False)):
        part = part.sort_values("estimate", kind="stable")
        assert len(_errorbars(ax)[0]) == 72
        assert np.array_equal(ax.get_yticks(), np.arange(0, 72, 2))
        assert [t.get_text() for t in ax.get_yticklabels()] == part["level"].tolist()[::2]
        assert "72 levels, 1 in 2 named" in ax.get_ylabel()


def test_caterpillar_conf_level(fits):
    fit = fits["sleepstudy"]
    fig = plotting.plot_ranef(fit, conf_level=0.8)
    order = diagnostics_data(fit)["ranef"][["group", "level", "term"]]
    want = order.merge(fit.ranef(conf_level=0.8), on=["group", "level", "term"], how="left")
    for ax, (_, part) in zip(fig.axes, want.groupby(["group", "term"], sort=False)):
        _, segments = _errorbars(ax)
        assert np.allclose(segments[:, 0, 0], part["conf_low"])
        assert np.allclose(segments[:, 1, 0], part["conf_high"])
        assert "80%" in ax.get_xlabel()
    with pytest.raises(InputValueError, match="conf_level must be a number between 0 and 1"):
        plotting.plot_ranef(fit, conf_level=95)


def test_caterpillar_uses_the_axes_given(fits):
    fig, axes = plt.subplots(1, 3)
    assert plotting.plot_ranef(fits["sleepstudy"], axes=axes) is fig
    assert axes[0].containers and axes[1].containers
    assert not axes[2].get_visible()
    with pytest.raises(InputTypeError, match="axes must hold at least 2 Axes.*got 1"):
        plotting.plot_ranef(fits["sleepstudy"], axes=[axes[0]])


def test_shrinkage_2d_arrows_run_from_raw_to_mixed(fits, dd):
    sh = dd["sleepstudy"]["shrinkage"]
    wide = {col: sh.pivot(index="level", columns="term", values=col)[["Intercept", "Days"]]
            for col in ("raw", "mixed", "population")}
    ax = plotting.plot_shrinkage(fits["sleepstudy"])
    start, end = _arrows(ax)
    assert len(start) == 18
    assert np.allclose(_sorted_rows(start), _sorted_rows(wide["raw"].to_numpy()))
    assert np.allclose(_sorted_rows(end), _sorted_rows(wide["mixed"].to_numpy()))
    # each arrow pairs a group's raw estimate with the same group's mixed estimate
    pairs = _sorted_rows(np.hstack([start, end]))
    assert np.allclose(pairs, _sorted_rows(np.hstack([wide["raw"], wide["mixed"]])))
    raw = _points(ax, "Separate regression per group (no pooling)")
    mixed = _points(ax, "Mixed model (partial pooling)")
    assert np.allclose(_sorted_rows(raw), _sorted_rows(wide["raw"].to_numpy()))
    assert np.allclose(_sorted_rows(mixed), _sorted_rows(wide["mixed"].to_numpy()))
    assert np.allclose(_points(ax, "Population estimate"), wide["population"].iloc[[0]])
    assert ax.get_title() == "Partial pooling: per-group estimates shrink toward the population"


@pytest.mark.parametrize("name", ["dyestuff", "pastes"])
def test_shrinkage_1d_for_a_random_intercept(name, fits, dd):
    sh = dd[name]["shrinkage"]
    ax = plotting.plot_shrinkage(fits[name])
    start, end = _arrows(ax)
    assert len(start) == len(sh)
    assert np.allclose(np.sort(start[:, 0]), np.sort(sh["raw"]))
    assert np.allclose(start[:, 1], end[:, 1])  # horizontal: same row
    order = np.argsort(start[:, 0])
    by_raw = sh.sort_values("raw")
    assert np.allclose(end[order, 0], by_raw["mixed"])
    assert np.allclose(_by_label(ax.lines, "Population estimate").get_xdata(),
                       sh["population"].iloc[0])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == by_raw["level"].tolist()


def test_shrinkage_needs_per_group_regressions(fits):
    with pytest.raises(DataError, match=r"plot_shrinkage needs a grouping factor.*crossed"):
        plotting.plot_shrinkage(fits["penicillin"])


@pytest.mark.parametrize("name, n_groups", [("sleepstudy", 18), ("dietox", 72)])
def test_fitted_draws_one_panel_per_sampled_group(name, n_groups, fits):
    fig = plotting.plot_fitted(fits[name])
    traj = diagnostics_data(fits[name])["trajectories"]
    levels = list(dict.fromkeys(traj["level"]))
    assert len(fig.axes) == len(levels) == min(12, n_groups)
    assert f"{len(levels)} of {n_groups} groups shown" in _suptitle(fig)
    for ax, level in zip(fig.axes, levels):
        part = traj[traj["level"] == level]
        assert ax.get_title() == level
        assert np.allclose(_points(ax, "Observed"), part[["x", "observed"]].to_numpy())
        solid, dashed = ax.lines
        assert np.allclose(_xy(solid), part[["x", "fitted"]].to_numpy())
        assert np.allclose(_xy(dashed), part[["x", "population"]].to_numpy())
        assert dashed.get_linestyle() == "--"
        assert ax.get_shared_x_axes().joined(ax, fig.axes[0])
        assert ax.get_shared_y_axes().joined(ax, fig.axes[0])


def test_fitted_max_groups_seed_and_axes(fits):
    fit = fits["sleepstudy"]
    fig = plotting.plot_fitted(fit, max_groups=30)
    assert len(fig.axes) == 18 and "18 of 18" in _suptitle(fig)
    one = [ax.get_title() for ax in plotting.plot_fitted(fit, max_groups=4, seed=1).axes]
    two = [ax.get_title() for ax in plotting.plot_fitted(fit, max_groups=4, seed=1).axes]
    assert one == two and len(one) == 4
    fig, axes = plt.subplots(2, 3)
    assert plotting.plot_fitted(fit, max_groups=5, axes=axes) is fig
    assert [ax.get_visible() for ax in axes.ravel()] == [True] * 5 + [False]
    with pytest.raises(InputTypeError, match="axes must hold at least 5 Axes"):
        plotting.plot_fitted(fit, max_groups=5, axes=axes[0])


@pytest.mark.parametrize("name, kwargs, match", [
    ("penicillin", {}, r"no per-group trajectories.*crossed design"),
    ("dyestuff", {}, r"numeric x variable; pass x='column'"),
    ("sleepstudy", {"x": "Dayz"}, (r"x='Dayz' is not a column the model uses; did you mean "
                                   r"'Days'\?")),
])
def test_fitted_without_trajectories_raises(name, kwargs, match, fits):
    with pytest.raises(DataError, match=match):
        plotting.plot_fitted(fits[name], **kwargs)


# ------------------------------------------------------------------ large data

BIG_ROWS, BIG_GROUPS = 25_000, 100  # above the hexbin threshold (20,000 rows)


@pytest.fixture(scope="module")
def big():
    """A large fit that stays fast: x takes 5 values, so the conditional fitted values
    take 500, and lowess (which fits once per distinct x) is cheap."""
    rng = np.random.default_rng(5)
    g = rng.integers(0, BIG_GROUPS, BIG_ROWS)
    x = rng.integers(0, 5, BIG_ROWS).astype(float)
    y = 1.0 + 0.5 * x + rng.normal(size=BIG_GROUPS)[g] + rng.normal(size=BIG_ROWS)
    data = pd.DataFrame({"y": y, "x": x, "g": np.char.add("g", g.astype(str))})
    fit = mk.fit_lmm("y ~ x + (1 | g)", data)
    return fit, diagnostics_data(fit)


@pytest.fixture
def big_cached(big, monkeypatch):
    """The large fit, with diagnostics_data computed once for the module."""
    fit, d = big
    def cached(f, *, x=None, max_groups=12, seed=0):
        if f is fit and (x, max_groups, seed) == (None, 12, 0):
            return d
        return diagnostics_data(f, x=x, max_groups=max_groups, seed=seed)

    monkeypatch.setattr(plotting, "diagnostics_data", cached)
    return fit, d


def _hexbin(ax):
    return _by_label(ax.collections, plotting._DENSITY_LABEL)


def _reference_hexbin(x, y, **kw):
    _, ax = plt.subplots()
    return ax.hexbin(x, y, **{"gridsize": 60, "mincnt": 1, **kw})


def test_large_fit_diagnostics_draw_residual_density_and_thinned_qq(big_cached):
    fit, d = big_cached
    fig = plotting.plot_diagnostics(fit)
    res_ax, qq_ax, scale_ax = fig.axes[:3]
    for ax, col in ((res_ax, "residual"), (scale_ax, "sqrt_abs_pearson")):
        hb = _hexbin(ax)
        assert not [c for c in ax.collections if c.get_label() == "_points"]
        counts = np.asarray(hb.get_array())
        assert counts.sum() == BIG_ROWS and counts.min() >= 1  # every row, empty cells off
        want = _reference_hexbin(d["residuals"]["fitted"], d["residuals"][col])
        assert np.allclose(hb.get_offsets(), want.get_offsets())
        assert np.array_equal(counts, np.asarray(want.get_array()))
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert plotting._DENSITY_LABEL in legend
    trend = _by_label(res_ax.lines, "Lowess trend")
    assert np.allclose(_xy(trend), d["residual_smooth"][["x", "smooth"]].to_numpy())

    q, pts = d["qq"], _points(qq_ax)
    tail = plotting._QQ_TAIL
    assert len(pts) == plotting._DENSE_POINTS < len(q)
    cols = ["theoretical", "sample"]
    assert np.allclose(pts[:tail], q[cols].to_numpy()[:tail])  # every extreme point
    assert np.allclose(pts[-tail:], q[cols].to_numpy()[-tail:])
    rank = np.searchsorted(q["theoretical"].to_numpy(), pts[:, 0])  # rows of the table
    assert np.allclose(pts, q[cols].to_numpy()[rank])
    gaps = np.diff(rank[tail:-tail])  # evenly spaced order statistics in between
    assert gaps.min() >= 1 and gaps.max() - gaps.min() <= 1
    _check_qq(qq_ax, q.iloc[rank])
    ref = _by_label(qq_ax.lines, "y = x")  # the reference line spans the whole table
    assert np.allclose(ref.get_xdata(), [q["theoretical"].min(), q["theoretical"].max()])


def test_density_is_a_choice(big_cached, fits, dd):
    fit, d = big_cached
    ax = plotting.plot_residuals(fit, density=False)  # all rows, small translucent marks
    points = _by_label(ax.collections, "_points")
    assert np.allclose(points.get_offsets(), d["residuals"][["fitted", "residual"]])
    assert points.get_sizes().max() < 14 and points.get_alpha() < 0.7
    assert points.get_rasterized()
    ax = plotting.plot_scale_location(fit, density=False, s=30, alpha=0.5)
    assert np.allclose(_by_label(ax.collections, "_points").get_sizes(), 30)
    ax = plotting.plot_residuals(fit, gridsize=20, cmap="Greys")  # kwargs reach hexbin
    want = _reference_hexbin(d["residuals"]["fitted"], d["residuals"]["residual"],
                             gridsize=20)
    assert np.array_equal(np.asarray(_hexbin(ax).get_array()), np.asarray(want.get_array()))
    assert _hexbin(ax).get_cmap().name == "Greys"
    ax = plotting.plot_residuals(fits["sleepstudy"], density=True)
    assert np.asarray(_hexbin(ax).get_array()).sum() == len(dd["sleepstudy"]["residuals"])
    with pytest.raises(InputTypeError, match=r"s= applies to points.*density=False"):
        plotting.plot_residuals(fit, s=5)
    with pytest.raises(InputTypeError, match="density must be True, False or None"):
        plotting.plot_diagnostics(fits["sleepstudy"], density="yes")


def test_medium_data_draws_smaller_more_transparent_points():
    big_style = plotting.marker_style(8_000)
    assert big_style["s"] == pytest.approx(7.0) and big_style["alpha"] == pytest.approx(0.35)
    assert plotting.marker_style(2_000) == {"s": 14, "alpha": 0.7}
    assert plotting.marker_style(10**7)["s"] == 2.0
    assert plotting.marker_style(10**7)["alpha"] == 0.1


def test_caterpillar_with_100_levels_names_every_third(big_cached):
    fit, d = big_cached
    fig = plotting.plot_ranef(fit)
    (ax,) = fig.axes
    part = d["ranef"].sort_values("estimate", kind="stable")
    assert len(_errorbars(ax)[0]) == BIG_GROUPS
    assert np.array_equal(ax.get_yticks(), np.arange(0, BIG_GROUPS, 3))
    assert [t.get_text() for t in ax.get_yticklabels()] == part["level"].tolist()[::3]
    assert ax.get_ylabel() == "g (100 levels, 1 in 3 named)"


def test_ranef_qq_and_trajectories_of_a_large_fit(big_cached):
    fit, d = big_cached
    ax = plotting.plot_ranef_qq(fit)
    _check_qq(ax, d["ranef_qq"])  # 100 levels: not thinned
    fig = plotting.plot_fitted(fit)
    traj = d["trajectories"]
    assert len(fig.axes) == 12
    for ax, level in zip(fig.axes, dict.fromkeys(traj["level"])):
        part = traj[traj["level"] == level]
        assert len(part) > plotting._PANEL_POINTS
        points = _by_label(ax.collections, "Observed")
        assert np.allclose(points.get_offsets(), part[["x", "observed"]].to_numpy())
        assert points.get_sizes().max() < 14


def _quiver_arrows(ax):
    (quiver,) = [c for c in ax.collections if c.get_gid() == "shrinkage-arrows"]
    start = np.column_stack([quiver.X, quiver.Y]).astype(float)
    return start, start + np.column_stack([quiver.U, quiver.V])


def test_shrinkage_arrows_become_one_quiver_for_many_groups(fits, dd, big_cached,
                                                            monkeypatch):
    monkeypatch.setattr(plotting, "_MAX_ARROWS", 10)
    sh = dd["sleepstudy"]["shrinkage"]  # 18 groups, 2-D
    wide = {col: sh.pivot(index="level", columns="term", values=col)[["Intercept", "Days"]]
            for col in ("raw", "mixed")}
    ax = plotting.plot_shrinkage(fits["sleepstudy"])
    assert not _arrows(ax)[0].size
    start, end = _quiver_arrows(ax)
    pairs = _sorted_rows(np.hstack([start, end]))
    assert np.allclose(pairs, _sorted_rows(np.hstack([wide["raw"], wide["mixed"]])))
    mixed = _by_label(ax.collections, "Mixed model (partial pooling)")
    assert mixed.get_sizes().max() < 30 and mixed.get_alpha() < 1

    fit, d = big_cached  # 100 groups, a random intercept: 1-D
    sh = d["shrinkage"].sort_values("raw")
    ax = plotting.plot_shrinkage(fit)
    start, end = _quiver_arrows(ax)
    assert np.allclose(start[:, 0], sh["raw"]) and np.allclose(end[:, 0], sh["mixed"])
    assert np.allclose(start[:, 1], np.arange(100)) and np.allclose(end[:, 1], start[:, 1])
    assert np.array_equal(ax.get_yticks(), np.arange(0, 100, 3))
    assert "1 in 3 named" in ax.get_ylabel()
