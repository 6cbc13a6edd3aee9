"""The frozen state of one fit: what every computation after the optimum reads.

:class:`FitState` holds the checked data, the design, how the optimum was found and
the engine's solution there (fixed effects, residual variance, X'V^-1 X, conditional
modes and variances).  Predictions, diagnostics, the bootstrap, model comparison and
the variance decomposition take it as input; :class:`~mixedkit.results.LmmFit` is
the public face over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .engine import Solution
from .estimation import Estimate

__all__ = ["FitState", "RandomEffectsBlock"]


@dataclass(frozen=True)
class RandomEffectsBlock:
    """Conditional modes of one random term, in the data's units.

    ``modes`` and ``sds`` have shape (n_levels, n_terms); ``levels`` labels the rows.
    """

    group: str
    terms: list
    levels: np.ndarray
    modes: np.ndarray
    sds: np.ndarray


@dataclass(frozen=True)
class FitState:
    """A fitted model's numbers at its optimum.

    Attributes
    ----------
    prep : PreparedData
        The checked data (model frame, names, report).
    design : Design
        Matrices, the random-effects structure and the engine.
    estimate : Estimate
        The optimum and every attempt that led to it.
    reml : bool
    theta : ndarray
        theta of the unit-free model (statsmodels' packed order) with variances on
        the boundary exactly 0, as lme4 reports them.
    solution : Solution
        The engine's solution at ``theta``.
    """

    prep: object
    design: object
    estimate: Estimate
    reml: bool
    theta: np.ndarray
    solution: Solution

    @classmethod
    def at_optimum(cls, prep, design, est: Estimate, reml: bool) -> FitState:
        theta = np.array(est.theta, float)
        diag = design.theta_diagonal
        # A diagonal on its bound is lme4's 0 (statsmodels' engine stops at THETA_LOWER).
        theta[diag] = np.where(theta[diag] <= est.lower * 1.01, 0.0, theta[diag])
        return cls(prep, design, est, bool(reml), theta, design.engine.solve(theta, reml))

    # ----------------------------------------------------------------- numbers
    @property
    def beta(self) -> np.ndarray:
        return self.solution.beta

    @property
    def sigma2(self) -> float:
        return self.solution.sigma2

    @cached_property
    def vcov_fixed(self) -> np.ndarray:
        """sigma^2 (X'V^-1 X)^-1, lme4's ``vcov``."""
        p = len(self.beta)
        if not p:
            return np.zeros((0, 0))
        return self.sigma2 * np.linalg.pinv(self.solution.xtvx)

    @cached_property
    def random_part(self) -> np.ndarray:
        """Z b-hat for every row used."""
        out = np.zeros(len(self.design.endog))
        for factor, modes in zip(self.design.engine.factors, self.solution.b):
            out += np.einsum("ij,ij->i", factor.z, modes[factor.codes])
        return out

    @cached_property
    def satterthwaite(self):
        """The pieces of every Satterthwaite test (:class:`~mixedkit.inference.satterthwaite.Satterthwaite`)."""
        from ..inference.satterthwaite import satterthwaite

        return satterthwaite(self.design, self.theta, self.reml)

    @cached_property
    def kenward_roger(self):
        """Kenward–Roger's adjusted covariance and df (:mod:`mixedkit.inference.kenward_roger`)."""
        from ..inference.kenward_roger import kenward_roger

        return kenward_roger(self)

    @property
    def fixed_part(self) -> np.ndarray:
        """X beta for every row used."""
        return self.design.exog.to_numpy() @ self.beta

    # ---------------------------------------------------------- random effects
    @cached_property
    def random_effects(self) -> list[RandomEffectsBlock]:
        """Per covariance block: conditional modes and SDs in the data's units."""
        design, sol = self.design, self.solution
        sigma = np.sqrt(self.sigma2)
        out = []
        vc_index = 0
        for i, block in enumerate(design.blocks):
            cond_sd = sigma * np.sqrt(np.clip(np.diagonal(sol.b_cov[i], axis1=1, axis2=2), 0,
                                              None))
            if block.kind == "re":
                scale, levels = design.re_scale, design.group_labels
            else:
                scale = design.vc_scale[vc_index:vc_index + 1]
                levels = design.vc_levels[vc_index]
                vc_index += 1
            out.append(RandomEffectsBlock(block.group, list(block.terms), np.asarray(levels),
                                          sol.b[i] / scale, cond_sd / scale))
        return out

    # ------------------------------------------------------------------ refits
    def refit(self, y: np.ndarray | None = None, *, reml: bool | None = None):
        """Estimate this model again (another response or method), warm-started here.

        Returns the :class:`Estimate` and the design it was made on.
        """
        from .estimation import estimate

        design = self.design if y is None else self.design.with_response(y)
        reml = self.reml if reml is None else bool(reml)
        return estimate(design, reml, start=self.estimate.theta, engine=self.estimate.engine,
                        crosscheck=False), design
