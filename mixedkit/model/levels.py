"""The levels of a grouping factor: integer codes, labels and each row's level as text.

One factor is one column or, for ``a:b``, the combinations of several; levels are sorted
(as lme4 orders them). Codes index the rows of the conditional modes; labels name them in
tables; :func:`level_key` is how new data is matched to the fitted levels.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["factor_levels", "level_key"]


def factor_levels(frame: pd.DataFrame, factor: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's level code (0..L-1, in sorted level order) and each code's label."""
    if len(factor) == 1:
        with warnings.catch_warnings():  # pandas 1.5 warns on object columns of numbers
            warnings.simplefilter("ignore", FutureWarning)
            codes, labels = pd.factorize(frame[factor[0]], sort=True)
        return codes, labels.to_numpy()
    grouped = frame.groupby(list(factor), sort=True, observed=True)
    labels = np.array([":".join(map(str, k)) for k in grouped.size().index])
    return grouped.ngroup().to_numpy(), labels


def level_key(frame: pd.DataFrame, factor: tuple[str, ...]) -> pd.Series:
    """Each row's level of ``factor`` as text, as :func:`factor_levels` labels levels."""
    key = frame[factor[0]].astype(str)
    for col in factor[1:]:
        key = key + ":" + frame[col].astype(str)
    return key
