"""Plots of what a fitted model says about its fixed effects: means and effect lines.

:func:`plot_means` draws the estimated marginal means of a factor (emmeans' reference
grid, :meth:`~mixedkit.results.LmmFit.marginal_means`) with their confidence intervals
over the raw observations; :func:`plot_effects` draws the population-level prediction
of the response along a numeric covariate, with a pointwise confidence band, for each
level of an optional factor.

As in :mod:`mixedkit.plots.diagnostics`, each plot draws only what its data function returns
(:func:`means_data`, :func:`effects_data`), so a test can compare the artists with
those tables and a user can draw the same numbers with another library.  The plots
take ``ax=`` and return the Axes, never call ``plt.show()``, and import matplotlib
only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..arguments import df_caption
from ..errors import ColumnNotFoundError, InputTypeError
from ..inference.grid import (
    ReferenceGrid,
    check_factors,
    factor_list,
    reference_grid,
    suggest_name,
    unused_column_role,
)
from .diagnostics import get_ax, marker_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..results import LmmFit

__all__ = ["effects_data", "means_data", "plot_effects", "plot_means"]

_MEANS_COLUMNS = ["estimate", "std_error", "df", "conf_low", "conf_high"]
_DODGE_SPAN = 0.6  # width of a level's group of dodged series, in units of level spacing
_JITTER = 0.35  # half-width of the observed points' jitter, as a share of a series' slot


# --------------------------------------------------------------------------- checks

def _names(value, arg: str) -> list[str]:
    """``value`` as a list of column names (``None`` gives [])."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputTypeError(f"{arg} must be a column name or a list of column names; "
                         f"got {value!r}")


def _check_covariate(x, grid: ReferenceGrid, fit: LmmFit) -> str:
    """``x`` must name one numeric covariate of the fixed part."""
    covariates = list(grid.covariates)
    if not isinstance(x, str):
        raise InputTypeError(f"x must be the name of a numeric covariate of the fixed part "
                             f"(one of {covariates}); got {x!r}")
    if x in grid.covariates:
        return x
    if x in grid.factors:
        raise InputTypeError(
            f"x={x!r} is a factor of the fixed part of {fit.formula!r}, not a numeric "
            f"covariate; plot_effects needs a numeric covariate on the x axis (the numeric "
            f"covariates are {covariates}). For its level means use plot_means(fit, {x!r}); "
            f"to draw one line per level pass by={x!r}")
    if not covariates:
        raise ColumnNotFoundError(
            f"x={x!r} is not a numeric covariate of the fixed part of {fit.formula!r}, "
            f"which has none, so there is no effect line to draw; for factors use "
            f"plot_means(fit, ...)")
    raise ColumnNotFoundError(
        f"x={x!r} is not a numeric covariate of the fixed part of {fit.formula!r}"
        f"{unused_column_role(x, fit.state.prep)}; its numeric covariates are {covariates}"
        f"{suggest_name(x, covariates)}")


# --------------------------------------------------------------------------- data

def _response(fit: LmmFit) -> tuple[str, pd.Series]:
    """The response's name as written in the formula and its values as fitted."""
    state = fit.state
    prep = state.prep
    name = prep.names.restore(prep.parsed.response)
    return name, pd.Series(np.asarray(state.design.endog, float), index=prep.frame.index,
                           name=name)


def _observed(fit: LmmFit, columns: list[str]) -> pd.DataFrame:
    """The fitted rows' ``columns`` (user names) and response, indexed like the data."""
    prep = fit.state.prep
    name, y = _response(fit)
    out = pd.DataFrame({c: prep.frame[prep.names.safe[c]] for c in columns},
                       index=prep.frame.index)
    out[name] = y
    return out


def means_data(fit: LmmFit, spec: str | list[str], *, by: str | list[str] | None = None,
               df_method: str | None = None,
               conf_level: float | None = None) -> dict[str, pd.DataFrame]:
    """The numbers :func:`plot_means` draws.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    spec : str or list of str
        The factor(s) of the fixed part whose level means are wanted (the column name
        also when the formula writes ``C(x)``).
    by : str or list of str, optional
        Further factors; the means are for each combination of levels.
    df_method : {"satterthwaite", "kenward-roger", "normal"}, optional
        Degrees of freedom of the intervals (default: the fit's).
    conf_level : float, optional
        Level of the intervals (default: the fit's).

    Returns
    -------
    dict of DataFrame
        ``"means"``
            ``fit.marginal_means(spec, by=by, ...)``: the ``spec`` and ``by`` columns,
            then ``estimate`` (marginal mean), ``std_error``, ``df``, ``conf_low``,
            ``conf_high``; ``.attrs`` as :meth:`LmmFit.marginal_means` (``conf_level``,
            ``df_method``, ``covariates``, ``averaged_over``, ``weights``).
        ``"observed"``
            One row per fitted row, indexed like the data: the ``spec`` and ``by``
            columns, then the response (named as in the formula, values as fitted).

    Raises
    ------
    ColumnNotFoundError
        ``spec`` or ``by`` names no factor of the fixed part (the message lists them).
    InputTypeError
        ``spec`` or ``by`` is a numeric covariate, or not a name.

    Notes
    -----
    Each factor not in ``spec``/``by`` is averaged with equal weights, as emmeans does;
    the means are validated against emmeans in tests/test_means.py.
    """
    keys = _names(spec, "spec")
    if not keys:
        raise InputTypeError("spec must name the factor whose level means are plotted; "
                             "got None")
    by_keys = [b for b in _names(by, "by") if b not in keys]
    means = fit.marginal_means(keys, by=by_keys or None, df_method=df_method,
                               conf_level=conf_level)
    return {"means": means, "observed": _observed(fit, keys + by_keys)}


def effects_data(fit: LmmFit, x: str, *, by: str | list[str] | None = None,
                 n_points: int = 50, df_method: str | None = None,
                 conf_level: float | None = None) -> dict[str, pd.DataFrame]:
    """The numbers :func:`plot_effects` draws.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    x : str
        A numeric covariate of the fixed part (the column name, also when the formula
        uses a transformation of it such as ``np.log(x)`` or ``I(x**2)``).
    by : str or list of str, optional
        Factor(s) of the fixed part: one line per level (combination).
    n_points : int, default 50
        Grid values of ``x``, evenly spaced from its minimum to its maximum over the
        fitted rows.
    df_method : {"satterthwaite", "kenward-roger", "normal"}, optional
        Degrees of freedom of the intervals (default: the fit's).
    conf_level : float, optional
        Level of the intervals (default: the fit's).

    Returns
    -------
    dict of DataFrame
        ``"line"``
            One row per ``by`` level and grid value (``by`` levels in order, ``x``
            increasing within each): the column ``x`` (named by the covariate), the
            ``by`` columns, then ``estimate`` (population-level prediction),
            ``std_error``, ``df``, ``conf_low``, ``conf_high``. ``.attrs``:
            ``conf_level``, ``df_method``, ``x``, ``covariates`` (the other covariates'
            values held), ``averaged_over`` (factors averaged with equal weights).
        ``"observed"``
            One row per fitted row, indexed like the data: ``x``, the ``by`` columns and
            the response (named as in the formula, values as fitted).

    Raises
    ------
    ColumnNotFoundError
        ``x`` is not a numeric covariate of the fixed part, or ``by`` names no factor
        of it (the messages list what is available).
    InputTypeError
        ``x`` is a factor, ``by`` a numeric covariate, or ``n_points`` below 2.

    Notes
    -----
    Each row is :meth:`LmmFit.marginal_means` of the ``by`` factors with ``at={x:
    value}``: emmeans' reference grid, other covariates at their means and other
    factors averaged with equal weights. Without other factors this is
    ``fit.predict(newdata, include_random=False, interval="confidence")`` at the same
    values, which tests/test_effect_plots.py checks.
    """
    grid = reference_grid(fit.state)
    x = _check_covariate(x, grid, fit)
    by_keys = _names(by, "by")
    if x in by_keys:
        raise InputTypeError(f"by={by!r} repeats x={x!r}; by must name factor(s) of the fixed "
                             f"part, one line per level ({factor_list(grid)})")
    check_factors(by_keys, grid, "by", fit.state.prep)
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) \
            or n_points < 2:
        raise InputTypeError(f"n_points must be an integer of at least 2; got {n_points!r}")
    observed = _observed(fit, [x] + by_keys)
    values = np.linspace(observed[x].min(), observed[x].max(), int(n_points))
    parts = []
    for value in values:
        m = fit.marginal_means(by_keys or None, at={x: float(value)}, df_method=df_method,
                               conf_level=conf_level)
        if not by_keys:
            m = m.drop(columns="term")
        m.insert(0, x, float(value))
        m.insert(1, "_level", np.arange(len(m)))
        parts.append(m)
    attrs = parts[0].attrs
    line = pd.concat(parts, ignore_index=True)
    line = line.sort_values(["_level", x], kind="stable").drop(columns="_level")
    line = line.reset_index(drop=True)
    line.attrs = {"conf_level": attrs["conf_level"], "df_method": attrs["df_method"], "x": x,
                  "covariates": {k: v for k, v in attrs["covariates"].items() if k != x},
                  "averaged_over": list(attrs["averaged_over"])}
    return {"line": line, "observed": observed}


# --------------------------------------------------------------------------- drawing

def _level_text(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    return [" / ".join(str(v) for v in row) for row in frame[keys].itertuples(index=False)]


def _keys_of(frame: pd.DataFrame, keys: list[str]) -> list[tuple]:
    return list(frame[keys].itertuples(index=False, name=None))


def _percent(level: float) -> str:
    return f"{level * 100:.10g}%"


def _note(attrs: dict) -> str:
    parts = [df_caption(attrs["df_method"])]
    if attrs.get("averaged_over"):
        parts.append("averaged over " + ", ".join(map(str, attrs["averaged_over"])))
    held = attrs.get("covariates") or {}
    if held:
        parts.append(", ".join(f"{k} = {v:.4g}" for k, v in held.items()))
    return "; ".join(parts)


def plot_means(fit: LmmFit, spec: str | list[str], *, by: str | list[str] | None = None,
               show_data: bool = True, df_method: str | None = None,
               conf_level: float | None = None, ax: Axes | None = None) -> Axes:
    """Estimated marginal means of a factor with their confidence intervals.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    spec : str or list of str
        The factor(s) on the x axis, levels in their model order (a list gives one
        position per combination, labelled ``"a / b"``).
    by : str or list of str, optional
        Further factors drawn as dodged series with a legend (one colour per level).
    show_data : bool, default True
        Draw the observed responses behind the means as light points, jittered
        horizontally (deterministically, seed 0) around their level's position;
        above 2,000 rows the points are smaller and more transparent.
    df_method : {"satterthwaite", "kenward-roger", "normal"}, optional
        Degrees of freedom of the intervals (default: the fit's).
    conf_level : float, optional
        Level of the intervals (default: the fit's).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when omitted.

    Returns
    -------
    matplotlib Axes
        One errorbar container per series (``ax.containers``, labelled with the ``by``
        level, or ``"Marginal mean, 95% CI"``) whose points are ``estimate`` of
        ``means_data(fit, spec, by=by)["means"]`` at x = 0, 1, ... (plus the series'
        dodge offset) and whose bars run from ``conf_low`` to ``conf_high``; with
        ``show_data``, one scatter per series (``gid="observed"``) whose y values are
        that series' observed responses. The title names the df method, the factors
        averaged over and the values the numeric covariates are held at.

    Raises
    ------
    ColumnNotFoundError, InputTypeError
        As :func:`means_data`.

    Examples
    --------
    >>> fit = mk.fit_lmm("Weight ~ Time * C(Evit) + C(Cu) + (Time | Pig)", data)
    >>> ax = mk.plot_means(fit, "Evit", by="Cu")
    """

    d = means_data(fit, spec, by=by, df_method=df_method, conf_level=conf_level)
    means, observed = d["means"], d["observed"]
    keys = _names(spec, "spec")
    by_keys = [b for b in _names(by, "by") if b not in keys]
    level_keys = list(dict.fromkeys(_keys_of(means, keys)))
    position = {k: i for i, k in enumerate(level_keys)}
    if by_keys:
        series = list(dict.fromkeys(_keys_of(means, by_keys)))
    else:
        series = [()]
    n_series = len(series)
    slot = _DODGE_SPAN / n_series if n_series > 1 else _DODGE_SPAN / 1.5
    offsets = (np.arange(n_series) - (n_series - 1) / 2) * (slot if n_series > 1 else 0.0)
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-_JITTER, _JITTER, len(observed)) * slot
    level = means.attrs.get("conf_level", fit.conf_level)
    response = observed.columns[-1]

    ax = get_ax(ax)
    obs_series = _keys_of(observed, by_keys) if by_keys else [()] * len(observed)
    obs_pos = np.array([position.get(k, np.nan) for k in _keys_of(observed, keys)], float)
    mean_series = _keys_of(means, by_keys) if by_keys else [()] * len(means)
    for j, s in enumerate(series):
        color = f"C{j % 10}"
        label = " / ".join(map(str, s)) if by_keys else f"Marginal mean, {_percent(level)} CI"
        if show_data:
            rows = np.array([o == s for o in obs_series], bool)
            ax.scatter(obs_pos[rows] + offsets[j] + jitter[rows],
                       observed[response].to_numpy(float)[rows],
                       **{**marker_style(len(observed), 10, 0.25), "linewidths": 0},
                       color=color, zorder=1, gid="observed",
                       label="Observed" if not by_keys else f"_observed {label}")
        rows = np.array([m == s for m in mean_series], bool)
        part = means[rows]
        est = part["estimate"].to_numpy(float)
        err = np.vstack([est - part["conf_low"].to_numpy(float),
                         part["conf_high"].to_numpy(float) - est])
        xs = np.array([position[k] for k in _keys_of(part, keys)], float) + offsets[j]
        ax.errorbar(xs, est, yerr=err, fmt="o", color=color, markersize=6, capsize=4,
                    elinewidth=1.6, zorder=3, label=label)
    labels = [" / ".join(map(str, k)) for k in level_keys]
    ax.set_xticks(np.arange(len(level_keys)), labels,
                  rotation=45 if sum(map(len, labels)) > 60 else 0,
                  ha="right" if sum(map(len, labels)) > 60 else "center")
    ax.set_xlim(-0.6, len(level_keys) - 0.4)
    ax.set_xlabel(" / ".join(keys))
    ax.set_ylabel(f"{response} (marginal mean, {_percent(level)} CI)")
    ax.set_title(f"Marginal means of {response} by {' / '.join(keys)}\n({_note(means.attrs)})",
                 fontsize="medium")
    ax.legend(loc="best", fontsize="small", frameon=show_data, framealpha=0.85,
              edgecolor="none", title=" / ".join(by_keys) if by_keys else None)
    return ax


def plot_effects(fit: LmmFit, x: str, *, by: str | list[str] | None = None,
                 show_data: bool = True, n_points: int = 50, df_method: str | None = None,
                 conf_level: float | None = None, ax: Axes | None = None) -> Axes:
    """Population-level prediction along a numeric covariate, with a confidence band.

    Parameters
    ----------
    fit : LmmFit
        A fit from :func:`mixedkit.fit_lmm`.
    x : str
        A numeric covariate of the fixed part, on the x axis.
    by : str or list of str, optional
        Factor(s) of the fixed part: one line and band per level, with a legend.
    show_data : bool, default True
        Draw the observed responses as light points (coloured by ``by`` level); above
        2,000 rows the points are smaller and more transparent.
    n_points : int, default 50
        Grid values of ``x`` along each line.
    df_method : {"satterthwaite", "kenward-roger", "normal"}, optional
        Degrees of freedom of the band (default: the fit's).
    conf_level : float, optional
        Level of the band (default: the fit's).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when omitted.

    Returns
    -------
    matplotlib Axes
        Per ``by`` level (or once): a line (``gid="effect"``) through ``(x, estimate)``
        of ``effects_data(fit, x, by=by)["line"]``, a band (``gid="band"``,
        ``fill_between``) from ``conf_low`` to ``conf_high``, and with ``show_data`` a
        scatter (``gid="observed"``) of that level's ``(x, response)`` rows of
        ``"observed"``.

    Raises
    ------
    ColumnNotFoundError, InputTypeError
        As :func:`effects_data` (for example ``x`` a factor: the message lists the
        numeric covariates).

    Notes
    -----
    The band is pointwise (for the mean response at each x), not a prediction
    interval for new observations, and ignores the random effects.

    Examples
    --------
    >>> fit = mk.fit_lmm("Weight ~ Time * C(Evit) + (Time | Pig)", data)
    >>> ax = mk.plot_effects(fit, "Time", by="Evit")
    """

    d = effects_data(fit, x, by=by, n_points=n_points, df_method=df_method,
                     conf_level=conf_level)
    line, observed = d["line"], d["observed"]
    by_keys = _names(by, "by")
    response = observed.columns[-1]
    level = line.attrs["conf_level"]
    series = list(dict.fromkeys(_keys_of(line, by_keys))) if by_keys else [()]
    line_series = _keys_of(line, by_keys) if by_keys else [()] * len(line)
    obs_series = _keys_of(observed, by_keys) if by_keys else [()] * len(observed)

    ax = get_ax(ax)
    for j, s in enumerate(series):
        color = f"C{j % 10}"
        name = " / ".join(map(str, s))
        if show_data:
            rows = np.array([o == s for o in obs_series], bool)
            ax.scatter(observed[x].to_numpy(float)[rows],
                       observed[response].to_numpy(float)[rows],
                       **{**marker_style(len(observed), 10, 0.3), "linewidths": 0},
                       color=color, zorder=1, gid="observed",
                       label=f"_observed {name}" if by_keys else "Observed")
        part = line[np.array([m == s for m in line_series], bool)]
        xs = part[x].to_numpy(float)
        ax.fill_between(xs, part["conf_low"].to_numpy(float),
                        part["conf_high"].to_numpy(float), color=color, alpha=0.25,
                        linewidth=0, zorder=2, gid="band",
                        label=f"_band {name}" if by_keys else f"{_percent(level)} confidence band")
        ax.plot(xs, part["estimate"].to_numpy(float), color=color, linewidth=2, zorder=3,
                gid="effect", label=name if by_keys else "Population-level prediction")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{response} (population-level prediction, {_percent(level)} CI)")
    note = _note(line.attrs)
    by_text = f" by {' / '.join(by_keys)}" if by_keys else ""
    ax.set_title(f"Effect of {x} on {response}{by_text}\n({note})", fontsize="medium")
    ax.legend(loc="best", fontsize="small", frameon=show_data, framealpha=0.85,
              edgecolor="none", title=" / ".join(by_keys) if by_keys else None)
    return ax
