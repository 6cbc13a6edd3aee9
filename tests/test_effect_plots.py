"""Means and effect plots, checked structurally on the Agg backend: the error bars, lines
and bands hold fit.marginal_means / fit.predict, the points hold the observed data."""

from __future__ import annotations

import subprocess
import sys
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer

import mixedkit as mk
from mixedkit.errors import ColumnNotFoundError, InputTypeError, InputValueError
from mixedkit.plots import effects as effect_plots
from mixedkit.plots.effects import effects_data, means_data, plot_effects, plot_means

MEANS = ["estimate", "std_error", "df", "conf_low", "conf_high"]
FORMULAS = {
    "sleep": ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    "diet": ("Weight ~ Time * C(Evit) + (Time | Pig)", "dietox"),  # by = the only factor
    "diet_cu": ("Weight ~ Time * C(Evit) + C(Cu) + (Time | Pig)", "dietox"),  # two factors
}


@pytest.fixture(scope="module")
def fits():
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        for name, (formula, dataset) in FORMULAS.items():
            out[name] = mk.fit_lmm(formula, mk.load_dataset(dataset))
    return out


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _errorbars(ax) -> list[ErrorbarContainer]:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def _centres_and_bars(container: ErrorbarContainer):
    """(x, y) of the points and (low, high) of the vertical bars, in drawing order."""
    data_line, _, (bars, *_) = container.lines
    centres = np.column_stack([data_line.get_xdata(), data_line.get_ydata()]).astype(float)
    segs = np.array(bars.get_segments(), float)  # (n, 2, 2): [[x, low], [x, high]]
    assert np.allclose(segs[:, 0, 0], centres[:, 0])
    return centres, np.column_stack([segs[:, :, 1].min(axis=1), segs[:, :, 1].max(axis=1)])


def _by_gid(artists, gid):
    return [a for a in artists if a.get_gid() == gid]


def _band_edges(band, xs):
    """Lowest and highest y of the band's polygon at each x."""
    verts = np.vstack([p.vertices for p in band.get_paths()])
    out = []
    for x in xs:
        ys = verts[np.isclose(verts[:, 0], x), 1]
        out.append((ys.min(), ys.max()))
    return np.array(out)


# ------------------------------------------------------------------ means_data / plot_means

def test_means_data_holds_marginal_means_and_the_observed_rows(fits):
    fit = fits["diet_cu"]
    d = means_data(fit, "Evit", by="Cu")
    pd.testing.assert_frame_equal(d["means"], fit.marginal_means("Evit", by="Cu"))
    obs = d["observed"]
    assert list(obs.columns) == ["Evit", "Cu", "Weight"]
    data = mk.load_dataset("dietox")
    assert len(obs) == fit.n_obs == len(data)
    pd.testing.assert_series_equal(obs["Weight"], data["Weight"].loc[obs.index],
                                   check_dtype=False)
    assert (obs[["Evit", "Cu"]].to_numpy() == data.loc[obs.index, ["Evit", "Cu"]]
            .to_numpy()).all()


def test_error_bars_are_the_marginal_means(fits):
    fit = fits["diet_cu"]
    means = fit.marginal_means("Evit")
    ax = plot_means(fit, "Evit")
    (bars,) = _errorbars(ax)
    centres, extent = _centres_and_bars(bars)
    assert np.allclose(centres[:, 0], [0, 1, 2])
    assert np.allclose(centres[:, 1], means["estimate"])
    assert np.allclose(extent, means[["conf_low", "conf_high"]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    assert ax.get_xlabel() == "Evit"
    assert ax.get_ylabel() == "Weight (marginal mean, 95% CI)"
    assert "Satterthwaite" in ax.get_title() and "averaged over Cu" in ax.get_title()


def test_by_levels_are_dodged_series_with_a_legend(fits):
    fit = fits["diet_cu"]
    means = fit.marginal_means("Evit", by="Cu")
    ax = plot_means(fit, "Evit", by="Cu")
    bars = _errorbars(ax)
    assert [b.get_label() for b in bars] == ["1", "2", "3"]
    offsets = []
    for cu, container in zip([1, 2, 3], bars):
        part = means[means["Cu"] == cu]
        centres, extent = _centres_and_bars(container)
        assert np.allclose(centres[:, 1], part["estimate"])
        assert np.allclose(extent, part[["conf_low", "conf_high"]])
        shift = centres[:, 0] - np.arange(3)
        assert np.allclose(shift, shift[0])  # one offset per series
        offsets.append(shift[0])
    assert offsets == sorted(offsets) and np.isclose(sum(offsets), 0)
    assert all(abs(o) < 0.5 for o in offsets)
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "Cu"
    assert [t.get_text() for t in legend.get_texts()] == ["1", "2", "3"]


def test_jittered_points_are_the_observed_responses(fits):
    fit = fits["diet_cu"]
    obs = means_data(fit, "Evit", by="Cu")["observed"]
    ax = plot_means(fit, "Evit", by="Cu")
    points = _by_gid(ax.collections, "observed")
    assert len(points) == 3
    for cu, pts, container in zip([1, 2, 3], points, _errorbars(ax)):
        rows = obs[obs["Cu"] == cu]
        xy = pts.get_offsets()
        assert np.allclose(xy[:, 1], rows["Weight"])
        offset = _centres_and_bars(container)[0][0, 0]  # the series' position at level 0
        level_index = rows["Evit"].map({1: 0, 2: 1, 3: 2}).to_numpy()
        jitter = xy[:, 0] - offset - level_index
        assert np.all(np.abs(jitter) < 0.15) and np.std(jitter) > 0.01
    again = plot_means(fit, "Evit", by="Cu")  # deterministic jitter
    assert np.array_equal(_by_gid(again.collections, "observed")[0].get_offsets(),
                          points[0].get_offsets())
    assert not _by_gid(plot_means(fit, "Evit", show_data=False).collections, "observed")


def test_df_method_and_conf_level_reach_the_bars_and_labels(fits):
    fit = fits["diet_cu"]
    means = fit.marginal_means("Cu", df_method="normal", conf_level=0.9)
    ax = plot_means(fit, "Cu", df_method="normal", conf_level=0.9)
    centres, extent = _centres_and_bars(_errorbars(ax)[0])
    assert np.allclose(centres[:, 1], means["estimate"])
    assert np.allclose(extent, means[["conf_low", "conf_high"]])
    assert ax.get_ylabel() == "Weight (marginal mean, 90% CI)"
    assert "normal (z)" in ax.get_title()


# ------------------------------------------------------------------ effects_data / plot_effects

def test_effects_data_columns_grid_and_observed(fits):
    fit = fits["diet"]
    d = effects_data(fit, "Time", by="Evit", n_points=7)
    line, obs = d["line"], d["observed"]
    assert list(line.columns) == ["Time", "Evit"] + MEANS
    assert list(line["Evit"]) == [1] * 7 + [2] * 7 + [3] * 7
    assert np.allclose(line["Time"], np.tile(np.linspace(1, 12, 7), 3))
    assert line.attrs["df_method"] == "satterthwaite" and line.attrs["x"] == "Time"
    assert list(obs.columns) == ["Time", "Evit", "Weight"] and len(obs) == fit.n_obs
    plain = effects_data(fits["sleep"], "Days", n_points=5)["line"]
    assert list(plain.columns) == ["Days"] + MEANS


def test_band_equals_predict_without_other_factors(fits):
    fit = fits["sleep"]
    line = effects_data(fit, "Days")["line"]
    pred = fit.predict(line[["Days"]], include_random=False, interval="confidence")
    pd.testing.assert_frame_equal(line[MEANS], pred[MEANS], check_names=False)
    ax = plot_effects(fit, "Days")
    (effect,) = _by_gid(ax.lines, "effect")
    (band,) = _by_gid(ax.collections, "band")
    xs = line["Days"].to_numpy()
    assert np.allclose(effect.get_xdata(), xs)
    assert np.allclose(effect.get_ydata(), pred["estimate"])
    assert np.allclose(_band_edges(band, xs), pred[["conf_low", "conf_high"]])
    (points,) = _by_gid(ax.collections, "observed")
    data = mk.load_dataset("sleepstudy")
    assert np.allclose(points.get_offsets(), data[["Days", "Reaction"]])
    assert ax.get_xlabel() == "Days"
    assert ax.get_ylabel() == "Reaction (population-level prediction, 95% CI)"
    assert "Satterthwaite" in ax.get_title()


def test_band_per_by_level_equals_predict(fits):
    fit = fits["diet"]
    line = effects_data(fit, "Time", by="Evit", n_points=20)["line"]
    ax = plot_effects(fit, "Time", by="Evit", n_points=20)
    effects, bands = _by_gid(ax.lines, "effect"), _by_gid(ax.collections, "band")
    points = _by_gid(ax.collections, "observed")
    assert [e.get_label() for e in effects] == ["1", "2", "3"]
    obs = mk.load_dataset("dietox")
    for evit, effect, band, pts in zip([1, 2, 3], effects, bands, points):
        new = line.loc[line["Evit"] == evit, ["Time", "Evit"]]
        pred = fit.predict(new, include_random=False, interval="confidence")
        xs = new["Time"].to_numpy()
        assert np.allclose(effect.get_xdata(), xs)
        assert np.allclose(effect.get_ydata(), pred["estimate"])
        assert np.allclose(_band_edges(band, xs), pred[["conf_low", "conf_high"]])
        rows = obs[obs["Evit"] == evit]
        assert np.allclose(pts.get_offsets(), rows[["Time", "Weight"]])
    assert ax.get_legend().get_title().get_text() == "Evit"


def test_other_factors_are_averaged_with_equal_weights(fits):
    fit = fits["diet_cu"]
    line = effects_data(fit, "Time", by="Evit", n_points=4)["line"]
    assert line.attrs["averaged_over"] == ["Cu"]
    for _, row in line.iterrows():
        new = pd.DataFrame({"Time": row["Time"], "Evit": row["Evit"], "Cu": [1, 2, 3]})
        assert np.isclose(fit.predict(new, include_random=False).mean(), row["estimate"])
    at = fit.marginal_means("Evit", at={"Time": 12.0})
    last = line[line["Time"] == 12.0]
    assert np.allclose(last[MEANS], at[MEANS])


# ------------------------------------------------------------------ API conventions

@pytest.mark.parametrize("draw", [
    lambda fits, ax: plot_means(fits["diet_cu"], "Evit", ax=ax),
    lambda fits, ax: plot_effects(fits["sleep"], "Days", ax=ax),
], ids=["plot_means", "plot_effects"])
def test_plots_return_the_axes_given(draw, fits):
    fig, (left, right) = plt.subplots(1, 2)
    assert draw(fits, right) is right
    assert not left.has_data() and right.has_data()
    assert plt.get_fignums() == [fig.number]
    new = draw(fits, None)
    assert isinstance(new, Axes) and new.figure is not fig


def test_no_plot_calls_show(fits, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", fail)
    plot_means(fits["diet_cu"], "Evit", by="Cu")
    plot_effects(fits["diet"], "Time", by="Evit")


def test_importing_the_module_does_not_import_matplotlib():
    code = ("import sys, mixedkit.plots.effects; "
            "print(any(m == 'matplotlib' or m.startswith('matplotlib.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_public_names():
    assert sorted(effect_plots.__all__) == ["effects_data", "means_data", "plot_effects",
                                            "plot_means"]


BAD = [
    ("diet_cu", plot_means, ("Time",), {}, InputTypeError,
     r"spec='Time' is a numeric covariate .* plot_effects\(fit, 'Time'\)"),
    ("diet_cu", plot_means, ("Evt",), {}, ColumnNotFoundError,
     r"spec='Evt' is not a factor .* factors are \['Evit', 'Cu'\]; did you mean 'Evit'"),
    ("diet_cu", plot_means, ("Evit",), {"by": "Time"}, InputTypeError,
     r"by='Time' is a numeric covariate"),
    ("diet_cu", plot_means, (None,), {}, InputTypeError, r"spec must name the factor"),
    ("sleep", plot_means, ("Subject",), {}, ColumnNotFoundError,
     r"only in its random part.*the fixed part has no factors"),
    ("diet_cu", plot_means, ("Evit",), {"df_method": "kr"}, InputValueError,
     r"df_method must be one of"),
    ("diet_cu", plot_effects, ("Evit",), {}, InputTypeError,
     r"x='Evit' is a factor .* numeric covariates are \['Time'\].*plot_means\(fit, 'Evit'\)"),
    ("diet_cu", plot_effects, ("Tim",), {}, ColumnNotFoundError,
     r"x='Tim' is not a numeric covariate .* \['Time'\]; did you mean 'Time'"),
    ("diet_cu", plot_effects, ("Weight",), {}, ColumnNotFoundError, r"it is the response"),
    ("diet_cu", plot_effects, (["Time"],), {}, InputTypeError,
     r"x must be the name of a numeric covariate"),
    ("diet_cu", plot_effects, ("Time",), {"by": "Time"}, InputTypeError,
     r"by='Time' repeats x='Time'"),
    ("diet_cu", plot_effects, ("Time",), {"by": "Pig"}, ColumnNotFoundError,
     r"by='Pig' is not a factor .*only in its random part"),
    ("diet_cu", plot_effects, ("Time",), {"n_points": 1}, InputTypeError,
     r"n_points must be an integer of at least 2; got 1"),
    ("diet_cu", plot_effects, ("Time",), {"conf_level": 95}, InputValueError,
     r"conf_level must be a number between 0 and 1"),
]


@pytest.mark.parametrize("name, func, args, kwargs, error, message", BAD,
                         ids=[f"{b[1].__name__}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_messages(name, func, args, kwargs, error, message, fits):
    with pytest.raises(error, match=message):
        func(fits[name], *args, **kwargs)


def test_observed_points_shrink_and_fade_with_many_rows():
    rng = np.random.default_rng(3)
    n = 8_000
    g = rng.integers(0, 40, n)
    data = pd.DataFrame({"t": rng.normal(size=n), "f": rng.choice(["a", "b"], n),
                         "g": np.char.add("g", g.astype(str))})
    data["y"] = data["t"] + (data["f"] == "b") + rng.normal(size=40)[g] + rng.normal(size=n)
    fit = mk.fit_lmm("y ~ t + f + (1 | g)", data)
    for ax in (plot_means(fit, "f"), plot_effects(fit, "t")):
        points = _by_gid(ax.collections, "observed")
        assert sum(len(p.get_offsets()) for p in points) == n
        for p in points:  # 4x the 2,000 rows at which they start to shrink: half size
            assert np.allclose(p.get_sizes(), 5.0) and p.get_alpha() < 0.16
            assert p.get_rasterized()
