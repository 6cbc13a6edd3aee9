"""emmeans' reference grid of a fit: every factor of the fixed part at all its levels.

Each numeric covariate is held at its mean over the fitted rows (or the value given in
``at=``); the grid's rows of X come from the fit's own patsy design, so factors are coded
as in the fit. Marginal means, contrasts, the means and effects plots and population-level
predictions (which columns the fixed part needs) all read it from here.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from ..errors import ColumnNotFoundError, InputTypeError, InputValueError, closest_names
from ..model.state import FitState

__all__ = ["ReferenceGrid", "check_factors", "factor_list", "fixed_columns", "reference_grid",
           "suggest_name", "unused_column_role"]


@dataclass(frozen=True)
class ReferenceGrid:
    """The grid (one row per combination of factor levels) and its fixed-effects rows."""

    frame: pd.DataFrame  # user column names; factor columns then covariates
    x: np.ndarray  # (cells, p)
    factors: list  # user names of the grid's factors, in formula order
    covariates: dict  # user name -> value held


def _grid_variables(state: FitState) -> tuple[list[str], list[str], dict]:
    """Safe column names of the grid's factors and covariates, and each factor's levels."""
    info = state.design_info
    prep = state.prep
    columns = [c for c in prep.frame.columns if c != prep.parsed.response]
    factors, covariates, levels = [], [], {}
    for term in info.terms:
        for factor in term.factors:
            used = [c for c in columns if re.search(rf"(?<![\w.]){re.escape(c)}(?![\w.])",
                                                    factor.code)]
            finfo = info.factor_infos[factor]
            for col in used:
                if finfo.type == "categorical" and len(used) == 1:
                    if col not in factors:
                        factors.append(col)
                        levels[col] = list(finfo.categories)
                elif col not in covariates and col not in factors:
                    covariates.append(col)
    covariates = [c for c in covariates if c not in factors]
    return factors, covariates, levels


def fixed_columns(state: FitState) -> list[str]:
    """Safe names of the data columns the fixed part uses."""
    factors, covariates, _ = _grid_variables(state)
    return factors + covariates


def reference_grid(state: FitState, at: dict | None = None) -> ReferenceGrid:
    """emmeans' default reference grid of a fit (see module docstring)."""
    prep = state.prep
    factors, covariates, levels = _grid_variables(state)
    at = dict(at or {})
    unknown = [k for k in at if k not in prep.names.safe]
    if unknown:
        raise ColumnNotFoundError(f"at= names {unknown}, which the model does not use; it uses "
                                  f"{[prep.user(c) for c in factors + covariates]}")
    held = {}
    for col in covariates:
        user = prep.user(col)
        held[col] = float(at[user]) if user in at else float(prep.frame[col].mean())
    grid_levels = {}
    for col in factors:
        user = prep.user(col)
        if user in at:
            wanted = np.atleast_1d(at[user])
            bad = [v for v in wanted if v not in levels[col]]
            if bad:
                raise InputValueError(f"at={{{user!r}: ...}} has levels {bad} not in the data; "
                                     f"levels: {levels[col]}")
            grid_levels[col] = list(wanted)
        else:
            grid_levels[col] = levels[col]
    combos = list(itertools.product(*(grid_levels[c] for c in factors))) or [()]
    frame = pd.DataFrame(combos, columns=factors)
    for col in covariates:
        frame[col] = held[col]
    for col in factors:  # keep the fitted categories so patsy codes them as in the fit
        if isinstance(prep.frame[col].dtype, pd.CategoricalDtype):
            frame[col] = pd.Categorical(frame[col], categories=prep.frame[col].cat.categories)
    (x,) = patsy.build_design_matrices([state.design_info], frame, return_type="matrix")
    user_frame = frame.rename(columns=prep.user)
    return ReferenceGrid(user_frame, np.asarray(x), [prep.user(c) for c in factors],
                         {prep.user(c): v for c, v in held.items()})


# ------------------------------------------------------- names asked of the grid
def factor_list(grid: ReferenceGrid) -> str:
    """``"its factors are [...]"`` (or that there are none), for messages."""
    return f"its factors are {grid.factors}" if grid.factors else \
        "the fixed part has no factors"


def suggest_name(name: str, candidates: list[str]) -> str:
    """``"; did you mean 'x'?"`` when a candidate is close, else nothing."""
    close = closest_names(name, candidates)
    return f"; did you mean {close[0]!r}?" if close else ""


def unused_column_role(name: str, prep) -> str:
    """What a column the fixed part does not use is, when the model knows it."""
    if name == prep.names.restore(prep.parsed.response):
        return " (it is the response)"
    if name in prep.names.safe and prep.names.safe[name] in prep.frame.columns:
        return " (the model uses it only in its random part)"
    return ""


def check_factors(names: list[str], grid: ReferenceGrid, arg: str, prep) -> None:
    """Each of ``names`` must be a factor of the grid: a numeric covariate is the wrong kind
    of column (:class:`InputTypeError`), any other name is not one
    (:class:`ColumnNotFoundError`); the message says what it is and what to write."""
    for name in names:
        if name in grid.factors:
            continue
        if name in grid.covariates:
            raise InputTypeError(
                f"{arg}={name!r} is a numeric covariate (held at {grid.covariates[name]:.4g}): "
                f"use at= to choose its value, plot_effects(fit, {name!r}) to plot its slope, "
                f"or write C({name}) in the formula to treat it as a factor "
                f"({factor_list(grid)})")
        raise ColumnNotFoundError(
            f"{arg}={name!r} is not a factor of the fixed part{unused_column_role(name, prep)}; "
            f"{factor_list(grid)}{suggest_name(name, grid.factors)}")
