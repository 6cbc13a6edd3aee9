"""Many independent tasks on any executor: seeds, chunks, shared data, progress.

Every job in mixedkit that repeats a fit (bootstrap, power simulation, one model per
response) goes through :func:`run_tasks`:

- **Executors.** Local processes by default (each with one BLAS thread: on small
  matrices several processes with many BLAS threads each fight for the cores), any
  :class:`concurrent.futures.Executor` (``ThreadPoolExecutor``, a user's process
  pool, dask's ``Client.get_executor()``), or a dask ``distributed.Client``.
- **Shared data once per worker.**  What every task needs (the data, the design) is
  sent to each worker once, not with every task: through the pool's initializer for
  mixedkit's own process pool, through ``Client.scatter(..., broadcast=True)`` on
  dask. Other executors receive it with each chunk (there are few chunks).
- **Chunks.**  Items are dealt round-robin into at most ``8 x workers`` chunks (at
  least one item each), so the per-task overhead (a pickle, a round trip) is paid a
  few dozen times however many items there are, and a curve whose later points are
  slower still spreads evenly.
- **Reproducible.**  Items carry their own seeds (:func:`spawn_seeds`): results do not
  depend on the executor, the number of workers or the chunking.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed

import numpy as np
from threadpoolctl import threadpool_limits

from .arguments import check_positive_int
from .errors import InputTypeError

__all__ = ["check_n_jobs", "run_tasks", "spawn_seeds"]

_SHARED: dict[str, object] = {}  # a worker's copy of each run's shared data
_RUN_IDS = itertools.count()


def spawn_seeds(seed, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent random streams from ``seed`` (None, int, SeedSequence or Generator).

    A Generator is used in its current state (one draw), so passing the same generator
    twice gives two different, reproducible runs.
    """
    if isinstance(seed, np.random.Generator):
        seed = np.random.SeedSequence(int(seed.integers(2**63)))
    try:
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    except (TypeError, ValueError):
        raise InputTypeError(f"seed must be None, an integer, a numpy SeedSequence or Generator; "
                             f"got {seed!r}") from None
    return root.spawn(int(n))


def check_n_jobs(n_jobs) -> int | None:
    """Validate ``n_jobs`` (None or a positive integer)."""
    return check_positive_int(n_jobs, "n_jobs", allow_none=True)


def run_tasks(task: Callable, shared: tuple, items: Sequence, *, executor=None,
              n_jobs: int | None = None, progress: bool = True, label: str = "tasks",
              unit: str = "fits") -> list:
    """Run ``task(*shared, chunk)`` over chunks of ``items``; one result per item, in order.

    Parameters
    ----------
    task : callable
        Top-level (picklable) function; called with the shared objects and a list of
        items, it returns one result per item. It should catch the errors of a single
        item itself (a raised exception stops the run).
    shared : tuple
        Objects every chunk needs, sent to each worker once where the executor allows.
    items : sequence
        The work, one entry per result (seeds, response names, ...).
    executor : concurrent.futures.Executor or distributed.Client, optional
        Default: a process pool with ``n_jobs`` workers (one BLAS thread each).
    n_jobs : int, optional
        Workers of the default pool (default: ``os.cpu_count()``; 1 runs in this
        process). With a given executor, only used to size the chunks.
    progress : bool
        Report progress on stderr once the run has taken more than two seconds.
    label, unit : str
        Words of the progress line (``"power simulation: 120/500 fits ..."``).

    Returns
    -------
    list
        ``result[i]`` belongs to ``items[i]``.
    """
    n_jobs = check_n_jobs(n_jobs)
    items = list(items)
    if not items:
        return []
    executor = _as_executor(executor)
    workers = _workers(executor, n_jobs)
    n_chunks = min(len(items), 8 * workers) if workers > 1 else min(len(items), 8)
    chunks = [items[i::n_chunks] for i in range(n_chunks)]
    own = executor is None
    key = f"{os.getpid()}-{next(_RUN_IDS)}"
    if own:
        executor = ProcessPoolExecutor(max_workers=min(workers, len(items)), initializer=_start_worker,
                                       initargs=(key, shared)) \
            if workers > 1 and len(items) > 1 else _SerialExecutor()
    start, done, results = time.perf_counter(), 0, [None] * n_chunks
    futures: dict = {}
    try:
        submit, payload = _submitter(executor, own, key, shared)
        futures = {submit(_run_chunk, task, payload, chunk): i for i, chunk in enumerate(chunks)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            done += len(chunks[i])
            elapsed = time.perf_counter() - start
            if progress and elapsed > 2:
                print(f"\r{label}: {done}/{len(items)} {unit}, {elapsed:.0f} s",
                      end="" if done < len(items) else "\n", file=sys.stderr, flush=True)
    except BaseException:  # a failed chunk or Ctrl-C: do not wait for the rest
        for future in futures:
            future.cancel()
        raise
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
    # Undo the round-robin dealing so result i belongs to item i.
    out = [None] * len(items)
    for i, part in enumerate(results):
        if len(part) != len(chunks[i]):
            raise RuntimeError(f"{label}: a task returned {len(part)} results for "
                               f"{len(chunks[i])} items")
        for j, value in enumerate(part):
            out[i + j * n_chunks] = value
    return out


# ------------------------------------------------------------------ executors
def _is_dask_client(obj) -> bool:
    return type(obj).__module__.startswith("distributed") and hasattr(obj, "scatter")


def _as_executor(executor):
    """A dask Client becomes its executor; anything else must have ``submit``."""
    if executor is None:
        return None
    if _is_dask_client(executor):
        return executor.get_executor()
    if not callable(getattr(executor, "submit", None)):
        raise InputTypeError(
            f"executor must be a concurrent.futures.Executor (or a dask distributed.Client); "
            f"got {type(executor).__name__}. Use e.g. ProcessPoolExecutor(), "
            "ThreadPoolExecutor() or client.get_executor()")
    return executor


def _dask_client(executor):
    client = getattr(executor, "_client", None)
    return client if client is not None and _is_dask_client(client) else None


def _workers(executor, n_jobs: int | None) -> int:
    if n_jobs is not None:
        return n_jobs
    if executor is None:
        return os.cpu_count() or 1
    client = _dask_client(executor)
    if client is not None:
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001 - only sizes the chunks
            return os.cpu_count() or 1
    return int(getattr(executor, "_max_workers", None) or os.cpu_count() or 1)


def _submitter(executor, own: bool, key: str, shared: tuple):
    """How to submit a chunk, and what stands for ``shared`` in each submission."""
    if own and isinstance(executor, ProcessPoolExecutor):
        return executor.submit, _SharedKey(key)  # the initializer put it on every worker
    client = _dask_client(executor)
    if client is not None:
        scattered = client.scatter(list(shared), broadcast=True, hash=False)

        def submit(fn, *args):
            return executor.submit(fn, *args, pure=False)

        return submit, scattered  # dask replaces the futures by the worker's copy
    return executor.submit, shared


class _SharedKey:
    """Names a run's shared data held by each worker of mixedkit's own pool."""
    def __init__(self, key: str):
        self.key = key


def _start_worker(key: str, shared: tuple) -> None:
    """Process start-up: keep the shared data; one BLAS thread per process.

    Each worker otherwise starts as many BLAS threads as there are cores; on small
    matrices the processes then fight for the cores and 2 workers ran slower than 1
    (measured: 200 refits of sleepstudy, 5.8 s with 2 workers vs 4.1 s with 1;
    2.3 s vs 4.4 s with one thread each).
    """

    _SHARED[key] = shared
    threadpool_limits(limits=1)


def _run_chunk(task, payload, chunk):
    shared = _SHARED[payload.key] if isinstance(payload, _SharedKey) else tuple(payload)
    if _in_worker_process():
        with threadpool_limits(limits=1):  # dask workers or a user's pool: one BLAS thread
            return task(*shared, chunk)
    return task(*shared, chunk)


def _in_worker_process() -> bool:

    if multiprocessing.parent_process() is not None:
        return True
    return "distributed" in sys.modules and _on_dask_worker()


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


class _SerialExecutor(Executor):
    """Runs tasks immediately (one core, or a single item)."""
    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - delivered through the future
            future.set_exception(err)
        return future
