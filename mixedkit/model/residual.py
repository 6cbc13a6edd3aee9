"""Residual covariance structures within a subject, and the exact likelihood of a model
with one (generalised least squares: nlme's ``gls``, the MMRM of clinical trials).

The rows of a subject (``subject``) are measured at visits (``visit``: the levels of a
factor, in time order) or at times (``time``, ``sp_exp`` only). Their residual covariance
is ``sigma^2 S``, where ``S = D C D``: ``C`` a correlation matrix of the structure and ``D``
the relative standard deviations of the visits (1 for the homogeneous structures; the
first visit's is 1 and sigma^2 is profiled out, as nlme's ``varIdent`` does):

==========  ===================================================  ==================
kind        correlation between visits i < j                     parameters
==========  ===================================================  ==================
us          unstructured: ``S = L L'``, ``L`` lower triangular   ``T (T + 1)/2 - 1``
cs, csh     ``rho`` (the same for every pair)                    1 (+ ``T - 1``)
ar1, ar1h   ``rho^(j - i)``                                      1 (+ ``T - 1``)
toep(h)     ``r_(j - i)``, any positive definite Toeplitz        ``T - 1`` (+ ``T - 1``)
ad, adh     ``rho_i ... rho_(j-1)`` (ante-dependence)            ``T - 1`` (+ ``T - 1``)
sp_exp      ``rho^abs(t_j - t_i)`` for times t (continuous)      1
==========  ===================================================  ==================

Every parameter is unconstrained: SD ratios as logs, ``rho`` of ar1/ad through tanh, cs's
``rho`` mapped into (-1/(T - 1), 1), Toeplitz correlations through their partial
autocorrelations (tanh; any values give a positive definite matrix: Durbin-Levinson),
sp_exp's ``rho`` in (0, 1) through the logistic function.

A structure may differ between the levels of a grouping (``us(visit | arm/subject)``: one
set of parameters per arm; only the first arm's first SD is fixed at 1).

**Cost linear in subjects, then free of them.** Subjects with the same visits (and arm)
share one S; for each such pattern the cross-products of ``[X, y]`` within subject, one
``(p + 1) x (p + 1)`` block per pair of visits, are summed once. An evaluation then costs
per pattern one Cholesky factor of a T x T matrix and one contraction, whatever the number
of subjects: 10,000 subjects with 6 visits cost what 200 do. ``sp_exp`` (each subject its
own times) is evaluated subject by subject, batched by the number of rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize

__all__ = ["STRUCTURES", "GlsFit", "ResidualLikelihood", "ResidualStructure", "SubjectRows",
           "fit_gls", "information", "maximise", "satterthwaite_df", "vcov_jacobian"]

STRUCTURES = ("us", "cs", "csh", "ar1", "ar1h", "toep", "toeph", "ad", "adh", "sp_exp")
_HETEROGENEOUS = {"csh", "ar1h", "toeph", "adh"}
_LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class ResidualStructure:
    """A residual structure over ``n_visits`` visits, one parameter set per group.

    Parameters
    ----------
    kind : str
        One of :data:`STRUCTURES`.
    n_visits : int
        Visits (the levels of the visit factor); 1 for ``sp_exp``, whose times are
        continuous.
    n_groups : int
        Groups with their own parameters (``us(visit | arm/subject)``: the arms).
    """

    kind: str
    n_visits: int
    n_groups: int = 1

    def __post_init__(self):
        if self.kind not in STRUCTURES:
            raise ValueError(f"unknown residual structure {self.kind!r}")

    # ------------------------------------------------------------ parameters
    def _sd_count(self, group: int) -> int:
        """Free SD parameters of one group (the first group's first SD is 1)."""
        if self.kind == "us":
            return 0  # in the Cholesky factor
        first = 0 if group == 0 else 1
        return first + (self.n_visits - 1 if self.kind in _HETEROGENEOUS else 0)

    def _corr_count(self) -> int:
        t = self.n_visits
        if self.kind == "us":
            return t * (t + 1) // 2
        if self.kind in ("cs", "csh", "ar1", "ar1h", "sp_exp"):
            return 1
        return t - 1  # toep, toeph, ad, adh

    def group_size(self, group: int) -> int:
        n = self._sd_count(group) + self._corr_count()
        return n - 1 if self.kind == "us" and group == 0 else n

    @property
    def n_params(self) -> int:
        return sum(self.group_size(g) for g in range(self.n_groups))

    def start(self) -> np.ndarray:
        """Independent visits of equal variance (S = I)."""
        out = []
        for g in range(self.n_groups):
            block = np.zeros(self.group_size(g))
            if self.kind in ("cs", "csh"):
                block[self._sd_count(g)] = _cs_unconstrained(0.0, self.n_visits)
            elif self.kind == "sp_exp":
                block[-1] = -4.0  # rho = 0.018: nearly independent
            out.append(block)
        return np.concatenate(out) if out else np.zeros(0)

    def _split(self, params: np.ndarray) -> list[np.ndarray]:
        sizes = np.cumsum([self.group_size(g) for g in range(self.n_groups)])[:-1]
        return np.split(np.asarray(params, float), sizes)

    # --------------------------------------------------------------- matrices
    def matrices(self, params: np.ndarray) -> list[np.ndarray]:
        """S (T x T, relative to sigma^2) of each group, for the visit structures."""
        if self.kind == "sp_exp":
            raise ValueError("sp_exp has no visit matrix: use sp_exp_rho")
        return [self._matrix(g, block) for g, block in enumerate(self._split(params))]

    def _matrix(self, group: int, block: np.ndarray) -> np.ndarray:
        t = self.n_visits
        if self.kind == "us":
            chol = np.zeros((t, t))
            values = np.concatenate([[0.0], block]) if group == 0 else block
            rows, cols = np.tril_indices(t)
            chol[rows, cols] = values
            chol[np.diag_indices(t)] = np.exp(np.diag(chol))
            return chol @ chol.T
        n_sd = self._sd_count(group)
        log_sd = np.zeros(t)
        if self.kind in _HETEROGENEOUS:
            log_sd[1 if group == 0 else 0:] = block[:n_sd]
        elif group > 0:
            log_sd[:] = block[0]
        corr = self.correlation(block[n_sd:])
        sd = np.exp(log_sd)
        return corr * np.outer(sd, sd)

    def correlation(self, corr_params: np.ndarray) -> np.ndarray:
        """The T x T correlation matrix C of the structure's correlation parameters."""
        t = self.n_visits
        lag = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
        kind = self.kind.rstrip("h") if self.kind != "ad" else "ad"
        if kind == "cs":
            rho = _cs_rho(corr_params[0], t)
            return np.where(lag == 0, 1.0, rho)
        if kind == "ar1":
            return np.tanh(corr_params[0]) ** lag
        if kind == "toep":
            r = np.concatenate([[1.0], _pacf_to_acf(np.tanh(corr_params))])
            return r[lag]
        if kind in ("ad", "adh"):
            # corr(i, j) = prod of the lag-1 correlations between them
            log_abs = np.concatenate([[0.0], np.cumsum(np.log(np.abs(np.tanh(corr_params))
                                                              + 1e-300))])
            signs = np.concatenate([[1.0], np.cumprod(np.sign(np.tanh(corr_params)))])
            i, j = np.minimum.outer(np.arange(t), np.arange(t)), \
                np.maximum.outer(np.arange(t), np.arange(t))
            out = np.exp(log_abs[j] - log_abs[i]) * signs[j] * signs[i]
            return np.where(lag == 0, 1.0, out)
        raise ValueError(self.kind)

    def sp_exp_rho(self, params: np.ndarray) -> list[float]:
        """sp_exp: the correlation at a distance of one time unit, per group."""
        return [float(_logistic(b[-1])) for b in self._split(params)]

    def sp_exp_scale(self, params: np.ndarray) -> list[float]:
        """sp_exp: each group's variance relative to the first group's."""
        return [1.0 if g == 0 else float(np.exp(2 * b[0]))
                for g, b in enumerate(self._split(params))]

    def describe(self, params: np.ndarray) -> dict:
        """The parameters in their natural form: per group, the SDs relative to the first
        group's first visit and the correlation parameters (rho, or the Toeplitz/ante-
        dependence correlations at lag 1, 2, ... / between neighbours)."""
        out = []
        for g, block in enumerate(self._split(params)):
            if self.kind == "sp_exp":
                out.append({"rho": float(_logistic(block[-1])),
                            "relative_variance": self.sp_exp_scale(params)[g]})
                continue
            s = self._matrix(g, block)
            entry = {"relative_sd": np.sqrt(np.diag(s)).tolist()}
            corr = s / np.sqrt(np.outer(np.diag(s), np.diag(s)))
            if self.kind in ("cs", "csh", "ar1", "ar1h"):
                entry["rho"] = float(corr[1, 0]) if self.n_visits > 1 else float("nan")
            elif self.kind in ("toep", "toeph"):
                entry["acf"] = [float(corr[k, 0]) for k in range(1, self.n_visits)]
            elif self.kind in ("ad", "adh"):
                entry["rho"] = [float(corr[k + 1, k]) for k in range(self.n_visits - 1)]
            else:
                entry["correlation"] = corr.tolist()
            out.append(entry)
        return {"kind": self.kind, "groups": out}


def _logistic(a):
    return 1.0 / (1.0 + np.exp(-a))


def _cs_rho(a: float, t: int) -> float:
    low = -1.0 / (t - 1) if t > 1 else -1.0
    return float(low + (1.0 - low) * _logistic(a))


def _cs_unconstrained(rho: float, t: int) -> float:
    low = -1.0 / (t - 1) if t > 1 else -1.0
    u = (rho - low) / (1.0 - low)
    return float(np.log(u / (1 - u)))


def _pacf_to_acf(pacf: np.ndarray) -> np.ndarray:
    """Autocorrelations r_1..r_m of the stationary process with partial autocorrelations
    ``pacf`` (Durbin-Levinson); |pacf| < 1 makes the Toeplitz matrix positive definite."""
    m = len(pacf)
    r = np.zeros(m + 1)
    r[0] = 1.0
    a = np.zeros(0)
    v = 1.0
    for k in range(1, m + 1):
        phi = pacf[k - 1]
        r[k] = (a @ r[k - 1:0:-1] if k > 1 else 0.0) + phi * v
        a = np.concatenate([a - phi * a[::-1], [phi]])
        v *= 1 - phi * phi
    return r[1:]


# ----------------------------------------------------------------- likelihood
@dataclass
class _Pattern:
    """Subjects with the same visits (and group): one S, summed cross-products."""
    group: int
    visits: np.ndarray  # indices into the T visits
    count: int
    cross: np.ndarray  # (k, k, p + 1, p + 1): sum over subjects of A[a]' A[b], A = [X, y]
    rows: np.ndarray  # (count, k, p + 1): each subject's A (for the empirical covariance)


@dataclass
class _Batch:
    """sp_exp: subjects with k rows each, evaluated together."""
    group: np.ndarray  # (m,)
    dist: np.ndarray  # (m, k, k) |t_a - t_b|
    a: np.ndarray  # (m, k, p + 1)


@dataclass
class SubjectRows:
    """Rows of subjects measured repeatedly with a residual structure: the data both
    residual likelihoods (this module's and ``mixed_residual``'s) are built from; the
    fields are described under :class:`ResidualLikelihood`."""

    x: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    visit: np.ndarray | None
    time: np.ndarray | None
    group: np.ndarray | None
    structure: ResidualStructure


@dataclass
class ResidualLikelihood(SubjectRows):
    """The profiled (REML or ML) log-likelihood of ``y = X beta + e``, ``e`` with the
    residual structure within each subject (no random effects).

    Parameters
    ----------
    x : ndarray (n, p)
    y : ndarray (n,)
    subject : ndarray (n,) of int
        Each row's subject, 0 .. n_subjects - 1.
    visit : ndarray (n,) of int or None
        Each row's visit, 0 .. T - 1 (visit structures); a visit may occur once per
        subject.
    time : ndarray (n,) of float or None
        Each row's time (``sp_exp``).
    group : ndarray (n,) of int or None
        Each row's structure group (constant within a subject), default all 0.
    structure : ResidualStructure
    """

    patterns: list = field(default_factory=list, init=False)
    batches: list = field(default_factory=list, init=False)

    def __post_init__(self):
        x = np.asarray(self.x, float)
        y = np.asarray(self.y, float)
        self.n, self.p = x.shape
        # y as its OLS residual: the likelihood is unchanged and the cross-products lose
        # their cancellation (the OLS coefficients are added back to beta)
        self.beta_ols = np.linalg.lstsq(x, y, rcond=None)[0] if self.p else np.zeros(0)
        a = np.column_stack([x, y - x @ self.beta_ols])
        subject = np.asarray(self.subject)
        group = np.zeros(len(y), int) if self.group is None else np.asarray(self.group, int)
        sp = self.structure.kind == "sp_exp"
        within = np.asarray(self.time if sp else self.visit, float)
        order = np.lexsort((within, subject))
        subject, a, group, within = subject[order], a[order], group[order], within[order]
        starts = np.flatnonzero(np.r_[True, subject[1:] != subject[:-1]])
        sizes = np.diff(np.r_[starts, len(subject)])
        if sp:
            self._build_batches(a, group, within, starts, sizes)
        else:
            self._build_patterns(a, group, within.astype(int), starts, sizes)
        self.n_subjects = len(starts)

    def _build_patterns(self, a, group, visit, starts, sizes):
        keys: dict = {}
        for s, k in zip(starts, sizes):
            keys.setdefault((int(group[s]), visit[s:s + k].tobytes(), int(k)), []).append(s)
        for (g, _, k), firsts in keys.items():
            rows = np.asarray(firsts)[:, None] + np.arange(k)
            stack = a[rows]  # (m, k, p + 1)
            cross = np.einsum("mai,mbj->abij", stack, stack, optimize=True)
            self.patterns.append(_Pattern(g, visit[rows[0]], len(firsts), cross, stack))

    def _build_batches(self, a, group, time, starts, sizes):
        for k in np.unique(sizes):
            firsts = starts[sizes == k]
            rows = firsts[:, None] + np.arange(k)
            t = time[rows]
            self.batches.append(_Batch(group[firsts], np.abs(t[:, :, None] - t[:, None, :]),
                                       a[rows]))

    # ------------------------------------------------------------ evaluation
    def _cross_and_logdet(self, params: np.ndarray) -> tuple[np.ndarray, float]:
        """sum_i A_i' S_i^-1 A_i and sum_i log|S_i| at ``params``."""
        q = self.p + 1
        total = np.zeros((q, q))
        logdet = 0.0
        st = self.structure
        if st.kind != "sp_exp":
            mats = st.matrices(params)
            for pat in self.patterns:
                s = mats[pat.group][np.ix_(pat.visits, pat.visits)]
                chol = np.linalg.cholesky(s)
                inv = np.linalg.inv(chol)
                sinv = inv.T @ inv
                total += np.einsum("ab,abij->ij", sinv, pat.cross, optimize=True)
                logdet += pat.count * 2.0 * float(np.log(np.diag(chol)).sum())
            return total, logdet
        rhos = np.asarray(st.sp_exp_rho(params))
        scales = np.asarray(st.sp_exp_scale(params))
        for b in self.batches:
            rho = rhos[b.group][:, None, None]
            s = scales[b.group][:, None, None] * rho ** b.dist
            chol = np.linalg.cholesky(s)
            inv = np.linalg.inv(chol)
            w = np.einsum("mka,mkb->mab", inv, inv)  # S^-1 = L^-T L^-1
            total += np.einsum("mab,mai,mbj->ij", w, b.a, b.a, optimize=True)
            logdet += 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
        return total, logdet

    def _generalised_ls(self, params: np.ndarray) -> tuple:
        """At ``params``: the GLS coefficients of the residualised response, the residual
        sum of squares, log|S| summed over subjects, log|X'S^-1 X| and the Cholesky factor
        of X'S^-1 X (scipy's ``cho_factor``; None without fixed effects)."""
        m, logdet = self._cross_and_logdet(params)
        p = self.p
        if not p:
            return np.zeros(0), float(m[0, 0]), logdet, 0.0, None
        xty = m[:p, p]
        factor = linalg.cho_factor(m[:p, :p], lower=True)
        beta_c = linalg.cho_solve(factor, xty)
        logdet_xtx = 2.0 * float(np.log(np.diag(factor[0])).sum())
        return beta_c, float(m[p, p] - xty @ beta_c), logdet, logdet_xtx, factor

    def evaluate(self, params: np.ndarray, reml: bool) -> dict:
        """Log-likelihood, beta, sigma^2 and the Cholesky factor of X' S^-1 X at
        ``params``."""
        try:
            beta_c, rss, logdet, logdet_xtx, factor = self._generalised_ls(params)
        except np.linalg.LinAlgError:
            return {"loglik": -np.inf}
        dof = self.n - self.p if reml else self.n
        sigma2 = max(rss, np.finfo(float).tiny) / dof
        dev = dof * (_LOG_2PI + math.log(sigma2) + 1.0) + logdet
        if reml:
            dev += logdet_xtx
        return {"loglik": -dev / 2.0, "beta": beta_c + self.beta_ols, "sigma2": sigma2,
                "factor": factor}

    def loglik(self, params: np.ndarray, reml: bool) -> float:
        value = self.evaluate(params, reml)["loglik"]
        return float(value) if np.isfinite(value) else -np.inf

    def loglik_full(self, theta: np.ndarray, reml: bool) -> float:
        """The (REML) log-likelihood with sigma^2 not profiled out: ``theta`` is
        ``(log sigma^2, *params)``; its Hessian is the information Satterthwaite's df need."""
        log_s2 = float(theta[0])
        _, rss, logdet, logdet_xtx, _ = self._generalised_ls(np.asarray(theta[1:], float))
        dof = self.n - self.p if reml else self.n
        dev = dof * (_LOG_2PI + log_s2) + logdet + rss / math.exp(log_s2)
        if reml:
            dev += logdet_xtx
        return -dev / 2.0

    def empirical_vcov(self, fit: GlsFit) -> np.ndarray:
        """The sandwich (empirical, "robust") covariance of beta at the optimum:
        B (sum_i u_i u_i') B with u_i = X_i' V_i^-1 r_i per subject and B the model-based
        covariance (SAS's EMPIRICAL option, mmrm's ``vcov = "Empirical"``)."""
        p = self.p
        beta_c = fit.beta - self.beta_ols  # the coordinates of the residualised response
        meat = np.zeros((p, p))
        st = self.structure
        if st.kind != "sp_exp":
            mats = st.matrices(fit.params)
            for pat in self.patterns:
                sinv = np.linalg.inv(mats[pat.group][np.ix_(pat.visits, pat.visits)])
                x, y = pat.rows[:, :, :p], pat.rows[:, :, p]
                r = y - x @ beta_c
                u = np.einsum("mai,ab,mb->mi", x, sinv, r) / fit.sigma2
                meat += u.T @ u
        else:
            rhos = np.asarray(st.sp_exp_rho(fit.params))
            scales = np.asarray(st.sp_exp_scale(fit.params))
            for b in self.batches:
                s = scales[b.group][:, None, None] * rhos[b.group][:, None, None] ** b.dist
                x, y = b.a[:, :, :p], b.a[:, :, p]
                w = np.linalg.solve(s, (y - x @ beta_c)[:, :, None])[:, :, 0]
                u = np.einsum("mai,ma->mi", x, w) / fit.sigma2
                meat += u.T @ u
        return fit.vcov @ meat @ fit.vcov

    def vcov_beta(self, theta: np.ndarray) -> np.ndarray:
        """sigma^2 (X' S^-1 X)^-1 at ``theta = (log sigma^2, *params)``."""
        m, _ = self._cross_and_logdet(np.asarray(theta[1:], float))
        return math.exp(float(theta[0])) * np.linalg.inv(m[:self.p, :self.p])


@dataclass
class GlsFit:
    """The optimum of :func:`fit_gls`."""
    structure: ResidualStructure
    params: np.ndarray
    loglik: float
    beta: np.ndarray
    sigma2: float
    vcov: np.ndarray  # sigma^2 (X' S^-1 X)^-1
    reml: bool
    converged: bool
    n_evals: int
    message: str
    # with random effects (mixedkit.model.mixed_residual): lme4's unit-free theta
    random_theta: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def covariance(self, group: int = 0) -> np.ndarray:
        """The residual covariance sigma^2 S over the visits of one group."""
        return self.sigma2 * self.structure.matrices(self.params)[group]

    @property
    def theta(self) -> np.ndarray:
        """``(log sigma^2, *random_theta, *params)``: every covariance parameter, none
        profiled (the layout the likelihood's ``loglik_full`` and ``vcov_beta`` take)."""
        return np.concatenate([[math.log(self.sigma2)], self.random_theta, self.params])


def information(lik: ResidualLikelihood, fit: GlsFit) -> np.ndarray:
    """The observed information of the covariance parameters ``fit.theta``: minus the
    Hessian of the (REML) log-likelihood, by central differences (the likelihood is smooth
    and an evaluation cheap; a step of 1e-4 keeps rounding and truncation near 1e-8)."""
    theta = fit.theta
    k = len(theta)
    h = 1e-4 * np.maximum(1.0, np.abs(theta))

    def f(t):
        return lik.loglik_full(t, fit.reml)

    hess = np.empty((k, k))
    f0 = f(theta)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        hess[i, i] = (f(theta + ei) - 2 * f0 + f(theta - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            hess[i, j] = hess[j, i] = (f(theta + ei + ej) - f(theta + ei - ej)
                                       - f(theta - ei + ej) + f(theta - ei - ej)) \
                / (4 * h[i] * h[j])
    return -hess


def satterthwaite_df(lik: ResidualLikelihood, fit: GlsFit, contrasts: np.ndarray,
                     info: np.ndarray | None = None) -> np.ndarray:
    """Satterthwaite's df of each row c of ``contrasts``: 2 v^2 / (g' A g), where
    v = c' Phi c, g its gradient in the covariance parameters and A the inverse of their
    observed information (SAS PROC MIXED's DDFM=SATTERTHWAITE, mmrm's, lmerTest's)."""
    contrasts = np.atleast_2d(np.asarray(contrasts, float))
    info = information(lik, fit) if info is None else info
    grads = np.einsum("ri,kij,rj->kr", contrasts, vcov_jacobian(lik, fit), contrasts)
    v = np.einsum("ri,ij,rj->r", contrasts, fit.vcov, contrasts)
    return 2 * v ** 2 / np.einsum("kr,kl,lr->r", grads, np.linalg.inv(info), grads)


def vcov_jacobian(lik: ResidualLikelihood, fit: GlsFit) -> np.ndarray:
    """dC/dtheta_k (k, p, p) of C = sigma^2 (X'V^-1 X)^-1 in ``fit.theta``, by central
    differences."""
    theta = fit.theta
    k = len(theta)
    h = 1e-4 * np.maximum(1.0, np.abs(theta))
    out = np.empty((k, lik.p, lik.p))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        out[i] = (lik.vcov_beta(theta + e) - lik.vcov_beta(theta - e)) / (2 * h[i])
    return out


def maximise(loglik, x0: np.ndarray, bounds: list | None = None) -> tuple:
    """Maximise ``loglik(params)`` by L-BFGS-B with central-difference gradients (one-sided
    at a lower bound); an evaluation is cheap, so 2 x n_params of them per gradient are.

    Returns
    -------
    params, converged (max |gradient| below 1e-3 over the parameters off their bounds),
    the number of evaluations, the optimiser's message
    """
    x0 = np.asarray(x0, float)
    if not len(x0):
        return x0, True, 0, "no parameters"
    bounds = [(None, None)] * len(x0) if bounds is None else bounds
    evals = [0]

    def objective(params):
        evals[0] += 1
        value = loglik(params)
        return -value if np.isfinite(value) else 1e300

    def gradient(params):
        g = np.empty_like(params)
        for i in range(len(params)):
            h = 1e-5 * max(1.0, abs(params[i]))
            up, down = params.copy(), params.copy()
            up[i] += h
            lower = bounds[i][0]
            down[i] = down[i] - h if lower is None else max(down[i] - h, lower)
            g[i] = (objective(up) - objective(down)) / (up[i] - down[i])
        return g

    res = optimize.minimize(objective, x0, jac=gradient, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-7})
    free = np.array([lo is None or p > lo + 1e-6 for p, (lo, _) in zip(res.x, bounds)])
    converged = bool(np.max(np.abs(gradient(res.x)[free]), initial=0.0) < 1e-3)
    return res.x, converged, evals[0], str(res.message)


def fit_gls(lik: ResidualLikelihood, reml: bool = True,
            start: np.ndarray | None = None) -> GlsFit:
    """Maximise the (REML) log-likelihood over the structure's parameters from S = I
    (:func:`maximise`)."""
    x0 = lik.structure.start() if start is None else start
    params, converged, n_evals, message = maximise(lambda t: lik.loglik(t, reml), x0)
    at = lik.evaluate(params, reml)
    p = lik.p
    vcov = at["sigma2"] * linalg.cho_solve(at["factor"], np.eye(p)) if p else np.zeros((0, 0))
    return GlsFit(lik.structure, params, float(at["loglik"]), at["beta"], at["sigma2"], vcov,
                  reml, converged, n_evals, message)
