"""Estimated marginal means and contrasts (emmeans' semantics).

The reference grid has every factor of the fixed part at all of its levels and each
numeric covariate at its mean over the fitted rows (or the value given in ``at=``).
A marginal mean is the equal-weight average of the grid's predictions over the
levels of the factors not asked for, whatever the cell counts; each is a linear
function l'beta, with standard error from the fit's covariance (or Kenward–Roger's
adjusted one) and t degrees of freedom from the same method as everything else.
Contrasts are linear combinations of the means; their p-values and intervals are
adjusted per family (each ``by`` group): Tukey's studentized range, Sidak,
Bonferroni, Holm (intervals Bonferroni, as emmeans) or none.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import ADJUSTMENTS, check_choice
from ..errors import InputTypeError, InputValueError
from ..model.state import FitState
from ..model.validation import parses_as_number
from .df_methods import FixedInference, t_table
from .grid import ReferenceGrid, check_factors, reference_grid

__all__ = ["CONTRAST_COLUMNS", "MEANS_COLUMNS", "TREND_COLUMNS", "contrasts", "marginal_means",
           "marginal_trends", "means_request"]

MEANS_COLUMNS = ["estimate", "std_error", "df", "conf_low", "conf_high"]
CONTRAST_COLUMNS = ["contrast", "estimate", "std_error", "df", "statistic", "p_value",
                    "conf_low", "conf_high"]
TREND_COLUMNS = ["estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high"]
METHODS = ("pairwise", "treatment", "trt.vs.ctrl")


def _as_list(spec, name: str) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec):
        return list(spec)
    raise InputTypeError(f"{name} must be a column name or a list of names; got {spec!r}")


def _cell_rows(grid: ReferenceGrid, keys: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per combination of ``keys`` levels: the equal-weight average of the grid."""
    if not keys:
        return pd.DataFrame(index=[0]), grid.x.mean(axis=0, keepdims=True)
    codes = grid.frame[keys].astype(str).agg("\x1f".join, axis=1) if len(keys) > 1 else \
        grid.frame[keys[0]].astype(str)
    order = list(dict.fromkeys(codes))
    labels = grid.frame.drop_duplicates(subset=keys)[keys].reset_index(drop=True)
    rows = np.vstack([grid.x[(codes == c).to_numpy()].mean(axis=0) for c in order])
    return labels, rows


def means_request(state: FitState, spec=None, by=None, at=None) -> tuple[ReferenceGrid, list[str]]:
    """The reference grid (with ``at``) and the checked ``spec`` + ``by`` factor names:
    what :func:`marginal_means` and the means plots both start from."""
    keys = _as_list(spec, "spec")
    by_keys = [b for b in _as_list(by, "by") if b not in keys]
    grid = reference_grid(state, at)
    check_factors(keys, grid, "spec", state.prep)
    check_factors(by_keys, grid, "by", state.prep)
    return grid, keys + by_keys


def marginal_means(state: FitState, spec=None, *, by=None, at=None, inference: FixedInference,
                   conf_level: float) -> pd.DataFrame:
    """The table returned by :meth:`~mixedkit.results.LmmFit.marginal_means`."""
    grid, keys = means_request(state, spec, by, at)
    return _means(state, keys, grid, inference, conf_level)[0]


def marginal_trends(state: FitState, var: str, spec=None, *, by=None, at=None,
                    inference: FixedInference, conf_level: float) -> pd.DataFrame:
    """The table returned by :meth:`~mixedkit.results.LmmFit.marginal_trends` (emmeans'
    ``emtrends``): the slope of the prediction in ``var`` on the reference grid, averaged
    over the factors not asked for. The slope of each grid row is a linear function of
    beta, (x(v + h) - x(v - h)) / 2h, exact for terms up to quadratic in ``var``
    (``I(var**2)``, ``var:group``), within 1e-6 relative otherwise."""
    if not isinstance(var, str):
        raise InputTypeError(f"var must be the name of a numeric column; got {var!r}")
    grid, keys = means_request(state, spec, by, at)
    if var not in grid.covariates:
        role = ("a factor: compare its levels with fit.contrasts" if var in grid.factors
                else "not a numeric column of the fixed part")
        raise InputValueError(
            f"var={var!r} is {role}; a trend is the slope of the prediction in a numeric "
            f"predictor: {sorted(grid.covariates) or 'the model has none'}")
    value = grid.covariates[var]
    spread = float(np.std(state.prep.frame[state.prep.names.safe[var]]))
    h = 1e-3 * (spread if spread > 0 else max(abs(value), 1.0))
    shifted = [reference_grid(state, {**(at or {}), var: value + step}) for step in (h, -h)]
    labels, up = _cell_rows(shifted[0], keys)
    _, down = _cell_rows(shifted[1], keys)
    cols = t_table(inference, (up - down) / (2 * h), state.beta, conf_level)
    table = labels.copy() if keys else pd.DataFrame({"term": ["overall"]})
    for name in TREND_COLUMNS:
        table[name] = cols[name]
    table.attrs.update(var=var, at_value=value, conf_level=conf_level,
                       df_method=inference.df_method, covariates=grid.covariates,
                       averaged_over=[f for f in grid.factors if f not in keys],
                       weights="equal")
    return table


def _means(state: FitState, keys: list[str], grid: ReferenceGrid, inference: FixedInference,
           level: float):
    """Marginal means of the ``keys`` cells of ``grid`` and the rows l of X they average."""
    labels, rows = _cell_rows(grid, keys)
    cols = t_table(inference, rows, state.beta, level)
    table = labels.copy() if keys else pd.DataFrame({"term": ["overall"]})
    for name in MEANS_COLUMNS:
        table[name] = cols[name]
    table.attrs.update(conf_level=level, df_method=inference.df_method,
                       covariates=grid.covariates,
                       averaged_over=[f for f in grid.factors if f not in keys],
                       weights="equal")
    return table, rows


def _contrast_weights(method, levels: list[str], custom) -> tuple[list[str], np.ndarray]:
    k = len(levels)
    if custom is not None:
        names, weights = [], []
        for name, w in custom.items():
            w = np.asarray(w, float)
            if w.shape != (k,):
                raise InputValueError(f"contrast {name!r} has {w.size} weights; the spec has {k} "
                                     f"levels {levels}")
            names.append(str(name))
            weights.append(w)
        return names, np.array(weights)
    names, weights = [], []
    if method == "pairwise":
        for i, j in itertools.combinations(range(k), 2):
            w = np.zeros(k)
            w[i], w[j] = 1.0, -1.0
            names.append(f"{levels[i]} - {levels[j]}")
            weights.append(w)
    else:  # treatment: each level against the first
        for i in range(1, k):
            w = np.zeros(k)
            w[i], w[0] = 1.0, -1.0
            names.append(f"{levels[i]} - {levels[0]}")
            weights.append(w)
    return names, np.array(weights)


def _level_label(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """Level labels as emmeans writes them: numeric-looking levels prefixed by the factor."""
    out = []
    for _, row in frame[keys].iterrows():
        parts = []
        for key in keys:
            v = str(row[key])
            parts.append(f"{key}{v}" if parses_as_number(v) else v)
        out.append(" ".join(parts))
    return out


def contrasts(state: FitState, spec, *, method="pairwise", adjust="tukey", by=None,
              inference: FixedInference, conf_level: float) -> pd.DataFrame:
    """The table returned by :meth:`~mixedkit.results.LmmFit.contrasts`."""
    custom = None
    if isinstance(method, dict):
        custom, method = method, "custom"
    elif method not in METHODS:
        raise InputValueError(f"method must be one of {METHODS} or a dict of contrast weights; "
                             f"got {method!r}")
    check_choice(adjust, ADJUSTMENTS, "adjust")
    spec_keys = _as_list(spec, "spec")
    if not spec_keys:
        raise InputValueError("contrasts need a spec: the factor whose levels are compared")
    by_keys = [b for b in _as_list(by, "by") if b not in spec_keys]
    grid, keys = means_request(state, spec_keys, by_keys)
    level = conf_level
    means, rows = _means(state, keys, grid, inference, level)
    vcov, t_df = inference.vcov, inference.t_df
    notes = []
    if adjust == "tukey" and method != "pairwise":
        adjust = "sidak"  # Tukey's range applies to one family of pairwise comparisons
        notes.append("adjust='tukey' was changed to 'sidak': Tukey's method is for pairwise "
                     "comparisons only")
    families = list(means.groupby(by_keys, sort=False).indices.items()) if by_keys else \
        [(None, np.arange(len(means)))]
    parts = []
    for key, idx in families:
        levels = _level_label(means.iloc[idx], spec_keys)
        names, weights = _contrast_weights(method, levels, custom)
        lrows = weights @ rows[idx]
        est = lrows @ state.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", lrows, vcov, lrows))
        df = np.array([t_df(r) for r in lrows])
        part = pd.DataFrame({"contrast": names, "estimate": est, "std_error": se, "df": df})
        part["statistic"] = est / se
        p, half = _adjusted(part["statistic"].to_numpy(), df, adjust, len(idx), len(names),
                            level)
        part["p_value"], part["conf_low"], part["conf_high"] = p, est - half * se, est + half * se
        if by_keys:
            for j, b in enumerate(by_keys):
                part.insert(j, b, key[j] if isinstance(key, tuple) else key)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    family = f"a family of {len(families[0][1])} estimates" if method == "pairwise" else \
        f"{len(parts[0])} tests"
    if adjust == "holm":
        notes.append("Holm-adjusted p-values; the intervals are Bonferroni-adjusted (Holm has "
                     "no simultaneous intervals), as emmeans")
    table.attrs.update(conf_level=level, df_method=inference.df_method, adjust=adjust, method=method,
                       averaged_over=means.attrs["averaged_over"],
                       covariates=means.attrs["covariates"], notes=notes, family=family)
    return table


def _adjusted(t: np.ndarray, df: np.ndarray, adjust: str, n_means: int, n_tests: int,
              level: float) -> tuple[np.ndarray, np.ndarray]:
    """Adjusted two-sided p-values and interval half-widths (in SEs) for one family."""
    alpha = 1 - level
    raw = 2 * stats.t.sf(np.abs(t), df)
    if adjust == "tukey":
        p = stats.studentized_range.sf(np.abs(t) * np.sqrt(2), n_means, df)
        half = stats.studentized_range.ppf(level, n_means, df) / np.sqrt(2)
        return np.clip(p, 0, 1), half
    if adjust == "sidak":
        p = 1 - (1 - raw) ** n_tests
        half = stats.t.ppf(1 - (1 - (1 - alpha) ** (1 / n_tests)) / 2, df)
        return p, half
    if adjust in ("bonferroni", "holm"):
        if adjust == "bonferroni":
            p = np.minimum(raw * n_tests, 1.0)
        else:
            order = np.argsort(raw)
            scaled = np.maximum.accumulate(raw[order] * (n_tests - np.arange(n_tests)))
            p = np.empty_like(raw)
            p[order] = np.minimum(scaled, 1.0)
        return p, stats.t.ppf(1 - alpha / (2 * n_tests), df)
    return raw, stats.t.ppf(1 - alpha / 2, df)
