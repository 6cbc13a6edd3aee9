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
import pandas as pd
import patsy

from .design import Design, formula_env, patsy_frame
from .engine import Solution, scaled_inverse
from .estimation import Estimate, estimate
from .levels import level_key
from .validation import PreparedData

__all__ = ["FitState", "FixedPart", "RandomEffectsBlock"]


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


class FixedPart:
    """What the inference modules read from a fit's state beyond its numbers: patsy's
    description of the fixed part and the fitted rows as patsy reads them (both rebuilt
    after unpickling: patsy's DesignInfo cannot be pickled, so a state sent to a worker
    process leaves them behind), and X beta. Needs ``prep``, ``design`` and ``beta``."""

    _UNPICKLED = ("design_info", "patsy_frame")

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in self._UNPICKLED}

    @cached_property
    def design_info(self):
        """patsy's DesignInfo of the fixed part (codes new rows as the fit's)."""
        if self.design.design_info is not None:
            return self.design.design_info
        return patsy.dmatrices(self.prep.parsed.fixed_formula, self.prep.frame,
                               eval_env=formula_env(None), return_type="dataframe")[1].design_info

    @cached_property
    def patsy_frame(self) -> pd.DataFrame:
        """The fitted rows as patsy reads them fast: text factors as Categoricals of their
        sorted levels (see :func:`~mixedkit.model.design.patsy_frame`)."""
        return patsy_frame(self.prep)

    @property
    def fixed_part(self) -> np.ndarray:
        """X beta for every row used."""
        return self.design.exog.to_numpy() @ self.beta


@dataclass(frozen=True)
class FitState(FixedPart):
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

    prep: PreparedData
    design: Design
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
        return self.sigma2 * scaled_inverse(self.solution.xtvx)

    @cached_property
    def random_part(self) -> np.ndarray:
        """Z b-hat for every row used."""
        out = np.zeros(len(self.design.endog))
        for block, modes in zip(self.design.blocks, self.solution.b):
            out += np.einsum("ij,ij->i", block.z, (modes / block.scale)[block.codes])
        return out

    # -------------------------------------------------- patsy's descriptions
    _UNPICKLED = (*FixedPart._UNPICKLED, "random_design_infos", "level_codes")

    @cached_property
    def random_design_infos(self) -> dict:
        """patsy's DesignInfo of each random term's columns, by its ``re_formula``, built on
        the fitted rows (so new rows with fewer levels, or a stateful transform such as
        ``center(x)``, get the fit's columns)."""
        return {block.term.re_formula: patsy.dmatrix(block.term.re_formula, self.prep.frame,
                                                     eval_env=formula_env(None)).design_info
                for block in self.design.blocks if block.term.exprs}

    @cached_property
    def level_codes(self) -> dict:
        """For each grouping factor: each fitted level's text (as :func:`level_key` writes
        it) -> its row of the modes; -1 for a text two fitted levels share (1 and '1' in a
        column of mixed types)."""
        out = {}
        for factor in dict.fromkeys(block.term.factor for block in self.design.blocks):
            keys = level_key(self.prep.frame, factor).to_numpy(dtype=object)
            pairs = pd.DataFrame({"key": keys, "code": self.prep.codes(factor)}).drop_duplicates()
            by_key = pairs.groupby("key", sort=False)["code"]
            codes = by_key.first()
            codes[by_key.nunique() > 1] = -1
            out[factor] = codes
        return out

    # ---------------------------------------------------------- random effects
    @cached_property
    def random_effects(self) -> list[RandomEffectsBlock]:
        """Per covariance block: conditional modes and SDs in the data's units."""
        design, sol = self.design, self.solution
        sigma = np.sqrt(self.sigma2)
        out = []
        for i, block in enumerate(design.blocks):
            cond_sd = sigma * np.sqrt(np.clip(np.diagonal(sol.b_cov[i], axis1=1, axis2=2), 0,
                                              None))
            out.append(RandomEffectsBlock(block.group, list(block.terms),
                                          np.asarray(block.levels), sol.b[i] / block.scale,
                                          cond_sd / block.scale))
        return out

    # ------------------------------------------------------------------ refits
    def refit(self, y: np.ndarray | None = None, *, reml: bool | None = None):
        """Estimate this model again (another response or method), warm-started here.

        Returns the :class:`Estimate` and the design it was made on.
        """
        design = self.design if y is None else self.design.with_response(y)
        reml = self.reml if reml is None else bool(reml)
        return estimate(design, reml, start=self.estimate.theta, engine=self.estimate.engine,
                        crosscheck=False, derivative_free_check=False), design
