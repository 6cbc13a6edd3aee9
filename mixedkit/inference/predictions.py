"""Random effects, fitted values, residuals and predictions of a fit.

Conditional modes and variances are those of lme4's ``ranef(condVar = TRUE)``: with
the relative Cholesky factor Lambda and M = Lambda' Z'Z Lambda + I, the modes are
Lambda M^-1 Lambda' Z'(y - X beta) and the conditional covariance is
sigma^2 Lambda M^-1 Lambda' (the fixed effects taken as known).  The engine
computes both at the optimum (:class:`~mixedkit.model.state.FitState`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from ..errors import DataError, DataWarning, InputTypeError
from ..model.design import coded_like
from ..model.frames import as_pandas
from ..model.levels import level_key
from ..model.state import FitState
from ..model.validation import is_real_number
from .df_methods import FixedInference, t_table
from .grid import fixed_columns

__all__ = ["PREDICTION_COLUMNS", "RANEF_COLUMNS", "predict", "random_effects"]

RANEF_COLUMNS = ["group", "level", "term", "estimate", "std_error", "conf_low", "conf_high"]


def random_effects(state: FitState, conf_level: float = 0.95) -> pd.DataFrame:
    """Conditional modes with conditional SDs, one row per group level and term."""
    q = stats.norm.ppf(0.5 + conf_level / 2)
    parts = []
    for block in state.random_effects:
        n_levels, n_terms = block.modes.shape
        parts.append(pd.DataFrame({
            "group": block.group,
            "level": np.repeat(block.levels.astype(str), n_terms),
            "term": np.tile(np.asarray(block.terms, dtype=object), n_levels),
            "estimate": block.modes.ravel(),
            "std_error": block.sds.ravel(),
        }))
    table = pd.concat(parts, ignore_index=True) if parts else \
        pd.DataFrame(columns=RANEF_COLUMNS[:5])
    table["conf_low"] = table["estimate"] - q * table["std_error"]
    table["conf_high"] = table["estimate"] + q * table["std_error"]
    table.attrs["conf_level"] = conf_level
    return table


def _as_frame(newdata) -> pd.DataFrame | None:
    """``newdata`` as a pandas DataFrame, converted once (a polars DataFrame, a pyarrow
    Table, ...: see :func:`~mixedkit.model.frames.as_pandas`); None stays None."""
    return None if newdata is None else as_pandas(newdata, "newdata", long_format=False)


def _newdata_frame(state: FitState, newdata: pd.DataFrame, fixed_only: bool = False) -> pd.DataFrame:
    """The columns of ``newdata`` (a pandas DataFrame: see :func:`_as_frame`) the model
    uses, safe names, each as the model was fitted with it (``newdata`` itself is not
    modified)."""
    prep = state.prep
    if fixed_only:  # population level: the grouping columns are not needed
        needed = [prep.user(c) for c in fixed_columns(state)]
    else:
        needed = [prep.user(c) for c in prep.frame.columns if c != prep.parsed.response]
    by_name: dict[str, list] = {}
    for c in newdata.columns:
        by_name.setdefault(str(c), []).append(c)
    missing = [c for c in needed if c not in by_name]
    if missing:
        raise DataError(f"newdata lacks the column(s) {missing} the model uses; add them")
    dup = [c for c in needed if len(by_name[c]) > 1]
    if dup:
        raise DataError(f"newdata has more than one column named {dup[0]!r}; keep one")
    groups = {c for t in prep.random for c in t.factor}
    frame = pd.DataFrame(index=newdata.index)
    for name in needed:
        safe = prep.names.safe[name]
        frame[safe] = _as_fitted(newdata[by_name[name][0]], prep.frame[safe], name,
                                 safe in groups)
    na = frame.isna()
    if na.to_numpy().any():
        bad = ", ".join(f"{prep.user(c)!r} ({int(na[c].sum())})" for c in frame.columns
                        if na[c].any())
        rows = list(frame.index[na.any(axis=1).to_numpy()][:5])
        raise DataError(f"newdata has missing values in {bad} (first rows: {rows}); fill them "
                        "or drop those rows")
    return frame


def _as_fitted(new: pd.Series, fitted: pd.Series, name: str, is_group: bool) -> pd.Series:
    """A column of newdata with the type the model was fitted with, or a DataError."""
    fdtype = fitted.dtype
    numeric_fit = pd.api.types.is_numeric_dtype(fdtype) and not pd.api.types.is_bool_dtype(fdtype)
    if pd.api.types.is_extension_array_dtype(new.dtype) and \
            pd.api.types.is_numeric_dtype(new.dtype) and not pd.api.types.is_bool_dtype(new.dtype):
        new = pd.Series(new.to_numpy(dtype=float, na_value=np.nan), index=new.index)
    if numeric_fit:
        if new.dtype.kind in "iuf":  # numbers already: nothing to check value by value
            num = pd.Series(new.to_numpy(dtype=float), index=new.index)
        else:
            values = new.to_numpy(dtype=object)
            present = [v for v in values if not pd.isna(v)]
            if pd.api.types.is_bool_dtype(new.dtype) or any(isinstance(v, (bool, np.bool_))
                                                            for v in present):
                raise DataError(f"newdata column {name!r} is boolean, but the model was fitted with "
                                f"{name!r} numeric; convert it: newdata[{name!r}].astype(int)")
            text = [v for v in present if not is_real_number(v)]
            if text and is_group:
                parsed = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
                if parsed.notna().sum() < len(present):  # unknown groups, reported as such
                    return pd.Series(values, index=new.index, dtype=object)
                values, text = parsed.to_numpy(dtype=object), []  # "308" is group 308
            if text:
                raise DataError(
                    f"newdata column {name!r} holds {_kind(text)} (values like "
                    f"{[str(v) for v in text[:3]]}), but the model was fitted with {name!r} "
                    f"numeric; convert it: newdata[{name!r}] = pd.to_numeric(newdata[{name!r}], "
                    "errors='coerce')")
            num = pd.Series(pd.to_numeric(pd.Series(values, dtype=object)).to_numpy(dtype=float),
                            index=new.index)
        if not is_group and np.isinf(num.to_numpy()).any():
            rows = list(new.index[np.isinf(num.to_numpy())][:5])
            raise DataError(f"newdata column {name!r} has infinite values (rows {rows}); "
                            "replace them with finite values")
        if is_group and pd.api.types.is_integer_dtype(fdtype):
            whole = num.dropna()
            if (whole == np.round(whole)).all():  # 308.0 is group 308
                return num.astype("Int64") if num.isna().any() else num.astype(np.int64)
        return num
    if is_group:
        return new
    if isinstance(fdtype, pd.CategoricalDtype):
        known = list(fdtype.categories)
    else:
        known = list(pd.unique(fitted))
    unseen = [v for v in pd.unique(new.dropna()) if not _in(v, known)]
    if unseen:
        raise DataError(
            f"newdata column {name!r} has values the model was not fitted with: "
            f"{[_show(v) for v in unseen[:5]]}; the fitted levels are "
            f"{[_show(v) for v in known[:10]]}{' ...' if len(known) > 10 else ''}. Predictions "
            "need the fitted levels: drop those rows, or correct the values")
    if isinstance(fdtype, pd.CategoricalDtype):
        return pd.Series(pd.Categorical(new.to_numpy(dtype=object), categories=fdtype.categories,
                                        ordered=fdtype.ordered), index=new.index)
    # plain values (patsy refuses a Categorical whose categories differ from the fit's)
    return pd.Series(new.to_numpy(dtype=object), index=new.index, dtype=object)


def _kind(values) -> str:
    if all(isinstance(v, str) for v in values):
        return "text"
    return f"values of type {sorted({type(v).__name__ for v in values})}"


def _in(value, known) -> bool:
    """Whether ``value`` is one of ``known`` (True is not 1 here)."""
    flag = isinstance(value, (bool, np.bool_))
    for k in known:
        try:
            if value is k or (bool(value == k) and flag == isinstance(k, (bool, np.bool_))):
                return True
        except (TypeError, ValueError):
            continue
    return False


def _show(value):
    return value.item() if isinstance(value, np.generic) else value


def _fixed_design(state: FitState, frame: pd.DataFrame) -> np.ndarray:
    try:
        (x,) = patsy.build_design_matrices([state.design_info],
                                           coded_like(state.design_info, frame),
                                           return_type="dataframe")
    except Exception as err:  # noqa: BLE001 - patsy's errors, translated
        raise DataError(f"newdata cannot be used with this model: "
                        f"{state.prep.names.restore(str(err).splitlines()[0])}") from None
    return x.to_numpy()


def predict(state: FitState, newdata: pd.DataFrame | None = None, *, include_random: bool = True,
            allow_new_groups: bool = False) -> pd.Series:
    """Predictions; see :meth:`LmmFit.predict`."""
    newdata = _as_frame(newdata)
    if newdata is None:
        base = state.fixed_part
        if include_random:
            base = base + state.random_part
        return pd.Series(base, index=state.prep.frame.index, name="predicted")
    frame = _newdata_frame(state, newdata, fixed_only=not include_random)
    pred = _fixed_design(state, frame) @ state.beta
    if include_random:
        pred = pred + _new_random_part(state, frame, allow_new_groups)
    return pd.Series(pred, index=newdata.index, name="predicted")


PREDICTION_COLUMNS = ["estimate", "std_error", "df", "conf_low", "conf_high"]


def population_interval(state: FitState, newdata, include_random: bool, interval,
                        inference: FixedInference, conf_level: float) -> pd.DataFrame:
    """Population-level predictions x'beta with their standard errors, df and interval."""
    if interval != "confidence":
        raise InputTypeError(f"interval must be None or 'confidence'; got {interval!r}")
    if include_random:
        raise InputTypeError("interval='confidence' is for population-level predictions (the "
                             "mean response at given predictor values); pass "
                             "include_random=False")
    newdata = _as_frame(newdata)
    if newdata is None:
        x, index = state.design.exog.to_numpy(float), state.prep.frame.index
    else:
        x = _fixed_design(state, _newdata_frame(state, newdata, fixed_only=True))
        index = newdata.index
    cols = t_table(inference, x, state.beta, conf_level)
    table = pd.DataFrame({c: cols[c] for c in PREDICTION_COLUMNS}, index=index)
    table.attrs.update(conf_level=conf_level, df_method=inference.df_method, interval=interval)
    return table


def _new_random_part(state: FitState, frame: pd.DataFrame, allow_new_groups: bool) -> np.ndarray:
    design, prep = state.design, state.prep
    out = np.zeros(len(frame))
    unknown_rows = np.zeros(len(frame), bool)
    unknown_levels: dict[str, list] = {}
    known_levels: dict[str, list] = {}
    for block, effects in zip(design.blocks, state.random_effects):
        term = block.term
        if term.exprs:
            try:
                (z,) = patsy.build_design_matrices([state.random_design_infos[term.re_formula]], frame,
                                                   return_type="dataframe")
            except Exception as err:  # noqa: BLE001 - patsy's errors, translated
                raise DataError(f"newdata cannot be used for the random term {term.source}: "
                                f"{prep.names.restore(str(err).splitlines()[0])}") from None
            z.columns = [prep.names.restore(c) for c in z.columns]
        else:
            z = pd.DataFrame({"Intercept": np.ones(len(frame))}, index=frame.index)
        keys = level_key(frame, term.factor).to_numpy(dtype=object)
        fitted = state.level_codes[term.factor]
        codes = fitted.reindex(keys).to_numpy()
        if (codes == -1).any():
            shared = list(dict.fromkeys(keys[codes == -1]))[:5]
            raise DataError(
                f"newdata's groups {shared} of {block.group!r} match two fitted groups each: "
                f"the grouping column mixes value types (e.g. 1 and '1'). Convert it to one "
                f"type, data[col] = data[col].astype(str), and refit")
        known = ~pd.isna(codes)
        if not known.all():
            unknown_rows |= ~known
            unknown_levels.setdefault(block.group, []).extend(keys[~known])
            known_levels.setdefault(block.group, list(fitted.index[:5]))
        rows = np.where(known, codes, 0).astype(int)
        coef = np.where(known[:, None], effects.modes[rows], 0.0)
        for j, col in enumerate(effects.terms):
            out += z[col].to_numpy(dtype=float) * coef[:, j]
    if unknown_rows.any():
        detail = "; ".join(f"{g!r}: {list(dict.fromkeys(v))[:5]}"
                           for g, v in unknown_levels.items())
        known = "; ".join(f"{g!r}: {v}{' ...' if len(v) == 5 else ''}"
                          for g, v in known_levels.items())
        if not allow_new_groups:
            raise DataError(
                f"newdata has {int(unknown_rows.sum())} rows in groups the model has not seen "
                f"({detail}); pass allow_new_groups=True to predict them at the population "
                "level, or include_random=False for population predictions everywhere. The "
                f"fitted groups are ({known}); check that newdata writes them the same way"
            )
        warnings.warn(f"{int(unknown_rows.sum())} rows of newdata are in new groups ({detail}); "
                      "their predictions are population-level (random effects 0)", DataWarning,
                      stacklevel=4)
    return out
