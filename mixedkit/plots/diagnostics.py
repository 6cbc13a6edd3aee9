"""Diagnostic plots for a fitted linear mixed model.

Every function draws only what :func:`~mixedkit.diagnostics_data` returns
(called once per function), so a test can compare the artists' data with that table
and a user who prefers another plotting library can draw the same numbers.

Single plots take ``ax=`` and return the Axes; multi-panel plots take ``axes=`` (or
``figsize=``) and return the Figure.  None of them calls ``plt.show()``.  matplotlib is
imported inside the functions so that ``import mixedkit`` stays fast.

Large data: above 2,000 points the scatters use smaller, more transparent markers; above
20,000 the residual scatters become a hexagonal-bin density (``density=``); QQ panels draw
at most 2,000 order statistics (every extreme one, then evenly spaced quantiles); panels
with more than 40 levels name every k-th level.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import DataError, InputTypeError
from ..inference.diagnostics import QQ_LEVEL, diagnostics_data, sorted_ranef

__all__ = [
    "plot_diagnostics",
    "plot_fitted",
    "plot_qq",
    "plot_ranef",
    "plot_ranef_qq",
    "plot_residuals",
    "plot_scale_location",
    "plot_shrinkage",
]

_POINT_COLOR = "C0"
_TREND_COLOR = "C3"
_REF_COLOR = "0.35"
_BAND_COLOR = "0.75"
_MAX_LABELLED_LEVELS = 40
_DENSE_POINTS = 2_000  # above: smaller, more transparent markers; QQ thinned to this many
_HEXBIN_POINTS = 20_000  # above: residual scatters become a hexbin density (density=None)
_PANEL_POINTS = 200  # above: smaller, more transparent markers in small trajectory panels
_MAX_ARROWS = 200  # shrinkage: one annotation per group up to this many, then one quiver
_QQ_TAIL = 200  # order statistics kept at each end of a thinned QQ panel
_DENSITY_LABEL = "Density of points (darker: more)"
_SCATTER_ONLY = frozenset({"s", "sizes", "marker", "c", "color", "facecolor", "facecolors",
                           "plotnonfinite"})


# --------------------------------------------------------------------------- helpers

def _pyplot():
    import matplotlib.pyplot as plt  # lazily: see mixedkit.plots

    return plt


def get_ax(ax, figsize=(6.0, 4.5)):
    if ax is None:
        _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def marker_style(n: int, size: float = 14, alpha: float = 0.7,
                  crowded: int = _DENSE_POINTS) -> dict:
    """Marker size and transparency for ``n`` points: as given up to ``crowded`` points,
    then shrinking with sqrt(crowded / n) (floors 2 and 0.1), edgeless and rasterised so
    that vector output stays small."""
    if n <= crowded:
        return {"s": size, "alpha": alpha}
    f = math.sqrt(crowded / n)
    return {"s": max(2.0, size * f), "alpha": max(0.1, alpha * f), "linewidths": 0,
            "rasterized": True}


def _point_kwargs(kwargs: dict, n: int = 0) -> dict:
    """Defaults for the main scatter of ``n`` points that the caller's ``**kwargs``
    override."""
    kw = {**kwargs}
    if "c" not in kw and "color" not in kw:
        kw["color"] = _POINT_COLOR
    for key, value in marker_style(n).items():
        kw.setdefault(key, value)
    kw.setdefault("label", "_points")
    return kw


def _use_density(density, n: int) -> bool:
    if density is None:
        return n > _HEXBIN_POINTS
    if not isinstance(density, (bool, np.bool_)):
        raise InputTypeError(f"density must be True, False or None (automatic: a density "
                             f"above {_HEXBIN_POINTS:,} points); got {density!r}")
    return bool(density)


def _scatter_or_density(ax, x, y, kwargs: dict, density):
    """The residual points: a scatter, or above ``_HEXBIN_POINTS`` (or with
    ``density=True``) a hexagonal-bin count of them on a log colour scale."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if not _use_density(density, len(x)):
        return ax.scatter(x, y, **_point_kwargs(kwargs, len(x)))
    bad = sorted(set(kwargs) & _SCATTER_ONLY)
    if bad:
        names = ", ".join(f"{k}=" for k in bad)
        raise InputTypeError(
            f"{names} {'applies' if len(bad) == 1 else 'apply'} to points, but this plot of "
            f"{len(x):,} points draws their density (hexagonal bins); pass density=False "
            f"to draw the points, or hexbin options such as gridsize= or cmap= instead")
    from matplotlib.colors import LogNorm  # lazily: see mixedkit.plots

    kw = {"gridsize": 60, "mincnt": 1, "cmap": "Blues", "norm": LogNorm(),
          "linewidths": 0.2, "label": _DENSITY_LABEL, **kwargs}
    return ax.hexbin(x, y, **kw)


def _thin_qq(q: pd.DataFrame, max_points: int = _DENSE_POINTS) -> pd.DataFrame:
    """At most ``max_points`` rows of a QQ table: the ``_QQ_TAIL`` most extreme order
    statistics at each end (where departures show), evenly spaced ones in between."""
    n = len(q)
    if n <= max_points:
        return q
    tail = min(_QQ_TAIL, max_points // 4)
    middle = np.linspace(tail, n - 1 - tail, max_points - 2 * tail).round().astype(np.intp)
    keep = np.unique(np.concatenate([np.arange(tail), middle, np.arange(n - tail, n)]))
    return q.iloc[keep]


def _label_levels(ax, labels: list[str]) -> int:
    """Name the levels at y = 0, 1, ... on the y axis: all of them up to
    ``_MAX_LABELLED_LEVELS``, else every k-th (from the first); returns k."""
    step = max(1, math.ceil(len(labels) / _MAX_LABELLED_LEVELS))
    pos = np.arange(0, len(labels), step)
    ax.set_yticks(pos, [labels[i] for i in pos], fontsize="small" if step == 1 else "x-small")
    return step


def _levels_text(n: int, step: int) -> str:
    return f"{n} levels" + ("" if step == 1 else f", 1 in {step} named")


def _term_label(group: str, term: str) -> str:
    return f"{term} by {group}"


def _coef_label(term: str, group: str) -> str:
    return f"Intercept per {group}" if term == "Intercept" else f"{term} coefficient per {group}"


def _check_axes(axes, n: int, what: str) -> list:
    """A flat list of at least ``n`` Axes; the surplus ones are hidden."""
    flat = list(np.ravel(np.asarray(axes, dtype=object)))
    if len(flat) < n:
        raise InputTypeError(
            f"axes must hold at least {n} Axes (one per {what}); got {len(flat)}. "
            "Pass axes=None to let mixedkit create the figure.")
    for ax in flat[n:]:
        ax.set_visible(False)
    return flat[:n]


def _grid(plt, n: int, ncols: int, panel_size: tuple[float, float], figsize=None, **kw):
    """A constrained-layout figure with ``n`` panels on a grid; unused cells removed."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    if figsize is None:
        figsize = (panel_size[0] * ncols, panel_size[1] * nrows)
    fig, grid = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained",
                             squeeze=False, **kw)
    flat = list(grid.ravel())
    for ax in flat[n:]:
        fig.delaxes(ax)
    return fig, flat[:n]


def _draw_residuals(d: dict, ax, density=None, **kwargs):
    res, smooth = d["residuals"], d["residual_smooth"]
    _scatter_or_density(ax, res["fitted"], res["residual"], kwargs, density)
    ax.axhline(0.0, color=_REF_COLOR, linestyle="--", linewidth=1, label="_zero")
    ax.plot(smooth["x"], smooth["smooth"], color=_TREND_COLOR, linewidth=2,
            label="Lowess trend")
    ax.set_title("Residuals vs fitted")
    ax.set_xlabel("Fitted values")
    ax.set_ylabel("Residuals")
    ax.legend(loc="best", fontsize="small", frameon=False)
    return ax


def _draw_scale_location(d: dict, ax, density=None, **kwargs):
    res, smooth = d["residuals"], d["scale_smooth"]
    _scatter_or_density(ax, res["fitted"], res["sqrt_abs_pearson"], kwargs, density)
    ax.plot(smooth["x"], smooth["smooth"], color=_TREND_COLOR, linewidth=2,
            label="Lowess trend")
    ax.set_title("Scale-location")
    ax.set_xlabel("Fitted values")
    ax.set_ylabel("Square root of |standardised residual|")
    ax.set_ylim(bottom=0)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return ax


def _draw_qq(q: pd.DataFrame, ax, *, title: str, ylabel: str, **kwargs):
    lo, hi = float(np.nanmin(q["theoretical"])), float(np.nanmax(q["theoretical"]))
    q = _thin_qq(q)
    theo = q["theoretical"].to_numpy(float)
    ax.fill_between(theo, q["band_low"].to_numpy(float), q["band_high"].to_numpy(float),
                    color=_BAND_COLOR, alpha=0.5, linewidth=0,
                    label=f"{QQ_LEVEL:.0%} pointwise band")
    ax.plot([lo, hi], [lo, hi], color=_REF_COLOR, linestyle="--", linewidth=1,
            label="y = x")
    ax.scatter(theo, q["sample"], **_point_kwargs(kwargs, len(q)))
    ax.set_title(title)
    ax.set_xlabel("Theoretical normal quantiles")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize="small", frameon=False)
    return ax


def _draw_ranef_qq(d: dict, ax, group=None, term=None, **kwargs):
    rq = d["ranef_qq"]
    if rq.empty:
        raise DataError(
            "no random term has 3 or more levels, so there is no random-effect QQ plot "
            "to draw")
    pairs = list(dict.fromkeys(zip(rq["group"], rq["term"])))
    groups = list(dict.fromkeys(g for g, _ in pairs))
    if group is None:
        group = groups[0]
    elif group not in groups:
        raise InputTypeError(
            f"group must be one of {groups} (grouping factors with 3 or more levels); "
            f"got {group!r}")
    terms = [t for g, t in pairs if g == group]
    if term is None:
        term = terms[0]
    elif term not in terms:
        raise InputTypeError(
            f"term must be one of {terms} (the random terms of {group!r}); got {term!r}")
    q = rq[(rq["group"] == group) & (rq["term"] == term)]
    return _draw_qq(q, ax, title=f"Random effects QQ: {_term_label(group, term)}",
                    ylabel="Standardised conditional modes", **kwargs)


def _ranef_pairs(d: dict) -> list[tuple[str, str]]:
    """The (group, term) pairs of the random-effect QQ panels, in table order."""
    rq = d["ranef_qq"]
    return list(dict.fromkeys(zip(rq["group"], rq["term"])))


# --------------------------------------------------------------------------- single plots

def plot_residuals(fit, ax=None, *, density=None, **kwargs):
    """Conditional residuals against fitted values, with a lowess trend.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when omitted.
    density : bool, optional
        Draw the points (False) or their density as hexagonal bins on a log colour scale
        (True); default: the density above 20,000 points. Above 2,000 points the markers
        are smaller and more transparent.
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.scatter` for the residual points
        (for example ``color``, ``s``, ``alpha``), or to
        :meth:`~matplotlib.axes.Axes.hexbin` when the density is drawn (for example
        ``gridsize``, ``cmap``).

    Returns
    -------
    matplotlib Axes
        The points are ``diagnostics_data(fit)["residuals"]`` columns ``fitted`` and
        ``residual`` (a scatter labelled ``"_points"``, or the hexbin collection labelled
        ``"Density of points (darker: more)"`` whose cell counts add up to the number of
        rows); the red line is ``"residual_smooth"``; the dashed line is zero.

    Notes
    -----
    A trend in the lowess line suggests a missing term or a non-linear effect; a funnel
    shape suggests that the residual variance changes with the mean.
    """
    d = diagnostics_data(fit)
    return _draw_residuals(d, get_ax(ax), density, **kwargs)


def plot_qq(fit, ax=None, **kwargs):
    """Normal QQ plot of the standardised (Pearson) residuals.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when omitted.
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.scatter` for the points.

    Returns
    -------
    matplotlib Axes
        Points ``(theoretical, sample)`` of ``diagnostics_data(fit)["qq"]``, the line
        y = x and the shaded pointwise band ``band_low`` to ``band_high``.  Above 2,000
        residuals the points and band are thinned to 2,000 order statistics: the 200
        most extreme at each end and evenly spaced quantiles in between.

    Notes
    -----
    Points outside the band in the tails point to heavier (or lighter) tails than the
    normal distribution the model assumes for the residuals.
    """
    d = diagnostics_data(fit)
    return _draw_qq(d["qq"], get_ax(ax), title="Normal QQ plot of residuals",
                    ylabel="Standardised residuals", **kwargs)


def plot_scale_location(fit, ax=None, *, density=None, **kwargs):
    """Square root of the absolute standardised residuals against fitted values.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when omitted.
    density : bool, optional
        Draw the points (False) or their density as hexagonal bins on a log colour scale
        (True); default: the density above 20,000 points. Above 2,000 points the markers
        are smaller and more transparent.
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.scatter` for the points (to
        :meth:`~matplotlib.axes.Axes.hexbin` when the density is drawn).

    Returns
    -------
    matplotlib Axes
        Points ``(fitted, sqrt_abs_pearson)`` of ``diagnostics_data(fit)["residuals"]``
        (or their hexbin density, as in :func:`plot_residuals`) and the lowess line
        ``"scale_smooth"``.

    Notes
    -----
    With constant residual variance the lowess line is roughly flat.
    """
    d = diagnostics_data(fit)
    return _draw_scale_location(d, get_ax(ax), density, **kwargs)


def plot_ranef_qq(fit, ax=None, *, group=None, term=None, **kwargs):
    """Normal QQ plot of one random term's conditional modes.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when omitted.
    group : str, optional
        Grouping factor (default: the first in ``diagnostics_data(fit)["ranef_qq"]``).
    term : str, optional
        Random term of ``group`` (default: its first term in that table).
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.scatter` for the points.

    Returns
    -------
    matplotlib Axes
        Points ``(theoretical, sample)`` of the rows of ``"ranef_qq"`` for
        ``(group, term)``, the line y = x and the pointwise band (thinned above 2,000
        levels as in :func:`plot_qq`).

    Raises
    ------
    DataError
        No random term has the 3 or more levels a QQ plot needs.
    InputTypeError
        ``group`` or ``term`` is not one of those available (the message lists them).
    """
    d = diagnostics_data(fit)
    return _draw_ranef_qq(d, get_ax(ax), group=group, term=term, **kwargs)


# --------------------------------------------------------------------------- multi-panel

def plot_diagnostics(fit, *, figsize=None, density=None):
    """The standard diagnostic panels of a linear mixed model in one figure.

    Panels: residuals vs fitted, normal QQ of the standardised residuals,
    scale-location, then one normal QQ panel per random term (grouping factor and
    term) with 3 or more levels. For a fit with a residual structure
    (:class:`~mixedkit.repeated.RepeatedMeasuresFit`) the three residual panels show the
    normalised residuals (whitened by the structure, as nlme's ``type = "normalized"``).

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    figsize : tuple of float, optional
        Figure size in inches (default: 10 wide, 3.6 per row of two panels).
    density : bool, optional
        Residual panels as points or as hexbin density; default: the density above
        20,000 rows (see :func:`plot_residuals`).

    Returns
    -------
    matplotlib Figure
        ``fig.axes`` holds the panels in the order above; the suptitle shows the formula.
    """
    plt = _pyplot()
    d = diagnostics_data(fit)
    pairs = _ranef_pairs(d)
    fig, axes = _grid(plt, 3 + len(pairs), 2, (5.0, 3.6), figsize)
    _draw_residuals(d, axes[0], density)
    _draw_qq(d["qq"], axes[1], title="Normal QQ plot of residuals",
             ylabel="Standardised residuals")
    _draw_scale_location(d, axes[2], density)
    if hasattr(fit, "residual_covariance"):
        axes[0].set_ylabel("Normalised residual")
        axes[1].set_ylabel("Normalised residuals")
    for ax, (group, term) in zip(axes[3:], pairs):
        _draw_ranef_qq(d, ax, group=group, term=term)
    fig.suptitle(f"Model diagnostics: {fit.formula}", fontsize="large")
    return fig


def plot_ranef(fit, *, axes=None, conf_level=None):
    """Caterpillar plot of the conditional modes (BLUPs) with their intervals.

    One panel per grouping factor and random term; levels are sorted by their
    conditional mode, each drawn with a horizontal interval.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    axes : sequence of matplotlib Axes, optional
        One Axes per (group, term), in the order of ``diagnostics_data(fit)["ranef"]``;
        a new figure is created when omitted.
    conf_level : float, optional
        Level of the normal intervals ``estimate +/- z * std_error`` (default: the
        fit's, as in :meth:`LmmFit.ranef`).

    Returns
    -------
    matplotlib Figure
        Each panel's points are ``estimate`` of ``diagnostics_data(fit)["ranef"]`` for
        that (group, term), in increasing order, at y = 0, 1, ...; the bars run from
        ``conf_low`` to ``conf_high``.  With more than 40 levels every k-th level is
        named on the y axis (k = ceil(levels / 40), from the lowest), and the y label
        says so.
    """
    ranef = diagnostics_data(fit)["ranef"] if conf_level is None else \
        sorted_ranef(fit, conf_level)
    level = ranef.attrs["conf_level"]
    parts = list(ranef.groupby(["group", "term"], sort=False))
    if not parts:
        raise DataError("the model has no random effects to plot")
    if axes is None:
        plt = _pyplot()
        height = max(min(len(p), _MAX_LABELLED_LEVELS) for _, p in parts) * 0.2 + 1.6
        fig, axes = _grid(plt, len(parts), 3, (4.2, max(3.0, height)))
    else:
        axes = _check_axes(axes, len(parts), "grouping factor and random term")
        fig = axes[0].figure
    for ax, ((group, term), part) in zip(axes, parts):
        part = part.sort_values("estimate", kind="stable")
        est = part["estimate"].to_numpy(float)
        y = np.arange(len(part))
        err = np.vstack([est - part["conf_low"].to_numpy(float),
                         part["conf_high"].to_numpy(float) - est])
        n = len(part)
        many = n > _MAX_LABELLED_LEVELS
        ax.axvline(0.0, color=_REF_COLOR, linestyle="--", linewidth=1, label="_zero")
        ax.errorbar(est, y, xerr=err, fmt="o", color=_POINT_COLOR, ecolor="0.55",
                    markersize=2.5 if many else 4, markeredgewidth=0 if many else 1,
                    elinewidth=min(1.2, max(0.3, 1.2 * math.sqrt(100 / n))), capsize=0,
                    label="Conditional mode")
        step = _label_levels(ax, part["level"].astype(str).tolist())
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_title(_term_label(group, term))
        ax.set_xlabel(f"Conditional mode, {level:.0%} interval")
        ax.set_ylabel(f"{group} ({_levels_text(n, step)})")
    fig.suptitle("Random effects: conditional modes by level", fontsize="large")
    return fig


def plot_shrinkage(fit, ax=None, **kwargs):
    """Partial pooling: separate per-group estimates against the mixed-model estimates.

    With a random intercept only, each group is a row: an open circle at its own
    least-squares estimate, a filled circle at the mixed-model estimate (population
    value plus conditional mode), an arrow from the first to the second, and a vertical
    line at the population value.  With a random intercept and slope the plot is 2-D
    (first term on x, second on y) with the population point marked; with more terms
    the first two are drawn.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when omitted.
    **kwargs
        Passed to :meth:`~matplotlib.axes.Axes.scatter` for the mixed-model points.

    Returns
    -------
    matplotlib Axes
        Data from ``diagnostics_data(fit)["shrinkage"]``: open points at ``raw``,
        filled points at ``mixed``, one arrow (an annotation with ``xyann`` at the raw
        and ``xy`` at the mixed estimate) per group with a raw estimate.  Above 200
        such groups the arrows are one quiver (``gid="shrinkage-arrows"``: ``X, Y`` at
        the raw estimates, ``U, V`` the moves to the mixed ones) and the points are
        smaller and translucent.

    Raises
    ------
    DataError
        The model has no grouping factor with per-group regressions (for example a
        crossed design such as ``(1 | plate) + (1 | sample)``).
    """
    d = diagnostics_data(fit)
    shrink = d["shrinkage"]
    if shrink.empty:
        raise DataError(
            f"plot_shrinkage needs a grouping factor with its own random-effects block "
            f"(per-group regressions to compare with the mixed model); the model "
            f"{fit.formula!r} has none, for example because its design is crossed")
    group = str(shrink["group"].iloc[0])
    terms = list(dict.fromkeys(shrink["term"]))
    ax = get_ax(ax, figsize=(7.0, 6.0) if len(terms) > 1 else (7.0, 5.5))
    style = marker_style(len(shrink) // len(terms), size=30, alpha=1.0,
                          crowded=_MAX_ARROWS)
    mixed_kw = dict(kwargs)
    if "c" not in mixed_kw and "color" not in mixed_kw:
        mixed_kw["color"] = _POINT_COLOR
    mixed_kw.setdefault("s", style["s"])
    mixed_kw.setdefault("zorder", 3)
    mixed_kw.setdefault("label", "Mixed model (partial pooling)")
    raw_kw = {"s": style["s"], "facecolors": "none", "edgecolors": _TREND_COLOR,
              "zorder": 3, "label": "Separate regression per group (no pooling)"}
    if style["alpha"] < 1:
        mixed_kw.setdefault("alpha", style["alpha"])
        raw_kw.update(alpha=style["alpha"], rasterized=True)

    if len(terms) == 1:
        term = terms[0]
        tab = shrink[shrink["term"] == term]
        order = np.argsort(tab["raw"].fillna(tab["mixed"]).to_numpy(float), kind="stable")
        tab = tab.iloc[order]
        raw, mixed = tab["raw"].to_numpy(float), tab["mixed"].to_numpy(float)
        y = np.arange(len(tab), dtype=float)
        ax.axvline(float(tab["population"].iloc[0]), color=_REF_COLOR, linestyle="--",
                   linewidth=1.2, label="Population estimate")
        ax.scatter(raw, y, **raw_kw)
        ax.scatter(mixed, y, **mixed_kw)
        _shrinkage_arrows(ax, raw, y, mixed, y)
        step = _label_levels(ax, tab["level"].astype(str).tolist())
        ax.set_ylim(-0.7, len(tab) - 0.3)
        ax.set_xlabel(_coef_label(term, group))
        ax.set_ylabel(f"{group} (sorted by separate estimate"
                      + ("" if step == 1 else f"; 1 in {step} named") + ")")
    else:
        tx, ty = terms[:2]
        wide = shrink.set_index(["level", "term"])[["raw", "mixed", "population"]]
        wide = wide.unstack("term")
        rx, ry = wide[("raw", tx)].to_numpy(float), wide[("raw", ty)].to_numpy(float)
        mx, my = wide[("mixed", tx)].to_numpy(float), wide[("mixed", ty)].to_numpy(float)
        px = float(wide[("population", tx)].iloc[0])
        py = float(wide[("population", ty)].iloc[0])
        ax.scatter(rx, ry, **raw_kw)
        ax.scatter(mx, my, **mixed_kw)
        _shrinkage_arrows(ax, rx, ry, mx, my)
        ax.scatter([px], [py], marker="X", s=160, color="black", edgecolors="white",
                   zorder=4, label="Population estimate")
        ax.set_xlabel(_coef_label(tx, group))
        ax.set_ylabel(_coef_label(ty, group))
    ax.set_title("Partial pooling: per-group estimates shrink toward the population",
                 fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    return ax


def _shrinkage_arrows(ax, x0, y0, x1, y1) -> None:
    """Arrows from each group's separate estimate (x0, y0) to its mixed-model estimate:
    one annotation each (``gid="shrinkage-arrow"``) up to ``_MAX_ARROWS`` groups, else
    one quiver (``gid="shrinkage-arrows"``), which draws thousands in a fraction of the
    time."""
    ok = np.isfinite(x0) & np.isfinite(y0)
    x0, y0, x1, y1 = x0[ok], y0[ok], x1[ok], y1[ok]
    if len(x0) <= _MAX_ARROWS:
        arrow = {"arrowstyle": "->", "color": "0.5", "linewidth": 0.8, "shrinkA": 0,
                 "shrinkB": 2}
        for a, b, c, e in zip(x0, y0, x1, y1):
            ax.annotate("", xy=(c, e), xytext=(a, b), arrowprops=arrow,
                        gid="shrinkage-arrow")
        return
    ax.quiver(x0, y0, x1 - x0, y1 - y0, angles="xy", scale_units="xy", scale=1,
              color="0.5", alpha=0.6, width=0.0015, headwidth=4, headlength=4,
              headaxislength=3.5, zorder=2, gid="shrinkage-arrows", label="_arrows")


def plot_fitted(fit, *, x=None, max_groups=12, seed=0, axes=None):
    """Observed data with group and population fitted lines, one panel per group.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    x : str, optional
        Column on the x axis (default: the first random slope's variable, else the
        first numeric fixed-effect column).
    max_groups : int, default 12
        Panels drawn at most; with more groups a random sample (``seed``) is shown.
    seed : int, default 0
        Seed of that sample.
    axes : sequence of matplotlib Axes, optional
        One Axes per group shown; a new figure with shared axes is created when omitted.

    Returns
    -------
    matplotlib Figure
        Each panel, titled with the group level, shows ``observed`` as points,
        ``fitted`` (conditional) as a solid line and ``population`` (marginal) as a
        dashed line against ``x``, from ``diagnostics_data(fit, ...)["trajectories"]``.

    Raises
    ------
    DataError
        Nothing to draw: no grouping factor with its own random-effects block (for
        example a crossed design), or no numeric x variable.
    """
    d = diagnostics_data(fit, x=x, max_groups=max_groups, seed=seed)
    traj = d["trajectories"]
    if traj.empty:
        hint = (f"x={x!r} must be a numeric column that the model uses" if x is not None
                else "pass x='column' to choose a numeric column the model uses")
        raise DataError(
            f"plot_fitted has no per-group trajectories to draw for {fit.formula!r}: it "
            f"needs one grouping factor with its own random-effects block (not a crossed "
            f"design) and a numeric x variable; {hint}")
    xname = traj.attrs.get("x", x or "x")
    group = traj.attrs.get("group", "group")
    n_total = traj.attrs.get("n_groups")
    levels = list(dict.fromkeys(traj["level"]))
    response = fit.formula.split("~")[0].strip() or "Response"
    created = axes is None
    if created:
        plt = _pyplot()
        fig, axes = _grid(plt, len(levels), 4, (2.8, 2.4), sharex=True, sharey=True)
    else:
        axes = _check_axes(axes, len(levels), "group shown")
        fig = axes[0].figure
    for ax, level in zip(axes, levels):
        part = traj[traj["level"] == level]
        ax.scatter(part["x"], part["observed"], color=_POINT_COLOR, label="Observed",
                   **marker_style(len(part), alpha=0.8, crowded=_PANEL_POINTS))
        ax.plot(part["x"], part["fitted"], color=_TREND_COLOR, linewidth=1.6,
                label=f"Fit for this {group}")
        ax.plot(part["x"], part["population"], color=_REF_COLOR, linestyle="--",
                linewidth=1.2, label="Population fit")
        ax.set_title(str(level), fontsize="medium")
        ax.set_xlabel(xname)
        ax.set_ylabel(response)
    if created:  # shared axes: tick labels only on the outer panels (ticks stay)
        for ax in axes:
            ax.label_outer()
    shown = len(levels)
    of = f" of {n_total}" if n_total is not None else ""
    fig.suptitle(f"Observed and fitted {response} by {group}: {shown}{of} groups shown",
                 fontsize="large")
    handles, labels = axes[0].get_legend_handles_labels()
    _legend_below(fig, handles, labels)
    return fig


def _legend_below(fig, handles, labels) -> None:
    """A one-row figure legend below the panels, outside them."""
    kw = {"ncols": 3, "frameon": False, "fontsize": "small"}
    try:
        fig.legend(handles, labels, loc="outside lower center", **kw)
    except ValueError:  # matplotlib < 3.7 has no "outside" locations
        from matplotlib.layout_engine import ConstrainedLayoutEngine

        fig.legend(handles, labels, loc="lower center", **kw)
        engine = fig.get_layout_engine()
        if isinstance(engine, ConstrainedLayoutEngine):  # leave room below the panels
            bottom = min(0.3, 0.45 / fig.get_size_inches()[1])
            engine.set(rect=(0, bottom, 1, 1 - bottom))  # left, bottom, width, height
