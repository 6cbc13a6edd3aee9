"""Random effects, fitted values, residuals and predictions of a fit.

Conditional modes and variances are those of lme4's ``ranef(condVar = TRUE)``: with
the relative Cholesky factor Lambda and M = Lambda' Z'Z Lambda + I, the modes are
Lambda M^-1 Lambda' Z'(y - X beta) and the conditional covariance is
sigma^2 Lambda M^-1 Lambda' (the fixed effects taken as known).  The engine
computes both at the optimum (:class:`~mixedkit.model.state.FitState`).
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataError, DataWarning, InputTypeError

__all__ = ["PREDICTION_COLUMNS", "RANEF_COLUMNS", "predict", "random_effects"]

RANEF_COLUMNS = ["group", "level", "term", "estimate", "std_error", "conf_low", "conf_high"]


def random_effects(state, conf_level: float = 0.95) -> pd.DataFrame:
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


def _newdata_frame(fit, newdata: pd.DataFrame, fixed_only: bool = False) -> pd.DataFrame:
    """The columns of ``newdata`` the model uses, safe names, each as the model was fitted
    with it (``newdata`` itself is not modified)."""
    if not isinstance(newdata, pd.DataFrame):
        raise InputTypeError(f"newdata must be a pandas DataFrame; got {type(newdata).__name__}")
    prep = fit.state.prep
    if fixed_only:  # population level: the grouping columns are not needed
        from .means import fixed_columns

        needed = [prep.user(c) for c in fixed_columns(fit.state)]
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
        values = new.to_numpy(dtype=object)
        present = [v for v in values if not pd.isna(v)]
        if pd.api.types.is_bool_dtype(new.dtype) or any(isinstance(v, (bool, np.bool_))
                                                        for v in present):
            raise DataError(f"newdata column {name!r} is boolean, but the model was fitted with "
                            f"{name!r} numeric; convert it: newdata[{name!r}].astype(int)")
        text = [v for v in present if not _is_number(v)]
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


def _is_number(value) -> bool:
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


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


def _fixed_design(fit, frame: pd.DataFrame) -> np.ndarray:
    import patsy

    from ..model.design import formula_env

    design, prep = fit.state.design, fit.state.prep
    info = design.design_info
    if info is None:  # dropped when pickled; rebuild from the fitted rows
        info = patsy.dmatrices(prep.parsed.fixed_formula, prep.frame,
                               eval_env=formula_env(None), return_type="dataframe")[1].design_info
        design.design_info = info
    try:
        (x,) = patsy.build_design_matrices([info], frame, return_type="dataframe")
    except Exception as err:  # noqa: BLE001 - patsy's errors, translated
        raise DataError(f"newdata cannot be used with this model: "
                        f"{prep.names.restore(str(err).splitlines()[0])}") from None
    return x.to_numpy()


def predict(fit, newdata: pd.DataFrame | None = None, *, include_random: bool = True,
            allow_new_groups: bool = False, interval: str | None = None,
            df_method: str | None = None, conf_level: float | None = None):
    """Predictions; see :meth:`LmmFit.predict`."""
    state = fit.state
    if interval is not None:
        return _population_interval(fit, newdata, include_random, interval, df_method,
                                    conf_level)
    if newdata is None:
        base = state.fixed_part
        if include_random:
            base = base + state.random_part
        return pd.Series(base, index=state.prep.frame.index, name="predicted")
    frame = _newdata_frame(fit, newdata, fixed_only=not include_random)
    pred = _fixed_design(fit, frame) @ state.beta
    if include_random:
        pred = pred + _new_random_part(fit, frame, allow_new_groups)
    return pd.Series(pred, index=newdata.index, name="predicted")


PREDICTION_COLUMNS = ["estimate", "std_error", "df", "conf_low", "conf_high"]


def _population_interval(fit, newdata, include_random, interval, df_method, conf_level):
    """Population-level predictions x'beta with their standard errors, df and interval."""
    from ..results import check_conf_level, check_df_method
    from .means import inference_for

    if interval != "confidence":
        raise InputTypeError(f"interval must be None or 'confidence'; got {interval!r}")
    if include_random:
        raise InputTypeError("interval='confidence' is for population-level predictions (the "
                             "mean response at given predictor values); pass "
                             "include_random=False")
    method = fit.df_method if df_method is None else check_df_method(df_method)
    level = fit.conf_level if conf_level is None else check_conf_level(conf_level)
    state = fit.state
    if newdata is None:
        x, index = state.design.exog.to_numpy(float), state.prep.frame.index
    else:
        x, index = _fixed_design(fit, _newdata_frame(fit, newdata, fixed_only=True)), \
            newdata.index
    vcov, t_df = inference_for(fit, method)
    est = x @ state.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, vcov, x))
    df = np.array([t_df(row) for row in x])
    q = stats.t.ppf(0.5 + level / 2, df)
    table = pd.DataFrame({"estimate": est, "std_error": se, "df": df, "conf_low": est - q * se,
                          "conf_high": est + q * se}, index=index)
    table.attrs.update(conf_level=level, df_method=method, interval=interval)
    return table


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # per fit; not pickled


def _re_design_info(fit, term):
    """patsy's design of a random slope term, built on the fitted rows (so newdata with
    fewer levels, or a stateful transform such as center(x), gets the fit's columns)."""
    import patsy

    from ..model.design import formula_env

    cache = _CACHE.setdefault(fit, {})
    key = ("design", term.re_formula)
    if key not in cache:
        cache[key] = patsy.dmatrix(term.re_formula, fit.state.prep.frame,
                                   eval_env=formula_env(None)).design_info
    return cache[key]


def _level_codes(fit, factor) -> pd.Series:
    """Each fitted level's text (as :func:`level_key` writes it) -> its row of the modes;
    -1 for a text two fitted levels share (1 and '1' in a column of mixed types)."""
    from ..model.design import level_key

    cache = _CACHE.setdefault(fit, {})
    key = ("levels", factor)
    if key not in cache:
        prep = fit.state.prep
        pairs = pd.DataFrame({"key": level_key(prep.frame, factor).to_numpy(dtype=object),
                              "code": prep.codes(factor)}).drop_duplicates()
        by_key = pairs.groupby("key", sort=False)["code"]
        codes = by_key.first()
        codes[by_key.nunique() > 1] = -1
        cache[key] = codes
    return cache[key]


def _new_random_part(fit, frame: pd.DataFrame, allow_new_groups: bool) -> np.ndarray:
    import patsy

    from ..model.design import level_key

    design, prep = fit.state.design, fit.state.prep
    out = np.zeros(len(frame))
    unknown_rows = np.zeros(len(frame), bool)
    unknown_levels: dict[str, list] = {}
    known_levels: dict[str, list] = {}
    for block, effects in zip(design.blocks, fit.state.random_effects):
        term = block.term
        if term.exprs:
            try:
                (z,) = patsy.build_design_matrices([_re_design_info(fit, term)], frame,
                                                   return_type="dataframe")
            except Exception as err:  # noqa: BLE001 - patsy's errors, translated
                raise DataError(f"newdata cannot be used for the random term {term.source}: "
                                f"{prep.names.restore(str(err).splitlines()[0])}") from None
            z.columns = [prep.names.restore(c) for c in z.columns]
        else:
            z = pd.DataFrame({"Intercept": np.ones(len(frame))}, index=frame.index)
        keys = level_key(frame, term.factor).to_numpy(dtype=object)
        fitted = _level_codes(fit, term.factor)
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
