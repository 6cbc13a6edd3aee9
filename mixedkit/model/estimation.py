"""Estimation: find the optimum of statsmodels' MixedLM likelihood the way lme4 does.

statsmodels profiles the fixed effects and the residual variance out of the
likelihood and parameterises the random-effects covariance by its relative
Cholesky factor: lme4's ``theta``.  lme4 optimises over theta with the diagonal
bounded below by 0.  ``MixedLM.fit()`` instead runs unbounded optimisers that
wander to wrong optima (dietox), fail on the boundary (Dyestuff) or report a
likelihood of ``+inf`` (sleepstudy, REML).  Here the same likelihood and its
gradient, evaluated by :mod:`mixedkit.model.engine` (or by statsmodels itself with
``engine="statsmodels"``), are optimised with bounds on the diagonal, from lme4's
start values, with fallbacks when an attempt fails; every attempt is recorded.
statsmodels' results object is built at the optimum on demand.
"""

from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, sparse

from ..errors import FitError
from .engine import blas_threads

__all__ = [
    "Attempt",
    "Estimate",
    "block_covariances",
    "estimate",
    "fixed_effects_vcov",
    "profiled_estimates",
    "statsmodels_results",
    "theta_from_covariances",
    "user_theta",
    "variance_rows",
]

# Lower bound of Cholesky diagonals and SDs.  statsmodels cannot evaluate theta = 0,
# and below ~1e-5 its GLS step switches to a pseudo-inverse (eigenvalue tolerance
# 1e-10 on theta^2) that disagrees with its likelihood.  At 5e-5 the likelihood is
# within ~n * 2.5e-9 of its value at 0; such a theta is reported as 0, as lme4 does.
THETA_LOWER = 5e-5
SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on theta
GRAD_TOL = 2e-3  # lme4's check.conv.grad tolerance (deviance scale)
LBFGSB_OPTIONS = {"ftol": 1e-10, "gtol": 1e-6, "maxiter": 1000}
_BAD = 1e10  # objective value standing in for a non-finite likelihood


@dataclass
class Attempt:
    """One optimisation attempt."""
    optimizer: str
    start: str
    loglik: float
    n_evals: int
    max_grad: float
    converged: bool
    message: str
    seconds: float


@dataclass
class Estimate:
    """The best optimum found and how it was found."""
    theta: np.ndarray
    loglik: float
    converged: bool
    max_grad: float
    attempts: list[Attempt] = field(default_factory=list)
    engine_warnings: list[str] = field(default_factory=list)
    engine: str = "mixedkit"
    lower: float = 0.0  # the bound on Cholesky diagonals and SDs (0 for mixedkit's engine)
    # statsmodels' MixedLM.loglike at the optimum, evaluated on request (``statsmodels_check``):
    # building statsmodels' model imports it (0.4 s with scipy.stats in a fresh process) and
    # costs a second patsy design, which a fit does not need.
    crosscheck: bool = False
    # a boundary optimum re-examined (see _boundary_checks): "" when none was reached, else
    # what the interior restart and the derivative-free check found
    boundary_check: str = ""
    boundary_gain: float = 0.0  # log-likelihood gained over the first boundary stop

    _check: tuple | None = field(default=None, repr=False, compare=False)

    def statsmodels_check(self, design, reml: bool) -> tuple[float | None, str]:
        """statsmodels' own log-likelihood at the optimum and how it was (not) obtained;
        computed once, on the first request."""
        if self._check is None:
            self._check = _statsmodels_check(design, self.theta, reml) \
                if self.crosscheck and self.engine == "mixedkit" else (None, "not checked")
        return self._check

    def attempts_frame(self, design=None, reml: bool = True) -> pd.DataFrame:
        """Attempts as a table: optimizer, start, loglik, n_evals, max_grad, converged, ...

        ``.attrs`` holds the engine and, given the ``design`` (and ``reml``) it was
        fitted on, ``statsmodels_loglik`` (statsmodels' own ``MixedLM.loglike`` at the
        optimum, where building its model is cheap) and ``statsmodels_difference`` (the
        engine's log-likelihood minus it).
        """
        table = pd.DataFrame([a.__dict__ for a in self.attempts])
        check, note = (None, "not checked") if design is None else \
            self.statsmodels_check(design, reml)
        diff = None if check is None else self.loglik - check
        table.attrs.update(engine=self.engine, statsmodels_loglik=check,
                           statsmodels_difference=diff, statsmodels_check=note)
        return table


def _prepare_model(model, reml: bool) -> None:
    # MixedLM.fit sets these before evaluating the likelihood; we evaluate directly.
    model.reml = reml
    model.cov_pen = None
    model.fe_pen = None
    model._freepat = None
    model._cov_sing = 0


class _Objective:
    """-loglik/n and its gradient, counting evaluations and guarding failures.

    A context manager (as :class:`EngineObjective`); statsmodels' model needs no setup
    (its GLS step remembers its last answer: ``MemoisedMixedLM``).
    """

    def __init__(self, model):
        self.model = model
        self.n = model.n_totobs
        self.evals = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def loglik(self, theta) -> float:
        self.evals += 1
        try:
            value = float(self.model.loglike(np.asarray(theta), profile_fe=True))
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            return -np.inf
        return value if np.isfinite(value) else -np.inf

    def __call__(self, theta) -> float:
        value = self.loglik(theta)
        return -value / self.n if np.isfinite(value) else _BAD

    def grad(self, theta) -> np.ndarray:
        try:
            g = -np.asarray(self.model.score(np.asarray(theta), profile_fe=True)) / self.n
        except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
            return np.zeros_like(theta)
        return np.where(np.isfinite(g), g, 0.0)


class EngineObjective(_Objective):
    """The same objective evaluated by mixedkit's engine (exact down to theta = 0)."""
    def __init__(self, engine, reml: bool):
        self.engine = engine
        self.reml = reml
        self.n = engine.n
        self.evals = 0
        self._recent: dict[bytes, tuple] = {}

    # The last few points are remembered, not only the last one: the convergence check
    # alternates between the optimum and points beside it, and the attempt then reads
    # the optimum again (InstEval: 3 of 20 evaluations were repeats).
    _REMEMBERED = 4

    def _both(self, theta):
        theta = np.asarray(theta, float)
        key = theta.tobytes()
        value = self._recent.get(key)
        if value is None:
            self.evals += 1
            try:
                with np.errstate(all="ignore"):
                    value = self.engine.loglik_and_gradient(theta, self.reml)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError, ZeroDivisionError):
                value = (-np.inf, np.zeros_like(theta))
            if len(self._recent) >= self._REMEMBERED:
                del self._recent[next(iter(self._recent))]  # the oldest
            self._recent[key] = value
        return value

    def loglik(self, theta) -> float:
        value = float(self._both(theta)[0])
        return value if np.isfinite(value) else -np.inf

    def grad(self, theta) -> np.ndarray:
        g = -np.asarray(self._both(theta)[1]) / self.n
        return np.where(np.isfinite(g), g, 0.0)


def default_start(design) -> np.ndarray:
    """lme4's start: identity relative covariance (Cholesky diagonals 1, others 0)."""
    theta = np.zeros(design.n_theta)
    theta[design.theta_diagonal] = 1.0
    return theta


def theta_bounds(design, lower: float) -> list[tuple[float | None, None]]:
    b: list[tuple[float | None, None]] = [(None, None)] * design.n_theta
    for i in design.theta_diagonal:
        b[i] = (lower, None)
    return b


def deviance_gradient(obj: _Objective, theta, design, lower: float = 0.0) -> np.ndarray:
    """Gradient of -2 loglik, with components pushing into an active bound zeroed."""
    g = 2 * obj.n * obj.grad(theta)
    at_bound = np.zeros(len(theta), bool)
    at_bound[design.theta_diagonal] = theta[design.theta_diagonal] <= lower * 1.01
    g[at_bound & (g > 0)] = 0.0
    return g


def _converged(obj, theta, design, lower) -> tuple[bool, float]:
    """lme4-style check: small deviance gradient, or a small Newton step."""
    g = deviance_gradient(obj, theta, design, lower)
    gmax = float(np.max(np.abs(g))) if len(g) else 0.0
    if gmax < GRAD_TOL:
        return True, gmax
    # Large samples give large gradients for tiny relative errors; scale by the
    # curvature as lme4 does (finite-difference Hessian of the deviance). L-BFGS-B's own
    # inverse-Hessian approximation at this point answers first, without evaluations,
    # when it puts the Newton step far inside the tolerance (InstEval: 1e-7 against 2e-3,
    # saving 2 of 18 evaluations); otherwise the finite differences decide.
    curvature = getattr(obj, "curvature", None)
    if curvature is not None and np.array_equal(curvature[0], theta):
        step = np.asarray(curvature[1] @ (g / (2 * obj.n)))  # the same step on -loglik/n
        if np.all(np.isfinite(step)) and np.max(np.abs(step)) < GRAD_TOL / 10:
            return True, gmax
    k = len(theta)
    h = np.empty((k, k))
    for j in range(k):
        step = 1e-5 * max(1.0, abs(theta[j]))
        tp = theta.copy()
        tp[j] += step
        h[:, j] = (2 * obj.n * obj.grad(tp) - 2 * obj.n * obj.grad(theta)) / step
    h = (h + h.T) / 2
    try:
        rel = np.linalg.solve(h, g)
    except np.linalg.LinAlgError:
        return False, gmax
    return bool(np.max(np.abs(rel)) < GRAD_TOL), gmax


def _lbfgsb(obj, theta0, design, lower):
    # -loglik/n changes by ~1e-7/n when the log-likelihood changes by 1e-7: the
    # tolerances follow n, or L-BFGS-B stops early on large data.
    options = dict(LBFGSB_OPTIONS, ftol=max(min(LBFGSB_OPTIONS["ftol"], 1e-7 / obj.n), 1e-15),
                   gtol=min(LBFGSB_OPTIONS["gtol"], 1e-3 / obj.n))
    res = optimize.minimize(obj, theta0, jac=obj.grad, method="L-BFGS-B",
                            bounds=theta_bounds(design, lower), options=options)
    obj.curvature = (np.array(res.x), res.hess_inv)  # for the convergence check
    return res.x, str(res.message)


def _nelder_mead(obj, theta0, design, lower, maxfev: int | None = None):
    b = theta_bounds(design, lower)
    bounds = [(lo if lo is not None else -np.inf, np.inf) for lo, _ in b]
    maxfev = 400 * len(theta0) if maxfev is None else maxfev
    res = optimize.minimize(obj, theta0, method="Nelder-Mead", bounds=bounds,
                            options={"xatol": 1e-7, "fatol": 1e-12, "maxfev": maxfev})
    x, msg = _lbfgsb(obj, res.x, design, lower)
    return x, f"Nelder-Mead: {res.message}; polished by L-BFGS-B: {msg}"


# Seconds the fallback Nelder-Mead may take (estimated as in _seconds_per_evaluation).
_NELDER_MEAD_BUDGET = 10.0

# Python's share of one engine evaluation (measured on small designs, idle machine).
_EVALUATION_OVERHEAD = 2.5e-4


def _seconds_per_evaluation(obj, attempts: list) -> float:
    """The cost of one evaluation that the budgets below are computed from.

    On mixedkit's engine a model of the design (``Engine.seconds_per_evaluation`` plus
    Python's share), not the clock: the same data must give the same fit on an idle and on
    a busy machine (a sleepstudy-sized check took 0.41 s of its 0.5 s budget idle and was
    skipped beside another process, leaving an optimum 4e-5 lower). statsmodels' objective
    (``engine="statsmodels"``, the reference path) is timed: the attempts so far.
    """
    if isinstance(obj, EngineObjective):
        return _EVALUATION_OVERHEAD + obj.engine.seconds_per_evaluation()
    return sum(a.seconds for a in attempts) / max(sum(a.n_evals for a in attempts), 1)


def _budgeted_nelder_mead(obj, attempts: list, n_theta: int):
    """Nelder-Mead with at most 400 evaluations a parameter, fewer when that is expected to
    exceed ``_NELDER_MEAD_BUDGET`` seconds (at least 50 a parameter)."""
    per_eval = _seconds_per_evaluation(obj, attempts)
    maxfev = int(min(400 * n_theta, max(50 * n_theta, _NELDER_MEAD_BUDGET / max(per_eval,
                                                                                 1e-9))))
    return lambda obj, theta0, design, lower: _nelder_mead(obj, theta0, design, lower,
                                                          maxfev=maxfev)


def _snap_to_boundary(obj, theta, ll, design, lower):
    """Move near-zero Cholesky diagonals onto the bound when the likelihood agrees.

    On a flat boundary L-BFGS-B may stop just above the bound (e.g. theta = 8e-5);
    lme4 reports such a variance as exactly 0, and so does mixedkit once it is on
    the bound.
    """
    for i in design.theta_diagonal:
        if lower < theta[i] < SINGULAR_TOL:
            trial = theta.copy()
            trial[i] = lower
            trial_ll = obj.loglik(trial)
            if trial_ll >= ll - 1e-9:
                theta, ll = trial, trial_ll
    return theta, ll


ENGINES = ("mixedkit", "statsmodels")


# statsmodels' model is built for the cross-check only below these sizes (it loops
# over groups in Python: about 2 ms for sleepstudy, seconds at 1e5 groups).
_CHECK_MAX_ROWS = 20_000
_CHECK_MAX_GROUPS = 2_000


def _statsmodels_check(design, theta: np.ndarray, reml: bool) -> tuple[float | None, str]:
    """statsmodels' own log-likelihood at the engine's optimum, where it is cheap and exact."""
    if not design.expressible:
        return None, "not checked: statsmodels cannot express this model"
    n_groups = len(design.group_labels)
    if len(design.endog) > _CHECK_MAX_ROWS or n_groups > _CHECK_MAX_GROUPS or (
            design.group_factor is None and design.use_sparse):
        return None, "not checked: building statsmodels' model would be slow for this size"
    if np.any(theta[design.theta_diagonal] < 1e-3):
        return None, ("not checked: a variance is (near) 0, where statsmodels' evaluation "
                      "switches to a pseudo-inverse")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = design.model
            _prepare_model(model, reml)
            value = float(model.loglike(np.asarray(theta, float), profile_fe=True))
    except Exception as err:  # noqa: BLE001 - a cross-check must never break a fit
        return None, f"not checked: statsmodels could not evaluate it ({type(err).__name__})"
    return value, "MixedLM.loglike evaluated at the optimum"


class _Best:
    """The best optimum so far: the highest valid likelihood, converged preferred."""
    def __init__(self):
        self.theta, self.ll, self.converged, self.max_grad = None, -np.inf, False, np.inf

    def consider(self, result, attempts: list) -> None:
        theta, ll, conv, gmax, attempt = result
        attempts.append(attempt)
        if theta is None or not np.isfinite(ll):
            return
        if ll > self.ll + 1e-8 or (conv and not self.converged and ll > self.ll - 1e-6):
            self.theta, self.ll, self.converged, self.max_grad = theta, ll, conv, gmax


def _attempt(obj, name, label, run, theta0, design, lower):
    """Run one optimiser from theta0: (theta, loglik, converged, max_grad, Attempt)."""
    theta0 = np.array(theta0, float)
    theta0[design.theta_diagonal] = np.maximum(theta0[design.theta_diagonal], lower)
    t0, e0 = time.perf_counter(), obj.evals
    try:
        theta, msg = run(obj, theta0, design, lower)
        ll = obj.loglik(theta)
        conv, gmax = _converged(obj, theta, design, lower) if np.isfinite(ll) \
            else (False, np.inf)
    except (np.linalg.LinAlgError, ValueError, FloatingPointError, OverflowError) as err:
        theta, ll, conv, gmax, msg = None, -np.inf, False, np.inf, f"{type(err).__name__}: {err}"
    return theta, ll, conv, gmax, Attempt(name, label, ll, obj.evals - e0, gmax, conv, msg,
                                          time.perf_counter() - t0)


def _inside_boundary_start(obj, best: _Best, design, lower) -> np.ndarray | None:
    """A point with a Cholesky diagonal moved off its bound where the likelihood is
    higher than at ``best`` (None when every probe is lower: a true boundary optimum)."""
    theta, found, found_ll = best.theta, None, best.ll + 1e-8
    for i in design.theta_diagonal:
        if theta[i] >= SINGULAR_TOL:
            continue
        for step in (1e-2, 1e-1, 1.0):
            trial = theta.copy()
            trial[i] = lower + step
            trial_ll = obj.loglik(trial)
            if trial_ll > found_ll:
                found, found_ll = trial, trial_ll
    return found


def _on_boundary(theta: np.ndarray, design, tol: float = SINGULAR_TOL) -> bool:
    return bool(np.any(theta[design.theta_diagonal] < tol))


# Optima with a Cholesky diagonal (unit-free) below this are re-examined: gradient methods
# stop early on the flat ridges near the bound, not only on it.
NEAR_BOUNDARY = 1e-2


# On models whose attempts so far are expected to have taken longer than this (seconds,
# _seconds_per_evaluation), the boundary restarts stop once two attempts agree on the best
# log-likelihood within _CONFIRM_TOL.
_CONFIRMED_AFTER_SECONDS = 2.0
_CONFIRM_TOL = 1e-3

# A derivative-free check of a boundary optimum runs when it is expected to cost at most
# this many seconds (Nelder-Mead takes up to 400 evaluations a parameter; an evaluation's
# cost as in _seconds_per_evaluation).
_CHECK_BUDGET_SECONDS = 0.5


def _boundary_checks(obj, best: _Best, attempts: list, design, lower,
                     derivative_free: bool = True) -> tuple[str, float]:
    """Re-examine an optimum with a Cholesky diagonal on its bound before it is reported
    as singular: L-BFGS-B restarted from the interior (each boundary diagonal back at lme4's
    start value, 1, and at 0.1, the other elements kept; lme4's start x 0.1; the first stop
    with every off-diagonal element's sign flipped: a correlation's other side), then,
    where cheap, Nelder-Mead (no derivatives) from just inside the bound. Optima near the
    bound (a diagonal below ``NEAR_BOUNDARY``) get the same. All stay in ``attempts``; the
    best is kept.

    Two boundary optima can compete: a random-slope model may stop with the intercept SD
    at 0 from lme4's start and reach a higher likelihood with a correlation of 1 from a
    small start (simulated ``y ~ x + (x | g)``, 23 groups: -292.246 against -291.403).

    The deviance's gradient in a Cholesky diagonal is 0 at 0 whatever the data, so a
    gradient method can stop on the bound of a variance that should be positive (nlme's
    Dialyzer, ``(pressure | Subject)``: intercept SD 0, REML logLik -380.445 against the
    optimum's -379.339). Returns a note for ``fit.health`` and the log-likelihood gained.
    """
    if best.theta is None or not _on_boundary(best.theta, design, NEAR_BOUNDARY):
        return "", 0.0
    first = best.ll
    singular = _on_boundary(best.theta, design)
    diag = np.asarray(design.theta_diagonal)
    near = diag[best.theta[diag] < NEAR_BOUNDARY]
    first_theta = best.theta.copy()
    restarts = []
    for value, label in ((1.0, "interior restart"), (0.1, "small interior restart")):
        restart = first_theta.copy()
        restart[near] = value
        restarts.append((label, restart))
    if not any(a.start == "start x 0.1" for a in attempts):  # the same start, the same stop
        restarts.append(("start x 0.1", default_start(design) * 0.1 + lower))
    off = np.setdiff1d(np.arange(design.n_theta), diag)
    if off.size and np.any(first_theta[off] != 0):  # the other sign of each correlation
        mirrored = first_theta.copy()
        mirrored[near], mirrored[off] = 1.0, -first_theta[off]
        restarts.append(("mirrored restart", mirrored))
    per_eval = _seconds_per_evaluation(obj, attempts)
    expensive = sum(a.n_evals for a in attempts) * per_eval > _CONFIRMED_AFTER_SECONDS
    for label, restart in restarts:
        result = _attempt(obj, "L-BFGS-B", label, _lbfgsb, restart, design, lower)
        best.consider(result, attempts)
        # On a large model, stop once a restart lands on the best optimum that another
        # attempt reached as well: it is confirmed (a 13,050-row crossed 4 x 4 model spent
        # 5 s on three more restarts that all returned it).
        agreeing = sum(best.ll - a.loglik < _CONFIRM_TOL for a in attempts)
        if expensive and best.ll - result[1] < _CONFIRM_TOL and agreeing >= 2:
            break
    checked = ["interior restarts"]
    if derivative_free and per_eval * 400 * design.n_theta <= _CHECK_BUDGET_SECONDS:
        inside = best.theta.copy()
        inside[diag] = np.maximum(inside[diag], lower + 0.1)
        best.consider(_attempt(obj, "Nelder-Mead", "boundary check", _nelder_mead, inside,
                               design, lower), attempts)
        checked.append("a derivative-free (Nelder-Mead) check")
    gain = best.ll - first
    how = " and ".join(checked)
    what = "stopped on a boundary (a zero variance or a correlation of +/-1)" if singular \
        else "stopped near a boundary (a Cholesky diagonal below 0.01)"
    if gain > 1e-6:
        where = "on the boundary" if _on_boundary(best.theta, design) else \
            "inside the boundary (not singular)"
        return (f"the first optimiser {what} at log-likelihood {first:.3f}; {how} found "
                f"{best.ll:.3f} (+{gain:.3g}), {where}"), gain
    if singular:
        return f"the boundary optimum was confirmed by {how}", gain
    return f"the optimum near the boundary was confirmed by {how}", gain


def estimate(design, reml: bool, start: np.ndarray | None = None,
             engine: str = "mixedkit", crosscheck: bool = True,
             derivative_free_check: bool = True) -> Estimate:
    """Maximise the (REML) likelihood over theta; see the module docstring.

    The first attempt is bounded L-BFGS-B from ``start`` (lme4's start values when
    None).  If it fails, returns a non-finite likelihood or stops with a large
    gradient, L-BFGS-B from two other starts and then Nelder-Mead from the best point
    so far (polished by L-BFGS-B; its evaluations capped so that it takes about
    ``_NELDER_MEAD_BUDGET`` seconds at most) follow.  The best valid optimum is kept.  An optimum
    with a Cholesky diagonal on or near its bound is re-examined before it is reported
    (``_boundary_checks``: interior restarts and, where cheap, Nelder-Mead).

    ``engine="mixedkit"`` evaluates the likelihood with :mod:`mixedkit.model.engine`
    (bounded at exactly 0); ``"statsmodels"`` with ``MixedLM.loglike`` and ``score``
    (bounded at ``THETA_LOWER``, where statsmodels is still exact). With
    ``crosscheck``, statsmodels' own log-likelihood at the engine's optimum can be
    asked for later (``Estimate.statsmodels_check``, where building its model is cheap).
    ``derivative_free_check=False`` leaves the Nelder-Mead check of a boundary optimum out
    (the interior restarts stay): for the many refits of a bootstrap or a power simulation.

    Raises
    ------
    FitError
        No attempt reached a finite likelihood.
    """
    if engine != "mixedkit":
        design.require_statsmodels("engine='statsmodels'")
    if engine == "mixedkit":
        obj_cm, lower = EngineObjective(design.engine, reml), 0.0
    else:
        model = design.model
        _prepare_model(model, reml)
        obj_cm, lower = _Objective(model), THETA_LOWER
    with warnings.catch_warnings(record=True) as record, obj_cm as obj, blas_threads():
        warnings.simplefilter("always")
        if engine != "mixedkit":
            _prepare_model(design.model, reml)
        base = default_start(design)
        plan = [("L-BFGS-B", "warm start" if start is not None else "lme4 start",
                 _lbfgsb, None if start is None else np.asarray(start, float))]
        # Gradient restarts first; Nelder-Mead (up to 400 evaluations a parameter) last and
        # within a time budget: on a 4 x 4 crossed model it took 123 s where the restarts
        # had already found the optimum in 5 s.
        plan += [("L-BFGS-B", "start x 0.1", _lbfgsb, base * 0.1 + lower),
                 ("L-BFGS-B", "start x 10", _lbfgsb, base * 10),
                 ("Nelder-Mead", "best so far", _nelder_mead, None)]
        attempts: list[Attempt] = []
        best = _Best()
        for name, label, run, theta0 in plan:
            if theta0 is None:
                theta0 = best.theta if best.theta is not None else base
            if run is _nelder_mead:
                if best.theta is not None and _on_boundary(best.theta, design, NEAR_BOUNDARY):
                    break  # the boundary checks below re-examine it (and cost less)
                run = _budgeted_nelder_mead(obj, attempts, design.n_theta)
            best.consider(_attempt(obj, name, label, run, theta0, design, lower), attempts)
            if best.converged:
                break
        # The deviance depends on a Cholesky diagonal through its square, so its gradient
        # there is 0 at 0 whatever the data: L-BFGS-B can stop on the bound with a
        # variance that should be positive. Probe inside the bound and go on from there.
        for _ in range(3):
            inside = _inside_boundary_start(obj, best, design, lower) \
                if best.theta is not None else None
            if inside is None:
                break
            before = best.ll
            best.consider(_attempt(obj, "L-BFGS-B", "inside the boundary", _lbfgsb, inside,
                                   design, lower), attempts)
            if not best.ll > before + 1e-8:
                break
        boundary_note, boundary_gain = _boundary_checks(obj, best, attempts, design, lower,
                                                        derivative_free_check)
        best_theta, best_ll, best_conv, best_grad = best.theta, best.ll, best.converged, \
            best.max_grad
        if best_theta is not None:
            best_theta, best_ll = _snap_to_boundary(obj, best_theta, best_ll, design, lower)
        caught = [str(w.message) for w in record]
    if best_theta is None:
        raise FitError(
            "no optimisation attempt reached a finite likelihood "
            f"({'; '.join(a.message for a in attempts)}). Check the data for extreme values, "
            "rescale the response and predictors, or simplify the random effects"
        )
    return Estimate(best_theta, best_ll, best_conv, best_grad, attempts, caught, engine, lower,
                    engine == "mixedkit" and crosscheck, boundary_note, boundary_gain)


def _tril_order(k: int, order: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a packed lower triangle: statsmodels packs rows, lme4 columns."""
    rows, cols = np.tril_indices(k)
    if order == "lme4":
        by_column = np.lexsort((rows, cols))
        rows, cols = rows[by_column], cols[by_column]
    return rows, cols


def user_theta(design, theta: np.ndarray, order: str = "statsmodels") -> np.ndarray:
    """theta of the unit-free model in the data's units.

    ``order="statsmodels"`` packs each block's Cholesky factor row by row (``MixedLM``'s
    ``start_params`` where statsmodels can express the model); ``"lme4"`` column by
    column, as ``lme4::getME(fit, "theta")`` (the same for blocks of one or two terms).
    The blocks stay in the design's order.
    """
    pieces = [chol[_tril_order(block.q, order)]
              for block, chol in zip(design.blocks, _unit_factors(design, theta, user=True))]
    return np.concatenate(pieces) if pieces else np.zeros(0)


def _unit_factors(design, theta: np.ndarray, user: bool) -> list[np.ndarray]:
    chols = block_factors(design, theta)
    if user:  # Lambda of z / scale is Lambda / scale (row-wise) for z
        chols = [chol / block.scale[:, None] for block, chol in zip(design.blocks, chols)]
    return chols


def lme4_term_order(design, random_terms) -> list[int]:
    """The design's covariance blocks in the order of lme4's random-effects terms.

    lme4 lists the terms as its ``findbars`` expands the formula (``||`` and ``/`` already
    expanded, as ``random_terms`` are: ``prep.random``), then, when a term has more levels
    than the one before it, sorts them by decreasing number of levels with R's
    ``rev(order(nl))`` (so tied terms end in reverse order): ``lme4:::mkReTrms``.
    """
    position = [next(i for i, t in enumerate(random_terms) if t is b.term) for b in design.blocks]
    findbars = sorted(range(len(design.blocks)), key=lambda i: (position[i], i))
    nl = [design.blocks[i].n_levels for i in findbars]
    if not any(b > a for a, b in itertools.pairwise(nl)):
        return findbars
    ascending = sorted(range(len(nl)), key=lambda i: nl[i])  # stable, as R's order()
    return [findbars[i] for i in reversed(ascending)]


def lme4_theta(design, random_terms, theta: np.ndarray) -> np.ndarray:
    """theta as ``lme4::getME(fit, "theta")``: data units, each block's Cholesky factor
    packed column by column, the blocks in lme4's term order (:func:`lme4_term_order`)."""
    chols = _unit_factors(design, theta, user=True)
    order = lme4_term_order(design, random_terms)
    pieces = [chols[i][_tril_order(design.blocks[i].q, "lme4")] for i in order]
    return np.concatenate(pieces) if pieces else np.zeros(0)


def std_theta(design, theta_user: np.ndarray, order: str = "statsmodels") -> np.ndarray:
    """Inverse of :func:`user_theta`: theta in the data's units, unit-free and packed row
    by row."""
    theta_user = np.asarray(theta_user, float)
    pieces = []
    for block in design.blocks:
        chol = np.zeros((block.q, block.q))
        chol[_tril_order(block.q, order)] = theta_user[block.theta_slice]
        pieces.append((chol * block.scale[:, None])[np.tril_indices(block.q)])
    return np.concatenate(pieces) if pieces else np.zeros(0)


def profiled_estimates(design, theta: np.ndarray, reml: bool) -> tuple[np.ndarray, float]:
    """Fixed effects (GLS) and residual variance at ``theta``, as statsmodels profiles them."""
    # statsmodels' mixed-model module costs 0.2 s to import: only where it is used
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    model = design.model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _prepare_model(model, reml)
        params = MixedLMParams.from_packed(theta, model.k_fe, model.k_re, use_sqrt=True,
                                           has_fe=False)
        fe_params, _ = model.get_fe_params(params.cov_re, params.vcomp)
        scale = model.get_scale(fe_params, params.cov_re, params.vcomp)
    return np.asarray(fe_params, float), float(scale)


def statsmodels_results(model, theta: np.ndarray, reml: bool, converged: bool):
    """A statsmodels ``MixedLMResults`` at ``theta``, built as ``MixedLM.fit`` builds it.

    ``MixedLM.fit`` inverts the Hessian with ``np.linalg.inv``, which raises on
    boundary fits; a pseudo-inverse is used here instead.
    """
    # statsmodels' mixed-model module costs 0.2 s to import: only where it is used
    from statsmodels.regression.mixed_linear_model import (
        MixedLMParams,
        MixedLMResults,
        MixedLMResultsWrapper,
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _prepare_model(model, reml)
        params = MixedLMParams.from_packed(theta, model.k_fe, model.k_re, use_sqrt=True,
                                           has_fe=False)
        cov_re_u, vcomp_u = params.cov_re, params.vcomp
        fe_params, _ = model.get_fe_params(cov_re_u, vcomp_u)
        params.fe_params = fe_params
        scale = model.get_scale(fe_params, cov_re_u, vcomp_u)
        try:
            hess, _ = model.hessian(params)
            pcov = np.linalg.pinv(-hess)
        except (np.linalg.LinAlgError, ValueError):
            k = model.k_fe + model.k_re2 + model.k_vc
            pcov = np.full((k, k), np.nan)
        packed = params.get_packed(use_sqrt=False, has_fe=True)
        res = MixedLMResults(model, packed, pcov / scale)
    res.params_object = params
    res.fe_params = fe_params
    res.cov_re = scale * cov_re_u
    res.vcomp = scale * vcomp_u
    res.scale = scale
    res.cov_re_unscaled = cov_re_u
    res.method = "REML" if reml else "ML"
    res.converged = converged
    res.hist = None
    res.reml = reml
    res.cov_pen = None
    res.k_fe, res.k_re, res.k_re2, res.k_vc = model.k_fe, model.k_re, model.k_re2, model.k_vc
    res.use_sqrt = model.use_sqrt
    res.freepat = None
    return MixedLMResultsWrapper(res)


def block_factors(design, theta: np.ndarray) -> list[np.ndarray]:
    """Each block's lower-triangular factor of the relative covariance (sigma^2 L L' is
    the block's covariance), from theta packed row by row."""
    out = []
    for block in design.blocks:
        chol = np.zeros((block.q, block.q))
        chol[np.tril_indices(block.q)] = theta[block.theta_slice]
        out.append(chol)
    return out


def block_covariances(design, theta: np.ndarray, sigma2: float) -> list[np.ndarray]:
    """Each block's random-effect covariance matrix in the data's units at the unit-free
    ``theta`` and residual variance ``sigma2``."""
    return [sigma2 * chol @ chol.T for chol in _unit_factors(design, theta, user=True)]


def theta_from_covariances(design, covariances: list[np.ndarray], sigma2: float) -> np.ndarray:
    """Inverse of :func:`block_covariances`: the unit-free theta (packed row by row) of
    the blocks' covariances in the data's units. A singular covariance (a variance of 0, a
    correlation of +/-1) gets the factor with zero diagonal entries that lme4 would report."""
    pieces = []
    for block, cov in zip(design.blocks, covariances):
        rel = np.asarray(cov, float) / sigma2
        chol = np.zeros((block.q, block.q))
        for j in range(block.q):  # Cholesky that accepts a positive semidefinite matrix
            d = rel[j, j] - chol[j, :j] @ chol[j, :j]
            chol[j, j] = np.sqrt(max(d, 0.0))
            for i in range(j + 1, block.q):
                if chol[j, j] > 1e-12 * np.sqrt(max(rel[j, j], 1e-300)):
                    chol[i, j] = (rel[i, j] - chol[i, :j] @ chol[j, :j]) / chol[j, j]
        pieces.append((chol * block.scale[:, None])[np.tril_indices(block.q)])
    return np.concatenate(pieces) if pieces else np.zeros(0)


def variance_rows(design, theta: np.ndarray, scale: float) -> list[list]:
    """The random effects' rows of a variance-components table (``group, term, variance,
    std_dev, covariance, corr``) at the unit-free ``theta`` and residual variance
    ``scale``: one row per effect, then one per correlated pair."""
    rows = []
    for block, chol in zip(design.blocks, block_factors(design, user_theta(design, theta))):
        cov = scale * chol @ chol.T
        sd = np.sqrt(np.diag(cov))
        for name, var, s in zip(block.terms, np.diag(cov), sd):
            rows.append([block.group, name, var, s, np.nan, np.nan])
        for i in range(len(block.terms)):
            for j in range(i):
                corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                rows.append([block.group, f"corr({block.terms[j]}, {block.terms[i]})",
                             np.nan, np.nan, cov[i, j], corr])
    return rows


def relative_factor_blocks(design, theta: np.ndarray):
    """statsmodels' view: the factor of the correlated block, and the variance components'
    SDs (a model statsmodels can express; the reference path below)."""
    chols = block_factors(design, theta)
    if design.re_block is not None:
        chol, rest = chols[0], chols[1:]
    else:
        chol, rest = np.zeros((0, 0)), chols
    return chol, np.array([c[0, 0] for c in rest])


def _group_blocks(design):
    """Per statsmodels group: (row indices, random design Z_g as a list of column blocks).

    The reference path (a loop over groups, as statsmodels evaluates); tests check the
    engine against it.
    """
    model = design.model
    vc_mats, _ = design._vc_mats(scaled=True)
    for gi, label in enumerate(model.group_labels):
        rows = np.asarray(model.row_indices[label])
        re = model.exog_re_li[gi] if model.k_re else None
        vcs = [vc_mats[j][gi] for j in range(len(design.vc_names))]
        yield rows, re, vcs


def fixed_effects_vcov(design, theta: np.ndarray, scale: float) -> np.ndarray:
    """lme4's covariance of the fixed effects: scale * (X' V^-1 X)^-1 at theta.

    The reference path, group by group (the engine computes the same in
    ``Engine.profile``; tests compare them).

    With the relative covariance Lambda Lambda' and Zs = Z Lambda,
    X' V^-1 X = X'X - (Zs'X)' (I + Zs'Zs)^-1 (Zs'X), which stays finite on the
    boundary where Lambda is singular.
    """

    chol, sds = relative_factor_blocks(design, theta)
    x = design.exog.to_numpy()
    p = x.shape[1]
    xtvx = np.zeros((p, p))
    for rows, re, vcs in _group_blocks(design):
        xg = x[rows]
        parts = []
        if re is not None:
            parts.append(re @ chol)
        for sd, mat in zip(sds, vcs):
            parts.append(mat * sd)
        if any(sparse.issparse(m) for m in parts):
            zs = sparse.hstack([sparse.csr_array(m) for m in parts]).tocsr()
            ztz = (zs.T @ zs).toarray()
            ztx = zs.T @ xg
        else:
            zs = np.hstack(parts)
            ztz = zs.T @ zs
            ztx = zs.T @ xg
        m = ztz + np.eye(ztz.shape[0])
        xtvx += xg.T @ xg - ztx.T @ np.linalg.solve(m, ztx)
    return scale * np.linalg.pinv(xtvx)
