"""The data behind every diagnostic plot, and the checks in words.

:func:`diagnostics_data` returns exactly the numbers the plots draw, so a test (or a
user who prefers another plotting library) can use them without pixels.
:func:`check_assumptions` turns the same numbers into a table of verdicts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["diagnostics_data", "check_assumptions", "qq_points", "ASSUMPTION_COLUMNS"]

ASSUMPTION_COLUMNS = ["check", "statistic", "value", "verdict", "advice"]
_QQ_LEVEL = 0.95
_MAX_TRAJECTORY_GROUPS = 12


def qq_points(values: np.ndarray, level: float = _QQ_LEVEL) -> pd.DataFrame:
    """Normal QQ coordinates with a pointwise band for standardised values.

    ``sample`` are the values standardised by their mean and SD, sorted;
    ``theoretical`` the normal quantiles at (i - 0.5)/n; the band holds each order
    statistic of n standard normal draws with probability ``level`` (from the
    Beta(i, n + 1 - i) distribution of uniform order statistics).
    """
    v = np.asarray(values, float)
    n = len(v)
    sd = v.std(ddof=1) if n > 1 else 1.0
    z = np.sort((v - v.mean()) / (sd if sd > 0 else 1.0))
    i = np.arange(1, n + 1)
    alpha = (1 - level) / 2
    return pd.DataFrame({
        "theoretical": stats.norm.ppf((i - 0.5) / n),
        "sample": z,
        "band_low": stats.norm.ppf(stats.beta.ppf(alpha, i, n + 1 - i)),
        "band_high": stats.norm.ppf(stats.beta.ppf(1 - alpha, i, n + 1 - i)),
    })


def _lowess(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    from statsmodels.nonparametric.smoothers_lowess import lowess

    if len(x) < 5 or np.ptp(x) == 0:
        return pd.DataFrame({"x": np.sort(x), "smooth": np.full(len(x), np.mean(y))})
    sm = lowess(y, x, frac=2 / 3, it=3, return_sorted=True)
    return pd.DataFrame({"x": sm[:, 0], "smooth": sm[:, 1]})


def _trajectory_x(fit, x: str | None) -> str | None:
    """The user column to draw on the x axis of per-group trajectories."""
    prep = fit._prep
    if x is not None:
        return x
    for block in fit._design.blocks:  # a random slope's variable is the natural time axis
        for term in block.terms:
            if term != "Intercept" and term in prep.names.safe:
                return term
    for col in fit._design.exog.columns:
        if col in prep.names.safe and pd.api.types.is_numeric_dtype(
                prep.frame[prep.names.safe[col]]):
            return col
    return None


def _shrinkage(fit) -> pd.DataFrame:
    """Per group: separate-regression estimate against the mixed-model estimate."""
    design, prep = fit._design, fit._prep
    if not design.k_re:
        return pd.DataFrame(columns=["group", "level", "term", "raw", "mixed", "population"])
    block = design.blocks[0]
    fe = fit.fixed_effects.set_index("term")["estimate"]
    ranef = fit.ranef()
    ranef = ranef[ranef["group"] == block.group].set_index(["level", "term"])["estimate"]
    z = design.exog_re.to_numpy()
    offset_cols = [c for c in design.exog.columns if c not in block.terms]
    offset = design.exog[offset_cols].to_numpy() @ fe[offset_cols].to_numpy() \
        if offset_cols else np.zeros(len(z))
    y = design.endog - offset
    rows = []
    for code, level in enumerate(design.group_labels):
        idx = np.flatnonzero(design.groups == code)
        zi = z[idx]
        raw = np.full(z.shape[1], np.nan)
        if len(idx) >= z.shape[1] and np.linalg.matrix_rank(zi) == z.shape[1]:
            raw = np.linalg.lstsq(zi, y[idx], rcond=None)[0]
        for j, term in enumerate(block.terms):
            pop = fe.get(term, 0.0)
            rows.append([block.group, str(level), term, raw[j],
                         pop + ranef.get((str(level), term), 0.0), pop])
    return pd.DataFrame(rows, columns=["group", "level", "term", "raw", "mixed", "population"])


def _trajectories(fit, x: str | None, max_groups: int, seed: int) -> pd.DataFrame:
    design, prep = fit._design, fit._prep
    cols = ["level", "x", "observed", "fitted", "population"]
    xcol = _trajectory_x(fit, x)
    if xcol is None or xcol not in prep.names.safe or not design.k_re:
        return pd.DataFrame(columns=cols)
    labels = design.group_labels
    chosen = np.arange(len(labels))
    if len(chosen) > max_groups:
        chosen = np.sort(np.random.default_rng(seed).choice(len(labels), max_groups,
                                                            replace=False))
    keep = np.isin(design.groups, chosen)
    table = pd.DataFrame({
        "level": labels[design.groups[keep]].astype(str),
        "x": prep.frame[prep.names.safe[xcol]].to_numpy()[keep],
        "observed": design.endog[keep],
        "fitted": fit.fitted("conditional").to_numpy()[keep],
        "population": fit.fitted("marginal").to_numpy()[keep],
    }, index=prep.frame.index[keep])
    table.attrs.update(x=xcol, group=design.blocks[0].group, n_groups=len(labels))
    return table.sort_values(["level", "x"], kind="stable")


def diagnostics_data(fit, *, x: str | None = None, max_groups: int = _MAX_TRAJECTORY_GROUPS,
                     seed: int = 0) -> dict[str, pd.DataFrame]:
    """The data every diagnostic plot draws.

    Parameters
    ----------
    fit : LmmFit
    x : str, optional
        Column on the x axis of the trajectories (default: the first random slope's
        variable, else the first numeric fixed-effect column).
    max_groups : int, default 12
        Trajectories drawn at most (a random sample of groups, ``seed``).

    Returns
    -------
    dict of DataFrame
        ``"residuals"``: index as the data rows used; columns ``fitted, residual,
        pearson, sqrt_abs_pearson`` (conditional fitted values and residuals).
        ``"residual_smooth"``: ``x, smooth`` (lowess of residual on fitted).
        ``"scale_smooth"``: ``x, smooth`` (lowess of sqrt |Pearson residual| on fitted).
        ``"qq"``: ``theoretical, sample, band_low, band_high`` (Pearson residuals).
        ``"ranef"``: :meth:`LmmFit.ranef`, sorted by group, term and estimate.
        ``"ranef_qq"``: ``group, term`` plus the ``qq`` columns, per random term.
        ``"shrinkage"``: ``group, level, term, raw, mixed, population`` (separate
        per-group least squares against the mixed model, for the grouping factor
        with correlated effects).
        ``"trajectories"``: ``level, x, observed, fitted, population``.
    """
    fitted = fit.fitted("conditional")
    resid = fit.residuals("conditional")
    pearson = fit.residuals("pearson")
    res = pd.DataFrame({"fitted": fitted, "residual": resid, "pearson": pearson,
                        "sqrt_abs_pearson": np.sqrt(np.abs(pearson))})
    ranef = fit.ranef().sort_values(["group", "term", "estimate"], kind="stable")
    qq_parts = []
    for (group, term), part in ranef.groupby(["group", "term"], sort=False):
        if len(part) >= 3:
            q = qq_points(part["estimate"].to_numpy())
            q.insert(0, "term", term)
            q.insert(0, "group", group)
            qq_parts.append(q)
    return {
        "residuals": res,
        "residual_smooth": _lowess(res["fitted"].to_numpy(), res["residual"].to_numpy()),
        "scale_smooth": _lowess(res["fitted"].to_numpy(), res["sqrt_abs_pearson"].to_numpy()),
        "qq": qq_points(res["pearson"].to_numpy()),
        "ranef": ranef.reset_index(drop=True),
        "ranef_qq": pd.concat(qq_parts, ignore_index=True) if qq_parts else
        pd.DataFrame(columns=["group", "term", "theoretical", "sample", "band_low", "band_high"]),
        "shrinkage": _shrinkage(fit),
        "trajectories": _trajectories(fit, x, max_groups, seed),
    }
