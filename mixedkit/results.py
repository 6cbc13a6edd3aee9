"""The fitted-model object returned by :func:`~mixedkit.fit_lmm`."""

from __future__ import annotations

import math
import warnings
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .arguments import InferenceOptions, check_choice, check_reml
from .display import AnovaTable, statsmodels_lines, summary_html, summary_text
from .errors import FitWarning
from .findings import Finding, Report
from .model.estimation import (
    SINGULAR_TOL,
    estimate,
    lme4_theta,
    statsmodels_results,
    user_theta,
    variance_rows,
)
from .model.state import FitState

if TYPE_CHECKING:
    from .inference.df_methods import FixedInference
    from .report import FitReport

# The inference modules (and scipy.stats, statsmodels' lowess behind them) are imported by
# the methods that use them: a fit in a fresh process needs none of them (``python -X
# importtime``: about 0.35 s of a cold first fit's 1.2 s).

__all__ = ["FIXED_COLUMNS", "VARIANCE_COLUMNS", "LmmFit"]

FIXED_COLUMNS = ["term", "estimate", "std_error", "statistic", "df", "p_value", "conf_low",
                 "conf_high"]
VARIANCE_COLUMNS = ["group", "term", "variance", "std_dev", "covariance", "corr"]


class LmmFit:
    """A fitted linear mixed model.

    Built by :func:`~mixedkit.fit_lmm`; every table keeps full precision and only
    ``summary()``, ``repr`` and the notebook card round. The tables and the numbers
    derived from them (``fixed_effects``, ``variance_components``, ``aic``, ``bic``,
    ``health``, ...) are the properties below; the attributes here are set at the fit.

    Attributes
    ----------
    formula : str
        The formula as given.
    method : {"REML", "ML"}
        How the model was fitted.
    reml : bool
        True for a REML fit.
    conf_level : float
        Confidence level of the intervals in the tables (default 0.95).
    df_method : {"satterthwaite", "kenward-roger", "normal"}
        Inference for the fixed effects in every table (see :func:`~mixedkit.fit_lmm`).
    scale : float
        Residual variance.
    theta : ndarray
        lme4's theta, ``getME(fit, "theta")``: the relative Cholesky factors in data units,
        each packed column by column, the terms in lme4's order (sorted by decreasing
        number of levels when a term has more levels than the one before it, as lme4
        does: Pastes' ``cask:batch`` before ``batch``), for comparison with R.
    loglik : float
        Log-likelihood at the optimum; for a REML fit the REML log-likelihood, to be
        compared only between fits with the same fixed effects.
    n_obs : int
        Rows used (after removing missing values).
    n_dropped : int
        Rows dropped for missing values.
    dropped : dict
        Rows dropped for a missing value, counted by column.
    n_groups : dict
        Levels of each grouping factor.
    converged : bool
        True when an optimisation attempt converged (see :attr:`attempts`).
    singular : bool
        lme4's rule, a diagonal element of the relative Cholesky factor (theta) below
        1e-4 (zero variances, correlations of +/-1), applied to the random-effect
        columns scaled to unit root mean square, so that it does not depend on the
        predictors' units (lme4's raw theta does: a slope per second can look
        singular). Equal to lme4's ``isSingular`` on every reference model.
    engine : {"mixedkit", "statsmodels"}
        Which evaluation of statsmodels' likelihood the optimiser used.
    state : FitState
        The numbers at the optimum that every table, plot and refit reads.
    statsmodels_call : str
        The statsmodels call that specifies the same model, written for a DataFrame
        named ``data`` and ``import statsmodels.formula.api as smf`` (and ``numpy as
        np`` for crossed designs).
    """

    def __init__(self, state: FitState, options: InferenceOptions | None = None):
        self.state = state
        prep, design, est = state.prep, state.design, state.estimate
        # What the user asked for, and what holds on this fit (Kenward-Roger needs REML):
        # a refit passes the request on, so the REML refit of a KR fit's ML refit is KR again.
        self._requested = InferenceOptions() if options is None else options
        self._options = self._requested.for_fit(state.reml)
        self._inference: dict[str, FixedInference] = {}
        self.conf_level = self._options.conf_level
        self.df_method = self._options.df_method
        self.formula = prep.parsed.text
        self.engine = est.engine
        self.theta = lme4_theta(design, prep.random, state.theta)  # getME(m, "theta")
        self.loglik = float(est.loglik)
        self.converged = bool(est.converged)
        self.n_obs = len(design.endog)
        self.n_groups = dict(design.n_groups)
        self.n_dropped = int(prep.n_input - self.n_obs)
        self.dropped = dict(prep.dropped)
        self.statsmodels_call = design.statsmodels_call
        self.scale = state.sigma2
        self.singular = bool(np.any(state.theta[design.theta_diagonal] < SINGULAR_TOL))
        self._core_health = self._health()

    # ----------------------------------------------------------------- numbers
    @property
    def reml(self) -> bool:
        """True for a REML fit, False for maximum likelihood."""
        return self.state.reml

    @property
    def method(self) -> str:
        """``"REML"`` or ``"ML"``: how the model was fitted."""
        return "REML" if self.state.reml else "ML"

    @property
    def lme4_formula(self) -> str:
        """The model in lme4's syntax, random part included, with the data's column names.

        ``fit_lmm("Reaction ~ Days", data, groups="Subject", re_formula="~Days")`` gives
        ``"Reaction ~ Days + (Days | Subject)"``, ready for ``lmer``. Each random term is
        written on its own: ``(1 | a/b)`` appears as ``(1 | a) + (1 | a:b)`` and ``(x || g)``
        as ``(1 | g) + (0 + x | g)``, which lme4 reads as the same model.
        """
        prep = self.state.prep
        fixed = prep.names.restore(prep.parsed.fixed_formula)
        return " + ".join([fixed, *(t.lme4(prep.names) for t in prep.random)])

    def _fixed_inference(self, df_method: str | None = None) -> FixedInference:
        """The fit's inference on fixed effects for ``df_method`` (checked; None: the
        fit's), computed once per method."""
        method = self._options.resolve(df_method=df_method, reml=self.reml).df_method
        if method not in self._inference:
            from .inference.df_methods import fixed_inference
            self._inference[method] = fixed_inference(self.state, method)
        return self._inference[method]

    def _level(self, conf_level: float | None) -> float:
        """A call's confidence level, checked (None: the fit's)."""
        return self._options.resolve(conf_level=conf_level, reml=self.reml).conf_level

    @property
    def n_params(self) -> int:
        """Parameters counted by AIC/BIC: fixed effects, theta and the residual SD."""
        return int(self.state.design.exog.shape[1] + self.state.design.n_theta + 1)

    @property
    def aic(self) -> float:
        """Akaike's criterion, -2 loglik + 2 n_params.

        For a REML fit computed from the REML criterion, as lme4 does; compare such
        values only between fits with the same fixed effects.
        """
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        """Schwarz's criterion, -2 loglik + log(n_obs) n_params (REML fits: as :attr:`aic`)."""
        return -2 * self.loglik + math.log(self.n_obs) * self.n_params

    @cached_property
    def statsmodels_result(self):
        """statsmodels' ``MixedLMResults`` at this optimum, for the model in
        ``statsmodels_call`` (data units); built on first access."""
        self.state.design.require_statsmodels("fit.statsmodels_result")
        return statsmodels_results(self.state.design.user_model(),
                                   user_theta(self.state.design, self.state.theta), self.reml,
                                   self.converged)

    def statsmodels_lines(self) -> pd.DataFrame:
        """Where each line of statsmodels' ``summary()`` is in mixedkit's tables.

        For the model in ``statsmodels_call``: ``"Subject Var"`` is the ``variance`` of
        the ``Subject``/``Intercept`` row of ``variance_components``, ``"Subject x Days
        Cov"`` the ``covariance`` of its ``corr(Intercept, Days)`` row, ``"Days Var"`` the
        ``variance`` of ``Days``, ``"Scale"`` the residual variance, each fixed effect's
        ``Coef.`` its ``estimate`` in ``fixed_effects``. statsmodels writes ``"Group"``
        for the random intercept when ``groups=`` is an array rather than a column name.

        Returns
        -------
        DataFrame
            Columns ``statsmodels`` (the summary's label), ``estimate`` (the number it
            shows, at this fit's optimum), ``table``, ``group``, ``term``, ``column`` (the
            cell holding it: ``table`` ``"fit"`` means an attribute of the fit) and
            ``note`` (what differs: standard errors, tests).

        Raises
        ------
        StatsmodelsLimitError
            The model is beyond statsmodels' ``MixedLM`` (there is no summary to map).

        Examples
        --------
        >>> import mixedkit as mk
        >>> fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
        >>> fit.statsmodels_lines()["statsmodels"].tolist()
        ['Intercept', 'Days', 'Subject Var', 'Subject x Days Cov', 'Days Var', 'Scale', 'Log-Likelihood']
        """
        return statsmodels_lines(self)

    @property
    def attempts(self) -> pd.DataFrame:
        """One row per optimisation attempt.

        Columns ``optimizer, start, loglik, n_evals, max_grad, converged, message,
        seconds``. ``.attrs`` holds statsmodels' own log-likelihood at the optimum and
        the difference (``statsmodels_difference``) where building its model is cheap.
        """
        return self.state.estimate.attempts_frame(self.state.design, self.reml)

    @cached_property
    def vcov_fixed(self) -> pd.DataFrame:
        """Covariance of the fixed effects, scale * (X'V^-1 X)^-1 as lme4's ``vcov``."""
        names = list(self.state.design.exog.columns)
        return pd.DataFrame(self.state.vcov_fixed, index=names, columns=names)

    @cached_property
    def fixed_effects(self) -> pd.DataFrame:
        """The fixed-effect estimates with their tests and intervals.

        Columns ``term, estimate, std_error, statistic, df, p_value, conf_low,
        conf_high``. Standard errors from (X'V^-1 X)^-1, as lme4's ``vcov``. By default
        (``df_method="satterthwaite"``) t tests and intervals with lmerTest's
        Satterthwaite degrees of freedom; ``"kenward-roger"`` uses pbkrtest's adjusted
        covariance (``std_error``) and df; ``"normal"`` gives z (``df`` is inf).
        ``.attrs`` holds ``conf_level`` and ``df_method``.

        Validated against lme4 1.1-31 and lmerTest 3.1-3 (tests/test_lme4_reference.py,
        tests/test_inference.py).
        """
        return self._fixed_table()

    def _fixed_table(self, df_method: str | None = None) -> pd.DataFrame:
        """``fixed_effects`` with ``df_method``'s tests and intervals (None: the fit's)."""
        from .inference.df_methods import t_table
        inference = self._fixed_inference(df_method)
        columns = t_table(inference, np.eye(len(self.state.beta)), self.state.beta,
                          self.conf_level)
        table = pd.DataFrame({"term": list(self.state.design.exog.columns),
                              **{c: columns[c] for c in FIXED_COLUMNS[1:]}})
        table.attrs.update(conf_level=self.conf_level, df_method=inference.df_method)
        return table

    @cached_property
    def variance_components(self) -> pd.DataFrame:
        """The random-effect variances, correlations and the residual variance.

        Columns ``group, term, variance, std_dev, covariance, corr``, each meaning one
        thing: one row per random effect (its ``variance`` and ``std_dev``), one row per
        pair of correlated effects (``term`` is ``"corr(a, b)"``: their ``covariance`` and
        ``corr``, the correlation) and a last ``Residual`` row (the residual variance,
        statsmodels' "Scale"). Cells that do not apply are NaN. Validated against lme4's
        ``VarCorr`` (tests/test_lme4_reference.py); :meth:`~mixedkit.LmmFit.statsmodels_lines` says which
        cell holds each line of statsmodels' summary.
        """
        rows = variance_rows(self.state.design, self.state.theta, self.scale)
        rows.append(["Residual", "", self.scale, math.sqrt(self.scale), np.nan, np.nan])
        return pd.DataFrame(rows, columns=VARIANCE_COLUMNS)

    # ------------------------------------------- random effects and predictions
    def ranef(self, *, conf_level: float | None = None) -> pd.DataFrame:
        """Conditional modes (BLUPs) of the random effects with their conditional SDs.

        Parameters
        ----------
        conf_level : float, optional
            Level of the normal intervals (default: the fit's).

        Returns
        -------
        DataFrame
            Columns ``group, level, term, estimate, std_error, conf_low, conf_high``:
            one row per level of each grouping factor and random term; ``estimate`` is
            the conditional mode, ``std_error`` the conditional SD (lme4's
            ``ranef(condVar = TRUE)``), the interval is normal at ``conf_level``
            (default: the fit's).

        Notes
        -----
        Validated against lme4 on every reference model (tests/test_predictions.py).
        """

        from .inference import predictions
        return predictions.random_effects(self.state, self._level(conf_level))

    def fitted(self, kind: str = "conditional") -> pd.Series:
        """Fitted values for the rows used: ``"conditional"`` (X beta + Z b) or
        ``"marginal"`` (X beta), indexed like the data."""
        kind = check_choice(kind, ("conditional", "marginal"), "kind")
        return self.predict(include_random=kind == "conditional")

    def residuals(self, kind: str = "conditional") -> pd.Series:
        """Residuals for the rows used, indexed like the data.

        ``"conditional"``: y - X beta - Z b; ``"marginal"``: y - X beta;
        ``"pearson"``: conditional residuals divided by the residual SD (times
        sqrt(w) with prior weights: lme4's ``residuals(type = "pearson")``).
        """
        kind = check_choice(kind, ("conditional", "marginal", "pearson"), "kind")
        fitted = self.fitted("marginal" if kind == "marginal" else "conditional")
        res = pd.Series(self.state.design.endog, index=fitted.index) - fitted
        if kind == "pearson":
            res = res / math.sqrt(self.scale)
            if self.state.design.weights is not None:
                res = res * np.sqrt(self.state.design.weights)
        return res.rename(f"{kind} residual")

    def predict(self, newdata: pd.DataFrame | None = None, *, include_random: bool = True,
                allow_new_groups: bool = False, interval: str | None = None,
                df_method: str | None = None, conf_level: float | None = None):
        """Predictions for new (or, with ``newdata=None``, the fitted) rows.

        Parameters
        ----------
        newdata : DataFrame, optional
            Must have every column the model uses except the response (population-level
            predictions need only the fixed part's columns). pandas; a polars DataFrame, a
            pyarrow Table or any frame with the dataframe interchange protocol is converted
            once.
        include_random : bool, default True
            Conditional predictions (with each row's group's random effects);
            ``False`` gives population-level predictions (X beta).
        allow_new_groups : bool, default False
            Rows in groups the model has not seen raise ``DataError`` unless True;
            then they get population-level predictions and a ``DataWarning`` says so.
        interval : {None, "confidence"}
            With ``include_random=False``: the mean response's standard error, t
            degrees of freedom (the fit's ``df_method``, or ``df_method=``) and interval.
        df_method, conf_level : optional
            For ``interval``; default the fit's.

        Returns
        -------
        Series or DataFrame
            A Series indexed like ``newdata``; with ``interval``, a DataFrame with
            columns ``estimate, std_error, df, conf_low, conf_high``.

        Notes
        -----
        Intervals validated against emmeans at the same predictor values
        (tests/test_predictions.py).
        """

        from .inference import predictions
        if interval is None:
            return predictions.predict(self.state, newdata, include_random=include_random,
                                       allow_new_groups=allow_new_groups)
        return predictions.population_interval(
            self.state, newdata, include_random, interval, self._fixed_inference(df_method),
            self._level(conf_level))

    # ------------------------------------------------------- variance explained
    def icc(self, *, n_boot: int = 0, conf_level: float | None = None, seed=None,
            executor=None, n_jobs: int | None = None, progress: bool = True) -> pd.DataFrame:
        """Intraclass correlation, as ``performance::icc`` defines it.

        Parameters
        ----------
        n_boot : int, default 0
            Parametric-bootstrap refits for a confidence interval (0: none).
        conf_level : float, optional
            Level of the percentile bootstrap interval (default: the fit's).
        seed : int, numpy SeedSequence or Generator, optional
            Makes the bootstrap reproducible (a Generator: given its current state).
        executor : concurrent.futures.Executor, optional
            Where the refits run (default: a process pool; any executor with
            ``submit``, e.g. dask's ``Client.get_executor()``).
        n_jobs : int, optional
            Workers of the default pool (default: all cores; 1: this process).
        progress : bool, default True
            A progress bar (tqdm; a widget in Jupyter) on stderr for bootstrap runs longer
            than two seconds; False shows none.

        Returns
        -------
        DataFrame
            Columns ``group, kind, estimate, conf_low, conf_high``. ``kind`` is
            ``adjusted`` (random / (random + residual)), ``unadjusted`` (random /
            (fixed + random + residual)) or ``design_effect`` (1 + (m - 1) ICC, with m
            the mean group size; random-intercept models with one grouping factor).
            The first rows are for all grouping factors together (``group`` lists
            them); models with several factors add one ``adjusted`` row per factor.
            ``conf_low``/``conf_high`` are NaN without a bootstrap. ``.attrs`` holds
            ``conf_level``, ``n_boot``, ``n_failed`` and ``note`` (singular fits,
            random slopes).

        Notes
        -----
        The random variance of a random-slope model is the mean over the observed
        rows of z' Sigma z (trace(Z Sigma Z')/n, Johnson 2014), not the variance at
        x = 0; see :mod:`mixedkit.inference.variance`. Validated against performance 0.10.2 on
        every reference model (tests/test_variance.py); for ``(x || g)`` mixedkit keeps
        the slope variance, where performance drops it.
        """

        level = self._level(conf_level)
        boot = self._bootstrap_variance(n_boot, seed, executor, n_jobs, progress, "icc")
        from .inference import variance
        return variance.icc_table(self.state, variance.variance_parts(self.state), boot, level)

    def r2(self, *, n_boot: int = 0, conf_level: float | None = None, seed=None,
           executor=None, n_jobs: int | None = None, progress: bool = True) -> pd.DataFrame:
        """Nakagawa's marginal and conditional R², as ``performance::r2_nakagawa``.

        Returns
        -------
        DataFrame
            Columns ``kind, estimate, conf_low, conf_high``; ``kind`` is ``marginal``
            (fixed / total variance) or ``conditional`` ((fixed + random) / total).
            Bootstrap arguments as in :meth:`icc`.

        Notes
        -----
        Validated against performance 0.10.2 (tests/test_variance.py).
        """

        level = self._level(conf_level)
        boot = self._bootstrap_variance(n_boot, seed, executor, n_jobs, progress, "r2")
        from .inference import variance
        return variance.r2_table(self.state, variance.variance_parts(self.state), boot, level)

    def _bootstrap_variance(self, n_boot, seed, executor, n_jobs, progress, what):
        if not n_boot:
            return None

        from .inference.bootstrap import bootstrap_variance
        return bootstrap_variance(self.state, n_boot, seed=seed, executor=executor, n_jobs=n_jobs,
                                  progress=progress, what=what)

    # ------------------------------------------------------------ inference
    def anova(self, type=3, df_method: str | None = None) -> pd.DataFrame:
        """F tests of the fixed-effect terms, as lmerTest's ``anova``.

        Parameters
        ----------
        type : {3, 2, 1} or {"III", "II", "I"}, default 3
            Type III (each term adjusted for all others, independent of the contrast
            coding), Type II (adjusted for the terms that do not contain it) or Type I
            (sequential, in formula order).
        df_method : {"satterthwaite", "kenward-roger", "normal"}, optional
            Denominator degrees of freedom; default the fit's ``df_method``.

        Returns
        -------
        DataFrame
            One row per term (the intercept is not tested); columns ``term, sum_sq,
            mean_sq, num_df, den_df, statistic, p_value`` (``statistic`` is F;
            ``mean_sq`` = F sigma^2 and ``sum_sq`` = mean_sq * num_df, as lmerTest).
            ``.attrs`` holds ``type``, ``df_method`` and ``heading`` (printed above the
            table).

        Notes
        -----
        Hypotheses as lmerTest 3.1-3 builds them (:mod:`mixedkit.inference.hypotheses`);
        validated against lmerTest's ``anova`` (tests/test_anova.py).
        """

        from .inference import anova
        table = anova.anova_table(self.state, type, self._fixed_inference(df_method))
        shown = AnovaTable(table)
        shown.attrs = dict(table.attrs)
        return shown

    def marginal_means(self, spec=None, *, by=None, at: dict | None = None,
                       df_method: str | None = None,
                       conf_level: float | None = None) -> pd.DataFrame:
        """Estimated marginal means on emmeans' reference grid.

        Parameters
        ----------
        spec : str or list of str, optional
            The factor(s) whose level means are wanted (a list gives cell means), by
            data column name: ``"x"`` also when the formula writes ``C(x)``. None: the
            grand mean.
        by : str or list of str, optional
            Further factors to split by (the means are for each combination).
        at : dict, optional
            Values for numeric covariates (default: their mean over the fitted rows) or
            a subset of a factor's levels.
        df_method : {"satterthwaite", "kenward-roger", "normal"}, optional
        conf_level : float, optional

        Returns
        -------
        DataFrame
            The factor columns (or ``term`` = "overall"), then ``estimate, std_error,
            df, conf_low, conf_high``. ``.attrs``: ``conf_level``, ``df_method``,
            ``covariates`` (the values held), ``averaged_over``, ``weights``.

        Notes
        -----
        Each factor not in ``spec``/``by`` is averaged with equal weights over its
        levels, as emmeans does by default. Validated against emmeans 1.8.4
        (tests/test_means.py).
        """

        from .inference import means
        return means.marginal_means(self.state, spec, by=by, at=at,
                                    inference=self._fixed_inference(df_method),
                                    conf_level=self._level(conf_level))

    def marginal_trends(self, var: str, spec=None, *, by=None, at: dict | None = None,
                        df_method: str | None = None,
                        conf_level: float | None = None) -> pd.DataFrame:
        """Estimated marginal trends: the slope in a numeric predictor, as emmeans'
        ``emtrends``.

        Parameters
        ----------
        var : str
            The numeric predictor whose slope is wanted (a data column, e.g. ``"Time"``).
        spec : str or list of str, optional
            The factor(s) for whose levels the slope is wanted (the slope differs between
            them when the model has a ``var:factor`` interaction). None: one average slope.
        by : str or list of str, optional
            Further factors to split by.
        at : dict, optional
            Values of numeric covariates, including ``var`` itself: where the slope is
            taken when it changes with ``var`` (a quadratic). Default: their means.
        df_method : {"satterthwaite", "kenward-roger", "normal"}, optional
        conf_level : float, optional

        Returns
        -------
        DataFrame
            The factor columns (or ``term`` = "overall"), then ``estimate`` (the slope),
            ``std_error, df, statistic, p_value`` (the test of slope 0) and ``conf_low,
            conf_high``. ``.attrs``: ``var``, ``at_value``, ``conf_level``, ``df_method``,
            ``covariates``, ``averaged_over``, ``weights``.

        Notes
        -----
        Each factor not in ``spec``/``by`` is averaged with equal weights, as in
        :meth:`marginal_means`. Compare slopes between levels with the interaction's F
        test in :meth:`anova`. Validated against emmeans 1.8.4's ``emtrends`` with
        lmerTest's Satterthwaite df (tests/test_means.py).

        Examples
        --------
        >>> fit = mk.fit_lmm("Weight ~ Time * Evit + (Time | Pig)", dietox)  # doctest: +SKIP
        >>> fit.marginal_trends("Time", "Evit")  # growth per week at each dose  # doctest: +SKIP
        """

        from .inference import means
        return means.marginal_trends(self.state, var, spec, by=by, at=at,
                                     inference=self._fixed_inference(df_method),
                                     conf_level=self._level(conf_level))

    def contrasts(self, spec, *, method="pairwise", adjust: str = "tukey", by=None,
                  df_method: str | None = None, conf_level: float | None = None) -> pd.DataFrame:
        """Contrasts of marginal means, as emmeans' ``pairs``/``contrast``.

        Parameters
        ----------
        spec : str or list of str
            The factor(s) whose means are compared.
        method : {"pairwise", "treatment"} or dict
            All pairs (first minus second, in level order), each level against the
            first ("treatment", also "trt.vs.ctrl"), or ``{name: weights}`` with one
            weight per level.
        adjust : {"tukey", "sidak", "bonferroni", "holm", "none"}, default "tukey"
            Multiplicity adjustment within each family (each ``by`` group); intervals
            are adjusted alike (Bonferroni intervals for Holm, as emmeans). Tukey is
            changed to Sidak for non-pairwise contrasts (noted in ``attrs``).
        by : str or list of str, optional
            Compare within each level of these factors.
        df_method, conf_level : optional
            As :meth:`marginal_means`.

        Returns
        -------
        DataFrame
            ``by`` columns, then ``contrast, estimate, std_error, df, statistic,
            p_value, conf_low, conf_high`` (``statistic`` is t). ``.attrs``:
            ``adjust``, ``method``, ``family``, ``conf_level``, ``df_method``, ``notes``.

        Notes
        -----
        Validated against emmeans 1.8.4 (tests/test_means.py).
        """

        from .inference import means
        return means.contrasts(self.state, spec, method=method, adjust=adjust, by=by,
                               inference=self._fixed_inference(df_method),
                               conf_level=self._level(conf_level))

    def confint(self, method: str = "profile", conf_level: float | None = None, *,
                n_boot: int = 500, seed=None, executor=None, n_jobs: int | None = None,
                progress: bool = True) -> pd.DataFrame:
        """Confidence intervals for every parameter, as lme4's ``confint``.

        Parameters
        ----------
        method : {"profile", "wald", "boot"}, default "profile"
            Likelihood profile (random-effect SDs and correlations, residual SD and
            fixed effects), Wald (fixed effects, normal) or parametric bootstrap
            percentiles.
        conf_level : float, optional
            Default: the fit's.
        n_boot, seed, executor, n_jobs, progress
            For ``method="boot"``, as in :meth:`icc`.

        Returns
        -------
        DataFrame
            Columns ``effect`` ("ran_pars" or "fixed"), ``group`` ("Residual" for the
            residual SD), ``term`` ("sd(Days)", "corr(Intercept, Days)", "sd" or the
            coefficient), ``estimate, conf_low, conf_high``. ``.attrs``: ``method``,
            ``conf_level``, ``notes`` (limits set to a bound the profile does not reach,
            limits that could not be placed at the level, failed refits) and, for the
            profile, ``zeta``: per row the signed root deviance at ``conf_low`` and
            ``conf_high`` (+/- the normal quantile within 1e-3; NaN at a bound).

        Notes
        -----
        Validated against lme4 1.1-31's ``confint`` (tests/test_intervals.py).
        """

        from .inference import intervals
        return intervals.confint(self, method, self._level(conf_level), n_boot=n_boot, seed=seed, executor=executor,
                       n_jobs=n_jobs, progress=progress)

    # ------------------------------------------------------------------ health
    def _health(self) -> Report:
        rep = Report("model health")
        est, design = self.state.estimate, self.state.design
        n_att = len(est.attempts)
        if self.converged:
            rep.add(Finding("convergence", "ok",
                            f"converged (max |gradient| {est.max_grad:.1e} on the deviance scale, "
                            f"{n_att} attempt{'s' if n_att > 1 else ''})."))
        else:
            rep.add(self._convergence_problem())
        if est.boundary_check:
            rep.add(Finding("boundary check", "note" if est.boundary_gain > 1e-6 else "ok",
                            est.boundary_check[0].upper() + est.boundary_check[1:] + "."))
        zero = [i for i in design.theta_diagonal if self.state.theta[i] < SINGULAR_TOL]
        if zero:
            what = self._singular_description(zero)
            rep.add(Finding(
                "singular", "warning", f"singular fit: {what}.",
                "The random-effects structure is richer than the data support; tests and "
                "intervals for it are unreliable.",
                self._singular_fix(zero)))
        else:
            rep.add(Finding("singular", "ok", "not singular (every theta above 1e-4)."))
        for finding in (self._interpolation(), self._response_kind()):
            if finding is not None:
                rep.add(finding)
        for f in list(self.state.prep.report.findings) + list(design.findings):
            rep.add(f)
        if self._options.note:
            rep.add(Finding("df method", "note", self._options.note + "."))
        if est.engine_warnings:
            uniq = list(dict.fromkeys(est.engine_warnings))
            rep.add(Finding(
                "engine warnings", "note",
                f"statsmodels raised {len(est.engine_warnings)} warnings during estimation "
                f"({len(uniq)} distinct, e.g. {uniq[0][:80]!r}); judged by the checks above.",
                ""))
        return rep

    def _interpolation(self) -> Finding | None:
        """An error finding when the residual variance is 0 to rounding: the random effects
        reproduce every observation, and tests, intervals and residual checks mean nothing."""
        y = self.state.design.endog
        spread = float(np.var(y))
        if not spread or self.scale > 1e-10 * spread:
            return None
        groups = ", ".join(f"{g!r}" for g in self.n_groups)
        return Finding(
            "residual variance", "error",
            f"the model interpolates the data: the residual variance is {self.scale:.2g}, "
            f"{self.scale / spread:.1g} of the response's variance ({spread:.4g}).",
            "With no variation left for the residuals, standard errors, tests, intervals "
            "and the residual checks are meaningless.",
            f"Check the response: it varies between levels of {groups} but not within "
            "them (e.g. one value per group, or variation in one group only). Analyse one "
            "value per group, or fit fewer random effects.")

    def _response_kind(self) -> Finding | None:
        """A response with two values, or of small counts: a linear mixed model fits it, but
        it is not the model such data usually get (a generalized one)."""
        y = self.state.design.endog
        low, high = float(y.min()), float(y.max())  # passes over y, no sort: every fit runs this
        name = self.state.prep.user(self.state.prep.parsed.response)
        if np.all((y == low) | (y == high)):  # two values (one is refused as constant)
            return Finding(
                "response type", "warning",
                f"the response {name!r} has two values ({low:g} and {high:g}): "
                "this linear model of it is a linear probability model.",
                "Its fitted values can leave the range of a probability and its residuals "
                "cannot be normal, so tests and intervals are approximate at best.",
                "A binary outcome usually gets a generalized linear mixed model: lme4's "
                "glmer(..., family = binomial), or statsmodels' BinomialBayesMixedGLM. mixedkit "
                "fits linear mixed models only.")
        if low >= 0 and high <= 50 and float(np.mean(y)) < 10 and np.all(y == np.round(y)):
            return Finding(
                "response type", "note",
                f"the response {name!r} looks like counts (non-negative whole numbers, mean "
                f"{float(np.mean(y)):.3g}).",
                "Small counts are skewed and their variance grows with their mean, which a "
                "linear mixed model does not describe.",
                "Counts usually get a Poisson (or negative binomial) mixed model: lme4's "
                "glmer(..., family = poisson), or statsmodels' PoissonBayesMixedGLM. mixedkit "
                "fits linear mixed models only; for large counts this linear model is often fine.")
        return None

    def _convergence_problem(self) -> Finding:
        """The best optimum failed the gradient check: say whether other attempts agree
        with it (a flat optimum, found) or not (the estimates may be wrong)."""
        est = self.state.estimate
        n_att = len(est.attempts)
        near = [a for a in est.attempts if np.isfinite(a.loglik) and est.loglik - a.loglik < 1e-3]
        spread = max(est.loglik - a.loglik for a in near) if near else 0.0
        if any(a.converged for a in near):
            return Finding(
                "convergence", "warning",
                f"the highest log-likelihood found ({est.loglik:.4f}) did not pass the gradient "
                f"check (max |gradient| {est.max_grad:.2g} on the deviance scale), but "
                f"{sum(a.converged for a in near)} attempt(s) that did pass it reached it "
                f"within {max(spread, 1e-9):.1g}.",
                "The likelihood is flat near its maximum: the estimates are the maximum, their "
                "last digits are not determined.",
                "Nothing to do for the estimates; fit.attempts lists every attempt.")
        if len(near) >= 3:
            return Finding(
                "convergence", "warning",
                f"no attempt passed the gradient check (best max |gradient| "
                f"{est.max_grad:.2g}), but {len(near)} of {n_att} attempts from different starts "
                f"reached the same log-likelihood within {max(spread, 1e-9):.1g}.",
                "A flat maximum, often on a boundary (a zero variance or a correlation of "
                "+/-1): found, but its position is poorly determined.",
                "Simplify the random effects (see the singular finding), or keep the fit and "
                "report the log-likelihood; fit.attempts lists every attempt.")
        return Finding(
            "convergence", "error",
            f"no optimisation attempt converged ({n_att} tried; best max |gradient| "
            f"{est.max_grad:.2g}).",
            "The estimates may not be the maximum of the likelihood.",
            "Rescale the response and predictors, simplify the random effects, and look at "
            "fit.attempts.")

    def _singular_fix(self, zero) -> str:
        """What to write instead, as lme4 users simplify a singular model: first the
        correlations of a block ('||'), then the term whose variance is 0."""
        design = self.state.design
        block = next(b for b in design.blocks if zero[0] in b.theta_diagonal)
        row = int(np.tril_indices(block.q)[0][zero[0] - block.theta_start])
        term = block.term
        if block.q > 1 and term.correlated and "||" not in term.source:
            bar = term.source.replace("|", "||", 1)
            return (f"Drop the correlations first: write {bar} (independent effects; with "
                    "numeric codes such as -0.5/+0.5 for a two-level factor, so that each "
                    "slope is its own term), refit and look at fit.health again; then drop "
                    "the term whose variance is still 0. Keep the maximal model if a zero "
                    "variance is plausible.")
        name = block.terms[row]
        if name == "Intercept":
            what = f"the random intercept for {block.group!r}"
        else:
            what = f"the random slope {name!r} for {block.group!r}"
        return (f"Remove {what} from the random part (its variance is estimated as 0), refit "
                "and compare with compare_models; or keep it if a zero variance is plausible.")

    def _singular_description(self, zero) -> str:
        design = self.state.design
        parts = []
        for i in zero:
            block = next(b for b in design.blocks if i in b.theta_diagonal)
            row = int(np.tril_indices(block.q)[0][i - block.theta_start])
            term = block.terms[row]
            if row == 0:
                parts.append(f"the {term!r} variance for {block.group!r} is estimated as 0")
            else:
                parts.append(f"{term!r} for {block.group!r} has variance 0 or a correlation "
                             "of +/-1 with the terms before it")
        return "; ".join(parts)

    @cached_property
    def health(self) -> Report:
        """Convergence, singularity, data and design findings, then the assumption checks
        of :meth:`check_assumptions` (computed on first access), worst first."""

        rep = Report("model health", list(self._core_health.findings))
        for row in self.check_assumptions().itertuples():
            what = f"{row.test} = {row.statistic:.3g}" if np.isfinite(row.statistic) \
                else row.check
            if np.isfinite(row.p_value):
                what += f" (p = {row.p_value:.2g})"
            if row.fix.startswith("Not run: "):  # the reason is the finding, not a fix
                rep.add(Finding(row.check, row.severity, "not run: " + row.fix[len("Not run: "):]))
                continue
            rep.add(Finding(row.check, row.severity, what + ".",
                            "An assumption of the model may not hold." if
                            row.severity == "warning" else "",
                            "" if row.severity == "ok" else row.fix))
        return rep

    def check_assumptions(self) -> pd.DataFrame:
        """Residual normality, constant variance, outliers, influential and outlying
        groups, random-effect normality: see :func:`mixedkit.check_assumptions`."""

        from .inference import diagnostics
        return diagnostics.check_assumptions(self)

    def _warn(self, stacklevel: int = 3) -> None:
        problems = self._core_health.problems
        if problems:
            text = "; ".join(f.what.rstrip(".") for f in problems)
            warnings.warn(f"{text}. See fit.health for what to do.", FitWarning,
                          stacklevel=stacklevel)

    # ------------------------------------------------------------------- refit
    def refit(self, *, reml: bool | None = None, conf_level: float | None = None) -> LmmFit:
        """The same model refitted, by default with the same settings.

        Parameters
        ----------
        reml : bool, optional
            ``False`` for maximum likelihood (needed to compare models that differ in
            fixed effects), ``True`` for REML.
        conf_level : float, optional

        Returns
        -------
        LmmFit
            Estimation starts from this fit's theta. A Kenward–Roger fit refitted by ML
            uses Satterthwaite's df (Kenward–Roger needs REML; ``health`` notes it), and
            gets Kenward–Roger back when refitted by REML.
        """
        reml = self.reml if reml is None else check_reml(reml)
        options = self._requested.resolve(conf_level=conf_level, reml=reml)
        st = self.state
        est = estimate(st.design, reml, start=st.estimate.theta, engine=st.estimate.engine)
        fit = LmmFit(FitState.at_optimum(st.prep, st.design, est, reml), options)
        fit._warn()
        return fit

    # ----------------------------------------------------------------- display
    def report(self, df_method: str | None = None) -> FitReport:
        """A paste-ready methods-and-results paragraph, APA style.

        Parameters
        ----------
        df_method : {"satterthwaite", "kenward-roger", "normal"}, optional
            Degrees of freedom of the tests and intervals; default the fit's.

        Returns
        -------
        FitReport
            ``print(report)`` gives the text; a notebook renders it (HTML, symbols in
            italics); ``.text``, ``.markdown`` and ``.html`` hold each form. It says how
            the model was fitted (REML or ML, the random structure, the df method), each
            fixed-effect term (b, SE, CI and t(df); a term of several coefficients as its
            F(num df, den df) test, then its coefficients), p as APA writes it ("p < .001")
            and the SDs of the variance components. What ``fit.health`` flags follows as
            "Check before pasting", outside the paragraph.

        Examples
        --------
        >>> fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleepstudy)
        >>> print(fit.report())  # doctest: +SKIP
        We fitted a linear mixed model to Reaction (180 observations from 18 levels of
        Subject) with fixed effects of Days and random intercepts and random slopes for
        Days by Subject (correlated), by restricted maximum likelihood (REML) ...
        """
        from .report import fit_report
        return fit_report(self, df_method)

    def summary(self) -> str:
        """Plain-text summary: model, data, fit criteria, random and fixed effects, health."""

        return summary_text(self)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:

        return summary_html(self)
