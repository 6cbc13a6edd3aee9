"""Random effects and a residual structure in one model: nlme's ``lme(..., correlation=)``,
``y ~ x + (1 | site) + ar1(visit | subject)``.

``y = X beta + Z b + e``, ``b ~ N(0, sigma^2 Lambda Lambda')`` as in lme4, and ``e`` with
covariance ``sigma^2 S_i`` within subject i (a structure of
:mod:`mixedkit.model.residual`). Whitening each subject's rows by ``L_i^-1``
(``L_i L_i' = S_i``) turns it into an lme4 model with independent residuals,

    y* = X* beta + Z* b + e*,   e* ~ N(0, sigma^2 I),

whose likelihood mixedkit's engine evaluates; the density of y is that of y* times the
Jacobian ``prod |L_i|^-1``, so ``loglik = loglik* - 1/2 sum log|S_i|`` (REML too: X'V^-1 X
is X*'V*^-1 X*). Whitening keeps a row of Z* in its row's level only when every random
factor is constant within a subject (a site, the subject itself), which the data checks
require. An evaluation at new structure parameters rebuilds the engine on the whitened
rows (milliseconds for thousands of rows); one at new theta alone reuses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .engine import Engine, RandomFactor, scaled_inverse
from .residual import GlsFit, SubjectRows, maximise

__all__ = ["RandomResidualLikelihood", "fit_random_gls"]


@dataclass
class RandomResidualLikelihood(SubjectRows):
    """The profiled (REML or ML) log-likelihood of random effects plus a residual
    structure. Parameters are ``(*theta, *structure params)``; ``theta`` is lme4's for
    the random ``factors`` (engine layout, ``n_theta`` of them, ``diagonal`` the
    positions bounded at 0)."""

    factors: list
    n_theta: int
    diagonal: np.ndarray
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        self.x = np.asarray(self.x, float)
        self.y = np.asarray(self.y, float)
        self.n, self.p = self.x.shape
        group = np.zeros(self.n, int) if self.group is None else np.asarray(self.group, int)
        sp = self.structure.kind == "sp_exp"
        within = np.asarray(self.time if sp else self.visit, float)
        order = np.lexsort((within, self.subject))
        subject = np.asarray(self.subject)[order]
        starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
        sizes = np.diff(np.r_[starts, len(subject)])
        self.n_subjects = len(starts)
        # subjects with the same structure matrix, as row blocks (m, k) of the data
        self.blocks = []
        keys: dict = {}
        for s, k in zip(starts, sizes):
            rows = order[s:s + k]
            key = (int(k),) if sp else (int(group[rows[0]]), within[rows].tobytes(), int(k))
            keys.setdefault(key, []).append(rows)
        for rows in keys.values():
            rows = np.asarray(rows)
            self.blocks.append((rows, group[rows[:, 0]], within[rows]))
        self._columns = np.column_stack([self.x, self.y, *[f.z for f in self.factors]])

    def __getstate__(self):
        return {k: (v if k != "_cache" else {}) for k, v in self.__dict__.items()}

    @property
    def n_params(self) -> int:
        return self.n_theta + self.structure.n_params

    def start(self) -> np.ndarray:
        theta = np.zeros(self.n_theta)
        theta[self.diagonal] = 1.0  # lme4's start
        return np.concatenate([theta, self.structure.start()])

    def bounds(self) -> list:
        lower = [None] * self.n_params
        for i in self.diagonal:
            lower[i] = 0.0
        return [(lo, None) for lo in lower]

    # ------------------------------------------------------------ whitening
    def _structure_matrices(self, params: np.ndarray, rows_group, within) -> np.ndarray:
        st = self.structure
        if st.kind == "sp_exp":
            rho = np.asarray(st.sp_exp_rho(params))[rows_group][:, None, None]
            scale = np.asarray(st.sp_exp_scale(params))[rows_group][:, None, None]
            return scale * rho ** np.abs(within[:, :, None] - within[:, None, :])
        mats = st.matrices(params)
        visits = within[0].astype(int)
        return mats[int(rows_group[0])][np.ix_(visits, visits)][None]

    def engine(self, params: np.ndarray) -> tuple[Engine, float]:
        """The engine on the rows whitened at structure ``params``, and sum log|S_i|."""
        key = np.asarray(params, float).tobytes()
        if key not in self._cache:
            out = np.empty_like(self._columns)
            logdet = 0.0
            for rows, rows_group, within in self.blocks:
                # one S for a visit pattern (1, k, k), one per subject for sp_exp (m, k, k)
                chol = np.linalg.cholesky(self._structure_matrices(params, rows_group, within))
                out[rows] = np.linalg.solve(chol, self._columns[rows])
                per_subject = np.log(np.diagonal(chol, axis1=1, axis2=2)).sum()
                logdet += 2.0 * float(per_subject) * (len(rows) if len(chol) == 1 else 1)
            p = self.p
            start = p + 1
            factors = []
            for f in self.factors:
                factors.append(RandomFactor(f.name, f.codes, f.n_levels,
                                            out[:, start:start + f.q], f.theta_pos))
                start += f.q
            self._cache.clear()  # one structure at a time: theta-only moves reuse it
            self._cache[key] = (Engine(out[:, :p], out[:, p], factors, self.n_theta), logdet)
        return self._cache[key]

    def _split(self, params):
        params = np.asarray(params, float)
        return params[:self.n_theta], params[self.n_theta:]

    # ------------------------------------------------------------ evaluation
    def loglik(self, params: np.ndarray, reml: bool) -> float:
        theta, sparams = self._split(params)
        try:
            engine, logdet = self.engine(sparams)
            value = engine.loglik(theta, reml) - 0.5 * logdet
        except np.linalg.LinAlgError:
            return -np.inf
        return float(value) if np.isfinite(value) else -np.inf

    def solution(self, params: np.ndarray, reml: bool):
        """The engine's ``Solution`` at ``params`` (beta,
        sigma^2, X*'V*^-1 X*, the conditional modes)."""
        theta, sparams = self._split(params)
        return self.engine(sparams)[0].solve(theta, reml)

    def loglik_full(self, theta_full: np.ndarray, reml: bool) -> float:
        """The log-likelihood with sigma^2 not profiled: ``(log sigma^2, *params)``."""
        sigma2 = math.exp(float(theta_full[0]))
        theta, sparams = self._split(theta_full[1:])
        engine, logdet = self.engine(sparams)
        lp, s2, _ = engine.profile(theta, reml)
        m = self.n - (self.p if reml else 0)
        ratio = s2 / sigma2
        return float(lp - 0.5 * m * (-math.log(ratio) + ratio - 1) - 0.5 * logdet)

    def vcov_beta(self, theta_full: np.ndarray) -> np.ndarray:
        """sigma^2 (X'V^-1 X)^-1 at ``(log sigma^2, *params)`` (V relative to sigma^2)."""
        theta, sparams = self._split(theta_full[1:])
        engine = self.engine(sparams)[0]
        return math.exp(float(theta_full[0])) * scaled_inverse(
            engine.evaluate(theta, True).xtvx)

    def random_part(self, params: np.ndarray, reml: bool) -> np.ndarray:
        """Z b-hat for every row (the conditional modes at ``params``, unwhitened)."""
        sol = self.solution(params, reml)
        out = np.zeros(self.n)
        for f, modes in zip(self.factors, sol.b):
            out += np.einsum("ij,ij->i", f.z, modes[f.codes])
        return out


def fit_random_gls(lik: RandomResidualLikelihood, reml: bool = True,
                   start: np.ndarray | None = None) -> GlsFit:
    """Maximise the (REML) log-likelihood over theta (its diagonal bounded at 0, from
    lme4's start) and the structure's parameters (from S = I)."""
    x0 = lik.start() if start is None else start
    params, converged, n_evals, message = maximise(lambda t: lik.loglik(t, reml), x0,
                                                   lik.bounds())
    sol = lik.solution(params, reml)
    theta, sparams = lik._split(params)
    return GlsFit(lik.structure, sparams, float(lik.loglik(params, reml)), sol.beta,
                  sol.sigma2, sol.sigma2 * scaled_inverse(sol.xtvx), reml, converged,
                  n_evals, message, random_theta=theta)
