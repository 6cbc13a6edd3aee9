"""Random effects, fitted values, residuals and predictions of a fit.

Conditional modes and variances are those of lme4's ``ranef(condVar = TRUE)``: with
the relative Cholesky factor Lambda, Zs = Z Lambda and M = I + Zs'Zs (per group),
the mode is Lambda M^-1 Zs'(y - X beta) and the conditional covariance is
sigma^2 Lambda M^-1 Lambda' (the fixed effects taken as known).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .errors import DataError, DataWarning, InputTypeError
from .estimation import _group_blocks, relative_factor_blocks

__all__ = ["RANEF_COLUMNS", "predict", "random_effects", "solve_random_effects"]

RANEF_COLUMNS = ["group", "level", "term", "estimate", "std_error", "conf_low", "conf_high"]


def _dense(m):
    return m.toarray() if sparse.issparse(m) else np.asarray(m)


def solve_random_effects(fit) -> tuple[np.ndarray, list, list]:
    """Z b-hat for every row, and per group the modes and conditional SDs.

    Modes and SDs are for the unit-free random design (``design.model``); divide by
    ``re_scale`` / ``vc_scale`` for data units. ``LmmFit`` caches the result.
    """
    design = fit._design
    chol, sds = relative_factor_blocks(design, fit._reported_theta())
    resid = design.endog - design.exog.to_numpy() @ fit._fe_params
    sigma2 = fit.scale
    random_part = np.zeros(len(resid))
    modes, cond_sds = [], []
    for rows, re, vcs in _group_blocks(design):
        parts, lam = [], []
        if re is not None:
            parts.append(re)
            lam.append(chol)
        for sd, mat in zip(sds, vcs):
            parts.append(_dense(mat))
            lam.append(np.eye(mat.shape[1]) * sd)
        z = np.hstack(parts)
        big_lam = _block_diag(lam)
        zs = z @ big_lam
        m = zs.T @ zs + np.eye(zs.shape[1])
        mode = big_lam @ np.linalg.solve(m, zs.T @ resid[rows])
        cov = sigma2 * big_lam @ np.linalg.solve(m, big_lam.T)
        random_part[rows] = z @ mode
        modes.append(mode)
        cond_sds.append(np.sqrt(np.clip(np.diag(cov), 0, None)))
    return random_part, modes, cond_sds


def _block_diag(blocks):
    n = sum(b.shape[0] for b in blocks)
    out = np.zeros((n, n))
    i = 0
    for b in blocks:
        k = b.shape[0]
        out[i:i + k, i:i + k] = b
        i += k
    return out


def random_effects(fit, conf_level: float = 0.95) -> pd.DataFrame:
    """Conditional modes with conditional SDs, one row per group level and term."""
    design = fit._design
    q = stats.norm.ppf(0.5 + conf_level / 2)
    rows = []
    vc_blocks = [b for b in design.blocks if b.kind == "vc"]
    _, modes, sds = fit._blups
    for gi, (mode, sd) in enumerate(zip(modes, sds)):
        i = 0
        if design.k_re:
            block = design.blocks[0]
            level = design.group_labels[gi]
            for term, s in zip(block.terms, design.re_scale):
                rows.append([block.group, level, term, mode[i] / s, sd[i] / s])
                i += 1
        for j, block in enumerate(vc_blocks):
            scale = design.vc_scale[j]
            for level in design.vc_colnames[j][gi]:
                rows.append([block.group, level, block.terms[0], mode[i] / scale, sd[i] / scale])
                i += 1
    table = pd.DataFrame(rows, columns=RANEF_COLUMNS[:5])
    table["level"] = table["level"].astype(str)
    table["conf_low"] = table["estimate"] - q * table["std_error"]
    table["conf_high"] = table["estimate"] + q * table["std_error"]
    table.attrs["conf_level"] = conf_level
    return table


def _newdata_frame(fit, newdata: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(newdata, pd.DataFrame):
        raise InputTypeError(f"newdata must be a pandas DataFrame; got {type(newdata).__name__}")
    prep = fit._prep
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

    from .design import _eval_env

    info = fit._design.design_info
    if info is None:  # dropped when pickled; rebuild from the fitted rows
        info = patsy.dmatrices(fit._prep.parsed.fixed_formula, fit._prep.frame,
                               eval_env=_eval_env(None), return_type="dataframe")[1].design_info
        fit._design.design_info = info
    try:
        (x,) = patsy.build_design_matrices([info], frame, return_type="dataframe")
    except Exception as err:  # noqa: BLE001 - patsy's errors, translated
        raise DataError(f"newdata cannot be used with this model: "
                        f"{fit._prep.names.restore(str(err).splitlines()[0])}") from None
    return x.to_numpy()


def predict(fit, newdata: pd.DataFrame | None = None, *, include_random: bool = True,
            allow_new_groups: bool = False) -> pd.Series:
    """Predictions; see :meth:`LmmFit.predict`."""
    if newdata is None:
        base = fit._design.exog.to_numpy() @ fit._fe_params
        if include_random:
            base = base + fit._blups[0]
        return pd.Series(base, index=fit._prep.frame.index, name="predicted")
    frame = _newdata_frame(fit, newdata)
    pred = _fixed_design(fit, frame) @ fit._fe_params
    if include_random:
        pred = pred + _new_random_part(fit, frame, allow_new_groups)
    return pd.Series(pred, index=newdata.index, name="predicted")


def _new_random_part(fit, frame: pd.DataFrame, allow_new_groups: bool) -> np.ndarray:
    import patsy

    from .design import _eval_env, _level_key

    design, prep = fit._design, fit._prep
    ranef = random_effects(fit)
    out = np.zeros(len(frame))
    unknown_rows = np.zeros(len(frame), bool)
    unknown_levels: dict[str, list] = {}
    for block in design.blocks:
        term = block.term
        z = patsy.dmatrix(term.re_formula, frame, eval_env=_eval_env(None),
                          return_type="dataframe")
        z.columns = [prep.names.restore(c) for c in z.columns]
        keys = _level_key(frame, term.factor)
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
