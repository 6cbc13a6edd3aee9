"""Parametric bootstrap: simulate from a fit, refit, collect — in parallel.

One implementation serves every bootstrap in mixedkit (ICC and R² intervals,
likelihood-ratio p-values).  Each replicate gets its own random stream spawned from
``seed``, so results do not depend on the executor or on how replicates are grouped.
Refits start from the original estimates (warm start).  A refit that fails is
recorded (its values are NaN) instead of stopping the run.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed

import numpy as np
import pandas as pd

from .errors import InputTypeError, InputValueError, MixedkitError

__all__ = ["bootstrap_variance", "refit_to", "run_bootstrap", "simulate"]


def simulate(state, rng: np.random.Generator) -> np.ndarray:
    """One response vector drawn from the fitted model (fixed + random + residual)."""
    design = state.design
    sigma = np.sqrt(state.sigma2)
    y = state.fixed_part + sigma * rng.standard_normal(len(design.endog))
    for factor in design.engine.factors:
        lam = factor.lam(state.theta)
        b = sigma * rng.standard_normal((factor.n_levels, factor.q)) @ lam.T
        y += np.einsum("ij,ij->i", factor.z, b[factor.codes])
    return y


def refit_to(state, y: np.ndarray, *, reml: bool | None = None):
    """Refit the model of ``state`` to a new response ``y``, warm-started at its estimates.

    Returns the estimation result and a design carrying ``y``.
    """
    return state.refit(np.asarray(y, float), reml=reml)


def _variance_chunk(state, what, seeds):
    from .variance import icc_values, r2_values, variance_parts

    sizes = np.bincount(state.design.groups)
    out = []
    for seed in seeds:
        try:
            rng = np.random.default_rng(seed)
            est, design = refit_to(state, simulate(state, rng))
            sol = design.engine.solve(est.theta, state.reml)
            parts = variance_parts(state, est.theta, sol.sigma2, sol.beta)
            values = icc_values(parts, float(np.mean(sizes))) if what == "icc" \
                else r2_values(parts)
            out.append({"|".join(k if isinstance(k, tuple) else (k,)): v
                        for k, v in values.items()})
        except (MixedkitError, np.linalg.LinAlgError, ValueError, FloatingPointError) as err:
            out.append({"error": f"{type(err).__name__}: {err}"})
    return out


def run_bootstrap(task, args: tuple, n_boot: int, *, seed=None, executor: Executor | None = None,
                  n_jobs: int | None = None, progress: bool = True,
                  label: str = "bootstrap") -> pd.DataFrame:
    """Run ``task(*args, seeds)`` over ``n_boot`` replicates and stack the rows.

    Parameters
    ----------
    task : callable
        Top-level function (picklable) returning one dict per seed.
    n_boot : int
        Number of replicates.
    seed : int, SeedSequence or None
        Root of the per-replicate random streams.
    executor : concurrent.futures.Executor, optional
        Default: a process pool with ``n_jobs`` workers, each using one BLAS thread.
        Any executor with ``submit`` works, e.g. dask's ``Client.get_executor()``.
    n_jobs : int, optional
        Workers of the default pool (default: ``os.cpu_count()``; 1 runs in this
        process). Ignored when ``executor`` is given.
    progress : bool
        Report progress on stderr when the run takes more than two seconds.

    Returns
    -------
    DataFrame
        One row per replicate; a failed replicate has NaN values and its message in
        an ``error`` column.
    """
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool):
        raise InputTypeError(f"n_boot must be a positive integer; got {n_boot!r}")
    if n_boot < 1:
        raise InputValueError(f"n_boot must be a positive integer; got {n_boot!r}")
    if isinstance(seed, np.random.Generator):  # reproducible for a generator in a given state
        seed = np.random.SeedSequence(int(seed.integers(2**63)))
    try:
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    except (TypeError, ValueError):
        raise InputTypeError(f"seed must be None, an integer, a numpy SeedSequence or Generator; "
                             f"got {seed!r}") from None
    seeds = root.spawn(int(n_boot))
    if n_jobs is not None and not isinstance(n_jobs, (int, np.integer)):
        raise InputTypeError(f"n_jobs must be a positive integer or None; got {n_jobs!r}")
    if n_jobs is not None and n_jobs < 1:
        raise InputValueError(f"n_jobs must be a positive integer or None; got {n_jobs!r}")
    workers = int(n_jobs or os.cpu_count() or 1)
    n_chunks = min(len(seeds), 4 * workers)
    chunks = [seeds[i::n_chunks] for i in range(n_chunks)]
    own = executor is None
    if own:
        executor = ProcessPoolExecutor(max_workers=workers, initializer=_one_blas_thread) \
            if workers > 1 and n_boot > 1 else _SerialExecutor()
    start, done, results = time.perf_counter(), 0, [None] * n_chunks
    try:
        futures = {executor.submit(task, *args, chunk): i for i, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            done += len(chunks[i])
            elapsed = time.perf_counter() - start
            if progress and elapsed > 2:
                failed = sum("error" in r for part in results if part for r in part)
                print(f"\r{label}: {done}/{n_boot} refits ({failed} failed), {elapsed:.0f} s",
                      end="" if done < n_boot else "\n", file=sys.stderr, flush=True)
    finally:
        if own:
            executor.shutdown()
    # Undo the round-robin chunking so row i is replicate i.
    rows = [None] * n_boot
    for i, part in enumerate(results):
        for j, row in enumerate(part):
            rows[i + j * n_chunks] = row
    return pd.DataFrame(rows)


def _one_blas_thread() -> None:
    """Worker start-up: one BLAS thread per process.

    Each worker otherwise starts as many BLAS threads as there are cores; on small
    matrices the processes then fight for the cores and 2 workers ran slower than 1
    (measured: 200 refits of sleepstudy, 5.8 s with 2 workers vs 4.1 s with 1;
    2.3 s vs 4.4 s with one thread each).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


class _SerialExecutor(Executor):
    """Runs tasks immediately (one core, or a single replicate)."""

    def submit(self, fn, /, *args, **kwargs):
        from concurrent.futures import Future

        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - delivered through the future
            future.set_exception(err)
        return future


def bootstrap_variance(fit, n_boot: int, *, seed=None, executor=None, n_jobs=None,
                       progress=True, what: str = "icc") -> pd.DataFrame:
    """Bootstrap draws of ICC (``what="icc"``) or R² (``"r2"``) for ``fit``."""
    return run_bootstrap(_variance_chunk, (fit.state, what), n_boot, seed=seed, executor=executor,
                         n_jobs=n_jobs, progress=progress, label=f"{what} bootstrap")
