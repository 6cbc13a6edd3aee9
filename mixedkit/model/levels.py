"""The levels of a grouping factor: integer codes, labels and each row's level as text.

One factor is one column or, for ``a:b``, the combinations of several; levels are sorted
(as lme4 orders them). Codes index the rows of the conditional modes; labels name them in
tables; :func:`level_key` is how new data is matched to the fitted levels.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["factor_levels", "level_key", "sorted_text_codes"]


def factor_levels(frame: pd.DataFrame, factor: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's level code (0..L-1, in sorted level order) and each code's label."""
    if len(factor) == 1:
        column = frame[factor[0]]
        text = (column.dtype == object or isinstance(column.dtype, pd.StringDtype)) and \
            pd.api.types.infer_dtype(column, skipna=False) == "string"
        if text:
            return sorted_text_codes(column.to_numpy(dtype=object))
        with warnings.catch_warnings():  # pandas 1.5 warns on object columns of numbers
            warnings.simplefilter("ignore", FutureWarning)
            codes, labels = pd.factorize(column, sort=True)
        return codes, labels.to_numpy()
    grouped = frame.groupby(list(factor), sort=True, observed=True)
    labels = np.array([":".join(map(str, k)) for k in grouped.size().index])
    return grouped.ngroup().to_numpy(), labels


def sorted_text_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, sort=True)`` for an object array of str, about twice as fast.

    The rows are hashed unsorted; only the distinct values are sorted, as fixed-width
    unicode (compared in C, code point by code point, the order Python gives str; 125,000
    text ids: 24 ms against 75 ms as Python objects). numpy's unicode drops trailing NUL
    characters, so when two distinct values sort as equal, Python's order decides.
    """
    codes, uniques = pd.factorize(values, sort=False)
    fixed = uniques.astype(str)
    order = np.argsort(fixed, kind="stable")
    ranked = fixed[order]
    if len(ranked) > 1 and not np.all(ranked[1:] > ranked[:-1]):
        order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.intp)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def level_key(frame: pd.DataFrame, factor: tuple[str, ...]) -> pd.Series:
    """Each row's level of ``factor`` as text, as :func:`factor_levels` labels levels."""
    key = frame[factor[0]].astype(str)
    for col in factor[1:]:
        key = key + ":" + frame[col].astype(str)
    return key
