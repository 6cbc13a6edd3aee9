"""The data behind every diagnostic plot, and the checks in words.

:func:`diagnostics_data` returns exactly the numbers the plots draw, so a test (or a
user who prefers another plotting library) can use them without pixels.
:func:`check_assumptions` turns the same numbers into a table of verdicts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.nonparametric.smoothers_lowess import lowess

from ..errors import ColumnNotFoundError, did_you_mean
from ..model.engine import segment_sum
from ..model.levels import factor_levels
from ..model.state import FitState

__all__ = ["ASSUMPTION_COLUMNS", "check_assumptions", "diagnostics_data", "qq_points", "sorted_ranef"]

ASSUMPTION_COLUMNS = ["check", "test", "statistic", "p_value", "severity", "fix"]
# a check's outcome in the findings' vocabulary: "problem" is a warning, "check" (look at
# the plots) a note, a check that could not run a note whose fix says why
_SEVERITY = {"ok": "ok", "check": "note", "problem": "warning", "not run": "note"}
QQ_LEVEL = 0.95
_MAX_TRAJECTORY_GROUPS = 12
_QQ_BAND_EXACT = 2_000  # QQ band: exact Beta quantiles up to this many values
_LOWESS_MAX_POINTS = 10_000  # lowess trend: on at most this many points (every k-th by x)


def qq_points(values: np.ndarray, level: float = QQ_LEVEL) -> pd.DataFrame:
    """Normal QQ coordinates with a pointwise band for standardised values.

    ``sample`` are the values standardised by their own mean and SD (so the QQ plot
    judges the shape, not the scale), sorted;
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
        "band_low": _qq_band(n, alpha),
        "band_high": _qq_band(n, 1 - alpha),
    })


def _qq_band(n: int, prob: float) -> np.ndarray:
    """Normal score of the ``prob`` quantile of each uniform order statistic,
    Beta(i, n + 1 - i). Above ``_QQ_BAND_EXACT`` values it is computed at that many i,
    geometrically spaced from both ends, and interpolated linearly in between (largest
    error 2e-5 at n = 1e5; 5 ms instead of 0.3 s)."""
    i = np.arange(1, n + 1)
    if n <= _QQ_BAND_EXACT:
        return stats.norm.ppf(stats.beta.ppf(prob, i, n + 1 - i))
    half = np.unique(np.geomspace(1, (n + 1) / 2, _QQ_BAND_EXACT // 2).round())
    at = np.unique(np.concatenate([half, n + 1 - half]))
    return np.interp(i, at, stats.norm.ppf(stats.beta.ppf(prob, at, n + 1 - at)))


def _lowess(x: np.ndarray, y: np.ndarray) -> pd.DataFrame:

    if len(x) < 5 or np.ptp(x) == 0:
        return pd.DataFrame({"x": np.sort(x), "smooth": np.full(len(x), np.mean(y))})
    order = np.argsort(x, kind="stable")
    if len(order) > _LOWESS_MAX_POINTS:  # every k-th point in x order: same trend, capped cost
        order = order[np.linspace(0, len(order) - 1, _LOWESS_MAX_POINTS).round().astype(np.intp)]
    xs, ys = x[order], y[order]
    # delta as R's lowess: local fits 1% of the x range apart, linear in between
    sm = lowess(ys, xs, frac=2 / 3, it=3, delta=0.01 * np.ptp(xs), is_sorted=True,
                return_sorted=True)
    return pd.DataFrame({"x": sm[:, 0], "smooth": sm[:, 1]})


def _trajectory_x(fit, x: str | None) -> str | None:
    """The user column to draw on the x axis of per-group trajectories."""
    prep = fit.state.prep
    if x is not None:
        return x
    for block in fit.state.design.blocks:  # a random slope's variable is the natural time axis
        for term in block.terms:
            if term != "Intercept" and term in prep.names.safe:
                return term
    for col in fit.state.design.exog.columns:
        if col in prep.names.safe and pd.api.types.is_numeric_dtype(
                prep.frame[prep.names.safe[col]]):
            return col
    return None


def _main_block(design):
    """The random term per-group plots are drawn for: statsmodels' correlated block, or
    the first term of a model beyond statsmodels (None for crossed variance components)."""
    if design.re_block is not None:
        return design.re_block
    return design.blocks[0] if design.blocks and not design.expressible else None


def _shrinkage(fit) -> pd.DataFrame:
    """Per group: separate-regression estimate against the mixed-model estimate."""
    design = fit.state.design
    block = _main_block(design)
    if block is None:
        return pd.DataFrame(columns=["group", "level", "term", "raw", "mixed", "population"])
    fe = fit.fixed_effects.set_index("term")["estimate"]
    ranef = fit.ranef()
    ranef = ranef[ranef["group"] == block.group].set_index(["level", "term"])["estimate"]
    z = block.z
    offset_cols = [c for c in design.exog.columns if c not in block.terms]
    offset = design.exog[offset_cols].to_numpy() @ fe[offset_cols].to_numpy() \
        if offset_cols else np.zeros(len(z))
    y = design.endog - offset
    # Per-group least squares from the normal equations, all groups at once; groups
    # with too few rows or a singular design get NaN (as lstsq would be meaningless).

    n_groups, q = block.n_levels, z.shape[1]
    ztz = segment_sum(z[:, :, None] * z[:, None, :], block.codes, n_groups)
    zty = segment_sum(z * y[:, None], block.codes, n_groups)
    sizes = np.bincount(block.codes, minlength=n_groups)
    eig = np.linalg.eigvalsh(ztz)
    ok = (sizes >= q) & (eig[:, 0] > 1e-10 * np.maximum(eig[:, -1], 1e-300))
    raw = np.full((n_groups, q), np.nan)
    if ok.any():
        raw[ok] = np.linalg.solve(ztz[ok], zty[ok][:, :, None])[..., 0]
    levels = np.asarray(block.levels).astype(str)
    pop = np.array([fe.get(term, 0.0) for term in block.terms])
    mixed = np.column_stack([
        pop[j] + ranef.reindex(pd.MultiIndex.from_arrays([levels, [term] * n_groups]))
        .fillna(0.0).to_numpy() for j, term in enumerate(block.terms)])
    return pd.DataFrame({
        "group": block.group,
        "level": np.repeat(levels, q),
        "term": np.tile(np.asarray(block.terms, dtype=object), n_groups),
        "raw": raw.ravel(), "mixed": mixed.ravel(), "population": np.tile(pop, n_groups),
    })


def _trajectories(fit, x: str | None, max_groups: int, seed: int) -> pd.DataFrame:
    design, prep = fit.state.design, fit.state.prep
    cols = ["level", "x", "observed", "fitted", "population"]
    if x is not None and x not in prep.names.safe:
        raise ColumnNotFoundError(f"x={x!r} is not a column the model uses; "
                                  f"{did_you_mean(x, list(prep.names.safe))}")
    xcol = _trajectory_x(fit, x)
    block = _main_block(design)
    if xcol is None or xcol not in prep.names.safe or block is None:
        return pd.DataFrame(columns=cols)
    labels = np.asarray(block.levels)
    chosen = np.arange(len(labels))
    if len(chosen) > max_groups:
        chosen = np.sort(np.random.default_rng(seed).choice(len(labels), max_groups,
                                                            replace=False))
    keep = np.isin(block.codes, chosen)
    table = pd.DataFrame({
        "level": labels[block.codes[keep]].astype(str),
        "x": prep.frame[prep.names.safe[xcol]].to_numpy()[keep],
        "observed": design.endog[keep],
        "fitted": fit.fitted("conditional").to_numpy()[keep],
        "population": fit.fitted("marginal").to_numpy()[keep],
    }, index=prep.frame.index[keep])
    table.attrs.update(x=xcol, group=block.group, n_groups=len(labels))
    return table.sort_values(["level", "x"], kind="stable")


def sorted_ranef(fit, conf_level: float | None = None) -> pd.DataFrame:
    """``fit.ranef(conf_level=...)`` sorted by random term (in model order), then estimate:
    the rows of the caterpillar plot."""
    ranef = fit.ranef(conf_level=conf_level)
    keys = [(b.group, t) for b in fit.state.design.blocks for t in b.terms]
    order = {k: i for i, k in enumerate(dict.fromkeys(keys))}  # block, then term, in order
    ranef = ranef.assign(_o=[order[k] for k in zip(ranef["group"], ranef["term"])]) \
        .sort_values(["_o", "estimate"], kind="stable").drop(columns="_o")
    return ranef.reset_index(drop=True)


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
    seed : int, default 0
        Seed of that sample.

    Returns
    -------
    dict of DataFrame
        ``"residuals"``: index as the data rows used; columns ``fitted, residual,
        pearson, sqrt_abs_pearson`` (conditional fitted values and residuals).
        ``"residual_smooth"``: ``x, smooth`` (lowess of residual on fitted).
        ``"scale_smooth"``: ``x, smooth`` (lowess of sqrt(abs(Pearson residual)) on fitted).
        ``"qq"``: ``theoretical, sample, band_low, band_high`` (Pearson residuals).
        ``"ranef"``: :meth:`LmmFit.ranef`, sorted by group, term and estimate.
        ``"ranef_qq"``: ``group, term`` plus the ``qq`` columns, per random term.
        ``"shrinkage"``: ``group, level, term, raw, mixed, population`` (separate
        per-group least squares against the mixed model, for the grouping factor
        with correlated effects).
        ``"trajectories"``: ``level, x, observed, fitted, population``.
    """
    fitted = fit.fitted("conditional")
    if hasattr(fit, "residual_covariance"):
        return _structured_data(fit, fitted)
    resid = fit.residuals("conditional")
    pearson = fit.residuals("pearson")
    res = pd.DataFrame({"fitted": fitted, "residual": resid, "pearson": pearson,
                        "sqrt_abs_pearson": np.sqrt(np.abs(pearson))})
    ranef = sorted_ranef(fit)
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
        "ranef": ranef,
        "ranef_qq": pd.concat(qq_parts, ignore_index=True) if qq_parts else
        pd.DataFrame(columns=["group", "term", "theoretical", "sample", "band_low", "band_high"]),
        "shrinkage": _shrinkage(fit),
        "trajectories": _trajectories(fit, x, max_groups, seed),
    }


def _structured_data(fit, fitted: pd.Series) -> dict[str, pd.DataFrame]:
    """A residual-structure fit's panels: every residual column holds the normalised
    residuals (whitened by the estimated structure, independent standard normal when the
    model holds; the response residuals of one subject are correlated and of unequal
    variance, so their plots would show the structure, not a misfit). No random effects."""
    norm = fit.residuals("normalized")
    res = pd.DataFrame({"fitted": fitted, "residual": norm, "pearson": norm,
                        "sqrt_abs_pearson": np.sqrt(np.abs(norm))})
    empty = pd.DataFrame(columns=["group", "term", "theoretical", "sample", "band_low",
                                  "band_high"])
    return {
        "residuals": res,
        "residual_smooth": _lowess(res["fitted"].to_numpy(), res["residual"].to_numpy()),
        "scale_smooth": _lowess(res["fitted"].to_numpy(), res["sqrt_abs_pearson"].to_numpy()),
        "qq": qq_points(norm.to_numpy()),
        "ranef": pd.DataFrame(), "ranef_qq": empty, "shrinkage": pd.DataFrame(),
        "trajectories": pd.DataFrame(),
    }


# ----------------------------------------------------------------- checks in words
_P_CUTOFF = 0.01  # tests flag at this level; effect sizes decide how bad
_DFBETA_CUTOFF = 1.0  # a group moving a coefficient by more than one standard error


def _row(check, test, statistic, p, verdict, advice):
    if verdict == "not run":
        advice = f"Not run: {advice}"
    return {"check": check, "test": test, "statistic": statistic, "p_value": p,
            "severity": _SEVERITY[verdict], "fix": advice}


def _normality(values: np.ndarray, what: str, advice: str):
    v = np.asarray(values, float)
    if len(v) < 8:
        return _row(f"normality of {what}", "Shapiro-Wilk W", np.nan, np.nan, "not run",
                    f"Only {len(v)} values; too few to judge normality.")
    if not np.ptp(v) > 1e-12 * max(float(np.max(np.abs(v))), 1e-300):
        return _row(f"normality of {what}", "Shapiro-Wilk W", np.nan, np.nan, "not run",
                    "All values are equal (a variance estimated as 0).")
    if len(v) <= 5000:
        stat, p, name = *stats.shapiro(v), "Shapiro-Wilk W"
    else:
        stat, p, name = *stats.normaltest(v), "D'Agostino K2"
    skew, kurt = stats.skew(v), stats.kurtosis(v)
    big = abs(skew) > 1 or kurt > 3
    verdict = "problem" if p < _P_CUTOFF and big else \
        "check" if p < _P_CUTOFF and (abs(skew) > 0.5 or kurt > 1) else "ok"
    name += f" (skewness {skew:.2f}, excess kurtosis {kurt:.2f})"
    return _row(f"normality of {what}", name, float(stat), float(p), verdict,
                advice if verdict != "ok" else "No action needed.")


def _group_deletion(state: FitState) -> tuple[np.ndarray, list]:
    """Largest |change| of each fixed effect, in standard errors, when each top-level
    group is left out (variance parameters held at their estimates)."""
    design = state.design
    groups = design.groups
    n_groups = len(design.group_labels)
    p = design.exog.shape[1]
    pieces = design.engine.group_pieces(state.theta, groups, n_groups)
    total = pieces.sum(axis=0)
    beta = np.linalg.solve(total[:p, :p], total[:p, p])
    se = np.sqrt(np.diag(state.vcov_fixed))  # no need for Satterthwaite here
    rest = total[None] - pieces
    try:
        b = np.linalg.solve(rest[:, :p, :p], rest[:, :p, p:])[..., 0]
    except np.linalg.LinAlgError:  # a group the fixed effects cannot do without
        ok = np.linalg.matrix_rank(rest[:, :p, :p]) == p
        b = np.full((n_groups, p), np.nan)
        if ok.any():
            b[ok] = np.linalg.solve(rest[ok, :p, :p], rest[ok, :p, p:])[..., 0]
    return np.abs(b - beta) / se, list(design.group_labels)


def _curve_or_slope(fit, resid: np.ndarray, candidates: dict, worst: str) -> tuple[str, str]:
    """The curvature check's test and advice once it fired: a bend in the residuals
    comes from a curve the fixed part misses, or from slopes that differ between groups
    while the model has one slope for all (a missing random slope: sleepstudy's
    ``(1 | Subject)``). Within each group, a line is fitted to the residuals: slopes
    that differ between groups (F test against one common slope) with no bend left
    around the group lines mean the slope is what is missing."""
    test = f"correlation resid ~ ({worst} - mean)^2"
    curve = (f"The residuals bend against {worst}: the fixed part misses a curve; add a term "
             "(e.g. I(x**2)) or transform that predictor.")
    # a random slope is for a variable of the data, not for a design column such as
    # Time:C(Cu)[T.3] or I(Time ** 2)
    prep = fit.state.prep
    variables = {user for user, safe in prep.names.safe.items() if safe in prep.frame.columns}
    slopes = [(*_group_lines(resid, x, codes), name, group)
              for name, x in candidates.items() if name in variables
              for group, codes in _groups_without_slope(fit, name)]
    slopes = [s for s in slopes if np.isfinite(s[1])]
    if not slopes:
        return test, curve
    f_value, p_slopes, p_bend, name, group = min(slopes, key=lambda s: s[1])
    if not p_slopes < _P_CUTOFF:
        return test, curve + f" (Not a missing random slope: residual slopes on {name} do " \
            f"not differ between {group}, p = {p_slopes:.2g}.)"
    slope = (f"random slope ({name} | {group})")
    if p_bend < _P_CUTOFF:
        return test, (f"Two causes: residual slopes on {name} differ between {group} (F = "
                      f"{f_value:.3g}, p = {p_slopes:.2g}) and a bend remains around each "
                      f"{group}'s own line (p = {p_bend:.2g}). Add a {slope} first, then check "
                      "again before adding a curve (e.g. I(x**2)).")
    return test, (f"The bend comes from {name} slopes that differ between {group} (F = "
                  f"{f_value:.3g}, p = {p_slopes:.2g}), not from a curve: around each "
                  f"{group}'s own line no bend remains (p = {p_bend:.2g}). Add a {slope} "
                  "rather than a curved term, and check again.")


def _groups_without_slope(fit, column: str):
    """(grouping factor, row codes) of each random term without a slope for ``column``
    within whose groups ``column`` varies."""
    for block in fit.state.design.blocks:
        if column in block.terms:
            continue
        factor = block.term.factor
        codes = factor_levels(fit.state.prep.frame, factor)[0]
        yield ":".join(fit.state.prep.user(f) for f in factor), codes


def _group_lines(resid: np.ndarray, x: np.ndarray, codes: np.ndarray) -> tuple:
    """Lines of ``resid`` on ``x`` within each group: the F test of one common slope
    against a slope per group, and the p-value of a bend (``(x - mean)^2``) left around
    the group lines. NaNs when fewer than two groups have x varying."""
    def centred(v):
        return v - (np.bincount(codes, v, n) / count)[codes]

    n = int(codes.max()) + 1
    count = np.maximum(np.bincount(codes, minlength=n), 1)
    xc, rc = centred(x), centred(resid)
    sxx = np.bincount(codes, xc * xc, n)
    varying = sxx > 1e-12 * max(float(sxx.max()), 1e-300)
    n_lines = int(varying.sum())
    df_rest = len(resid) - n - n_lines
    if n_lines < 2 or df_rest < 3:
        return np.nan, np.nan, np.nan
    slope = np.where(varying, np.bincount(codes, xc * rc, n) / np.where(varying, sxx, 1), 0.0)
    around = rc - slope[codes] * xc
    common = float(np.sum(rc * rc) - np.sum(xc * rc) ** 2 / np.sum(xc * xc))
    separate = float(np.sum(around * around))
    if separate <= 0:
        return np.nan, np.nan, np.nan
    f_value = ((common - separate) / (n_lines - 1)) / (separate / df_rest)
    p_slopes = float(stats.f.sf(f_value, n_lines - 1, df_rest))
    q = centred((x - x.mean()) ** 2)
    q_slope = np.where(varying, np.bincount(codes, xc * q, n) / np.where(varying, sxx, 1), 0.0)
    q_around = q - q_slope[codes] * xc
    if not np.ptp(q_around) > 1e-12:
        return float(f_value), p_slopes, 1.0
    p_bend = float(stats.pearsonr(around, q_around)[1])
    return float(f_value), p_slopes, p_bend


def _spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Spearman's rho with scipy's two-sided t-test p-value, ranked by pandas (faster
    than ``scipy.stats.spearmanr`` on 1e6 rows: 0.1 s instead of 0.5 s)."""
    ra = pd.Series(a).rank().to_numpy()
    rb = pd.Series(b).rank().to_numpy()
    rho = float(np.corrcoef(ra, rb)[0, 1])
    n = len(a)
    if not np.isfinite(rho) or n < 3:
        return rho, np.nan
    if abs(rho) >= 1.0:  # perfect rank agreement: t is infinite
        return rho, 0.0
    t = rho * np.sqrt((n - 2) / ((1 + rho) * (1 - rho)))
    return rho, float(2 * stats.t.sf(abs(t), n - 2))


def _plain(label):
    """A group label as Python shows it (``6``, not ``np.int64(6)``)."""
    return label.item() if isinstance(label, np.generic) else label


def _brown_forsythe(values: np.ndarray, codes: np.ndarray):
    """Brown-Forsythe test of equal spread across groups with at least two values.

    ``scipy.stats.levene(*groups, center="median")`` computed for all groups at once
    (one sort, bincounts; no loop over groups). Returns (F, p, largest / smallest group
    SD), or None with fewer than two such groups.
    """
    v = np.asarray(values, float)
    codes = np.asarray(codes)
    keep = np.bincount(codes)[codes] >= 2
    v, codes = v[keep], codes[keep]
    _, codes = np.unique(codes, return_inverse=True)
    n_g = np.bincount(codes)
    k, n = len(n_g), len(v)
    if k < 2:
        return None
    sorted_v = v[np.lexsort((v, codes))]
    start = np.concatenate([[0], np.cumsum(n_g)[:-1]])
    median = (sorted_v[start + (n_g - 1) // 2] + sorted_v[start + n_g // 2]) / 2
    z = np.abs(v - median[codes])
    mean_z = np.bincount(codes, z) / n_g
    between = float(np.sum(n_g * (mean_z - z.mean()) ** 2)) / (k - 1)
    within = float(np.sum((z - mean_z[codes]) ** 2)) / (n - k)
    stat = between / within if within > 0 else np.inf
    p = float(stats.f.sf(stat, k - 1, n - k)) if np.isfinite(stat) else 0.0
    mean_v = np.bincount(codes, v) / n_g
    sds = np.sqrt(np.bincount(codes, (v - mean_v[codes]) ** 2) / (n_g - 1))
    return stat, p, float(sds.max() / max(sds.min(), 1e-12))


def check_assumptions(fit) -> pd.DataFrame:
    """Check the model's assumptions and say what to do.

    Parameters
    ----------
    fit : LmmFit

    Returns
    -------
    DataFrame
        One row per check, columns ``check, test, statistic, p_value, severity, fix``:
        ``test`` names the test or measure, ``statistic`` is its value (a number,
        NaN when the check could not run); ``severity`` is ``ok``, ``note`` (look at
        the plots, or the check could not run: ``fix`` says why) or ``warning`` (an
        assumption may not hold), as in ``fit.health``. Checks: normality of the
        Pearson residuals (Shapiro-Wilk, or D'Agostino above 5000 rows, with skewness
        and kurtosis); curvature of the mean structure (residuals against the squared
        centred fitted values and each numeric predictor, Bonferroni-adjusted; when it
        fires, lines fitted to the residuals within each group tell a missing curve
        from slopes that differ between groups, and the advice names the cause: a curved
        term or a random slope);
        residual spread against fitted values (Spearman correlation of the absolute
        residuals with fitted) and across groups (Brown-Forsythe test); outlying
        observations (absolute Pearson residual beyond the Bonferroni 5% normal
        cutoff, at least 3); influential
        groups (leave-one-group-out change of each fixed effect in standard errors,
        variance parameters held at their estimates; flagged above 1); normality of
        each random term's conditional modes and outlying groups (standardised mode
        beyond the Bonferroni 5% cutoff, at least 3). ``.attrs`` holds
        ``outlier_rows``, ``influential_groups`` and ``outlying_groups``.

    Notes
    -----
    Tests flag at p < 0.01 and only when the effect is large enough to matter, so large
    samples do not turn every small departure into a problem: for normality a ``note``
    needs abs(skewness) > 0.5 or excess kurtosis > 1 and a ``warning`` abs(skewness) > 1
    or excess kurtosis > 3; for curvature and for spread against the fitted values a
    ``warning`` needs a correlation above 0.2 in size, for spread across groups a ratio of
    largest to smallest residual SD above 3 (a ``note`` below those). Detection and false-alarm rates on
    simulated data are in tests/test_diagnostics.py.
    """

    with warnings.catch_warnings():  # scipy's test warnings are judged here, not shown
        warnings.simplefilter("ignore")
        return _check_assumptions(fit)


def _check_assumptions(fit) -> pd.DataFrame:
    """Implementation of :func:`check_assumptions`."""
    design = fit.state.design
    pearson = fit.residuals("pearson")
    fitted = fit.fitted()
    n = len(pearson)
    rows = [_normality(pearson.to_numpy(), "residuals",
                       "Heavy tails or skew: consider transforming the response (log for "
                       "positive skew) or check the outlying rows.")]

    if np.ptp(fitted.to_numpy()) > 0:
        # Curvature: residuals correlated with the squared centred fitted values mean the
        # mean structure misses a bend (e.g. a quadratic time trend).
        # against the fitted values and each numeric predictor; Bonferroni over them.
        candidates = {"fitted values": fitted.to_numpy()}
        for col in design.exog.columns:
            x = design.exog[col].to_numpy()
            if len(np.unique(x)) > 3:
                candidates[col] = x
        tests = {name: stats.pearsonr(pearson.to_numpy(), (x - x.mean()) ** 2)
                 for name, x in candidates.items()}
        worst = min(tests, key=lambda k: tests[k][1])
        r, p = tests[worst]
        p = min(1.0, float(p) * len(tests))
        verdict = "problem" if p < _P_CUTOFF and abs(r) > 0.2 else \
            "check" if p < _P_CUTOFF else "ok"
        test, advice = f"correlation resid ~ ({worst} - mean)^2", "No action needed."
        if verdict != "ok":
            test, advice = _curve_or_slope(fit, pearson.to_numpy(), candidates, worst)
        rows.append(_row("mean structure (curvature)", test, float(r), p, verdict, advice))
        rho, p = _spearman(np.abs(pearson.to_numpy()), fitted.to_numpy())
        verdict = "problem" if p < _P_CUTOFF and abs(rho) > 0.2 else \
            "check" if p < _P_CUTOFF else "ok"
        rows.append(_row("constant variance (vs fitted)", "Spearman rho |resid| ~ fitted",
                         float(rho), float(p), verdict,
                         "The residual spread changes with the fitted values: transform the "
                         "response (log, sqrt) or model the variance." if verdict != "ok"
                         else "No action needed."))
    else:
        rows.append(_row("constant variance (vs fitted)", "Spearman rho |resid| ~ fitted",
                         np.nan, np.nan, "not run", "All fitted values are equal."))

    first = design.blocks[0].term.factor  # crossed designs: the first factor's groups
    codes = factor_levels(fit.state.prep.frame, first)[0]
    spread = _brown_forsythe(pearson.to_numpy(), codes)
    if spread is not None:
        stat, p, ratio = spread
        verdict = "problem" if p < _P_CUTOFF and ratio > 3 else \
            "check" if p < _P_CUTOFF else "ok"
        rows.append(_row("constant variance (across groups)", "Brown-Forsythe F", float(stat),
                         float(p), verdict,
                         f"Residual SD differs between groups (largest/smallest {ratio:.1f}); "
                         "look for groups measured differently." if verdict != "ok"
                         else "No action needed."))
    else:
        rows.append(_row("constant variance (across groups)", "Brown-Forsythe F", np.nan,
                         np.nan, "not run", "Needs at least two groups with two rows."))

    cutoff = max(3.0, float(stats.norm.ppf(1 - 0.05 / (2 * n))))
    out = pearson.index[np.abs(pearson.to_numpy()) > cutoff]
    rows.append(_row("outlying observations", f"rows with |Pearson residual| > {cutoff:.2f}",
                     float(len(out)), np.nan, "problem" if len(out) else "ok",
                     f"Rows {list(out[:10])}{' ...' if len(out) > 10 else ''} are far from "
                     "their fitted values: check them for errors before anything else."
                     if len(out) else "No action needed."))

    influential: list = []
    if design.group_factor is None:
        rows.append(_row("influential groups", "max |change| / SE", np.nan, np.nan, "not run",
                         "Crossed factors: no group can be left out on its own."))
    elif design.exog.shape[1] == 0:
        rows.append(_row("influential groups", "max |change| / SE", np.nan, np.nan, "not run",
                         "The model has no fixed effects to move."))
    else:
        changes, labels = _group_deletion(fit.state)
        labels = [_plain(label) for label in labels]
        # a group whose removal leaves the fixed effects inestimable has no finite change
        worst = np.where(np.isfinite(changes), changes, -np.inf).max(axis=1)
        influential = [labels[i] for i in np.argsort(-worst) if worst[i] > _DFBETA_CUTOFF]
        top = int(np.argmax(worst))
    deleted = design.group_factor is not None and design.exog.shape[1] > 0
    if deleted and not np.isfinite(worst[top]):
        rows.append(_row("influential groups", "max |change| / SE", np.nan, np.nan, "not run",
                         "Leaving out any one group leaves a fixed effect without data."))
    elif deleted:
        rows.append(_row("influential groups", "max |change in a fixed effect| / SE",
                         float(worst[top]), np.nan, "problem" if influential else "ok",
                         f"Leaving out group(s) {influential[:5]} moves a fixed effect by more "
                         "than one standard error: check those groups, and report results "
                         "with and without them." if influential else
                         f"No single group moves a fixed effect by more than one SE (largest: "
                         f"{labels[top]!s}, {worst[top]:.2f})."))

    ranef = fit.ranef()
    outlying_groups: list = []
    for (group, term), part in ranef.groupby(["group", "term"], sort=False):
        est = part["estimate"].to_numpy()
        rows.append(_normality(est, f"random effects ({term} | {group})",
                               "Skewed or outlying groups: look at the caterpillar plot and "
                               "the groups at its ends."))
        if len(est) >= 5 and est.std(ddof=1) > 0:
            z = np.abs(est - est.mean()) / est.std(ddof=1)
            g_cut = max(3.0, float(stats.norm.ppf(1 - 0.05 / (2 * len(est)))))
            far = part["level"].to_numpy()[z > g_cut]
            outlying_groups += [f"{group}={lv}" for lv in far]
            rows.append(_row(f"outlying groups ({term} | {group})",
                             f"levels with |standardised mode| > {g_cut:.2f}", float(len(far)),
                             np.nan, "problem" if len(far) else "ok",
                             f"Levels {list(far[:10])} are far from the other groups: check "
                             "their data." if len(far) else "No action needed."))
    table = pd.DataFrame(rows, columns=ASSUMPTION_COLUMNS)
    table.attrs.update(outlier_rows=list(out), influential_groups=influential,
                       outlying_groups=outlying_groups, cutoff=cutoff)
    return table
