"""Parametric bootstrap: simulate from a fit, refit, collect — in parallel.

One implementation serves every bootstrap in mixedkit (ICC and R² intervals,
likelihood-ratio p-values).  Each replicate gets its own random stream spawned from
``seed``, so results do not depend on the executor or on how replicates are grouped.
Refits start from the original estimates (warm start).  A refit that fails is
recorded (its values are NaN) instead of stopping the run.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
import pandas as pd

from ..arguments import check_positive_int
from ..errors import MixedkitError
from ..model.state import FitState
from ..parallel import run_tasks, spawn_seeds
from .variance import icc_values, r2_values, variance_parts

__all__ = ["bootstrap_variance", "draw_response", "refit_to", "run_bootstrap", "simulate"]


def simulate(state: FitState, rng: np.random.Generator) -> np.ndarray:
    """One response vector drawn from the fitted model (fixed + random + residual)."""
    return draw_response(state.design, state.beta, state.theta, state.sigma2, rng)


def draw_response(design, beta: np.ndarray, theta: np.ndarray, sigma2: float,
                  random: np.random.Generator | np.random.SeedSequence) -> np.ndarray:
    """One response drawn from the model of ``design`` at the given parameters.

    y = X beta + sum_f Z_f b_f + e with b_f = sigma Lambda_f(theta) u, u and
    e sqrt(w)/sigma standard normal (w the prior weights, 1 without); ``theta`` is unit-free (statsmodels' packed order) as in
    :class:`~mixedkit.model.state.FitState`.

    ``random`` is a Generator (residuals, then each factor's effects, drawn in turn) or
    a SeedSequence: then the residuals and each factor's effects come from their own
    child streams, the effects in the order the levels first appear, so that with the
    same seed row i gets the same residual and the j-th group the same effect in a
    design with 10 groups and in one with 40 whose first groups are the same
    (:mod:`mixedkit.model.extend`): common random numbers along a power curve.
    """
    common = isinstance(random, np.random.SeedSequence)

    def stream(k: int) -> np.random.Generator:
        if not common:
            return random
        # the k-th child of the seed, without spawn() (which would change the seed)
        return np.random.default_rng(np.random.SeedSequence(
            random.entropy, spawn_key=tuple(random.spawn_key) + (k,)))

    sigma = np.sqrt(sigma2)
    e = sigma * stream(0).standard_normal(len(design.endog))
    if design.weights is not None:  # residual variance sigma^2 / w
        e /= np.sqrt(design.weights)
    y = design.exog.to_numpy(float) @ np.asarray(beta, float) + e
    for k, factor in enumerate(design.factors(), start=1):
        u = stream(k).standard_normal((factor.n_levels, factor.q))
        if common:
            _, first = np.unique(factor.codes, return_index=True)
            appearance = np.empty(len(first), int)
            appearance[np.argsort(first, kind="stable")] = np.arange(len(first))
            u = u[appearance]
        b = sigma * u @ factor.lam(theta).T
        y += np.einsum("ij,ij->i", factor.z, b[factor.codes])
    return y


def refit_to(state: FitState, y: np.ndarray, *, reml: bool | None = None):
    """Refit the model of ``state`` to a new response ``y``, warm-started at its estimates.

    Returns the estimation result and a design carrying ``y``.
    """
    return state.refit(np.asarray(y, float), reml=reml)


def _variance_replicate(state: FitState, what: str, rng: np.random.Generator) -> dict:
    est, design = refit_to(state, simulate(state, rng))
    sol = design.engine.solve(est.theta, state.reml)
    parts = variance_parts(state, est.theta, sol.sigma2, sol.beta)
    values = icc_values(parts, float(np.mean(np.bincount(state.design.groups)))) \
        if what == "icc" else r2_values(parts)
    return {"|".join(k if isinstance(k, tuple) else (k,)): v for k, v in values.items()}


# What a refit of simulated data may raise and the bootstrap records as a failed replicate
# (anything else is a bug and propagates).
REFIT_ERRORS = (MixedkitError, np.linalg.LinAlgError, ValueError, FloatingPointError)


def _replicates(replicate, args: tuple, seeds) -> list[dict]:
    """``replicate(*args, rng)`` for each seed; a failure is a row with its ``error``."""
    out = []
    for seed in seeds:
        try:
            out.append(replicate(*args, np.random.default_rng(seed)))
        except REFIT_ERRORS as err:
            out.append({"error": f"{type(err).__name__}: {err}"})
    return out


def run_bootstrap(replicate, args: tuple, n_boot: int, *, seed=None,
                  executor: Executor | None = None, n_jobs: int | None = None,
                  progress: bool = True, label: str = "bootstrap") -> pd.DataFrame:
    """Run ``replicate(*args, rng)`` for ``n_boot`` replicates and stack the rows.

    Parameters
    ----------
    replicate : callable
        Top-level function (picklable) returning one dict for one random stream; a
        refit failure (:data:`REFIT_ERRORS`) makes that replicate a failed row.
    args : tuple
        What every replicate needs (the fit's state), sent once per worker
        (:func:`mixedkit.parallel.run_tasks`).
    n_boot : int
        Number of replicates.
    seed : int, SeedSequence, Generator or None
        Root of the per-replicate random streams.
    executor : concurrent.futures.Executor, optional
        Default: a process pool with ``n_jobs`` workers, each using one BLAS thread.
        Any executor with ``submit`` works, e.g. dask's ``Client.get_executor()``.
    n_jobs : int, optional
        Workers of the default pool (default: ``os.cpu_count()``; 1 runs in this
        process).
    progress : bool
        A progress bar (tqdm; a widget in Jupyter) on stderr for runs longer than two
        seconds; False shows none.

    Returns
    -------
    DataFrame
        One row per replicate; a failed replicate has NaN values and its message in
        an ``error`` column.
    """
    seeds = spawn_seeds(seed, check_positive_int(n_boot, "n_boot"))
    rows = run_tasks(_replicates, (replicate, args), seeds, executor=executor, n_jobs=n_jobs, progress=progress,
                     label=label, unit="refits")
    return pd.DataFrame(rows)


def bootstrap_variance(state: FitState, n_boot: int, *, seed=None, executor=None, n_jobs=None,
                       progress=True, what: str = "icc") -> pd.DataFrame:
    """Bootstrap draws of ICC (``what="icc"``) or R² (``"r2"``) for a fit's ``state``."""
    return run_bootstrap(_variance_replicate, (state, what), n_boot, seed=seed, executor=executor,
                         n_jobs=n_jobs, progress=progress, label=f"{what} bootstrap")
