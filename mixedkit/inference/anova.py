"""F tests of fixed-effect terms: ``fit.anova()`` (lmerTest's ``anova``).

For each term, the hypothesis matrix L of :mod:`mixedkit.inference.hypotheses` (Type I, II
or III) is tested with F = (L beta)' (L C L')^-1 (L beta) / q and denominator
degrees of freedom from Satterthwaite's method (lmerTest's ``contestMD``) or
Kenward–Roger's (pbkrtest, through :mod:`mixedkit.inference.kenward_roger`).  As lmerTest
reports them, mean_sq = F sigma^2 and sum_sq = mean_sq * num_df.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputValueError

__all__ = ["ANOVA_COLUMNS", "AnovaTable", "anova_table", "term_tester"]

ANOVA_COLUMNS = ["term", "sum_sq", "mean_sq", "num_df", "den_df", "statistic", "p_value"]
_TYPES = {1: 1, 2: 2, 3: 3, "I": 1, "II": 2, "III": 3}
_ROMAN = {1: "I", 2: "II", 3: "III"}


class AnovaTable(pd.DataFrame):
    """A DataFrame whose text display starts with the test's heading (``attrs["heading"]``)."""

    @property
    def _constructor(self):
        return AnovaTable

    def __repr__(self) -> str:
        heading = self.attrs.get("heading", "")
        body = pd.DataFrame(self).to_string(index=False, float_format=lambda v: f"{v:.4g}")
        return f"{heading}\n{body}" if heading else body

    def _repr_html_(self) -> str:
        import html

        heading = self.attrs.get("heading", "")
        body = pd.DataFrame(self).to_html(index=False, float_format=lambda v: f"{v:.4g}")
        return f"<p><b>{html.escape(heading)}</b></p>{body}" if heading else body


def _check_type(kind) -> int:
    if kind not in _TYPES:
        raise InputValueError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'); got {kind!r}")
    return _TYPES[kind]


def anova_table(fit, kind=3, df_method: str | None = None) -> AnovaTable:
    """The table returned by :meth:`~mixedkit.results.LmmFit.anova`."""
    from ..results import check_df_method
    from .hypotheses import contrast_matrices

    kind = _check_type(kind)
    method = fit.df_method if df_method is None else check_df_method(df_method)
    state = fit.state
    beta = state.beta
    sigma2 = state.sigma2
    tester = term_tester(state, method)
    rows = []
    for name, L in contrast_matrices(state, kind).items():
        f_value, q, den, p = tester(L, beta)
        mean_sq = f_value * sigma2
        rows.append([name, mean_sq * q, mean_sq, q, den, f_value, p])
    table = AnovaTable(rows, columns=ANOVA_COLUMNS)
    table["num_df"] = table["num_df"].astype(int)
    label = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's",
             "normal": "no (normal, z)"}[method]
    table.attrs.update(type=_ROMAN[kind], df_method=method,
                       heading=f"Type {_ROMAN[kind]} Analysis of Variance Table with {label} "
                               "method" + ("" if method != "normal" else
                                           " (den_df = inf: chi-square / num_df)"))
    return table


def term_tester(state, method: str):
    """``test(L, beta) -> (F, num_df, den_df, p)`` for a fit's state with the df method
    ``"satterthwaite"``, ``"kenward-roger"`` or ``"normal"`` (Wald chi-square / num_df)."""
    if method == "satterthwaite":
        return state.satterthwaite.f_test
    if method == "kenward-roger":
        return state.kenward_roger.f_test

    def wald(L, beta):
        L = np.atleast_2d(L)
        v = L @ state.vcov_fixed @ L.T
        q = int(np.linalg.matrix_rank(v))
        if q == 0:
            return np.nan, 0, np.nan, np.nan
        lb = L @ beta
        f_value = float(lb @ np.linalg.pinv(v) @ lb) / q
        return f_value, q, np.inf, float(stats.chi2.sf(f_value * q, q))

    return wald
