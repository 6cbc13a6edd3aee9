"""Model comparison done the right way: ``compare_models`` and ``reml_vs_ml``.

Rules (as lme4's ``anova`` and lmerTest's ``ranova``):

- models must share the response and the rows (after missing-value removal);
- models that differ in fixed effects are compared on ML fits (REML likelihoods of
  different fixed effects are not comparable), refitted automatically;
- models with the same fixed effects are compared on REML fits;
- a likelihood-ratio test needs nested models; when the smaller model sets a
  variance to zero the null value is on the boundary and the p-value is the 50:50
  mixture of chi-square(df - 1) and chi-square(df) (Self & Liang 1987; Stram & Lee
  1994); the naive chi-square(df) p-value is reported alongside;
- non-nested models get AIC and BIC only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .display import comparison_html, comparison_text, format_p, reml_ml_text
from .errors import DataError, InputTypeError, InputValueError
from .inference.bootstrap import refit_to, run_bootstrap, simulate
from .repeated import RepeatedMeasuresFit
from .results import LmmFit

__all__ = [
    "COMPARISON_COLUMNS",
    "ModelComparison",
    "RemlMlComparison",
    "compare_models",
    "reml_vs_ml",
]

COMPARISON_COLUMNS = ["model", "method", "n_params", "loglik", "aic", "bic", "chisq", "df_diff",
                      "p_value", "p_value_naive", "p_value_boot"]


@dataclass
class _Entry:
    """One model in a comparison, LmmFit or an ordinary linear model."""
    label: str
    fit: object  # LmmFit, or a statsmodels OLS results wrapper
    response: str
    endog: np.ndarray
    index: pd.Index
    fixed: tuple[str, ...]
    exog: np.ndarray
    random: frozenset  # variance parameters: (group, term) and (group, corr pair)
    structure: tuple | None = None  # a residual structure: (kind, within, subject, by)

    @property
    def is_lmm(self) -> bool:
        return hasattr(self.fit, "state")


def _entry(obj, position: int) -> _Entry:

    if isinstance(obj, (LmmFit, RepeatedMeasuresFit)):
        vc = obj.variance_components
        # a:b and b:a (and (1 | a/b)'s b:a) are one factor, as in lme4
        random = frozenset((":".join(sorted(g.split(":"))), t)
                           for g, t in zip(vc["group"], vc["term"])
                           if not g.startswith("Residual"))
        design = obj.state.design
        term = getattr(design, "term", None)
        return _Entry(obj.formula, obj, design.response, design.endog,
                      obj.state.prep.frame.index, tuple(design.exog.columns),
                      design.exog.to_numpy(), random,
                      None if term is None else (term.kind, term.within, term.subject, term.by))
    model = getattr(obj, "model", None)
    if model is not None and type(model).__name__ == "OLS" and hasattr(obj, "llf"):
        names = list(model.exog_names)
        index = getattr(model.data, "row_labels", None)
        index = pd.RangeIndex(len(model.endog)) if index is None else pd.Index(index)
        formula = getattr(model, "formula", None) or f"{model.endog_names} ~ {' + '.join(names)}"
        return _Entry(f"OLS: {formula}", obj, str(model.endog_names), np.asarray(model.endog),
                      index, tuple(names), np.asarray(model.exog), frozenset())
    raise InputTypeError(
        f"compare_models: argument {position} must be a fit from mk.fit_lmm (or a statsmodels "
        f"OLS result for the model without random effects); got {type(obj).__name__}"
    )


def _ols_loglik(entry: _Entry, reml: bool) -> float:
    """Log-likelihood of a linear model on the same scale as MixedLM's."""
    if not reml:
        return float(entry.fit.llf)
    x = entry.exog
    n, p = x.shape
    rss = float(np.sum(np.asarray(entry.fit.resid) ** 2))
    _, logdet = np.linalg.slogdet(x.T @ x)
    return -(n - p) / 2 * (math.log(2 * math.pi * rss / (n - p)) + 1) - logdet / 2


def _stats(entry: _Entry, reml: bool):
    """(method, n_params, loglik) of an entry fitted by the given method."""
    if entry.is_lmm:
        fit = entry.fit if entry.fit.reml == reml else entry.fit.refit(reml=reml)
        entry.fit = fit
        return fit.method, fit.n_params, fit.loglik
    return ("REML" if reml else "ML"), len(entry.fixed) + 1, _ols_loglik(entry, reml)


def _same_columns(a: _Entry, b: _Entry) -> bool:
    return a.exog.shape == b.exog.shape and np.allclose(a.exog, b.exog)


def _span_contains(big: np.ndarray, small: np.ndarray) -> bool:
    """Whether every column of ``small`` lies in the column space of ``big``."""
    coef = np.linalg.lstsq(big, small, rcond=None)[0]
    resid = small - big @ coef
    return bool(np.allclose(resid, 0, atol=1e-8 * max(1.0, float(np.abs(small).max()))))


# Residual structures nested in others (a special case of them); independent residuals (an
# OLS fit) are a special case of every structure.
_STRUCTURE_CONTAINS = {
    "cs": {"csh", "toep", "toeph", "us"}, "csh": {"us"}, "ar1": {"ar1h", "toep", "toeph",
                                                                "ad", "adh", "us"},
    "ar1h": {"toeph", "adh", "us"}, "toep": {"toeph", "us"}, "toeph": {"us"},
    "ad": {"adh", "us"}, "adh": {"us"}, "us": set(), "sp_exp": set(),
}


def _structure_nested(small: tuple | None, big: tuple | None) -> bool:
    if big is None:
        return small is None
    if small is None:
        return True
    kind, within, subject, by = small
    kind_big, within_big, subject_big, by_big = big
    if (within, subject) != (within_big, subject_big) or by not in (None, by_big):
        return False
    return kind == kind_big or kind_big in _STRUCTURE_CONTAINS[kind]


def _intercept_within_structure(small: _Entry, big: _Entry) -> bool:
    """``(1 | subject)`` alone is compound symmetry within a subject (a correlation >= 0),
    so it is nested in any structure of the same subject that contains ``cs``."""
    if big.random or big.structure is None or big.structure[3] is not None:
        return False
    kind, subject = big.structure[0], big.fit.state.prep.user(big.structure[2])
    return (small.random == frozenset({(subject, "Intercept")})
            and (kind == "cs" or kind in _STRUCTURE_CONTAINS["cs"])
            and _span_contains(big.exog, small.exog))


def _nested(small: _Entry, big: _Entry) -> bool:
    if small.structure is not None or big.structure is not None:
        if small.is_lmm and small.structure is None and big.random >= small.random \
                and small.random:  # (1 | site) within (1 | site) + ar1(visit | id)
            return _span_contains(big.exog, small.exog)
        if small.is_lmm and small.structure is None:  # random effects vs a structure
            return _intercept_within_structure(small, big)
        return (_structure_nested(small.structure, big.structure)
                and small.random <= big.random and _span_contains(big.exog, small.exog))
    return small.random <= big.random and _span_contains(big.exog, small.exog)


def _check_same_data(entries: list[_Entry]) -> None:
    first = entries[0]
    for i, e in enumerate(entries[1:], start=2):
        if e.response != first.response:
            raise DataError(
                f"compare_models: model {i} has response {e.response!r} but model 1 has "
                f"{first.response!r}; likelihoods are comparable only for the same response"
            )
        if len(e.index) != len(first.index) or not e.index.equals(first.index):
            only = first.index.difference(e.index)
            extra = e.index.difference(first.index)
            detail = (f"model 1 has {len(first.index)} rows, model {i} has {len(e.index)}"
                      + (f"; rows only in model 1: {list(only[:5])}" if len(only) else "")
                      + (f"; rows only in model {i}: {list(extra[:5])}" if len(extra) else ""))
            raise DataError(
                f"compare_models: the models were fitted to different rows ({detail}), usually "
                "because missing values in different columns were dropped. Drop rows with "
                "missing values in every column any model uses, then refit all models"
            )
        if not np.allclose(e.endog, first.endog):
            raise DataError(
                f"compare_models: model {i} and model 1 have the same response name and rows "
                "but different response values; fit them to the same data"
            )
        if not _same_weights(_weights(e), _weights(first)):
            raise DataError(
                f"compare_models: model {i} and model 1 have different prior weights "
                f"({_weights_text(e)} against {_weights_text(first)}); the likelihoods of "
                "differently weighted models are not comparable: fit both with the same "
                "weights="
            )


def _weights(entry: _Entry) -> np.ndarray | None:
    return entry.fit.state.design.weights if entry.is_lmm else None


def _same_weights(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.allclose(a, b, rtol=1e-12, atol=0))


def _weights_text(entry: _Entry) -> str:
    name = entry.fit.state.prep.weights_name if entry.is_lmm else None
    return f"weights={name!r}" if name else "no weights"


@dataclass
class ModelComparison:
    """Result of :func:`~mixedkit.compare_models`.

    Attributes
    ----------
    table : DataFrame
        Columns ``model, method, n_params, loglik, aic, bic, chisq, df_diff, p_value,
        p_value_naive, p_value_boot``; one row per model, smallest first
        (``p_value_naive`` only where p_value is boundary-corrected); the test
        columns compare each row with the nearest smaller model nested in it.
    notes : list of str
        What was done and why (ML refits, boundary corrections, non-nested pairs).
    fits : list
        The fits the table describes (ML refits where they were needed).
    """

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    fits: list = field(default_factory=list)

    def __str__(self) -> str:

        return comparison_text(self)

    __repr__ = __str__

    def _repr_html_(self) -> str:

        return comparison_html(self)


def compare_models(*fits, method: str | None = None, n_boot: int = 0, seed=None, executor=None,
                   n_jobs: int | None = None, progress: bool = True) -> ModelComparison:
    """Compare nested or non-nested mixed models, choosing REML or ML for you.

    Parameters
    ----------
    *fits : LmmFit or statsmodels OLS results
        Two or more models of the same response on the same rows. An OLS result
        (``smf.ols(...).fit()``) stands for the model without random effects.
    method : {None, "ML", "REML"}
        None (default) chooses as described in the module docstring. ``"ML"`` compares
        ML fits whatever the models (lme4's ``anova`` default); ``"REML"`` is allowed
        only for models with the same fixed effects.
    n_boot : int, default 0
        Parametric-bootstrap replicates for each likelihood-ratio test (simulate from
        the smaller model, refit both): ``p_value_boot``.
    seed, executor, n_jobs, progress
        As in :meth:`LmmFit.icc`.

    Returns
    -------
    ModelComparison
        ``.table`` with columns ``model, method, n_params, loglik, aic, bic, chisq,
        df_diff, p_value, p_value_naive, p_value_boot`` and ``.notes``. Rows are
        ordered by ``n_params``; each row is tested against the nearest smaller model
        nested in it (a note names it when that is not the row above).

    Raises
    ------
    InputTypeError
        Fewer than two models, or something that is not a fit.
    DataError
        Different responses or different rows.

    Notes
    -----
    Validated against lme4's ``anova()`` (ML refits) and the same test on REML fits,
    with the boundary-corrected p-value (tests/test_compare.py).
    """
    if len(fits) < 2:
        raise InputValueError(
            f"compare_models needs at least two fits; got {len(fits)}. To compare a model "
            "with the same model without random effects, pass that OLS fit as well"
        )
    entries = [_entry(f, i) for i, f in enumerate(fits, start=1)]
    _check_same_data(entries)
    same_fixed = all(_same_columns(entries[0], e) for e in entries[1:])
    if method not in (None, "ML", "REML"):
        raise InputValueError(f"method must be None, 'ML' or 'REML'; got {method!r}")
    if method == "REML" and not same_fixed:
        raise DataError(
            "compare_models: method='REML' needs models with the same fixed effects; these "
            "differ, and their REML likelihoods are not comparable. Use method=None or 'ML'"
        )
    reml = same_fixed if method is None else method == "REML"
    notes = []
    if method == "ML" and same_fixed:
        notes.append("Compared by maximum likelihood as asked (method='ML'); with the same "
                     "fixed effects REML would also be valid.")
    elif same_fixed:
        notes.append("The models have the same fixed effects, so they are compared on their "
                     "REML fits (as lmerTest's ranova does).")
    else:
        refit = [e.label for e in entries if e.is_lmm and e.fit.reml]
        notes.append("The models differ in fixed effects, so they are compared by maximum "
                     "likelihood" + (f" (refitted by ML: {'; '.join(refit)})" if refit else "")
                     + ": REML likelihoods of models with different fixed effects are not "
                     "comparable.")
    rows = []
    for e in entries:
        method, k, ll = _stats(e, reml)
        n = len(e.endog)
        rows.append([e.label, method, k, ll, -2 * ll + 2 * k, -2 * ll + math.log(n) * k])
    order = np.argsort([r[2] for r in rows], kind="stable")
    entries = [entries[i] for i in order]
    rows = [rows[i] + [np.nan] * 5 for i in order]
    for j in range(1, len(rows)):
        # test against the nearest smaller model nested in this one
        i = next((i for i in range(j - 1, -1, -1)
                  if rows[j][2] > rows[i][2] and _nested(entries[i], entries[j])), None)
        if i is None:
            notes.append(f"{entries[j].label!r} is not nested in any smaller model here, so "
                         "it has no likelihood-ratio test; compare AIC and BIC (lower is "
                         "better).")
            continue
        small, big = entries[i], entries[j]
        df = rows[j][2] - rows[i][2]
        tied = [entries[k].label for k in range(i) if rows[k][2] == rows[i][2]
                and _nested(entries[k], entries[j])]
        if tied:
            notes.append(f"{big.label!r} is tested against {small.label!r} (listed later); "
                         f"{', '.join(map(repr, tied))}, with as many parameters, is nested "
                         "in it too: compare_models with that pair alone tests it.")
        elif i != j - 1:
            notes.append(f"{big.label!r} is tested against {small.label!r}, the nearest "
                         "smaller model nested in it.")
        chisq = 2 * (rows[j][3] - rows[i][3])
        if chisq <= 1e-8 * max(1.0, abs(rows[j][3])):  # equal fits, to the optimiser's tolerance
            chisq = 0.0
        naive = float(stats.chi2.sf(chisq, df))
        p = naive
        added = [t for _, t in big.random - small.random if not t.startswith("corr(")]
        if same_fixed and len(added) == 1:
            # chi-square(0) is a point mass at 0: P(T >= 0) = 1, P(T >= x > 0) = 0
            below = float(stats.chi2.sf(chisq, df - 1)) if df > 1 else float(chisq == 0.0)
            p = 0.5 * below + 0.5 * naive
            naive_text = (f"; the naive chi-square({df}) p-value ({_p_text(naive)}) is too "
                          "large" if p < naive else
                          "; the added variance is estimated as 0 (chisq 0): no evidence for it")
            notes.append(
                f"{big.label!r} adds a variance to {small.label!r}; under the null it is 0, on "
                "the boundary of the parameter space, so p_value is the 50:50 mixture of "
                f"chi-square({df - 1}) and chi-square({df}) ({_p_text(p)}){naive_text}.")
        elif same_fixed and len(added) > 1:
            notes.append(
                f"{big.label!r} adds {len(added)} variances to {small.label!r}; the exact null "
                "distribution is a mixture mixedkit does not compute, so p_value is the naive "
                "chi-square one, which is conservative (too large); n_boot= gives a bootstrap "
                "p-value.")
        rows[j][6:9] = [chisq, df, p]
        rows[j][9] = naive if p != naive else np.nan  # only where a boundary correction applies
        if n_boot:
            rows[j][10] = _bootstrap_lrt(small, big, chisq, reml, n_boot, seed, executor,
                                         n_jobs, progress, notes)
    tested = any(np.isfinite(r[6]) for r in rows)
    groups = [n for e in entries if e.is_lmm for n in e.fit.n_groups.values()]
    if tested and not same_fixed and groups:  # a chi-square test of fixed effects was run
        notes.append(
            "To test fixed effects, prefer the larger model's F tests (fit.anova(), "
            "Satterthwaite or Kenward-Roger df, on its REML fit): this chi-square "
            f"likelihood-ratio test treats {min(groups)} groups as if they were "
            "infinitely many and is liberal with few groups; use it for large samples.")
    structured = [e for e in entries if e.structure is not None]
    if same_fixed and len(structured) > 1:
        notes.append(_structure_note(structured, rows, entries))
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    table["df_diff"] = table["df_diff"].astype("Int64")
    return ModelComparison(table, notes, [e.fit for e in entries])


def _structure_note(structured: list[_Entry], rows: list, entries: list[_Entry]) -> str:
    """Which residual structure to prefer, as the MMRM literature chooses one."""
    aic = {e.label: rows[entries.index(e)][4] for e in structured}
    ranked = sorted(aic, key=aic.get)
    gap = aic[ranked[1]] - aic[ranked[0]]
    return (f"Residual structures with the same fixed effects, compared on REML fits: "
            f"{ranked[0]!r} has the lowest AIC ({gap:.1f} below {ranked[1]!r}). Prefer "
            "the lowest AIC (a difference under 2 is no evidence either way; BIC, with "
            "log(rows), favours fewer parameters); a likelihood-ratio test applies only "
            "where one structure is a special case of the other. Unstructured (us) "
            "assumes nothing about the visits and is the usual pre-specified primary "
            "analysis of a trial when it converges; a structure chosen by these numbers is "
            "a sensitivity analysis unless that rule was itself pre-specified.")


def _p_text(p: float) -> str:
    """A p-value as the tables show it (``<1e-16`` rather than ``0``)."""
    return format_p(p)


def _lrt_replicate(small, big, reml, rng) -> dict:
    y = simulate(small, rng)
    ll_small = refit_to(small, y, reml=reml)[0].loglik
    ll_big = refit_to(big, y, reml=reml)[0].loglik
    return {"lrt": max(2 * (ll_big - ll_small), 0.0)}


def _bootstrap_lrt(small, big, chisq, reml, n_boot, seed, executor, n_jobs, progress, notes):
    if not small.is_lmm:
        notes.append("No bootstrap p-value against the model without random effects "
                     "(simulate from the mixed model's null instead).")
        return np.nan
    if small.structure is not None or big.structure is not None:
        notes.append(f"No bootstrap p-value for {big.label!r}: the parametric bootstrap "
                     "simulates random effects; models with a residual structure are not "
                     "simulated yet.")
        return np.nan
    draws = run_bootstrap(_lrt_replicate, (small.fit.state, big.fit.state, reml), n_boot, seed=seed,
                          executor=executor, n_jobs=n_jobs, progress=progress,
                          label="LRT bootstrap")
    ok = draws["lrt"].dropna().to_numpy() if "lrt" in draws else np.array([])
    failed = n_boot - len(ok)
    notes.append(f"Bootstrap p-value for {big.label!r}: {len(ok)} replicates simulated from "
                 f"{small.label!r}" + (f", {failed} refits failed" if failed else "") + ".")
    return (1 + np.sum(ok >= chisq - 1e-10)) / (len(ok) + 1) if len(ok) else np.nan


@dataclass
class RemlMlComparison:
    """Result of :func:`~mixedkit.reml_vs_ml`: the same model by REML and ML, side by side.

    Attributes
    ----------
    table : DataFrame
        Columns ``quantity, reml, ml, difference, relative_difference``: one row per
        fixed-effect estimate and standard error, variance and correlation, then
        ``loglik``, ``aic`` and ``bic`` (``relative_difference`` only for estimates,
        standard errors and variances).
    notes : list of str
        What differs between the two fits and when to use which.
    reml_fit, ml_fit : LmmFit
        The two fits.
    """

    table: pd.DataFrame
    notes: list[str]
    reml_fit: LmmFit
    ml_fit: LmmFit

    def __str__(self) -> str:

        return reml_ml_text(self)

    __repr__ = __str__


def reml_vs_ml(fit) -> RemlMlComparison:
    """The same model fitted by REML and by ML, side by side.

    Parameters
    ----------
    fit : LmmFit

    Returns
    -------
    RemlMlComparison
        ``.table`` with columns ``quantity, reml, ml, difference, relative_difference``
        (fixed effects, their standard errors, variance components, log-likelihood,
        AIC, BIC) and ``.notes`` explaining what differs and when to use which.

    Notes
    -----
    Both fits are validated against lme4 separately (tests/test_lme4_reference.py).
    """

    if isinstance(fit, RepeatedMeasuresFit):
        raise InputTypeError(
            "reml_vs_ml compares the variance components of a random-effects fit; this fit "
            "has a residual structure instead: compare fit.residual_covariance with "
            "fit.refit(reml=False).residual_covariance")
    if not isinstance(fit, LmmFit):
        raise InputTypeError(f"reml_vs_ml needs a fit from mk.fit_lmm; got {type(fit).__name__}")
    reml_fit = fit if fit.reml else fit.refit(reml=True)
    ml_fit = fit.refit(reml=False) if fit.reml else fit
    rows = []
    for label, a, b in _paired_quantities(reml_fit, ml_fit):
        # relative change means something for estimates, SEs and variances only
        relative = label.split(":")[0] in ("estimate", "std_error", "variance")
        diff = b - a
        if abs(diff) <= 1e-10 * max(abs(a), abs(b)):  # equal to rounding (balanced designs)
            diff = 0.0
        rows.append([label, a, b, diff, diff / abs(a) if a and relative else np.nan])
    table = pd.DataFrame(rows, columns=["quantity", "reml", "ml", "difference",
                                        "relative_difference"])
    k = reml_fit.state.design.exog.shape[1]
    n = reml_fit.n_obs
    vc = table[table["quantity"].str.startswith("variance") &
               ~table["quantity"].str.endswith("Residual")]
    shrink = vc["relative_difference"].mean()
    notes = [
        (f"The random-effect variances are {abs(shrink):.1%} "
         f"{'smaller' if shrink < 0 else 'larger'} by ML on average. ML treats the {k} "
         "estimated fixed effects as known and so underestimates variances; the bias is small "
         f"for the residual variance (n = {n} rows) and larger for variances estimated from "
         f"few groups ({', '.join(f'{g}: {m}' for g, m in reml_fit.n_groups.items())}). "
         "REML reduces this bias (it does not remove it)."),
        ("Fixed-effect estimates barely change; their standard errors are smaller under ML "
         "because the variances are."),
        ("Log-likelihood, AIC and BIC are on different scales (REML's excludes the fixed "
         "effects) and must not be compared across the two methods."),
        ("Use REML to report variance components and fixed effects, and test fixed effects "
         "with the REML fit's F and t tests (fit.anova(), Satterthwaite or Kenward-Roger df). "
         "ML is needed only to compare models that differ in their fixed effects by "
         "likelihood (AIC, or a likelihood-ratio test in large samples); compare_models "
         "refits by ML for you."),
    ]
    return RemlMlComparison(table, notes, reml_fit, ml_fit)


def _paired_quantities(a, b):
    # lme4's vcov standard errors on both sides: Kenward-Roger's adjustment (REML only)
    # would mix a small-sample correction into the REML-ML difference.
    fa, fb = a.fixed_effects, b.fixed_effects
    se_a, se_b = (np.sqrt(np.diag(f.vcov_fixed.to_numpy())) for f in (a, b))
    for term, ea, eb, sa, sb in zip(fa["term"], fa["estimate"], fb["estimate"], se_a, se_b):
        yield f"estimate: {term}", ea, eb
        yield f"std_error: {term}", sa, sb
    va, vb = a.variance_components, b.variance_components
    for (g, t, xa, ca), xb, cb in zip(va[["group", "term", "variance", "corr"]].to_numpy(),
                                      vb["variance"], vb["corr"]):
        name = f"{g} {t}".strip()
        if isinstance(ca, float) and not math.isnan(ca):
            yield f"corr: {name}", ca, cb
        else:
            yield f"variance: {name}", xa, xb
    yield "loglik", a.loglik, b.loglik
    yield "aic", a.aic, b.aic
    yield "bic", a.bic, b.bic
