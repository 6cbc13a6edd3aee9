"""F tests of fixed-effect terms: ``fit.anova()`` (lmerTest's ``anova``).

For each term, the hypothesis matrix L of :mod:`mixedkit.inference.hypotheses` (Type I, II
or III) is tested with F = (L beta)' (L C L')^-1 (L beta) / q and denominator
degrees of freedom from Satterthwaite's method (lmerTest's ``contestMD``) or
Kenward–Roger's (pbkrtest, through :mod:`mixedkit.inference.kenward_roger`); the method comes from
:mod:`mixedkit.inference.df_methods`.  As lmerTest
reports them, mean_sq = F sigma^2 with the Wald F on the method's covariance (for
Kenward–Roger before its scaling of F) and sum_sq = mean_sq * num_df.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..arguments import DF_LABELS, check_anova_type
from ..model.state import FitState
from .df_methods import FixedInference
from .hypotheses import contrast_matrices

__all__ = ["ANOVA_COLUMNS", "anova_table"]

ANOVA_COLUMNS = ["term", "sum_sq", "mean_sq", "num_df", "den_df", "statistic", "p_value"]
_ROMAN = {1: "I", 2: "II", 3: "III"}


def anova_table(state: FitState, kind, inference: FixedInference) -> pd.DataFrame:
    """The table returned by :meth:`~mixedkit.results.LmmFit.anova` (its display class
    aside): F tests of every term with ``inference``'s df method."""
    kind = check_anova_type(kind)
    beta, sigma2 = state.beta, state.sigma2
    rows = []
    for name, L in contrast_matrices(state, kind).items():
        f_value, q, den, p = inference.f_test(L, beta)
        # lmerTest's sums of squares come from the Wald F on the method's covariance
        # (Kenward-Roger's adjusted one) before Kenward-Roger's scaling of F
        lb = L @ beta
        wald = float(lb @ np.linalg.solve(L @ inference.vcov @ L.T, lb)) / q
        mean_sq = wald * sigma2
        rows.append([name, mean_sq * q, mean_sq, q, den, f_value, p])
    table = pd.DataFrame(rows, columns=ANOVA_COLUMNS)
    table["num_df"] = table["num_df"].astype(int)
    method = inference.df_method
    label = "no (normal, z)" if method == "normal" else f"{DF_LABELS[method]}'s"
    table.attrs.update(type=_ROMAN[kind], df_method=method,
                       heading=f"Type {_ROMAN[kind]} Analysis of Variance Table with {label} "
                               "method" + ("" if method != "normal" else
                                           " (den_df = inf: chi-square / num_df)"))
    return table
