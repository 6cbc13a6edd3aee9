"""A model with a residual structure within subjects (the MMRM): its design and its state
at the optimum.

``fit_lmm("chg ~ arm * visit + base + us(visit | subject)", data)`` comes here when the
formula has a residual structure term (``ResidualTerm``):
``build_repeated_design()`` codes the fixed part as every fit does
(``fixed_design()``) and the structure's rows for
``ResidualLikelihood``; ``fit_repeated()`` maximises it
(``fit_gls()``) and returns a ``RepeatedState``, which
carries what the inference modules read from a :class:`~mixedkit.model.state.FitState`
(``prep``, ``design.exog``, ``beta``, ``sigma2`` and, shared with it through
``FixedPart``, ``design_info`` and ``patsy_frame``), so
``anova``, marginal means and contrasts run unchanged on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..errors import StatsmodelsLimitError
from ..findings import Finding
from .design import Design, build_design, fixed_design, formula_env
from .formula import ResidualTerm
from .mixed_residual import RandomResidualLikelihood, fit_random_gls
from .residual import GlsFit, ResidualLikelihood, ResidualStructure, fit_gls
from .state import FixedPart
from .validation import PreparedData

__all__ = ["RepeatedDesign", "RepeatedState", "build_repeated_design", "fit_repeated",
           "natural_order"]

# Long names of the structures, for tables and messages
STRUCTURE_NAMES = {
    "us": "unstructured", "cs": "compound symmetry",
    "csh": "heterogeneous compound symmetry", "ar1": "AR(1)",
    "ar1h": "heterogeneous AR(1)", "toep": "Toeplitz", "toeph": "heterogeneous Toeplitz",
    "ad": "ante-dependence", "adh": "heterogeneous ante-dependence",
    "sp_exp": "spatial exponential",
}


def natural_order(labels) -> np.ndarray:
    """Positions that put text labels in natural order (``V2`` before ``V10``): a visit
    factor's text labels sort character by character otherwise."""
    def key(text):
        return [(0, int(p), "") if p.isdigit() else (1, 0, p)
                for p in re.split(r"(\d+)", str(text)) if p]
    labels = list(labels)
    return np.array(sorted(range(len(labels)), key=lambda i: key(labels[i])), int)


@dataclass
class RepeatedDesign:
    """The fixed part, the residual structure's layout and, with random terms, their
    design (``random``: a :class:`~mixedkit.model.design.Design` of the unwhitened rows,
    whose ``blocks`` are this design's too; empty without random terms). ``weights`` is
    None, as code written for a Design reads it.
    """

    endog: np.ndarray
    exog: pd.DataFrame
    design_info: object
    term: ResidualTerm
    structure: ResidualStructure
    likelihood: ResidualLikelihood | RandomResidualLikelihood
    visit_labels: list  # the visits in time order (sp_exp: empty)
    group_labels: list  # the levels with a structure each (["all"] without a group)
    response: str
    n_groups: dict
    subject_codes: np.ndarray
    visit_codes: np.ndarray | None  # each row's visit, 0 .. T - 1 in time order
    time: np.ndarray | None
    structure_group: np.ndarray  # each row's structure group
    findings: list = field(default_factory=list)
    random: Design | None = None
    weights: None = None

    @property
    def blocks(self) -> list:
        return [] if self.random is None else self.random.blocks

    @property
    def statsmodels_reason(self) -> str:
        return (f"statsmodels' MixedLM has independent residuals of one variance; the "
                f"{STRUCTURE_NAMES[self.term.kind]} residual structure {self.term.source} "
                "is beyond it")

    @property
    def statsmodels_call(self) -> str:
        return f"# statsmodels cannot express this model: {self.statsmodels_reason}"

    expressible = False

    def require_statsmodels(self, what: str) -> None:
        raise StatsmodelsLimitError(
            f"{what} is not available for this model: {self.statsmodels_reason}. mixedkit "
            "fits it with its own likelihood (nlme's gls and R's mmrm are its references)")

    def __getstate__(self):
        state = self.__dict__.copy()
        state["design_info"] = None  # patsy's DesignInfo cannot be pickled
        return state


def build_repeated_design(prep: PreparedData, eval_env=None) -> RepeatedDesign:
    """The design of checked data whose formula has a residual structure term."""
    env = formula_env(eval_env)
    random = build_design(prep, env) if prep.random else None
    if random is None:
        endog, exog, design_info, findings = fixed_design(prep, env)
    else:  # the random-effects design has coded the fixed part too
        endog, exog, design_info = random.endog, random.exog, random.design_info
        findings = list(random.findings)
    term = prep.parsed.residual
    subject = prep.codes((term.subject,))
    if term.by is not None:
        group, labels = prep.levels((term.by,))
        group_labels = [str(v) for v in labels]
    else:
        group, group_labels = np.zeros(len(endog), int), ["all"]
    if term.kind == "sp_exp":
        time = prep.frame[term.within].to_numpy(float)
        visit, visit_labels, n_visits = None, [], 1
    else:
        codes, labels = prep.levels((term.within,))
        ordered = isinstance(prep.frame[term.within].dtype, pd.CategoricalDtype)
        order = np.arange(len(labels)) if ordered else natural_order(labels)
        rank = np.empty(len(order), int)
        rank[order] = np.arange(len(order))
        visit, visit_labels, n_visits, time = rank[codes], [labels[i] for i in order], \
            len(labels), None
        if not np.array_equal(order, np.arange(len(order))) and \
                term.within in prep.predictor_columns():
            user = prep.user(term.within)
            findings.append(Finding(
                "visit order", "note",
                f"the visits of {user!r} are text: the structure reads them in time order "
                f"({', '.join(map(str, visit_labels[:4]))}, ...), but the fixed effects, "
                f"means and contrasts code {user!r} in sorted order "
                f"({', '.join(map(str, labels[:4]))}, ...; the first is the reference).",
                "Tables list the visits out of time order.",
                f"Make the column a Categorical in time order before fitting: "
                f"data[{user!r}] = pd.Categorical(data[{user!r}], categories=[...])."))
    structure = ResidualStructure(term.kind, n_visits, len(group_labels))
    if random is None:
        lik = ResidualLikelihood(exog.to_numpy(float), endog, subject, visit, time, group,
                                 structure)
    else:
        lik = RandomResidualLikelihood(exog.to_numpy(float), endog, subject, visit, time,
                                       group, structure, random.factors(), random.n_theta,
                                       random.theta_diagonal)
    n_groups = {**({} if random is None else random.n_groups),
                prep.user(term.subject): int(subject.max()) + 1}
    # a subject's random intercept is a constant correlation between its visits, which
    # these structures hold already: the two are not told apart
    on_subject = [t.source for t in prep.random if t.factor == (term.subject,) and t.intercept]
    if on_subject and term.kind in ("cs", "csh", "us", "toep", "toeph"):
        findings.append(Finding(
            "identifiability", "warning",
            f"{on_subject[0]} and the {STRUCTURE_NAMES[term.kind]} structure "
            f"{term.source} both describe a constant correlation between a subject's "
            "visits: how it is split between them is not determined by the data.",
            "The variance of the random intercept and the structure's parameters are "
            "arbitrary (the log-likelihood, fixed effects and their SEs are not).",
            f"Drop {on_subject[0]}, or use a structure without a constant part (ar1, ad, "
            "sp_exp) beside it."))
    if structure.n_params >= lik.n_subjects:
        findings.append(Finding(
            "structure size", "warning",
            f"the {STRUCTURE_NAMES[term.kind]} structure has {structure.n_params + 1} "
            f"covariance parameters for {lik.n_subjects} subjects.",
            "Its parameters are barely determined by so few subjects.",
            "Choose a structure with fewer parameters (ar1, cs, toep) and compare them "
            "with compare_models."))
    return RepeatedDesign(endog, exog, design_info, term, structure, lik, visit_labels,
                          group_labels, prep.user(prep.parsed.response), n_groups, subject,
                          visit, time, group, findings, random)


@dataclass(frozen=True)
class RepeatedState(FixedPart):
    """A fitted model with a residual structure at its optimum."""

    prep: PreparedData
    design: RepeatedDesign
    gls: GlsFit

    @property
    def reml(self) -> bool:
        return self.gls.reml

    @property
    def beta(self) -> np.ndarray:
        return self.gls.beta

    @property
    def sigma2(self) -> float:
        return self.gls.sigma2

    @property
    def vcov_fixed(self) -> np.ndarray:
        return self.gls.vcov

    @cached_property
    def random_part(self) -> np.ndarray:
        """Z b-hat for every row (0 without random effects)."""
        if self.design.random is None:
            return np.zeros(len(self.design.endog))
        return self.design.likelihood.random_part(self.parameters, self.reml)

    @property
    def parameters(self) -> np.ndarray:
        """Every parameter the likelihood takes: theta (with random effects), then the
        structure's."""
        return np.concatenate([self.gls.random_theta, self.gls.params])

    def covariance(self, group: int = 0) -> np.ndarray:
        """sigma^2 S of one structure group over the visits (sp_exp: over ``times``)."""
        if self.design.term.kind != "sp_exp":
            return self.gls.covariance(group)
        times = self.sp_exp_times
        st = self.design.structure
        rho = st.sp_exp_rho(self.gls.params)[group]
        scale = st.sp_exp_scale(self.gls.params)[group]
        return self.sigma2 * scale * rho ** np.abs(np.subtract.outer(times, times))

    @cached_property
    def sp_exp_times(self) -> np.ndarray:
        """sp_exp: the times its covariance is shown at (the distinct times, at most 12:
        quantiles beyond that)."""
        times = np.unique(self.design.time)
        if len(times) > 12:
            times = np.unique(np.quantile(self.design.time, np.linspace(0, 1, 12)))
        return times

    def whitened_residuals(self) -> np.ndarray:
        """Normalised residuals: each subject's residuals r_i multiplied by L_i^-1, where
        L_i L_i' is its residual covariance (nlme's ``type = "normalized"``): independent
        standard normal when the model holds, so residual plots mean what they say. With
        random effects the residuals are conditional on their modes (y - X beta - Z b),
        as nlme's."""
        d = self.design
        r = d.endog - self.fixed_part - self.random_part
        out = np.empty_like(r)
        order = np.lexsort((d.time if d.visit_codes is None else d.visit_codes,
                            d.subject_codes))
        subj = d.subject_codes[order]
        starts = np.flatnonzero(np.r_[True, subj[1:] != subj[:-1]])
        ends = np.r_[starts[1:], len(subj)]
        st, params = d.structure, self.gls.params
        mats = None if st.kind == "sp_exp" else st.matrices(params)
        for s, e in zip(starts, ends):
            rows = order[s:e]
            g = int(d.structure_group[rows[0]])
            if mats is not None:
                v = d.visit_codes[rows]
                cov = self.sigma2 * mats[g][np.ix_(v, v)]
            else:
                t = d.time[rows]
                cov = self.sigma2 * st.sp_exp_scale(params)[g] * \
                    st.sp_exp_rho(params)[g] ** np.abs(np.subtract.outer(t, t))
            chol = np.linalg.cholesky(cov)
            out[rows] = np.linalg.solve(chol, r[rows])
        return out


def fit_repeated(prep: PreparedData, design: RepeatedDesign, reml: bool,
                 start: np.ndarray | None = None) -> RepeatedState:
    """Maximise the (REML) likelihood of the design's model (``start``: every parameter
    the likelihood takes, theta first with random effects)."""
    fitter = fit_gls if design.random is None else fit_random_gls
    return RepeatedState(prep, design, fitter(design.likelihood, reml, start=start))
