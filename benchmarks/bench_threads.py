#!/usr/bin/env python3
"""How many BLAS threads should the engine use? One and two, idle and beside a neighbour.

The engine's dense work is the factorisation and inverse of the blocks of its Schur
complement (``engine._inv_logdet``: LAPACK ``dpotrf`` + ``dpotri`` per block of 64 or
more, batched numpy below). This script times that kernel for one block of each size,
with one and with two BLAS threads (``threadpoolctl``), on an idle machine and beside a
*busy neighbour*: another Python process multiplying 1500 x 1500 matrices with numpy in
a loop, with its default BLAS threads (as a second notebook kernel doing numerical work
would). It then times whole fits the same four ways: InstEval
``y ~ service + (1 | s) + (1 | d)`` (one dense 1,128 x 1,128 block; lme4's data from
``benchmarks/.cache/InstEval.csv`` as bench_engine.py writes it, else skipped) and
sleepstudy ``(Days | Subject)`` (2 x 2 blocks).

For whole fits the engine's own rule (``engine.blas_threads``: one thread) is replaced
per run by the limit under test, 1 or 2 BLAS threads for every evaluation.

Reported: median seconds per configuration and the ratios busy/idle (the issue's target:
the loaded case at most 1.3x the idle one) and 2 threads / 1 thread.

Usage::

    .venv/bin/python benchmarks/bench_threads.py --out /tmp/threads.csv
    .venv/bin/python benchmarks/bench_threads.py --sizes 256,1128 --repeats 5 --no-fits
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_engine import busy_neighbour  # the neighbour insteval_busy uses

import mixedkit as mk
from mixedkit.model import engine, estimation

INSTEVAL_CSV = HERE / ".cache" / "InstEval.csv"


def spd_block(n: int, seed: int = 0) -> np.ndarray:
    """An SPD n x n block shaped like the engine's (identity plus a Gram matrix)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(2 * n, n))
    return (z.T @ z / n + np.eye(n))[None]


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def with_threads(threads: int, run: Callable[[], object]) -> Callable[[], object]:
    def limited():
        with threadpool_limits(limits=threads, user_api="blas"):
            return run()
    return limited


def fit_with_threads(threads: int, formula: str, data: pd.DataFrame) -> Callable[[], object]:
    """A whole fit with every evaluation at ``threads`` BLAS threads: the engine's rule
    (``blas_threads``, one thread) replaced for the call by the caller's limit."""
    def fit():
        saved = engine.blas_threads, estimation.blas_threads
        engine.blas_threads = estimation.blas_threads = contextlib.nullcontext
        try:
            with threadpool_limits(limits=threads, user_api="blas"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return mk.fit_lmm(formula, data)
        finally:
            engine.blas_threads, estimation.blas_threads = saved
    return fit


def cases(sizes: list[int], fits: bool) -> list[tuple[str, int, Callable[[int], Callable]]]:
    """(name, block size, threads -> callable) for every kernel and fit."""
    out = []
    for n in sizes:
        block = spd_block(n)
        out.append((f"inv_logdet {n}", n,
                    lambda k, b=block: with_threads(k, lambda: engine._inv_logdet(b))))
    if fits:
        sleep = mk.load_dataset("sleepstudy")
        out.append(("fit sleepstudy", 2, lambda k: fit_with_threads(
            k, "Reaction ~ Days + (Days | Subject)", sleep)))
        if INSTEVAL_CSV.exists():
            inst = pd.read_csv(INSTEVAL_CSV).astype({"s": str, "d": str, "service": str})
            out.append(("fit InstEval", 1128, lambda k: fit_with_threads(
                k, "y ~ service + (1 | s) + (1 | d)", inst)))
    return out


def repeats_for(name: str, n: int, repeats: int) -> int:
    if name == "fit InstEval":
        return max(1, repeats // 3)
    return repeats * (5 if n <= 256 else 1)


def measure(items, repeats: int, busy: bool) -> list[dict]:
    rows = []
    for name, n, make in items:
        runs = {k: make(k) for k in (1, 2)}
        for run in runs.values():
            run()  # warm up: first calls load LAPACK paths and the fit's modules
        for k, run in runs.items():
            seconds = median_seconds(run, repeats_for(name, n, repeats))
            rows.append({"case": name, "block": n, "threads": k,
                         "load": "busy" if busy else "idle", "seconds": seconds})
            print(f"  {name:<18} {k} thread{'s' if k > 1 else ' '} "
                  f"{'busy' if busy else 'idle'}: {seconds * 1e3:9.2f} ms", flush=True)
    return rows


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    wide = table.pivot_table(index=["case", "block"], columns=["load", "threads"],
                             values="seconds", sort=False)
    wide.columns = [f"{load}_{k}t" for load, k in wide.columns]
    for k in (1, 2):
        wide[f"busy/idle {k}t"] = wide[f"busy_{k}t"] / wide[f"idle_{k}t"]
    wide["2t/1t idle"] = wide["idle_2t"] / wide["idle_1t"]
    wide["2t/1t busy"] = wide["busy_2t"] / wide["busy_1t"]
    wide["busy 1t / idle best"] = wide["busy_1t"] / wide[["idle_1t", "idle_2t"]].min(axis=1)
    return wide.reset_index()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="32,64,128,256,512,1128,2048",
                    help="block sizes of the kernel rows (comma-separated)")
    ap.add_argument("--repeats", type=int, default=5, help="repeats per configuration")
    ap.add_argument("--no-fits", action="store_true", help="kernel rows only")
    ap.add_argument("--out", type=Path, default=None, help="CSV of the summary")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    items = cases(sizes, not args.no_fits)
    print("idle machine:")
    rows = measure(items, args.repeats, busy=False)
    with busy_neighbour() as neighbour:
        print("beside a busy neighbour:")
        rows += measure(items, args.repeats, busy=True)
    print(neighbour.note())
    summary = summarise(pd.DataFrame(rows))
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(summary.to_string(index=False))
    if args.out:
        summary.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
