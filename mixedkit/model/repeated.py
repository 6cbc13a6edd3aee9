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
from .design import fixed_design, formula_env
from .formula import ResidualTerm
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
    """The fixed part and the residual structure's layout of one model.

    ``blocks`` is empty (no random effects) and ``weights`` None, as code written for a
    :class:`~mixedkit.model.design.Design` reads them.
    """

    endog: np.ndarray
    exog: pd.DataFrame
    design_info: object
    term: ResidualTerm
    structure: ResidualStructure
    likelihood: ResidualLikelihood
    visit_labels: list  # the visits in time order (sp_exp: empty)
    group_labels: list  # the levels with a structure each (["all"] without a group)
    response: str
    n_groups: dict
    subject_codes: np.ndarray
    visit_codes: np.ndarray | None  # each row's visit, 0 .. T - 1 in time order
    time: np.ndarray | None
    structure_group: np.ndarray  # each row's structure group
    findings: list = field(default_factory=list)
    blocks: list = field(default_factory=list)
    weights: None = None

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
    endog, exog, design_info, findings = fixed_design(prep, env)
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
    lik = ResidualLikelihood(exog.to_numpy(float), endog, subject, visit, time, group,
                             structure)
    n_groups = {prep.user(term.subject): int(subject.max()) + 1}
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
                          visit, time, group, findings)


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
        standard normal when the model holds, so residual plots mean what they say."""
        d = self.design
        r = d.endog - self.fixed_part
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
    """Maximise the (REML) likelihood of the design's model."""
    return RepeatedState(prep, design, fit_gls(design.likelihood, reml, start=start))
