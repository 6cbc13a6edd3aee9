"""Timing peer tools in child processes: shared by bench_engine.py and bench_general.py.

A *worker* is a child process that loads its package, warms up on sleepstudy, reads
the design's CSV, then fits the model once each time it is sent the line "fit" and
answers with one line of JSON (seconds, log-likelihood, theta, warnings, peak RSS);
"quit" (or end of input) ends it. ``PY_WORKER`` is the Python side (mixedkit with
this interpreter, mixedlm with the peers interpreter); the lme4 side is an R script
of the calling benchmark. ``Worker`` drives one such process with timeouts,
``WorkerRunner`` turns its answers into a ``Timing``.

mixedlm (the PyPI package, a Rust-backed lme4 port; never a dependency of mixedkit)
lives in its own virtual environment, ``benchmarks/.venv-peers`` (git ignores it)::

    python3 -m venv benchmarks/.venv-peers
    benchmarks/.venv-peers/bin/pip install mixedlm pandas

The benchmark scripts import this module as ``peers``: run them by path
(``python benchmarks/bench_engine.py``), which puts this directory on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_PEERS_PYTHON = Path(__file__).resolve().parent / ".venv-peers" / "bin" / "python"
# What a ``threads`` setting puts in a worker's environment: OpenBLAS (numpy, scipy),
# OpenMP, MKL and rayon (mixedlm's Rust core); R's reference BLAS is single-threaded.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "RAYON_NUM_THREADS")
PEERS_INSTALL = ("python3 -m venv benchmarks/.venv-peers && "
                 "benchmarks/.venv-peers/bin/pip install mixedlm pandas")


def tail(text: str, n: int = 300) -> str:
    """The last ``n`` characters of ``text`` on one line (for notes)."""
    return " ".join(text.split())[-n:]


def numbers(values) -> str:
    """Numbers as one space-separated string (CSV cells)."""
    return " ".join(f"{float(v):.6g}" for v in np.ravel(values))


@dataclass
class Timing:
    """What one tool did on one design."""

    status: str = "not run"  # ok | error | skipped | not run
    seconds: list[float] = field(default_factory=list)
    loglik: float = float("nan")
    theta: str = ""
    notes: list[str] = field(default_factory=list)
    base_mb: float = float("nan")  # peak RSS of a worker before its first fit
    peak_mb: float = float("nan")  # ... and after it

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.status == "ok" else float("nan")

    def note(self, text: str) -> None:
        if text and text not in self.notes:
            self.notes.append(text)


class Worker:
    """A child process answering one JSON line per command line ("fit", "quit")."""

    def __init__(self, name: str, cmd: list[str], timeout: float, workdir: Path,
                 threads: int | None = None):
        self.name, self.timeout = name, timeout
        self.stderr = open(workdir / f"{name}.stderr", "w+")  # noqa: SIM115 - closed in close()
        env = dict(os.environ)
        if threads is not None:
            env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, bufsize=0, env=env)
        self.pending = b""
        self.ready: dict = {}

    def wait_ready(self) -> dict:
        """The start-up line (imports, data, warmup), at most ``max(timeout, 300)`` s."""
        self.ready = self._read(max(self.timeout, 300.0))
        return self.ready

    def _read(self, timeout: float) -> dict:
        """The next JSON line, or ``{"error": ...}`` on timeout, exit or garbage.

        Reads the pipe unbuffered (``os.read``) so that ``select`` sees every byte.
        """
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                text = line.decode(errors="replace").strip()
                if text.startswith("{"):
                    try:
                        return json.loads(text)
                    except json.JSONDecodeError:
                        pass
                # anything else on stdout (a package's chatter) is skipped
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return {"error": f"no answer within {timeout:.0f} s (process killed)"}
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:  # end of file: the process died
                self.proc.wait()
                self.stderr.seek(0)
                return {"error": f"exited with {self.proc.returncode}: "
                                 f"{tail(self.stderr.read())}"}
            self.pending += chunk

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, command: str) -> dict:
        if not self.alive:
            return {"error": "process not running"}
        try:
            self.proc.stdin.write(command.encode() + b"\n")
        except (BrokenPipeError, OSError) as exc:
            return {"error": f"{type(exc).__name__} writing to the process"}
        return self._read(self.timeout)

    def kill(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        if self.alive:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self.stderr.close()


class WorkerRunner:
    """One tool in its child process (``Worker``), one fit per ``fit()``."""

    def __init__(self, worker: Worker):
        self.worker = worker

    def wait_ready(self, timing: Timing) -> bool:
        ready = self.worker.wait_ready()
        if "error" in ready:
            timing.status = "error"
            timing.note(f"could not start: {str(ready['error'])[:300]}")
            return False
        if ready.get("baseline_mb") is not None:
            timing.base_mb = float(ready["baseline_mb"])
        return True

    def fit(self, timing: Timing) -> None:
        res = self.worker.ask("fit")
        if "error" in res:
            timing.status = "error"
            timing.note(str(res["error"])[:300])
            return
        timing.seconds.append(float(res["seconds"]))
        for text in res.get("notes", []):
            timing.note(text[:200])
        if timing.status != "ok":  # the first fit: its peak memory, logLik, theta
            timing.status = "ok"
            timing.peak_mb = float("nan") if res.get("peak_mb") is None else float(res["peak_mb"])
            timing.loglik = float("nan") if res["loglik"] is None else float(res["loglik"])
            timing.theta = numbers(res["theta"])
            if res.get("converged") is False:
                timing.note("converged=False")
            if res.get("singular"):
                timing.note("singular")

    def close(self) -> None:
        self.worker.close()


# The Python tools' side, one process per tool and design: mixedkit with the calling
# interpreter, mixedlm with the peers interpreter. Argv: tool, CSV, formula,
# comma-separated text columns, weights column ("" for none) and, optionally,
# comma-separated columns to make pandas Categoricals after reading (so a tool gets
# the dtypes the benchmark gave mixedkit in-process). Warms up on sleepstudy, reads
# the CSV, replies one JSON line to each "fit" line.
# A child process's peak resident set size in MB: VmHWM on Linux (getrusage's ru_maxrss
# keeps the parent's peak across fork + exec), ru_maxrss elsewhere (KiB; bytes on macOS).
# Source text for the child programs here and in bench_engine.py.
PEAK_MB_SOURCE = r"""
def peak_mb():
    try:
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        return kib * 1024 / 1e6
    except (OSError, StopIteration):
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6
"""

PY_WORKER = r"""
import gc, json, resource, sys, time, warnings
import pandas as pd
""" + PEAK_MB_SOURCE + r"""

def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

tool, path, formula, factors, weights = sys.argv[1:6]
categorical = sys.argv[6] if len(sys.argv) > 6 else ""
if tool == "mixedkit":
    import mixedkit as mk
    version = mk.__version__
    sleepstudy = mk.load_dataset("sleepstudy")
    kwargs = {"reml": True, **({"weights": weights} if weights else {})}

    def fit_model(formula, data, kwargs=kwargs):
        return mk.fit_lmm(formula, data, **kwargs)

    def describe(fit):
        attempts = fit.attempts
        notes = [f"{len(attempts)} optimiser attempt(s), {int(attempts.n_evals.sum())} "
                 f"evaluations"] if len(attempts) > 1 else []
        return (float(fit.loglik), [float(t) for t in fit.theta], bool(fit.converged),
                bool(fit.singular), notes)
else:
    import mixedlm
    version = mixedlm.__version__
    sleepstudy = mixedlm.load_sleepstudy()

    def fit_model(formula, data):
        return mixedlm.lmer(formula, data, REML=True, weights=weights or None)

    def describe(fit):
        notes = [] if fit.converged or not fit.message else [f"optimizer: {fit.message}"]
        return (float(fit.logLik().value), [float(t) for t in fit.theta], bool(fit.converged),
                bool(getattr(fit, "at_boundary", False)), notes)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if tool == "mixedkit":
        mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleepstudy, reml=True)
    else:
        mixedlm.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, REML=True)
data = pd.read_csv(path, dtype={c: str for c in factors.split(",") if c})
for c in categorical.split(","):
    if c:
        data[c] = data[c].astype("category")
reply({"ready": True, "version": version, "baseline_mb": peak_mb()})
while sys.stdin.readline().strip() == "fit":
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        try:
            fit = fit_model(formula, data)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            reply({"error": f"{type(exc).__name__} after {time.perf_counter() - t0:.1f} s: "
                            f"{first}", "peak_mb": peak_mb()})
            continue
        seconds = time.perf_counter() - t0
    peak = peak_mb()
    loglik, theta, converged, singular, notes = describe(fit)
    notes += sorted({f"warned {w.category.__name__}: {str(w.message).splitlines()[0][:150]}"
                     for w in caught})
    reply({"seconds": seconds, "loglik": loglik, "theta": theta, "converged": converged,
           "singular": singular, "notes": notes, "peak_mb": peak})
    del fit
"""


def python_worker_cmd(tool: str, python: Path, path: Path, formula: str,
                      factors: Sequence[str], weights: str | None = None,
                      categorical: Sequence[str] = ()) -> list[str]:
    """The command line of a ``PY_WORKER`` process (``tool``: mixedkit or mixedlm)."""
    cmd = [str(python), "-c", PY_WORKER, tool, str(path), formula, ",".join(factors),
           weights or ""]
    return [*cmd, ",".join(categorical)] if categorical else cmd


def probe_mixedlm(python: Path) -> tuple[str, str]:
    """mixedlm's version in the peers interpreter, or "" and why it is unusable."""
    if not python.exists():
        return "", f"no peers interpreter {python} ({PEERS_INSTALL})"
    try:
        code = "import mixedlm, pandas; print(mixedlm.__version__)"
        proc = subprocess.run([str(python), "-c", code],
                              check=False, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "", "mixedlm probe timed out"
    if proc.returncode != 0:
        return "", f"mixedlm not importable in {python}: {tail(proc.stderr, 200)}"
    return proc.stdout.strip().splitlines()[-1], ""
