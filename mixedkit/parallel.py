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
  slower still spreads evenly. In this process (``n_jobs=1``) a chunk costs nothing:
  one per item (up to 1000), so the progress bar moves with each.
- **Reproducible.**  Items carry their own seeds (:func:`spawn_seeds`): results do not
  depend on the executor, the number of workers or the chunking.
- **Lost workers.**  When a process of mixedkit's own pool dies (the out-of-memory
  killer, a crash in a BLAS library), the finished chunks are kept and the unfinished
  ones re-run on a fresh pool (at most ``MAX_FRESH_POOLS`` times), with a
  ``WorkerWarning``; the results are those of an undisturbed run.
  A pool that keeps breaking, or a broken pool the user passed, raises
  ``WorkerLostError``. (dask replaces lost workers itself.)
- **Progress.**  A ``tqdm.auto`` bar on stderr (a widget in Jupyter where ipywidgets is
  installed), shown once a run has taken ``PROGRESS_DELAY`` seconds.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import TqdmWarning

from .arguments import check_positive_int
from .errors import InputTypeError, WorkerLostError, WorkerWarning

with warnings.catch_warnings():
    # In a Jupyter kernel without ipywidgets, tqdm.auto warns "IProgress not found" and
    # falls back to the text bar, which renders there too: no need to tell every user.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["MAX_FRESH_POOLS", "PROGRESS_DELAY", "check_n_jobs", "run_tasks", "spawn_seeds"]

#: Seconds a run must take before its progress bar appears (short runs stay silent).
PROGRESS_DELAY = 2.0
#: Fresh process pools mixedkit starts, per run, to replace one whose worker died.
MAX_FRESH_POOLS = 2

_MAX_CHUNKS_HERE = 1000  # in this process a chunk costs nothing: the bar moves per item
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
        A progress bar on stderr (``tqdm.auto``: a widget in Jupyter), shown once the run
        has taken ``PROGRESS_DELAY`` seconds; False shows none.
    label, unit : str
        Words of the progress bar (``"power simulation:  24%| ... | 120/500 [...fits/s]"``)
        and of the messages.

    Returns
    -------
    list
        ``result[i]`` belongs to ``items[i]``.

    Raises
    ------
    WorkerLostError
        Worker processes of mixedkit's own pool died on the first pool and on
        ``MAX_FRESH_POOLS`` fresh ones, or a process pool given as ``executor``
        broke (mixedkit cannot replace a pool it did not create).

    Warns
    -----
    WorkerWarning
        A worker process of mixedkit's own pool died and the unfinished chunks were
        re-run on a fresh pool; the results are the same as without the loss.
    """
    n_jobs = check_n_jobs(n_jobs)
    items = list(items)
    if not items:
        return []
    executor = _as_executor(executor)
    workers = _workers(executor, n_jobs)
    here = executor is None and (workers == 1 or len(items) == 1)
    n_chunks = min(len(items), _MAX_CHUNKS_HERE if here else 8 * workers)
    run = _Run(task, shared, [items[i::n_chunks] for i in range(n_chunks)], label, unit)
    with tqdm(total=len(items), desc=label, unit=unit, delay=PROGRESS_DELAY, miniters=1,
              disable=not progress, file=sys.stderr) as run.bar:
        if executor is not None:
            run.on_given_executor(executor)
        elif here:
            run.here()
        else:
            run.on_own_pools(workers)
    if run.losses:  # after the bar has closed, so that the two do not interleave
        warnings.warn(run.recovered(), WorkerWarning, stacklevel=_user_stacklevel())
    # Undo the round-robin dealing so result i belongs to item i.
    out = [None] * len(items)
    for i, part in enumerate(run.results):
        if len(part) != len(run.chunks[i]):
            raise RuntimeError(f"{label}: a task returned {len(part)} results for "
                               f"{len(run.chunks[i])} items")
        for j, value in enumerate(part):
            out[i + j * n_chunks] = value
    return out


class _Run:
    """One call of :func:`run_tasks`: its chunks, their results so far, its progress bar."""

    def __init__(self, task, shared, chunks, label, unit):
        self.task, self.shared, self.chunks = task, shared, chunks
        self.label, self.unit = label, unit
        self.results: list = [None] * len(chunks)
        self.todo = set(range(len(chunks)))  # chunks without a result yet
        self.key = f"{os.getpid()}-{next(_RUN_IDS)}"
        self.bar = None
        self.losses: list = []  # (why the worker died, chunks re-run, items re-run) per pool

    def _keep(self, i: int, result) -> None:
        self.results[i] = result
        self.todo.discard(i)
        self.bar.update(len(self.chunks[i]))

    def _items_in(self, chunks) -> int:
        return sum(len(self.chunks[i]) for i in chunks)

    def here(self) -> None:
        """One chunk after the other in this process (the bar moves after each)."""
        for i in range(len(self.chunks)):
            self._keep(i, _run_chunk(self.task, self.shared, self.chunks[i]))

    def on_given_executor(self, executor) -> None:
        submit, payload = _submitter(executor, self.shared)
        try:
            self._collect(submit, payload)
        except BrokenProcessPool as err:
            raise WorkerLostError(
                f"{self.label}: the process pool passed as executor= broke: a worker process "
                f"died ({_death_cause(getattr(executor, '_processes', None))}), and mixedkit "
                f"cannot replace a pool it did not create; {self._finished()} had finished. "
                "Leave executor= unset (mixedkit's own pool re-runs the unfinished work on a "
                "fresh pool), use fewer worker processes (they need less memory), or run on a "
                "dask cluster (executor=client), which replaces lost workers") from err

    def on_own_pools(self, workers: int) -> None:
        """mixedkit's process pool; a fresh one for the unfinished chunks when it breaks."""
        losses = self.losses
        while True:
            pool = ProcessPoolExecutor(max_workers=min(workers, len(self.todo)),
                                       initializer=_start_worker,
                                       initargs=(self.key, self.shared))
            processes = getattr(pool, "_processes", None)  # read back only to say why
            try:
                self._collect(pool.submit, _SharedKey(self.key))
                break
            except BrokenProcessPool as err:
                broken = err
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            losses.append((_death_cause(processes), len(self.todo), self._items_in(self.todo)))
            if len(losses) > MAX_FRESH_POOLS:
                raise WorkerLostError(self._gave_up(workers)) from broken
            self.bar.set_postfix_str(f"a worker died: re-running {_n(len(self.todo), 'chunk')}",
                                     refresh=False)
        if losses:
            self.bar.set_postfix_str("", refresh=False)

    def _collect(self, submit, payload) -> None:
        """Submit the unfinished chunks; keep each result as it arrives.

        When the pool breaks, every chunk that had finished keeps its result (some may
        not have been reached by ``as_completed`` yet) before the error goes up.
        """
        futures: dict = {}
        try:
            for i in sorted(self.todo):
                futures[submit(_run_chunk, self.task, payload, self.chunks[i])] = i
            for future in as_completed(futures):
                self._keep(futures[future], future.result())
        except BrokenProcessPool:
            for future, i in futures.items():
                if i in self.todo and future.done() and not future.cancelled() \
                        and future.exception() is None:
                    self._keep(i, future.result())
            raise
        except BaseException:  # a failed chunk or Ctrl-C: do not wait for the rest
            for future in futures:
                future.cancel()
            raise

    def _finished(self) -> str:
        n_items = self._items_in(range(len(self.chunks)))
        return f"{n_items - self._items_in(self.todo)} of {n_items} {self.unit}"

    def recovered(self) -> str:
        """The warning's text once the unfinished work of broken pools has been re-run."""
        n_items = self._items_in(range(len(self.chunks)))
        causes = "; ".join(dict.fromkeys(cause for cause, _, _ in self.losses))
        reruns = [f"{_n(c, 'unfinished chunk')} ({i} of {n_items} {self.unit})"
                  for _, c, i in self.losses]
        if len(self.losses) == 1:
            what = (f"a worker process died ({causes}); the {reruns[0]} "
                    f"{'was' if self.losses[0][1] == 1 else 'were'} re-run on a fresh pool")
        else:
            what = (f"worker processes died {len(self.losses)} times ({causes}); each time the "
                    f"unfinished chunks were re-run on a fresh pool ({', then '.join(reruns)})")
        return (f"{self.label}: {what}. The results are the same as without the loss (each "
                "task carries its own seed). If it recurs, use fewer workers (n_jobs=), which "
                "need less memory")

    def _gave_up(self, workers: int) -> str:
        causes = "; ".join(dict.fromkeys(cause for cause, _, _ in self.losses))
        fewer = max(1, workers // 2)
        jobs = f"n_jobs={fewer}; n_jobs=1 runs in this process" if fewer > 1 else \
            "n_jobs=1 runs in this process"
        return (f"{self.label}: worker processes died {len(self.losses)} times ({causes}), on "
                f"mixedkit's pool and on the {_n(MAX_FRESH_POOLS, 'fresh pool')} started to "
                f"finish the work; {self._finished()} had finished. Use fewer worker processes "
                f"({jobs}), which need less memory; make each fit smaller (fewer groups or "
                "rows per data set); or run on a dask cluster (executor=client), which "
                "replaces lost workers")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


_CRASH_SIGNALS = {"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"}


def _death_cause(processes) -> str:
    """Why a pool's worker died, read from the processes' exit codes where they tell.

    A broken pool stops its other workers with SIGTERM, so that code says nothing.
    """
    generic = "killed by the system, e.g. out of memory, or crashed"
    try:
        codes = [p.exitcode for p in list(processes.values())]
    except Exception:  # noqa: BLE001 - private to concurrent.futures; only for the message
        return generic
    for code in codes:
        if code is None or code == 0 or code == -getattr(signal, "SIGTERM", 15):
            continue
        if code > 0:
            return f"exited with code {code}"
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if name == "SIGKILL":
            return "killed by SIGKILL, as the system's out-of-memory killer does"
        if name in _CRASH_SIGNALS:
            return f"crashed with {name}, e.g. in a BLAS library"
        return f"killed by {name}"
    return generic


def _user_stacklevel() -> int:
    """The stack level of the first caller outside mixedkit (for warnings)."""
    package = __name__.rpartition(".")[0]
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(package + "."):
        frame, level = frame.f_back, level + 1
    return level


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


def _submitter(executor, shared: tuple):
    """How to submit a chunk to a given executor, and what stands for ``shared`` in each
    submission (mixedkit's own pool gets it through its initializer instead)."""
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
