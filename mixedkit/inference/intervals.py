"""Confidence intervals for every parameter: ``fit.confint()`` (lme4's ``confint``).

Parameters are on lme4's scale: for each random term its standard deviations and
correlations, the residual SD, and the fixed effects.

- ``"profile"`` (default): likelihood-profile intervals.  For a parameter psi_j
  the profile deviance d(v) = min over the others of the deviance with psi_j = v;
  the limits solve zeta(v) = sign(v - psi_j) sqrt(d(v) - d(psi)) = +/- z.  As lme4's
  ``profile``, the deviance is the ML deviance (a REML fit is refitted by ML for
  the profile; the ``estimate`` column stays the fit's own); variance parameters are
  profiled on the SD/correlation scale, fixed effects by moving the column into an
  offset and re-estimating the rest.  A limit that the profile never reaches (a standard
  deviation that can be 0, a correlation that can be +/-1) is set to that bound and
  said in ``attrs["notes"]``.
- ``"wald"``: fixed effects only, estimate +/- z SE (normal, as lme4's).
- ``"boot"``: percentile intervals from the parametric bootstrap (any executor).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..arguments import check_choice
from ..model.engine import blas_threads
from ..model.estimation import (
    EngineObjective,
    block_factors,
    std_theta,
    theta_bounds,
    user_theta,
)
from ..model.state import FitState
from .bootstrap import refit_to, run_bootstrap, simulate
from .satterthwaite import deviance

__all__ = ["CONFINT_COLUMNS", "confint"]

CONFINT_COLUMNS = ["effect", "group", "term", "estimate", "conf_low", "conf_high"]
METHODS = ("profile", "wald", "boot")


@dataclass(frozen=True)
class _Param:
    group: str
    term: str
    kind: str  # "sd", "cor", "sigma"
    block: int  # index into design.blocks (-1 for sigma)
    i: int
    j: int


def _variance_params(design) -> list[_Param]:
    """lme4's order: per block its SD/correlation lower triangle by columns, then sigma."""
    out = []
    for b, block in enumerate(design.blocks):
        k = len(block.terms)
        for j in range(k):
            for i in range(j, k):
                if i == j:
                    out.append(_Param(block.group, f"sd({block.terms[i]})", "sd", b, i, i))
                else:
                    out.append(_Param(block.group, f"corr({block.terms[j]}, {block.terms[i]})",
                                      "cor", b, i, j))
    out.append(_Param("Residual", "sd", "sigma", -1, 0, 0))
    return out


def _psd_cholesky(a: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots give zero
    columns), or NaN when ``a`` is not positive semi-definite."""
    k = a.shape[0]
    low = np.zeros_like(a)
    for j in range(k):
        d = a[j, j] - low[j, :j] @ low[j, :j]
        if d < -1e-12 * max(1.0, abs(a[j, j])):
            return np.full_like(a, np.nan)
        low[j, j] = np.sqrt(max(d, 0.0))
        for i in range(j + 1, k):
            low[i, j] = (a[i, j] - low[i, :j] @ low[j, :j]) / low[j, j] if low[j, j] > 0 else 0.0
    return low


def lme4_parameters(design, theta: np.ndarray, sigma2: float) -> np.ndarray:
    """lme4's variance parameters (SDs, correlations, sigma; order of
    :func:`_variance_params`) from the unit-free ``theta`` and the residual variance."""

    covs = [sigma2 * chol @ chol.T for chol in block_factors(design, user_theta(design, theta))]
    psi = []
    for p in _variance_params(design):
        if p.kind == "sigma":
            psi.append(np.sqrt(sigma2))
            continue
        c = covs[p.block]
        sd = np.sqrt(np.diag(c))
        psi.append(sd[p.i] if p.kind == "sd" else
                   (c[p.i, p.j] / (sd[p.i] * sd[p.j]) if sd[p.i] * sd[p.j] > 0 else 0.0))
    return np.array(psi)


class _Profiler:
    """The deviance on lme4's SD/correlation scale, and its profiles."""
    def __init__(self, state):
        self.state = state
        self.design = state.design
        self.engine = state.design.engine
        self.reml = state.reml
        self.params = _variance_params(self.design)
        self.psi_hat = lme4_parameters(self.design, state.theta, state.sigma2)
        self.dev_hat = self.deviance(self.psi_hat)

    def theta_sigma(self, psi: np.ndarray) -> tuple[np.ndarray, float]:

        sigma = psi[-1]
        design = self.design
        parts = []
        for b, block in enumerate(design.blocks):
            size = len(block.terms)
            sd, corr = np.zeros(size), np.eye(size)
            for p, value in zip(self.params, psi):
                if p.block != b:
                    continue
                if p.kind == "sd":
                    sd[p.i] = value
                else:
                    corr[p.i, p.j] = corr[p.j, p.i] = value
            rel = (sd[:, None] * corr * sd[None, :]) / sigma**2
            parts.append(_psd_cholesky(rel)[np.tril_indices(size)])
        packed = np.concatenate(parts) if parts else np.zeros(0)
        return std_theta(design, packed), sigma

    def deviance(self, psi: np.ndarray) -> float:

        theta, sigma = self.theta_sigma(psi)
        if not np.all(np.isfinite(theta)) or sigma <= 0:
            return np.inf
        try:
            with np.errstate(all="ignore"):
                value = deviance(self.engine, theta, sigma, self.reml)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            return np.inf
        return value if np.isfinite(value) else np.inf

    def bounds(self) -> list:
        out = []
        for p in self.params:
            out.append((0.0, None) if p.kind == "sd" else (-1.0, 1.0) if p.kind == "cor"
                       else (1e-10 * self.psi_hat[-1], None))
        return out

    def profile_min(self, j: int, value: float, start: np.ndarray,
                    polish: bool = False) -> tuple[float, np.ndarray]:
        """min over the other parameters of the deviance with psi_j = value: L-BFGS-B with
        finite-difference gradients on a relative step of 1e-5 (the default step gave noise
        at the deviance's precision, and L-BFGS-B stopped after one step), then with
        ``polish`` Nelder-Mead and L-BFGS-B again (to re-solve a limit that missed)."""
        free = [i for i in range(len(self.psi_hat)) if i != j]
        all_bounds = self.bounds()
        bounds = [all_bounds[i] for i in free]

        def f(x):
            psi = start.copy()
            psi[free] = x
            psi[j] = value
            return self.deviance(psi)

        x0 = np.clip(start[free], [b[0] if b[0] is not None else -np.inf for b in bounds],
                     [b[1] if b[1] is not None else np.inf for b in bounds])
        if not free:
            return f(x0), start
        options = {"ftol": 1e-13, "gtol": 1e-8, "maxiter": 500, "finite_diff_rel_step": 1e-5}
        res = optimize.minimize(f, x0, method="L-BFGS-B", jac="2-point", bounds=bounds,
                                options=options)
        x, fun = res.x, float(res.fun)
        if polish:
            box = [(lo if lo is not None else -np.inf, hi if hi is not None else np.inf)
                   for lo, hi in bounds]
            nm = optimize.minimize(f, x, method="Nelder-Mead", bounds=box,
                                   options={"xatol": 1e-9, "fatol": 1e-12,
                                            "maxfev": 300 * len(free)})
            again = optimize.minimize(f, nm.x, method="L-BFGS-B", jac="2-point", bounds=bounds,
                                      options=options)
            for candidate in (nm, again):
                if candidate.fun < fun:
                    x, fun = candidate.x, float(candidate.fun)
        best = start.copy()
        best[free] = x
        best[j] = value
        return fun, best


def _limits(zeta, estimate: float, step: float, z: float, lower_bound: float | None,
            upper_bound: float | None) -> tuple[float, float, list[str]]:
    """Both solutions of zeta(v) = +/- z, searching outwards from ``estimate``."""
    notes = []
    out = []
    for sign, bound in ((-1, lower_bound), (1, upper_bound)):
        inside, h = estimate, step
        limit, previous = np.nan, 0.0
        for _ in range(60):
            v = estimate + sign * h
            if bound is not None and sign * (v - bound) >= 0:
                v = bound
            value = zeta(v)
            if sign * value < previous - 1e-6:
                notes.append(f"the profile is not monotonic near {v:.4g} (zeta falls from "
                             f"{previous:.3g} to {sign * value:.3g}): check this limit")
            previous = max(previous, sign * value)
            if sign * value >= z:
                limit = optimize.brentq(lambda t, s=sign: zeta(t) - s * z, min(inside, v),
                                        max(inside, v), xtol=1e-6 * max(1.0, abs(v)))
                break
            if bound is not None and v == bound:
                limit = bound
                notes.append(f"the profile does not reach the level before the bound {bound:g}: "
                             "the limit is the bound")
                break
            inside, h = v, h * 2
        if np.isnan(limit):
            notes.append("the profile does not reach the level: no limit on this side")
        out.append(limit)
    return out[0], out[1], notes


def _profile_intervals(fit, level: float) -> tuple[pd.DataFrame, list[str]]:
    ml_fit = fit.refit(reml=False) if fit.reml else fit
    table, notes = _profile_ml(ml_fit, level)
    if fit.reml:  # lme4 reports the fit's own estimates beside the ML-profile limits
        own = _Profiler(fit.state).psi_hat
        table["estimate"] = np.r_[own, fit.state.beta]
        notes.append("profiled on the ML deviance (the fit refitted by ML), as lme4's confint")
    return table, notes


def _profile_ml(fit, level: float) -> tuple[pd.DataFrame, list[str]]:
    state = fit.state
    prof = _Profiler(state)
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows, notes, zetas = [], [], []
    psi_hat = prof.psi_hat
    for j, p in enumerate(prof.params):
        cache: dict[float, np.ndarray] = {}

        def zeta(v, j=j, cache=cache):
            nearest = min(cache, key=lambda k: abs(k - v)) if cache else None
            start = psi_hat if nearest is None else cache[nearest]
            d, best = prof.profile_min(j, v, start)
            cache[v] = best
            return np.sign(v - psi_hat[j]) * np.sqrt(max(d - prof.dev_hat, 0.0))

        est = psi_hat[j]
        step = max(abs(est) * 0.2, 1e-3 * psi_hat[-1]) if p.kind != "cor" else 0.1
        lower_b, upper_b = {"sd": (0.0, None), "cor": (-1.0, 1.0),
                            "sigma": (1e-10 * psi_hat[-1], None)}[p.kind]
        low, high, why = _limits(zeta, est, step, z, lower_b, upper_b)

        def checked(v, j=j, polish=False):
            d, _ = prof.profile_min(j, v, psi_hat, polish=polish)
            return np.sign(v - psi_hat[j]) * np.sqrt(max(d - prof.dev_hat, 0.0))

        (low, z_low), (high, z_high), more = _verified_limits(
            checked, (low, high), est, step, z, (lower_b, upper_b))
        notes += [f"{p.group} {p.term}: {w}" for w in why + more]
        zetas.append((z_low, z_high))
        rows.append(["ran_pars", p.group, p.term, est, low, high])
    fixed_rows, fixed_zetas = _fixed_profiles(fit, z)
    table = pd.DataFrame(rows + fixed_rows, columns=CONFINT_COLUMNS)
    table.attrs["zeta"] = zetas + fixed_zetas
    return table, notes


# A reported profile limit is checked: the signed root deviance there, re-minimised from
# the estimate (the search went from the nearest point already profiled), must be within
# this of the normal quantile, else it is re-solved (see _verified_limits).
ZETA_TOLERANCE = 1e-3


def _verified_limits(checked, limits, estimate, step, z, bounds):
    """Each finite limit not on a bound, with its checked zeta (``checked(v)``: the profile
    re-minimised from the estimate). A limit that misses +/-z by more than ZETA_TOLERANCE
    is re-solved on the checked profile, then on the polished one (``checked(v,
    polish=True)``: Nelder-Mead too) if needed, or reported in a note when that fails too.
    Returns ((low, zeta_low), (high, zeta_high), notes)."""
    out, notes = [], []
    for sign, limit, bound in zip((-1, 1), limits, bounds):
        if not np.isfinite(limit) or (bound is not None and limit == bound):
            out.append((limit, np.nan))
            continue
        value = checked(limit)
        for profile in (checked, functools.partial(checked, polish=True)):
            if abs(value - sign * z) <= ZETA_TOLERANCE:
                break
            limit, value = _resolve_limit(profile, limit, estimate, step, z, sign, bound)
        if abs(value - sign * z) > ZETA_TOLERANCE:
            notes.append(f"the profile's {'lower' if sign < 0 else 'upper'} limit could not be "
                         f"placed at the level (signed root deviance {value:.4f} there, not "
                         f"{sign * z:.4f})")
        out.append((limit, float(value)))
    return out[0], out[1], notes


def _resolve_limit(profile, limit, estimate, step, z, sign, bound):
    """The root of profile(v) = sign * z bracketed around a first answer ``limit``."""
    inner, outer, h = limit, limit, 0.05 * step
    for _ in range(40):
        if sign * profile(outer) >= z:
            break
        inner, outer, h = outer, outer + sign * h, 2 * h
        if bound is not None and sign * (outer - bound) >= 0:
            outer = bound
    while sign * profile(inner) > z and sign * (inner - estimate) > 0:
        inner = estimate + 0.5 * (inner - estimate)
    try:
        limit = optimize.brentq(lambda v: profile(v) - sign * z, min(inner, outer),
                                max(inner, outer), xtol=1e-7 * max(1.0, abs(limit)))
    except ValueError:
        pass
    return limit, profile(limit)


def _fixed_profiles(fit, z: float) -> list:
    """Profile intervals of the fixed effects: the column moved into an offset, the
    variance parameters and other coefficients re-estimated at each value."""
    state = fit.state
    design = state.design
    x = design.exog.to_numpy(float)
    se = np.sqrt(np.diag(state.vcov_fixed))
    rows, zetas = [], []
    for j, name in enumerate(design.exog.columns):
        sub = design.engine.with_fixed(np.delete(x, j, axis=1), design.endog)
        offset = x[:, j]
        base, _ = _max_loglik(sub, design, state.theta, design.endog - offset * state.beta[j],
                              state.reml)
        cache = {state.beta[j]: state.theta}

        def zeta(v, j=j, sub=sub, base=base, offset=offset, cache=cache):
            nearest = min(cache, key=lambda k: abs(k - v))
            ll, theta = _max_loglik(sub, design, cache[nearest], design.endog - offset * v,
                                    state.reml)
            cache[v] = theta
            return np.sign(v - state.beta[j]) * np.sqrt(max(2 * (base - ll), 0.0))

        def checked(v, j=j, sub=sub, base=base, offset=offset):  # re-maximised from the fit
            ll, _ = _max_loglik(sub, design, state.theta, design.endog - offset * v, state.reml)
            return np.sign(v - state.beta[j]) * np.sqrt(max(2 * (base - ll), 0.0))

        low, high, _ = _limits(zeta, state.beta[j], se[j], z, None, None)
        rows.append(["fixed", "", name, state.beta[j], low, high])
        zetas.append(tuple(float(checked(v)) if np.isfinite(v) else np.nan for v in (low, high)))
    return rows, zetas


def _max_loglik(sub, design, theta0, y, reml: bool) -> tuple[float, np.ndarray]:
    """The maximised (REML or ML) log-likelihood of ``sub``'s model for response y
    (``design`` gives the bounds: theta's positions are those of the full model)."""

    obj = EngineObjective(sub.with_response(y), reml)
    res = optimize.minimize(obj, np.asarray(theta0, float), jac=obj.grad, method="L-BFGS-B",
                            bounds=theta_bounds(design, 0.0),
                            options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 500})
    return obj.loglik(res.x), res.x


def _wald(fit, level: float) -> pd.DataFrame:
    state = fit.state
    z = stats.norm.ppf(0.5 + level / 2)
    se = np.sqrt(np.diag(state.vcov_fixed))
    return pd.DataFrame({"effect": "fixed", "group": "", "term": list(state.design.exog.columns),
                         "estimate": state.beta, "conf_low": state.beta - z * se,
                         "conf_high": state.beta + z * se})


def confint(fit, method: str, level: float, *, n_boot: int = 500, seed=None, executor=None,
            n_jobs=None, progress: bool = True) -> pd.DataFrame:
    """The table returned by :meth:`~mixedkit.results.LmmFit.confint` (``level`` checked
    by the fit)."""
    method = check_choice(method, METHODS, "method")
    notes: list[str] = []
    if method == "wald":
        table = _wald(fit, level)
    elif method == "profile":
        # many small optimisations: one BLAS thread (see mixedkit.model.engine.blas_threads)
        with warnings.catch_warnings(), blas_threads():
            warnings.simplefilter("ignore")
            table, notes = _profile_intervals(fit, level)
    else:
        table, notes = _boot(fit, level, n_boot, seed, executor, n_jobs, progress)
    table.attrs.update(method=method, conf_level=level, notes=notes)
    return table


def _boot_replicate(state: FitState, rng) -> dict:
    est, design = refit_to(state, simulate(state, rng))
    sol = design.engine.solve(est.theta, state.reml)
    psi = lme4_parameters(design, est.theta, sol.sigma2)
    return {f"p{i}": v for i, v in enumerate(np.r_[psi, sol.beta])}


def _boot(fit, level, n_boot, seed, executor, n_jobs, progress):
    state = fit.state
    prof = _Profiler(state)
    draws = run_bootstrap(_boot_replicate, (state,), n_boot, seed=seed, executor=executor,
                          n_jobs=n_jobs, progress=progress, label="confint bootstrap")
    estimates = np.r_[prof.psi_hat, state.beta]
    labels = [("ran_pars", p.group, p.term) for p in prof.params] + \
        [("fixed", "", t) for t in state.design.exog.columns]
    alpha = (1 - level) / 2
    rows = []
    for i, (lab, est) in enumerate(zip(labels, estimates)):
        col = draws[f"p{i}"].dropna().to_numpy() if f"p{i}" in draws else np.array([])
        lo, hi = np.quantile(col, [alpha, 1 - alpha]) if len(col) else (np.nan, np.nan)
        rows.append([*lab, est, lo, hi])
    failed = int(draws["error"].notna().sum()) if "error" in draws else 0
    notes = [f"{n_boot} parametric bootstrap refits, {failed} failed; percentile intervals"]
    return pd.DataFrame(rows, columns=CONFINT_COLUMNS), notes
