"""Random effects, fitted values, residuals and predictions of a fit.

Conditional modes and variances are those of lme4's ``ranef(condVar = TRUE)``: with
the relative Cholesky factor Lambda and M = Lambda' Z'Z Lambda + I, the modes are
Lambda M^-1 Lambda' Z'(y - X beta) and the conditional covariance is
sigma^2 Lambda M^-1 Lambda' (the fixed effects taken as known).  The engine
computes both at the optimum (:class:`~mixedkit.state.FitState`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .errors import DataError, DataWarning, InputTypeError

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
    if not isinstance(newdata, pd.DataFrame):
        raise InputTypeError(f"newdata must be a pandas DataFrame; got {type(newdata).__name__}")
    prep = fit.state.prep
    if fixed_only:  # population level: the grouping columns are not needed
        from .means import fixed_columns

        needed = [prep.user(c) for c in fixed_columns(fit.state)]
    else:
        needed = [prep.user(c) for c in prep.frame.columns if c != prep.parsed.response]
    missing = [c for c in needed if c not in newdata.columns]
    if missing:
        raise DataError(f"newdata lacks the column(s) {missing} the model uses; add them")
    frame = newdata[needed].copy()
    frame.columns = [prep.names.safe[c] for c in needed]
    for col in frame.columns:  # keep the fitted categories, so contrasts line up
        if isinstance(prep.frame[col].dtype, pd.CategoricalDtype):
            frame[col] = pd.Categorical(frame[col], categories=prep.frame[col].cat.categories)
    if frame.isna().any().any():
        bad = [prep.user(c) for c in frame.columns[frame.isna().any()]]
        raise DataError(f"newdata has missing values (or categories not seen in fitting) in "
                        f"{bad}; fill them or drop those rows")
    return frame


def _fixed_design(fit, frame: pd.DataFrame) -> np.ndarray:
    import patsy

    from .design import formula_env

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
    from .means import _inference
    from .results import check_conf_level, check_df_method

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
    vcov, t_df = _inference(fit, method)
    est = x @ state.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", x, vcov, x))
    df = np.array([t_df(row) for row in x])
    q = stats.t.ppf(0.5 + level / 2, df)
    table = pd.DataFrame({"estimate": est, "std_error": se, "df": df, "conf_low": est - q * se,
                          "conf_high": est + q * se}, index=index)
    table.attrs.update(conf_level=level, df_method=method, interval=interval)
    return table


def _new_random_part(fit, frame: pd.DataFrame, allow_new_groups: bool) -> np.ndarray:
    import patsy

    from .design import formula_env, level_key

    design, prep = fit.state.design, fit.state.prep
    ranef = random_effects(fit.state)
    out = np.zeros(len(frame))
    unknown_rows = np.zeros(len(frame), bool)
    unknown_levels: dict[str, list] = {}
    for block in design.blocks:
        term = block.term
        z = patsy.dmatrix(term.re_formula, frame, eval_env=formula_env(None),
                          return_type="dataframe")
        z.columns = [prep.names.restore(c) for c in z.columns]
        keys = level_key(frame, term.factor)
        table = ranef[(ranef["group"] == block.group) & ranef["term"].isin(block.terms)]
        wide = table.pivot_table(index="level", columns="term", values="estimate", sort=False)
        known = keys.isin(wide.index)
        if not known.all():
            unknown_rows |= ~known.to_numpy()
            unknown_levels.setdefault(block.group, []).extend(pd.unique(keys[~known])[:5])
        coef = wide.reindex(keys).fillna(0.0)
        for col in block.terms:
            out += (z[col].to_numpy() * coef[col].to_numpy()) if col in coef else 0.0
    if unknown_rows.any():
        detail = "; ".join(f"{g!r}: {v}" for g, v in unknown_levels.items())
        if not allow_new_groups:
            raise DataError(
                f"newdata has {int(unknown_rows.sum())} rows in groups the model has not seen "
                f"({detail}); pass allow_new_groups=True to predict them at the population "
                "level, or include_random=False for population predictions everywhere"
            )
        warnings.warn(f"{int(unknown_rows.sum())} rows of newdata are in new groups ({detail}); "
                      "their predictions are population-level (random effects 0)", DataWarning,
                      stacklevel=4)
    return out
