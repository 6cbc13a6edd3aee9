"""How much variance each part of a fit explains: ICC, design effect, Nakagawa R².

Definitions follow ``performance::icc`` and ``performance::r2_nakagawa`` (Nakagawa,
Johnson & Schielzeth 2017):

- fixed variance: the variance of the fixed-effects predictions X beta (n - 1 denominator);
- random variance: for each random-effects block with covariance Sigma and design
  rows z_i, the mean over the observed rows of z_i' Sigma z_i, i.e. trace(Z Sigma Z')/n
  (Johnson 2014).  For a random intercept this is its variance; for a random slope it
  is *not* the variance at x = 0 but the average over the data;
- residual variance: sigma^2.

adjusted ICC = random / (random + residual); unadjusted ICC = random / (fixed + random +
residual); marginal R² = fixed / total; conditional R² = (fixed + random) / total.

One deliberate difference: for uncorrelated slopes ``(x || g)`` performance 0.10 drops
the slope variance (sleepstudy: ICC 0.49, against 0.72 for ``(x | g)``); mixedkit uses
the same definition for correlated and uncorrelated slopes (0.72 there), so the two
models' ICCs can be compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..model.estimation import block_factors, user_theta
from ..model.state import FitState

__all__ = ["VarianceParts", "icc_table", "r2_table", "variance_parts"]


@dataclass(frozen=True)
class VarianceParts:
    """Variance decomposition of a fit (see module docstring)."""

    fixed: float
    random: float
    residual: float
    by_group: dict[str, float]
    intercept_only: bool

    @property
    def total(self) -> float:
        return self.fixed + self.random + self.residual


def variance_parts(state: FitState, theta_std: np.ndarray | None = None, scale: float | None = None,
                   fe_params: np.ndarray | None = None) -> VarianceParts:
    """Fixed, random (per grouping factor) and residual variance of a fit's ``state``.

    The optional arguments evaluate the decomposition at other parameter values of
    the same model (used by the parametric bootstrap).
    """
    design = state.design
    theta_std = state.theta if theta_std is None else theta_std
    scale = state.sigma2 if scale is None else scale
    beta = state.beta if fe_params is None else fe_params
    chols = block_factors(design, user_theta(design, theta_std))
    by_group: dict[str, float] = {}
    intercept_only = True
    for block, chol in zip(design.blocks, chols):
        cov = scale * chol @ chol.T
        value = float(np.mean(np.einsum("ij,jk,ik->i", block.z, cov, block.z)))
        intercept_only &= block.terms == ["Intercept"]
        by_group[block.group] = by_group.get(block.group, 0.0) + value
    fixed = float(np.var(design.exog.to_numpy() @ beta, ddof=1)) if len(beta) else 0.0
    return VarianceParts(fixed, float(sum(by_group.values())), float(scale), by_group,
                         intercept_only)


def _total_label(parts: VarianceParts) -> str:
    return " + ".join(parts.by_group)


def icc_values(parts: VarianceParts, mean_cluster_size: float) -> dict[tuple[str, str], float]:
    """ICC estimates keyed by (group, kind)."""
    denom_adj = parts.random + parts.residual
    out = {
        (_total_label(parts), "adjusted"): parts.random / denom_adj,
        (_total_label(parts), "unadjusted"): parts.random / parts.total,
    }
    if parts.intercept_only and len(parts.by_group) == 1:
        out[(_total_label(parts), "design_effect")] = (
            1 + (mean_cluster_size - 1) * parts.random / denom_adj)
    if len(parts.by_group) > 1:
        for group, value in parts.by_group.items():
            out[(group, "adjusted")] = value / denom_adj
    return out


def r2_values(parts: VarianceParts) -> dict[str, float]:
    """Nakagawa marginal and conditional R²."""
    return {"marginal": parts.fixed / parts.total,
            "conditional": (parts.fixed + parts.random) / parts.total}


def _n_failed(boot) -> int:
    if boot is None or "error" not in boot:
        return 0
    return int(boot["error"].notna().sum())


def _table(values: dict, keys: list[str], boot: pd.DataFrame | None, conf_level: float):
    rows = []
    for key, est in values.items():
        key = key if isinstance(key, tuple) else (key,)
        lo = hi = np.nan
        if boot is not None:
            col = "|".join(key)
            draws = boot[col].dropna().to_numpy() if col in boot else np.array([])
            if len(draws):
                alpha = (1 - conf_level) / 2
                lo, hi = np.quantile(draws, [alpha, 1 - alpha])
        rows.append([*key, est, lo, hi])
    return pd.DataFrame(rows, columns=[*keys, "estimate", "conf_low", "conf_high"])


def icc_table(state: FitState, parts: VarianceParts, boot=None, conf_level: float = 0.95) -> pd.DataFrame:
    """The table returned by ``fit.icc()``."""
    sizes = np.bincount(state.design.groups)
    table = _table(icc_values(parts, float(np.mean(sizes))), ["group", "kind"], boot, conf_level)
    notes = []
    if parts.random == 0:
        notes.append("singular fit: every random-effect variance is estimated as 0, so the ICC "
                     "is 0 (performance::icc returns NA here).")
    if not parts.intercept_only:
        notes.append("random slopes: the random variance is the mean over the observed rows of "
                     "z' Sigma z (Johnson 2014), as performance::icc computes it; it depends on "
                     "where the slope variables are centred.")
    table.attrs.update(conf_level=conf_level if boot is not None else None,
                       n_boot=0 if boot is None else len(boot),
                       n_failed=_n_failed(boot),
                       note=" ".join(notes))
    return table


def r2_table(state: FitState, parts: VarianceParts, boot=None, conf_level: float = 0.95) -> pd.DataFrame:
    """The table returned by ``fit.r2()``."""
    table = _table(r2_values(parts), ["kind"], boot, conf_level)
    table.attrs.update(conf_level=conf_level if boot is not None else None,
                       n_boot=0 if boot is None else len(boot), n_failed=_n_failed(boot),
                       note="" if parts.random else "singular fit: the random-effect variance "
                       "is 0, so conditional R² equals marginal R² (performance returns NA).")
    return table
