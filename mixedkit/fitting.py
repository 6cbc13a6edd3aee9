"""``fit_lmm``: checks, translation, estimation, results — in one call."""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd
import patsy

from .arguments import VCOV_TYPES, InferenceOptions, check_choice, check_reml
from .errors import InputTypeError, InputValueError, StatsmodelsLimitError
from .model.design import build_design
from .model.estimation import ENGINES, estimate
from .model.frames import as_pandas
from .model.repeated import build_repeated_design, fit_repeated
from .model.safe_formula import check_model_formulas, check_translated
from .model.state import FitState
from .model.validation import prepare, warn_dropped
from .repeated import RepeatedMeasuresFit
from .results import LmmFit

__all__ = ["FIT_OPTIONS", "check_unknown_arguments", "fit_lmm", "fit_without_warnings"]


# fit_lmm's keyword options (fit_many passes them on)
FIT_OPTIONS = ("groups", "re_formula", "vc_formula", "weights", "reml", "missing",
               "conf_level", "df_method", "engine", "safe_formula", "vcov")

# R and statsmodels habits: the argument a user meant
_ALIASES = {"REML": "reml", "method": "reml", "group": "groups", "df": "df_method",
            "ddf": "df_method", "level": "conf_level"}


def check_unknown_arguments(unknown: dict, caller: str = "fit_lmm()") -> None:
    """Refuse the first unknown keyword argument, with the name the user likely meant
    (R's ``REML=FALSE`` is answered with ``reml=False``)."""
    if not unknown:
        return
    name, value = next(iter(unknown.items()))
    meant = _ALIASES.get(name)
    if name == "REML":
        hint = f"mixedkit spells it reml= (lowercase): reml={bool(value)!r}"
    elif name == "method" and isinstance(value, str) and value.upper() in ("REML", "ML"):
        hint = f"write reml={value.upper() == 'REML'!r}"
    elif meant:
        hint = f"did you mean {meant}=?"
    else:
        known = list(FIT_OPTIONS)
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}=?" if close else f"fit_lmm's options are {known}"
    raise InputTypeError(f"{caller} got an unknown argument {name}={value!r}; {hint}")


def fit_lmm(
    formula: str,
    data: pd.DataFrame,
    *,
    groups: str | pd.Series | np.ndarray | None = None,
    re_formula: str | None = None,
    vc_formula: dict[str, str] | None = None,
    weights: str | np.ndarray | pd.Series | None = None,
    reml: bool = True,
    missing: str = "drop",
    conf_level: float = 0.95,
    df_method: str = "satterthwaite",
    engine: str = "mixedkit",
    safe_formula: bool = False,
    vcov: str = "model",
    **unknown,
) -> LmmFit | RepeatedMeasuresFit:
    """Fit a linear mixed model and check the fit.

    Parameters
    ----------
    formula : str
        lme4 syntax, e.g. ``"Reaction ~ Days + (Days | Subject)"``. Random terms:
        ``(1|g)``, ``(x|g)``, ``(1+x|g)``, ``(0+x|g)``, ``(x||g)`` (uncorrelated),
        ``(1|a/b)`` (nested), ``(1|a:b)``, ``(1|a) + (1|b)`` (crossed), several
        terms on one factor. Names that are not Python identifiers go in backticks.
        Without random terms, give ``groups=`` (statsmodels style).
    data : DataFrame
        Long format: one row per observation. Never modified. pandas; a polars
        DataFrame, a pyarrow Table or any frame with the dataframe interchange protocol
        is converted once (every result is pandas). A pandas Categorical, a polars Enum
        or an Arrow dictionary keeps its category order (the first category is the
        reference level); a polars Categorical's levels are sorted, as text's are.
    groups : str, Series or array, optional
        Grouping column, statsmodels style (random intercept unless ``re_formula``): its
        name, or one label per row as statsmodels takes it (``groups=data["Subject"]``; a
        Series is aligned on the index and named in the tables by its name, an array is
        in row order and named ``groups``).
    re_formula : str, optional
        statsmodels-style random-effects formula for ``groups``, e.g. ``"~Days"``.
    vc_formula : dict, optional
        statsmodels-style variance components, ``{"cask": "0 + C(cask)"}``.
    weights : str, array or Series, optional
        Prior weights, as lme4's ``weights=``: a column of ``data`` or one value per row
        (a Series is aligned on the index). Row i has residual variance sigma^2 / w_i
        (e.g. w_i the number of measurements averaged into row i). Finite and positive;
        rows with a missing weight are dropped like other missing values.
        statsmodels' ``MixedLM`` has no weights, so ``engine="statsmodels"`` and
        ``fit.statsmodels_result`` are not available with them.
    reml : bool, default True
        REML (lme4's default) or maximum likelihood.
    missing : {"drop", "raise"}
        Rows with missing values in the columns the model uses are dropped (and
        counted on the result) or raise :class:`~mixedkit.DataError`.
    conf_level : float, default 0.95
        Confidence level of the fixed-effect intervals.
    df_method : {"satterthwaite", "kenward-roger", "normal"}
        Inference for fixed effects everywhere (the fixed-effects table, ``anova``,
        marginal means, contrasts): t and F tests with Satterthwaite degrees of freedom
        (lmerTest's default), Kenward–Roger's adjusted covariance and df (pbkrtest; REML
        fits only; equal to Satterthwaite's in balanced designs with one grouping factor, close
        to it in most others), or normal z tests.
    engine : {"mixedkit", "statsmodels"}
        How statsmodels' likelihood is evaluated during the optimisation:
        ``"mixedkit"`` (default) with :mod:`mixedkit.model.engine`, the same function
        vectorised over groups and exact at zero variances; ``"statsmodels"`` with
        ``MixedLM.loglike`` and ``score`` themselves (slower: a Python loop over
        groups; variances bounded at 5e-5, where statsmodels is still exact).
    safe_formula : bool, default False
        For formulas that come from outside (a web form, a file, a command line): before
        anything is evaluated, refuse any formula (and ``re_formula``, ``vc_formula``) that
        holds more than column names, numbers, arithmetic and the allowed transforms
        (``C``, ``I``, ``np.log``, ... see :func:`~mixedkit.check_formula`). patsy
        evaluates formula terms as Python, so an unchecked formula can run any code.
    vcov : {"model", "empirical"}, default "model"
        The covariance of the fixed effects of a model with a residual structure: model-
        based, or the empirical (sandwich, "robust") one, SAS's EMPIRICAL and mmrm's
        ``vcov = "Empirical"`` (with the model-based Satterthwaite df). Only with a
        residual structure term.

    Returns
    -------
    LmmFit or RepeatedMeasuresFit
        See :class:`~mixedkit.results.LmmFit` for every attribute and table; a formula
        with a residual structure term (``us(visit | subject)``, ``ar1``, ``cs``, ...; see
        Notes) gives a :class:`~mixedkit.repeated.RepeatedMeasuresFit`.

    Raises
    ------
    InputTypeError, InputValueError, DataError, ColumnNotFoundError, FormulaError,
    DesignTooLargeError
        Before any estimation, with the argument or column named and the fix (an
        unknown argument such as R's ``REML=FALSE`` is answered with mixedkit's name).
    FitError
        No optimisation attempt reached a finite likelihood.

    Warns
    -----
    FitWarning
        At most one, when ``fit.health`` has a warning or an error (non-convergence,
        a singular fit, few groups, ...); statsmodels' own warnings are absorbed.

    Notes
    -----
    Estimation maximises statsmodels' ``MixedLM`` likelihood over lme4's theta with
    bounds (see :mod:`mixedkit.model.estimation`); the engine's equality with
    ``MixedLM.loglike`` and ``score`` is tested (``tests/test_engine.py``). Validated against lme4
    1.1-31 on sleepstudy, Dyestuff, Dyestuff2, dietox, Penicillin and Pastes (REML
    and ML): estimates, standard errors, variance components, log-likelihood,
    AIC/BIC and singularity (``tests/test_lme4_reference.py``).

    **Residual structures (MMRM).** A term in mmrm's syntax puts a covariance structure on
    the residuals within a subject instead of random effects: ``us(visit | subject)``
    (unstructured), ``cs``/``csh`` (compound symmetry, homogeneous/heterogeneous
    variances), ``ar1``/``ar1h``, ``toep``/``toeph`` (Toeplitz), ``ad``/``adh`` (ante-
    dependence), ``sp_exp(time | subject)`` (exponential in a continuous time), and
    ``us(visit | arm / subject)`` for a structure per arm. ``visit`` is a factor whose
    level order is the time order (a Categorical's order; text in natural order, V2
    before V10); a missing visit is an absent row. The likelihood is exact (REML or ML);
    validated against nlme's ``gls`` and SAS PROC MIXED through mmrm's published numbers,
    Kenward–Roger included (``tests/test_repeated_fit.py``). Random terms may stand beside
    the structure when their grouping factors are constant within a subject (a site, the
    subject itself: ``(1 | site) + ar1(visit | subject)``, nlme's ``lme(...,
    correlation=)``; validated against nlme's ``lme``), with Satterthwaite's df.

    Examples
    --------
    >>> import mixedkit as mk
    >>> fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    >>> round(fit.loglik, 2)
    -871.81
    """
    check_unknown_arguments(unknown)
    fit = fit_without_warnings(
        formula, data, env=patsy.EvalEnvironment.capture(1), groups=groups,
        re_formula=re_formula, vc_formula=vc_formula, weights=weights, reml=reml,
        missing=missing, conf_level=conf_level, df_method=df_method, engine=engine,
        safe_formula=safe_formula, vcov=vcov)
    if fit.dropped:
        warn_dropped(fit.state.prep.n_input, fit.n_obs, fit.dropped, stacklevel=3)
    fit._warn()
    return fit


def fit_without_warnings(formula: str, data: pd.DataFrame, *, env=None,
                         crosscheck: bool = True, groups=None,
                         re_formula: str | None = None, vc_formula: dict | None = None,
                         weights=None, reml: bool = True, missing: str = "drop", conf_level: float = 0.95,
                         df_method: str = "satterthwaite", engine: str = "mixedkit",
                         safe_formula: bool = False,
                         vcov: str = "model") -> LmmFit | RepeatedMeasuresFit:
    """:func:`fit_lmm` without its warnings: the :class:`~mixedkit.DataWarning` for
    dropped rows (``fit.dropped`` has them) and the closing :class:`~mixedkit.FitWarning`
    (``fit.health`` has its findings).

    ``crosscheck=False`` leaves out the statsmodels log-likelihood at the optimum that
    ``fit.attempts.attrs`` otherwise evaluates on first access (it costs a second patsy
    design): for :func:`~mixedkit.fit_many`, where every other number is the same as fit_lmm's.
    ``env`` is the patsy environment formulas are evaluated in. ``data`` from polars or
    pyarrow is converted here, once (:func:`~mixedkit.model.frames.as_pandas`).
    """
    data = as_pandas(data, "data")
    if safe_formula:
        check_model_formulas(formula, data, re_formula, vc_formula)
    reml = check_reml(reml)
    options = InferenceOptions.checked(conf_level, df_method, reml=reml)  # before the fit
    check_choice(engine, ENGINES, "engine")
    check_choice(vcov, VCOV_TYPES, "vcov")  # (with the df method: below, for structures)
    prep = prepare(formula, data, groups=groups, re_formula=re_formula,
                   vc_formula=vc_formula, missing=missing, warn_dropped=False, weights=weights)
    if safe_formula:
        check_translated(prep)  # the texts patsy will evaluate, as mixedkit wrote them
    if prep.parsed.residual is not None:
        if engine != "mixedkit":
            raise StatsmodelsLimitError(
                f"engine={engine!r}: statsmodels' MixedLM cannot evaluate the residual "
                f"structure {prep.parsed.residual.source} (its residuals are independent "
                "with one variance); use engine='mixedkit' (the default)")
        from .inference.repeated import check_supported  # (scipy.stats: not for every fit)
        design = build_repeated_design(prep, env)
        check_supported(design, options.df_method, vcov)
        return RepeatedMeasuresFit(fit_repeated(prep, design, reml), options, vcov)
    if vcov != "model":
        raise InputValueError(
            f"vcov={vcov!r} is for models with a residual structure term such as "
            "us(visit | subject); for random-effect models the empirical covariance is not "
            "implemented: remove vcov=")
    design = build_design(prep, env)
    est = estimate(design, reml, engine=engine, crosscheck=crosscheck)
    return LmmFit(FitState.at_optimum(prep, design, est, reml), options)
