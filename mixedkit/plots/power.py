"""``plot_power``: a power curve with its Monte Carlo intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InputTypeError, InputValueError

__all__ = ["plot_power"]

_AXES = ("n_groups", "n_per_group", "effect")
_LABELS = {"n_groups": "groups", "n_per_group": "rows per group", "effect": "effect"}


def _varying(table: pd.DataFrame) -> list[str]:
    return [c for c in _AXES if c in table and table[c].nunique(dropna=True) > 1]


def plot_power(table: pd.DataFrame, *, x: str | None = None, target: float | None = 0.8,
               label: str | None = None, ax=None):
    """Plot a power curve made by :func:`~mixedkit.power_lmm`.

    Parameters
    ----------
    table : DataFrame
        ``power_lmm``'s result.
    x : {"n_groups", "n_per_group", "effect"}, optional
        The horizontal axis (default: the column that varies; when two vary, the other
        one draws one line per value).
    target : float or None, default 0.8
        A dashed line at the power one aims for (None: no line). A table made with
        ``power_lmm(..., target=)`` draws it at its own target and shows its answer: a
        dotted line at the smallest size reaching the target, the sizes within the Monte
        Carlo error shaded.
    label : str, optional
        Legend label of this curve (to draw several tables on one ``ax``).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
        Power against ``x`` with the exact binomial interval of each point as error bars.
    """
    import matplotlib.pyplot as plt  # lazily: see mixedkit.plots

    if not isinstance(table, pd.DataFrame) or not {"power", "conf_low", "conf_high"} <= set(
            table.columns):
        raise InputTypeError("plot_power needs the table returned by mk.power_lmm (columns "
                             "power, conf_low, conf_high)")
    varying = _varying(table)
    if x is None:
        x = varying[0] if varying else "n_groups"
    if x not in _AXES:
        raise InputValueError(f"x must be one of {_AXES}; got {x!r}")
    lines = [c for c in varying if c != x]
    along = table.attrs.get("along")
    names = dict(_LABELS, n_groups=f"groups ({along})" if along else "groups")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    by = lines[0] if len(lines) == 1 else lines  # a one-element list warns in pandas 1.5
    groups = table.groupby(by, sort=True) if lines else [(None, table)]
    for key, part in groups:
        part = part.sort_values(x)
        err = np.vstack([part["power"] - part["conf_low"], part["conf_high"] - part["power"]])
        parts = [] if key is None else [f"{names[c]} = {v:g}"
                                         for c, v in zip(lines, np.atleast_1d(key))]
        text = ", ".join(([label] if label else []) + parts) or None
        ax.errorbar(part[x], part["power"], yerr=err, marker="o", capsize=3, label=text)
    found = table.attrs.get("target")
    if target is not None and found is not None:
        target = found["power"]
    if target is not None:
        ax.axhline(target, color="0.5", linestyle="--", linewidth=1)
    if found is not None and found.get("smallest") is not None and found["size"] == x:
        # power_lmm(target=...): the answer, and the sizes within its Monte Carlo error
        high = found["conf_high"] if found["conf_high"] is not None else found["smallest"]
        ax.axvspan(found["conf_low"], high, color="0.85", zorder=0)
        ax.axvline(found["smallest"], color="0.3", linestyle=":", linewidth=1.2)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(names[x])
    ax.set_ylabel("power")
    term, test = table.attrs.get("term"), table.attrs.get("test")
    if term:
        alpha = table.attrs.get("alpha", 0.05)
        ax.set_title(f"power for {term} ({test} test, alpha = {alpha:g})", fontsize=10)
    if lines or label:
        ax.legend(fontsize=8)
    return ax
