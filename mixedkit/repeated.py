"""The fitted-model object of a model with a residual structure (the MMRM), returned by
:func:`~mixedkit.fit_lmm` for formulas such as ``"chg ~ arm * visit + base +
us(visit | subject)"``."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .arguments import InferenceOptions, check_reml
from .display import format_number, repeated_summary_html, repeated_summary_text
from .errors import InputValueError, StatsmodelsLimitError
from .findings import Finding, Report
from .model.estimation import SINGULAR_TOL, variance_rows
from .model.repeated import STRUCTURE_NAMES, RepeatedState, fit_repeated
from .results import LmmFit

__all__ = ["RESIDUAL_COVARIANCE_COLUMNS", "RepeatedMeasuresFit"]

RESIDUAL_COVARIANCE_COLUMNS = ["group", "visit", "with_visit", "covariance", "corr"]
_BOUNDARY_CORR = 0.999  # a correlation this close to +/-1 is on the structure's boundary


class RepeatedMeasuresFit:
    """A fitted linear model with a residual covariance structure within subjects.

    Built by :func:`~mixedkit.fit_lmm` when the formula has a structure term in mmrm's
    syntax (``us(visit | subject)``, ``cs``, ``csh``, ``ar1``, ``ar1h``, ``toep``,
    ``toeph``, ``ad``, ``adh``, ``sp_exp(time | subject)``; ``us(visit | arm / subject)``
    for a structure per arm). It has the tables and methods of
    :class:`~mixedkit.results.LmmFit` that mean something for it (``fixed_effects``,
    ``variance_components``, ``anova``, ``marginal_means``, ``contrasts``, ``predict``,
    ``residuals``, ``health``, ``refit``, ``compare_models``) and
    :attr:`residual_covariance`. Random terms of factors constant within a subject may
    stand beside the structure (``(1 | site) + ar1(visit | subject)``, nlme's ``lme``
    with ``correlation=``); their variances lead ``variance_components``.

    Attributes
    ----------
    formula, method, reml, conf_level, df_method, n_obs, n_dropped, dropped, n_groups,
    converged, loglik, scale, state, statsmodels_call
        As :class:`~mixedkit.results.LmmFit` (``n_groups`` counts the levels of each random
        factor, then the subjects; ``scale``
        is sigma^2, the residual variance of the first visit of the first structure
        group; ``state`` a ``RepeatedState``).
    structure : str
        The structure's name in mmrm's syntax (``"us"``, ``"ar1"``, ...).
    vcov_type : {"model", "empirical"}
        The covariance of the fixed effects every table uses: model-based or the
        empirical (sandwich) one (``fit_lmm(..., vcov="empirical")``).
    singular : bool
        A random-effect variance estimated as 0 (lme4's rule on theta; always False
        without random terms); a structure on its boundary is a health finding.
    """

    engine = "mixedkit"

    def __init__(self, state: RepeatedState, options: InferenceOptions | None = None,
                 vcov: str = "model"):
        self.state = state
        prep, design, gls = state.prep, state.design, state.gls
        self._requested = InferenceOptions() if options is None else options
        self._options = self._requested.for_fit(gls.reml)
        self._inference: dict = {}
        self.vcov_type = vcov
        self.conf_level = self._options.conf_level
        self.df_method = self._options.df_method
        self.formula = prep.parsed.text
        self.structure = design.term.kind
        self.loglik = float(gls.loglik)
        self.converged = bool(gls.converged)
        self.n_obs = len(design.endog)
        self.n_groups = dict(design.n_groups)
        self.n_dropped = int(prep.n_input - self.n_obs)
        self.dropped = dict(prep.dropped)
        self.statsmodels_call = design.statsmodels_call
        self.scale = float(gls.sigma2)
        diagonal = design.random.theta_diagonal if design.random is not None else []
        self.singular = bool(np.any(gls.random_theta[diagonal] < SINGULAR_TOL))
        self._core_health = self._health()

    # ------------------------------------------------------------------ basics
    @property
    def n_params(self) -> int:
        """Parameters counted by AIC/BIC: fixed effects, random-effect parameters (theta),
        the structure's parameters and sigma^2 (as SAS, mmrm and nlme count them)."""
        d = self.state.design
        return int(d.exog.shape[1] + len(self.state.gls.random_theta) + d.structure.n_params
                   + 1)

    # the same method, criteria, level resolution, tests and warning as LmmFit's
    reml = LmmFit.reml
    method = LmmFit.method
    aic = LmmFit.aic
    bic = LmmFit.bic
    _level = LmmFit._level
    _fixed_table = LmmFit._fixed_table
    anova = LmmFit.anova
    marginal_means = LmmFit.marginal_means
    marginal_trends = LmmFit.marginal_trends
    contrasts = LmmFit.contrasts
    report = LmmFit.report
    _singular_description = LmmFit._singular_description
    _singular_fix = LmmFit._singular_fix
    _warn = LmmFit._warn

    @property
    def lme4_formula(self) -> None:
        """None: lme4 has no residual structures (its issues #224 and #698)."""
        return None

    @property
    def statsmodels_result(self):
        """Not available: statsmodels' MixedLM cannot express a residual structure (raises
        :class:`~mixedkit.StatsmodelsLimitError` saying so)."""
        self.state.design.require_statsmodels("fit.statsmodels_result")

    def statsmodels_lines(self):
        """Not available, as :attr:`statsmodels_result`."""
        self.state.design.require_statsmodels("fit.statsmodels_lines()")

    def _not_here(self, what: str, why: str):
        raise StatsmodelsLimitError(f"{what} is not available for a model with a residual "
                                    f"structure: {why}")

    def ranef(self, **_):
        """Not available: the model has no random effects (raises, saying where the
        within-subject correlation is)."""
        self._not_here("fit.ranef()", "the conditional modes beside a structure are not "
                       "reported yet" if self.state.design.blocks else "there are no random "
                       "effects; the subject's correlation is in fit.residual_covariance")

    def icc(self, **_):
        """Not available: no random-effect variance (raises; see
        :attr:`residual_covariance`)."""
        self._not_here("fit.icc()", "there is no random-effect variance to divide; "
                       "fit.residual_covariance holds the correlations between visits")

    def r2(self, **_):
        """Not available: Nakagawa's R² needs random effects (raises)."""
        self._not_here("fit.r2()", "Nakagawa's R² divides random-effect variances")

    def confint(self, *args, **_):
        """Not available yet for structure parameters (raises); the fixed effects'
        intervals are in :attr:`fixed_effects`."""
        self._not_here("fit.confint()", "profile intervals of structure parameters are "
                       "not implemented; fit.fixed_effects has the intervals of the fixed "
                       "effects")

    # ------------------------------------------------------------------ tables
    def _fixed_inference(self, df_method: str | None = None):
        method = self._options.resolve(df_method=df_method, reml=self.reml).df_method
        if method not in self._inference:
            from .inference.repeated import repeated_inference
            self._inference[method] = repeated_inference(self.state, method, self.vcov_type)
        return self._inference[method]

    @cached_property
    def vcov_fixed(self) -> pd.DataFrame:
        """The covariance of the fixed effects the tables use (model-based, Kenward–
        Roger's adjusted one for ``df_method="kenward-roger"``, or the sandwich)."""
        names = list(self.state.design.exog.columns)
        return pd.DataFrame(self._fixed_inference().vcov, index=names, columns=names)

    @cached_property
    def fixed_effects(self) -> pd.DataFrame:
        """``term, estimate, std_error, statistic, df, p_value, conf_low, conf_high``
        (``.attrs``: ``df_method``, ``conf_level``, ``vcov``)."""
        table = self._fixed_table()
        table.attrs["vcov"] = self.vcov_type
        return table

    def _group_names(self) -> list[str]:
        design = self.state.design
        if design.term.by is None:
            return ["Residual"]
        return [f"Residual: {g}" for g in design.group_labels]

    @cached_property
    def _matrices(self) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """Per structure group: its name, covariance over the visits, SDs, correlations."""
        out = []
        for g, name in enumerate(self._group_names()):
            cov = self.state.covariance(g)
            sd = np.sqrt(np.diag(cov))
            out.append((name, cov, sd, cov / np.outer(sd, sd)))
        return out

    def _labels(self) -> list:
        d = self.state.design
        if d.term.kind == "sp_exp":
            return [f"t={format_number(float(t), 4)}" for t in self.state.sp_exp_times]
        return [str(v) for v in d.visit_labels]

    @cached_property
    def residual_covariance(self) -> pd.DataFrame:
        """The estimated residual covariance within a subject, visit by visit.

        Returns
        -------
        DataFrame
            One row per pair of visits (each visit with itself and with every later
            visit), per structure group: ``group`` ("Residual", or "Residual: <level>"
            with a structure per group), ``visit``, ``with_visit``, ``covariance`` and
            ``corr``. ``sp_exp``: the times are the distinct times (at most 12). The
            matrix view: ``table.pivot(index="visit", columns="with_visit",
            values="corr")``. ``.attrs``: ``structure`` and ``visits`` (the visits in
            the order the structure reads them: the time order).

        Notes
        -----
        Validated against nlme's ``getVarCov`` on ``gls`` fits and SAS PROC MIXED's R
        matrices through mmrm's published listings (tests/test_repeated_fit.py).
        """
        rows = []
        labels = self._labels()
        for name, cov, _, corr in self._matrices:
            for i in range(len(labels)):
                for j in range(i, len(labels)):
                    rows.append([name, labels[i], labels[j], cov[i, j], corr[i, j]])
        table = pd.DataFrame(rows, columns=RESIDUAL_COVARIANCE_COLUMNS)
        for col in ("visit", "with_visit"):  # time order, also in a pivot
            table[col] = pd.Categorical(table[col], categories=labels, ordered=True)
        table.attrs.update(structure=self.structure, visits=labels)
        return table

    @cached_property
    def variance_components(self) -> pd.DataFrame:
        """The residual structure as variances and correlations, in the columns of
        :attr:`LmmFit.variance_components <mixedkit.results.LmmFit.variance_components>`
        (``group, term, variance, std_dev, covariance, corr``): the random effects' rows as
        there (with random terms), then one residual variance row per visit (one row for a
        homogeneous structure), then the structure's correlation
        parameters (``corr(V1, V2)`` for us/ad, ``corr(lag k)`` for ar1/toep,
        ``corr(any two visits)`` for cs, ``corr(1 time unit)`` for sp_exp)."""
        kind = self.structure
        homogeneous = kind in ("cs", "ar1", "toep", "ad", "sp_exp")
        labels = self._labels()
        random = self.state.design.random
        rows = [] if random is None else \
            variance_rows(random, self.state.gls.random_theta, self.scale)
        for g, (name, cov, sd, corr) in enumerate(self._matrices):
            if homogeneous:
                rows.append([name, "", cov[0, 0], sd[0], np.nan, np.nan])
            else:
                rows += [[name, v, cov[i, i], sd[i], np.nan, np.nan]
                         for i, v in enumerate(labels)]
            if kind == "sp_exp":
                rho = self.state.design.structure.sp_exp_rho(self.state.gls.params)[g]
                rows.append([name, "corr(1 time unit)", np.nan, np.nan, cov[0, 0] * rho, rho])
            for term, (i, j) in self._correlation_pairs(len(labels)):
                rows.append([name, term(labels), np.nan, np.nan, cov[i, j], corr[i, j]])
        return pd.DataFrame(rows, columns=["group", "term", "variance", "std_dev",
                                           "covariance", "corr"])

    def _correlation_pairs(self, t: int) -> list:
        kind = self.structure
        if kind == "sp_exp" or t < 2:
            return []
        if kind in ("cs", "csh"):
            return [(lambda _: "corr(any two visits)", (0, 1))]
        if kind in ("ar1", "ar1h", "toep", "toeph"):
            lags = range(1, 2 if kind in ("ar1", "ar1h") else t)
            return [(lambda _, k=k: f"corr(lag {k})", (0, k)) for k in lags]
        if kind in ("ad", "adh"):
            return [(lambda v, i=i: f"corr({v[i]}, {v[i + 1]})", (i, i + 1))
                    for i in range(t - 1)]
        return [(lambda v, i=i, j=j: f"corr({v[i]}, {v[j]})", (i, j))
                for i in range(t) for j in range(i + 1, t)]

    # ---------------------------------------------------------- predictions
    def fitted(self, kind: str = "conditional") -> pd.Series:
        """Fitted values of the rows used: X beta + Z b (``"conditional"``, with the random
        effects' modes) or X beta (``"marginal"``); the same without random terms."""
        if kind not in ("conditional", "marginal"):
            raise InputValueError(f"kind must be 'conditional' or 'marginal'; got {kind!r}")
        values = self.state.fixed_part
        if kind == "conditional" and self.state.design.blocks:
            values = values + self.state.random_part
        return pd.Series(values, index=self.state.prep.frame.index, name="fitted")

    def residuals(self, kind: str = "response") -> pd.Series:
        """Residuals of the rows used.

        Parameters
        ----------
        kind : {"response", "conditional", "marginal", "pearson", "normalized"}
            ``"response"`` (= ``"conditional"``, nlme's default): y - X beta - Z b, with
            the random effects' modes (y - X beta without random terms);
            ``"marginal"``: y - X beta; ``"pearson"``: the response residuals divided by
            each visit's residual SD; ``"normalized"`` (nlme's): each subject's response
            residuals multiplied by the inverse Cholesky factor of its residual
            covariance, independent standard normal when the model holds. Plots and
            assumption checks of a structured model should use the normalised ones.
        """
        kinds = ("response", "conditional", "marginal", "pearson", "normalized")
        if kind not in kinds:
            raise InputValueError(f"kind must be one of {kinds}; got {kind!r}")
        if kind == "normalized":
            r = self.state.whitened_residuals()
        else:
            r = self.state.design.endog - self.fitted(
                "marginal" if kind == "marginal" else "conditional").to_numpy()
            if kind == "pearson":
                r = r / self._row_sd()
        return pd.Series(r, index=self.state.prep.frame.index, name="residual")

    def _row_sd(self) -> np.ndarray:
        d, st = self.state.design, self.state
        if d.term.kind == "sp_exp":
            scale = np.asarray(d.structure.sp_exp_scale(st.gls.params))[d.structure_group]
            return np.sqrt(st.sigma2 * scale)
        sds = np.array([np.sqrt(np.diag(st.covariance(g))) for g in range(len(d.group_labels))])
        return sds[d.structure_group, d.visit_codes]

    def predict(self, newdata: pd.DataFrame | None = None, *, interval: str | None = None,
                df_method: str | None = None,
                conf_level: float | None = None) -> pd.Series | pd.DataFrame:
        """X beta for ``newdata`` (default: the fitted rows; the subject and visit columns
        are not needed). ``interval="confidence"``: a table ``estimate, std_error, df,
        conf_low, conf_high`` of the mean response, as :meth:`LmmFit.predict
        <mixedkit.results.LmmFit.predict>` with ``include_random=False``."""
        from .inference import predictions
        if interval is None:
            return predictions.predict(self.state, newdata, include_random=False)
        return predictions.population_interval(
            self.state, newdata, False, interval, self._fixed_inference(df_method),
            self._level(conf_level))

    # ------------------------------------------------------------------ health
    def _health(self) -> Report:
        rep = Report("model health")
        gls = self.state.gls
        if self.converged:
            rep.add(Finding("convergence", "ok",
                            f"converged ({gls.n_evals} likelihood evaluations)."))
        else:
            rep.add(Finding(
                "convergence", "error",
                f"the optimiser stopped without converging ({gls.message}).",
                "The estimates may not be the maximum of the likelihood.",
                "Try a structure with fewer parameters (ar1, cs, toep) and compare them "
                "with compare_models."))
        rep.add(self._boundary())
        theta = self.state.gls.random_theta
        zero = [int(i) for b in self.state.design.blocks for i in b.theta_diagonal
                if theta[i] < SINGULAR_TOL]
        if zero:  # a variance at 0 or a correlation at +/-1, said as LmmFit says it
            rep.add(Finding(
                "singular", "warning", f"singular fit: {self._singular_description(zero)}.",
                "The random effects are richer than the data support beside the residual "
                "structure (a subject's random intercept and cs, for one, describe the same "
                "correlation).",
                self._singular_fix(zero)))
        for f in list(self.state.prep.report.findings) + list(self.state.design.findings):
            rep.add(f)
        if self._options.note:
            rep.add(Finding("df method", "note", self._options.note + "."))
        return rep

    def _boundary(self) -> Finding:
        """A correlation of +/-1 between visits, or a covariance matrix that is singular
        to rounding: the structure is on its boundary."""
        worst, where = 0.0, ""
        labels = self._labels()
        for name, _, _, corr in self._matrices:
            off = np.abs(corr - np.eye(len(corr)))
            if off.size and off.max() > worst:
                i, j = np.unravel_index(np.argmax(off), off.shape)
                worst = float(off.max())
                where = f"{labels[min(i, j)]} and {labels[max(i, j)]}" + \
                    ("" if name == "Residual" else f" ({name})")
        if worst > _BOUNDARY_CORR:
            return Finding(
                "structure boundary", "warning",
                f"the {STRUCTURE_NAMES[self.structure]} structure is on its boundary: the "
                f"residuals at {where} have a correlation of {worst:.4f}.",
                "A correlation of +/-1 leaves the structure's parameters and the df of the "
                "tests poorly determined.",
                "Check for duplicated visits or a visit coded twice; otherwise compare a "
                "simpler structure with compare_models.")
        return Finding("structure boundary", "ok",
                       f"no correlation at +/-1 (largest |corr| {worst:.3f}).")

    @property
    def health(self) -> Report:
        """Convergence, the structure's boundary, data and design findings, worst first."""
        return self._core_health

    # ------------------------------------------------------------------- refit
    def refit(self, *, reml: bool | None = None,
              conf_level: float | None = None) -> RepeatedMeasuresFit:
        """The same model refitted (``reml=False`` for ML), from this fit's parameters."""
        reml = self.reml if reml is None else check_reml(reml)
        options = self._requested.resolve(conf_level=conf_level, reml=reml)
        st = self.state
        new = RepeatedMeasuresFit(fit_repeated(st.prep, st.design, reml, start=st.parameters),
                                  options, self.vcov_type)
        new._warn()
        return new

    # ----------------------------------------------------------------- display
    def summary(self) -> str:
        """Plain-text summary: model, data, criteria, the residual covariance, fixed
        effects, F tests, health."""
        return repeated_summary_text(self)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return repeated_summary_html(self)
