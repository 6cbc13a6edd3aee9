#!/usr/bin/env python3
"""Time mixedkit's general engine (crossed correlated slopes, nested slopes, prior
weights) against lme4 and mixedlm, in one run.

Every design below is fitted by REML with mixedkit, lme4 and mixedlm, on the same
data, in one run of this script; the times, log-likelihoods and peak memory are
printed as a table and written to a CSV.

Designs
-------
All by REML, in this order:

sleepstudy_check
    ``Reaction ~ Days + (Days | Subject)`` on lme4's sleepstudy (180 rows): a check
    that the three tools agree (lme4's REML log-likelihood is -871.81414), no target.
kb07_maximal
    ``rt ~ a*b + (a*b | subject) + (a*b | item)``: a kb07-shaped design, 56 subjects
    x 32 items fully crossed (each subject sees each item once, 1,792 rows), ``a``
    ("a1"/"a2") and ``b`` ("b1"/"b2") counterbalanced within subjects and within
    items (condition ``(subject + item) mod 4``). 4 x 4 random effects on both
    factors (20 variance parameters). Truth, on the treatment-coded columns
    (intercept, a2, b2, a2:b2): subject SDs 300, 150, 120, 100; item SDs 400, 120,
    100, 80; correlations between -0.3 and 0.4 (``CORR_KB07``, positive definite);
    residual SD 700; fixed 2000, 150, -100, 60.
kb07_weighted
    ``rt ~ a*b + (a | subject) + (1 | item)`` with prior weights ``w``: the
    kb07_maximal design (same seed, same random effects) with ``w ~ U(0.25, 4)`` and
    residual SD ``700 / sqrt(w)``; every tool gets ``weights = w``.
lexdec_ctx, lexdec_maximal
    A lexical-decision design: 45 subjects x 600 items (300 "high", 300 "low"
    frequency, ``freq`` is between items); each subject sees 145 random items of
    each frequency (290 items, 13,050 rows); ``ctx`` ("a"/"b") varies within
    subjects and within items (``(subject + item) mod 2``). Fitted as
    ``rt ~ freq * ctx + (ctx | subject) + (ctx | item)`` and with the maximal
    subject term ``(freq * ctx | subject)``. Truth: subject SDs 60 (intercept),
    25 (freq), 20 (ctx), 15 (freq:ctx), item SDs 40 and 15, residual 120,
    correlations 0.2-0.3.
nested_slopes
    ``y ~ time + (time | school/child)``: 200 schools x 10-20 children (labels
    repeat across schools) x 5 occasions (``time`` 0-4), about 15,000 rows and
    3,000 school:child levels. Truth: school SDs 3 and 0.8 (correlation 0.3), child
    SDs 5 and 1.5 (correlation -0.2), residual 2.
insteval_3f
    ``y ~ service + (1 | s) + (1 | d) + (1 | dept:service)`` on the real
    ``lme4::InstEval`` (73,421 rows; 2,972 s x 1,128 d x 28 dept:service levels),
    exported from R once to ``benchmarks/.cache/InstEval.csv`` (the file
    ``bench_engine.py`` caches; either script writes it). Without R and no cache an
    InstEval-shaped data set with the same counts is simulated and the notes say so.

Simulated data use ``numpy.random.default_rng(SEED + k)``, one k per data set.
Every data set is written to a CSV (not timed) which every tool reads back, ids and
conditions as text columns (as users arrive from a CSV: pandas ``object`` strings
for mixedkit and mixedlm, ``character`` then ``factor`` in R).

What is timed
-------------
Each tool runs in its own fresh process per design (a "worker"): it loads its
package, fits sleepstudy once (untimed warmup), reads the CSV, then times one fit
each time this script sends it "fit" and answers with one line of JSON (time,
log-likelihood, theta, warnings, peak memory). So the tools take turns on the same
data while each keeps its data in memory.

mixedkit
    ``mk.fit_lmm(formula, data, reml=True[, weights="w"])``, the whole call (checks,
    design, estimation, results object), ``time.perf_counter``; the worker is this
    interpreter (``sys.executable``) running ``PY_WORKER`` of ``benchmarks/peers.py``
    (the worker code shared with ``bench_engine.py``), so the mixedkit
    timed is the one ``import mixedkit`` finds here (``mixedkit_path`` in the CSV).
lme4
    ``Rscript benchmarks/bench_general_lme4.R serve``: reads the CSV (text columns
    as ``character``, then ``factor``), then times
    ``lmer(formula, data, REML = TRUE[, weights = w])`` with ``system.time``
    (elapsed).
mixedlm
    The PyPI package ``mixedlm`` (a Rust-backed lme4 port; never a dependency of
    mixedkit) in its own virtual environment, ``benchmarks/.venv-peers`` (git
    ignores it)::

        python3 -m venv benchmarks/.venv-peers
        benchmarks/.venv-peers/bin/pip install mixedlm pandas

    ``PY_WORKER`` run by that interpreter times
    ``mixedlm.lmer(formula, data, REML=True[, weights="w"])`` (default control)
    with ``time.perf_counter``; its log-likelihood is ``fit.logLik().value``.
    Skipped with a note when the interpreter or the package is missing
    (``--peers-python`` points elsewhere).
statsmodels
    Cannot express any of these models (correlated slopes on crossed or nested
    factors, prior weights) except insteval_3f (three crossed variance components),
    where it is skipped: statsmodels' ``MixedLM`` with three sparse variance
    components on InstEval did not finish in 200 s (23 s to build the model, 4.6 GB)
    on the 2-core machine of the README (``SM_SKIPPED_INSTEVAL``).

In repeat ``i`` the order of the tools is rotated by ``i`` (mixedkit, lme4,
mixedlm; then lme4, mixedlm, mixedkit; ...), so load from other processes spreads
over all of them; reported times are medians of the repeats: 3 below 5,000 rows, 2
from 5,000 rows (``--repeats``). A tool whose fits on one design have taken more
than ``--tool-budget`` seconds (default 60) does no more repeats there (its repeat
count is in ``times_*`` and the notes). A failure is recorded (``status_*`` =
``error``, the message in ``notes``) and the run goes on; a fit that takes more than
``--timeout`` seconds kills that tool's worker for the design.

Threads: by default every library uses its own default (OpenBLAS in numpy: one
thread per core; lme4 with R's reference BLAS: one). On a shared 2-core machine
OpenBLAS threads that wait for a busy core can make a mixedkit fit several times
slower, so ``--threads 1`` sets ``peers.THREAD_VARIABLES`` to 1 in every worker (the
CSV's ``threads`` column says which was used).

Log-likelihoods: each tool's REML log-likelihood at its optimum (first repeat);
``dll_mk_lme4`` and ``dll_mk_mixedlm`` are mixedkit's minus the other's (positive:
mixedkit found the higher optimum). A design where mixedkit's is lower than either
by more than 1e-3 is flagged ``MK BELOW ...`` (a bug or a missed optimum).

Peak memory: the peak resident set size (``VmHWM`` from ``/proc/self/status``,
Linux; ``ru_maxrss`` elsewhere) of each tool's worker process just after its first
fit on the design (``peak_rss_*_mb``: interpreter, package, warmup, data and one
fit) and just before it (``base_rss_*_mb``); the difference is what the fit added.

Targets (printed beside the ratios, not asserted)
-------------------------------------------------
* mixedkit / lme4 <= 0.25 on kb07_maximal and insteval_3f, <= 0.5 on both lexdec
  designs;
* mixedkit / mixedlm <= 1 on every design.

Usage
-----
From the repository root, with the development environment::

    .venv/bin/python benchmarks/bench_general.py                      # everything
    .venv/bin/python benchmarks/bench_general.py --designs kb07,lexdec  # names containing these
    .venv/bin/python benchmarks/bench_general.py --repeats 5,3        # <5,000 rows, >=5,000
    .venv/bin/python benchmarks/bench_general.py --threads 1          # one BLAS thread each
    .venv/bin/python benchmarks/bench_general.py --no-r --no-mixedlm  # mixedkit only
    .venv/bin/python benchmarks/bench_general.py --out /tmp/r.csv     # default general_results.csv

When ``Rscript`` is not on the PATH or cannot load lme4 (a small probe), the lme4
column is skipped with a note and its ratios are NaN; likewise mixedlm.

The CSV's ``mixedkit_tree`` is a digest of the mixedkit source each design's worker
imported (and its newest file's time): the work tree may be edited while the script
runs, and the report says so when the digest changed during the run.

Run it on an idle machine if you can. On Linux the CSV's ``other_cpu_s`` is the
CPU time other processes used while a design ran (``/proc/stat`` minus this
process and its children; a lower bound), and designs where it exceeds 10% of
``wall_s`` are flagged.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from peers import (
    DEFAULT_PEERS_PYTHON,
    THREAD_VARIABLES,
    Timing,
    Worker,
    WorkerRunner,
    probe_mixedlm,
    python_worker_cmd,
)
from peers import numbers as _numbers
from peers import tail as _tail

import mixedkit as mk

HERE = Path(__file__).resolve().parent
R_HELPER = HERE / "bench_general_lme4.R"
CACHE = HERE / ".cache"
INSTEVAL_CSV = CACHE / "InstEval.csv"
DEFAULT_OUT = HERE / "general_results.csv"

SEED = 20261207
BELOW_TOL = 1e-3  # mixedkit's logLik below another tool's by more than this: flagged
SMALL_ROWS = 5_000
BUSY_SHARE = 0.1
TOOLS = ("mixedkit", "lme4", "mixedlm")
SLEEPSTUDY = "Reaction ~ Days + (Days | Subject)"
SM_CANNOT = "skipped (statsmodels cannot express this model)"
SM_SKIPPED_INSTEVAL = ("skipped (statsmodels MixedLM, three sparse variance components: "
                       "more than ~2 min)")
INSTEVAL_ROWS, INSTEVAL_S, INSTEVAL_D, INSTEVAL_DEPT = 73_421, 2_972, 1_128, 14

# Correlations of the kb07 random effects (intercept, a2, b2, a2:b2); positive definite.
CORR_KB07 = np.array([[1.0, 0.3, -0.2, 0.1],
                      [0.3, 1.0, 0.4, -0.3],
                      [-0.2, 0.4, 1.0, 0.2],
                      [0.1, -0.3, 0.2, 1.0]])


# --------------------------------------------------------------------------- designs

@dataclass(frozen=True)
class Design:
    """One model on one data set; ``factors`` are the text columns."""

    name: str
    formula: str
    n_rows: int  # nominal, to pick the repeats before making the data
    make_data: Callable[[], tuple[pd.DataFrame, str]]  # data, note about the data
    factors: tuple[str, ...]
    n_groups: str
    target_lme4: float | None = None  # on mixedkit / lme4
    target_mixedlm: float | None = 1.0  # on mixedkit / mixedlm
    weights: str | None = None
    statsmodels: str = SM_CANNOT


def _labels(prefix: str, codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Integer codes as zero-padded text labels (sorted the same way in R)."""
    width = len(str(n_levels))
    return np.array([f"{prefix}{i + 1:0{width}d}" for i in range(n_levels)])[codes]


def _correlated(rng: np.random.Generator, n: int, sds, corr) -> np.ndarray:
    """``n`` draws of normal random effects with these SDs and correlations."""
    sds = np.asarray(sds, dtype=float)
    cov = np.outer(sds, sds) * np.asarray(corr, dtype=float)
    return rng.normal(size=(n, sds.size)) @ np.linalg.cholesky(cov).T


def load_sleepstudy() -> tuple[pd.DataFrame, str]:
    return mk.load_dataset("sleepstudy"), "agreement check of the three tools, no target"


def simulate_kb07(weighted: bool = False) -> tuple[pd.DataFrame, str]:
    """56 subjects x 32 items, each pair once; 2 x 2 conditions counterbalanced."""
    n_subj, n_item = 56, 32
    rng = np.random.default_rng(SEED + 1)
    subj = np.repeat(np.arange(n_subj), n_item)
    item = np.tile(np.arange(n_item), n_subj)
    cond = (subj + item) % 4
    a, b = cond // 2, cond % 2
    X = np.column_stack([np.ones(subj.size), a, b, a * b])
    beta = np.array([2000.0, 150.0, -100.0, 60.0])
    re_subj = _correlated(rng, n_subj, [300, 150, 120, 100], CORR_KB07)
    re_item = _correlated(rng, n_item, [400, 120, 100, 80], CORR_KB07)
    noise = rng.normal(0.0, 700.0, subj.size)
    w = rng.uniform(0.25, 4.0, subj.size)  # drawn either way: same data otherwise
    mean = X @ beta + (X * re_subj[subj]).sum(1) + (X * re_item[item]).sum(1)
    data = pd.DataFrame({
        "subject": _labels("s", subj, n_subj), "item": _labels("i", item, n_item),
        "a": np.array(["a1", "a2"])[a], "b": np.array(["b1", "b2"])[b],
        "rt": mean + (noise / np.sqrt(w) if weighted else noise)})
    if weighted:
        data["w"] = w
    return data, ""


def simulate_lexdec() -> tuple[pd.DataFrame, str]:
    """45 subjects x 600 items (freq between items), 290 items a subject."""
    n_subj, n_item, per_freq = 45, 600, 145
    rng = np.random.default_rng(SEED + 2)
    freq_of_item = np.repeat([0, 1], n_item // 2)  # 0 high, 1 low
    high, low = np.flatnonzero(freq_of_item == 0), np.flatnonzero(freq_of_item == 1)
    seen = [np.sort(np.concatenate([rng.choice(high, per_freq, replace=False),
                                    rng.choice(low, per_freq, replace=False)]))
            for _ in range(n_subj)]
    subj = np.repeat(np.arange(n_subj), 2 * per_freq)
    item = np.concatenate(seen)
    freq, ctx = freq_of_item[item], (subj + item) % 2
    corr_s = np.full((4, 4), 0.2) + 0.8 * np.eye(4)
    re_subj = _correlated(rng, n_subj, [60, 25, 20, 15], corr_s)  # 1, freq, ctx, freq:ctx
    re_item = _correlated(rng, n_item, [40, 15], [[1.0, 0.3], [0.3, 1.0]])  # 1, ctx
    Xs = np.column_stack([np.ones(subj.size), freq, ctx, freq * ctx])
    rt = (Xs @ np.array([600.0, 50.0, 20.0, 10.0]) + (Xs * re_subj[subj]).sum(1)
          + re_item[item, 0] + re_item[item, 1] * ctx + rng.normal(0.0, 120.0, subj.size))
    return pd.DataFrame({
        "subject": _labels("s", subj, n_subj), "item": _labels("w", item, n_item),
        "freq": np.array(["high", "low"])[freq], "ctx": np.array(["a", "b"])[ctx],
        "rt": rt}), ""


def simulate_nested() -> tuple[pd.DataFrame, str]:
    """200 schools x 10-20 children (labels repeat across schools) x 5 occasions."""
    n_school, n_time = 200, 5
    rng = np.random.default_rng(SEED + 3)
    per_school = rng.integers(10, 21, n_school)
    school_of_child = np.repeat(np.arange(n_school), per_school)
    child_in_school = np.concatenate([np.arange(k) for k in per_school])
    n_child = school_of_child.size
    child = np.repeat(np.arange(n_child), n_time)
    school = school_of_child[child]
    time_ = np.tile(np.arange(n_time, dtype=float), n_child)
    re_school = _correlated(rng, n_school, [3.0, 0.8], [[1.0, 0.3], [0.3, 1.0]])
    re_child = _correlated(rng, n_child, [5.0, 1.5], [[1.0, -0.2], [-0.2, 1.0]])
    y = (50.0 + 2.0 * time_ + re_school[school, 0] + re_school[school, 1] * time_
         + re_child[child, 0] + re_child[child, 1] * time_ + rng.normal(0.0, 2.0, child.size))
    return pd.DataFrame({
        "school": _labels("sch", school, n_school),
        "child": _labels("c", child_in_school[child], 20),
        "time": time_, "y": y}), ""


def simulate_insteval() -> pd.DataFrame:
    """InstEval-shaped: 73,421 rows, every s, d and dept level used."""
    rng = np.random.default_rng(SEED + 4)
    s = rng.permutation(np.arange(INSTEVAL_ROWS) % INSTEVAL_S)
    d = rng.permutation(np.arange(INSTEVAL_ROWS) % INSTEVAL_D)
    dept = rng.integers(0, INSTEVAL_DEPT, INSTEVAL_D)[d]  # a lecturer is in one dept
    service = rng.integers(0, 2, INSTEVAL_ROWS)
    y = (3.2 - 0.1 * service + rng.normal(0.0, 0.3, INSTEVAL_S)[s]
         + rng.normal(0.0, 0.5, INSTEVAL_D)[d]
         + rng.normal(0.0, 0.1, 2 * INSTEVAL_DEPT)[2 * dept + service]
         + rng.normal(0.0, 1.2, INSTEVAL_ROWS))
    return pd.DataFrame({"s": (s + 1).astype(str), "d": (d + 1).astype(str),
                         "service": service.astype(str), "dept": (dept + 1).astype(str),
                         "y": y})


def load_insteval(use_r: bool) -> tuple[pd.DataFrame, str]:
    """lme4's InstEval (exported once to the cache), else the simulated stand-in."""
    if not INSTEVAL_CSV.exists() and use_r:
        CACHE.mkdir(exist_ok=True)
        proc = subprocess.run(["Rscript", str(R_HELPER), "insteval", str(INSTEVAL_CSV)],
                              check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            INSTEVAL_CSV.unlink(missing_ok=True)
            print(f"note: exporting InstEval from R failed: {_tail(proc.stderr)}", flush=True)
    if not INSTEVAL_CSV.exists():
        return simulate_insteval(), "simulated InstEval-shaped data (lme4::InstEval unavailable)"
    columns = ["s", "d", "service", "dept"]
    data = pd.read_csv(INSTEVAL_CSV, usecols=[*columns, "y"], dtype=dict.fromkeys(columns, str))
    return data, f"lme4::InstEval ({INSTEVAL_CSV.relative_to(HERE.parent)})"


def designs(use_r: bool) -> list[Design]:
    """Every design, in running order (data are made when a design runs)."""
    kb07 = ("subject", "item", "a", "b")
    lexdec = ("subject", "item", "freq", "ctx")
    return [
        Design("sleepstudy_check", SLEEPSTUDY, 180, load_sleepstudy, ("Subject",), "18 Subject",
               target_mixedlm=None),
        Design("kb07_maximal", "rt ~ a*b + (a*b | subject) + (a*b | item)", 1_792,
               simulate_kb07, kb07, "56 subject x 32 item", target_lme4=0.25),
        Design("kb07_weighted", "rt ~ a*b + (a | subject) + (1 | item)", 1_792,
               lambda: simulate_kb07(weighted=True), kb07, "56 subject x 32 item",
               weights="w"),
        Design("lexdec_ctx", "rt ~ freq * ctx + (ctx | subject) + (ctx | item)", 13_050,
               simulate_lexdec, lexdec, "45 subject x 600 item", target_lme4=0.5),
        Design("lexdec_maximal", "rt ~ freq * ctx + (freq * ctx | subject) + (ctx | item)",
               13_050, simulate_lexdec, lexdec, "45 subject x 600 item", target_lme4=0.5),
        Design("nested_slopes", "y ~ time + (time | school/child)", 15_000, simulate_nested,
               ("school", "child"), "200 school, ~3,000 school:child"),
        Design("insteval_3f", "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)",
               INSTEVAL_ROWS, lambda: load_insteval(use_r), ("s", "d", "service", "dept"),
               "2,972 s x 1,128 d x 28 dept:service", target_lme4=0.25,
               statsmodels=SM_SKIPPED_INSTEVAL),
    ]


# --------------------------------------------------------------------------- timing

def start_lme4(design: Design, path: Path, settings: Settings) -> WorkerRunner:
    cmd = ["Rscript", str(R_HELPER), "serve", str(path), design.formula,
           ",".join(design.factors), design.weights or ""]
    return WorkerRunner(Worker("lme4", cmd, settings.timeout, settings.workdir, settings.threads))


def start_python(tool: str, python: Path, design: Design, path: Path,
                 settings: Settings) -> WorkerRunner:
    cmd = python_worker_cmd(tool, python, path, design.formula, design.factors, design.weights)
    return WorkerRunner(Worker(tool, cmd, settings.timeout, settings.workdir, settings.threads))


# --------------------------------------------------------------------------- one design

@dataclass
class Settings:
    repeats: tuple[int, int]
    tools: dict[str, str]  # tool -> "" (run) or why it is skipped
    peers_python: Path
    timeout: float
    tool_budget: float
    workdir: Path
    threads: int | None = None  # sets THREAD_VARIABLES in every worker when not None


def run_design(design: Design, settings: Settings) -> dict:
    """Every tool on one design, taking turns; the CSV row."""
    data, data_note = design.make_data()
    path = settings.workdir / f"{design.name}.csv"
    data.to_csv(path, index=False)  # every worker reads it back, text columns as text
    n_rows = len(data)
    del data
    repeats = settings.repeats[0] if n_rows < SMALL_ROWS else settings.repeats[1]
    pythons = {"mixedkit": Path(sys.executable), "mixedlm": settings.peers_python}
    tree = source_fingerprint()  # the mixedkit source the worker is about to import

    timings = {tool: Timing() for tool in TOOLS}
    runners: dict[str, WorkerRunner] = {}
    try:
        for tool in TOOLS:  # start every worker, then wait for them: start-ups overlap
            if settings.tools.get(tool, "not selected"):
                timings[tool] = Timing("skipped", notes=[settings.tools.get(tool, "not selected")])
            elif tool == "lme4":
                runners[tool] = start_lme4(design, path, settings)
            else:
                runners[tool] = start_python(tool, pythons[tool], design, path, settings)
        for tool in list(runners):
            if not runners[tool].wait_ready(timings[tool]):
                runners.pop(tool).close()
        for i in range(repeats):
            order = TOOLS[i % len(TOOLS):] + TOOLS[:i % len(TOOLS)]
            for tool in order:
                timing = timings[tool]
                if tool not in runners or timing.status == "error":
                    continue
                if sum(timing.seconds) > settings.tool_budget:
                    timing.note(f"{len(timing.seconds)} of {repeats} repeats "
                                f"(over the {settings.tool_budget:g} s budget)")
                    continue
                runners[tool].fit(timing)
    finally:
        for runner in runners.values():
            runner.close()
        path.unlink()
    row = result_row(design, n_rows, repeats, timings, [data_note] if data_note else [])
    row["mixedkit_tree"] = tree
    return row


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def verdict(value: float, limit: float | None) -> str:
    if limit is None:
        return ""
    return "n/a" if not np.isfinite(value) else "PASS" if value <= limit else "FAIL"


def loglik_check(mk_ll: float, others: dict[str, float]) -> str:
    """"ok", "n/a", or which tools found a higher optimum than mixedkit."""
    if not np.isfinite(mk_ll):
        return "n/a"
    below = [f"MK BELOW {tool}" for tool, ll in others.items()
             if np.isfinite(ll) and mk_ll < ll - BELOW_TOL]
    if below:
        return "; ".join(below)
    return "ok" if any(np.isfinite(ll) for ll in others.values()) else "n/a"


def result_row(design: Design, n_rows: int, repeats: int, timings: dict[str, Timing],
               notes: list[str]) -> dict:
    mkt, rt, mlt = timings["mixedkit"], timings["lme4"], timings["mixedlm"]
    row = {
        "design": design.name, "n_rows": n_rows, "n_groups": design.n_groups,
        "repeats": repeats,
        "t_mixedkit": mkt.median, "t_lme4": rt.median, "t_mixedlm": mlt.median,
        "ratio_mk_lme4": _ratio(mkt.median, rt.median),
        "target_mk_lme4": design.target_lme4,
        "verdict_mk_lme4": verdict(_ratio(mkt.median, rt.median), design.target_lme4),
        "ratio_mk_mixedlm": _ratio(mkt.median, mlt.median),
        "target_mk_mixedlm": design.target_mixedlm,
        "verdict_mk_mixedlm": verdict(_ratio(mkt.median, mlt.median), design.target_mixedlm),
        "loglik_mk": mkt.loglik, "loglik_lme4": rt.loglik, "loglik_mixedlm": mlt.loglik,
        "dll_mk_lme4": mkt.loglik - rt.loglik, "dll_mk_mixedlm": mkt.loglik - mlt.loglik,
        "dll_mixedlm_lme4": mlt.loglik - rt.loglik,
        "loglik_check": loglik_check(mkt.loglik, {"lme4": rt.loglik, "mixedlm": mlt.loglik}),
        "peak_rss_mk_mb": mkt.peak_mb, "base_rss_mk_mb": mkt.base_mb,
        "peak_rss_lme4_mb": rt.peak_mb, "base_rss_lme4_mb": rt.base_mb,
        "peak_rss_mixedlm_mb": mlt.peak_mb, "base_rss_mixedlm_mb": mlt.base_mb,
        "status_mk": mkt.status, "status_lme4": rt.status, "status_mixedlm": mlt.status,
        "status_sm": "skipped", "notes_sm": design.statsmodels,
    }
    method_notes = [f"{tool}: {note}" for tool, t in timings.items() for note in t.notes]
    row["notes"] = "; ".join([*notes, *method_notes])
    row.update({
        "times_mk": _numbers(mkt.seconds), "times_lme4": _numbers(rt.seconds),
        "times_mixedlm": _numbers(mlt.seconds),
        "theta_mk": mkt.theta, "theta_lme4": rt.theta, "theta_mixedlm": mlt.theta,
        "formula": design.formula, "weights": design.weights or "",
    })
    return row


# --------------------------------------------------------------------------- machine

def source_fingerprint() -> str:
    """A digest of the imported mixedkit's ``*.py`` files and the newest one's time.

    Says which source a row timed (the work tree may be edited while the script
    runs; the mixedkit worker of each design imports it afresh).
    """
    root = Path(mk.__file__).resolve().parent
    digest, newest = hashlib.sha256(), 0.0
    for path in sorted(root.rglob("*.py")):
        try:
            content, mtime = path.read_bytes(), path.stat().st_mtime
        except OSError:
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0" + content + b"\0")
        newest = max(newest, mtime)
    stamp = datetime.datetime.fromtimestamp(newest)
    return f"{digest.hexdigest()[:12]} (newest file {stamp:%Y-%m-%d %H:%M:%S})"


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (Linux ``/proc/stat``), NaN elsewhere."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()  # children (Rscript, mixedlm, the memory run) once reaped
    return t.user + t.system + t.children_user + t.children_system


def audited(run: Callable[[], dict]) -> dict:
    """``run()``'s row plus its wall time and the CPU seconds other processes used."""
    busy, own, t0 = _busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
    row = run()
    row["wall_s"] = time.perf_counter() - t0
    row["other_cpu_s"] = max(0.0, (_busy_cpu_seconds() - busy) - (_own_cpu_seconds() - own))
    return row


def probe_r() -> tuple[dict[str, str], str]:
    """R and lme4 versions, or an empty dict and the reason they are unusable."""
    if shutil.which("Rscript") is None:
        return {}, "Rscript not found on PATH"
    try:
        proc = subprocess.run(["Rscript", str(R_HELPER), "probe"], check=False,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return {}, "Rscript probe timed out"
    if proc.returncode != 0:
        return {}, f"Rscript probe failed: {_tail(proc.stdout + proc.stderr)}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def machine_info(r_info: dict[str, str], mixedlm_version: str,
                 threads: int | None) -> dict[str, str]:
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    blas = "; ".join(f"{p.get('internal_api')} {p.get('version')}" for p in pools)
    default_threads = "/".join(str(p.get("num_threads")) for p in pools)
    try:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = ""
    return {
        "date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}",
        "python": platform.python_version(), "numpy": np.__version__,
        "pandas": pd.__version__, "mixedkit": mk.__version__,
        "mixedkit_path": str(Path(mk.__file__).parent), "blas": blas,
        "cpus": str(os.cpu_count()), "load_at_start": load, "platform": platform.platform(),
        "r_version": r_info.get("r_version", ""), "lme4_version": r_info.get("lme4_version", ""),
        "r_blas": r_info.get("r_blas", ""), "mixedlm_version": mixedlm_version,
        "threads": (f"library defaults (OpenBLAS {default_threads})" if threads is None
                    else str(threads)),
        "command": " ".join(["python", *sys.argv]),
    }


# --------------------------------------------------------------------------- report

def _fmt(value: float, spec: str = ".3f") -> str:
    return format(value, spec) if np.isfinite(value) else "-"


def print_report(table: pd.DataFrame) -> None:
    def target(value, verdict: str) -> str:
        return f"<= {value:g} {verdict}" if pd.notna(value) else ""

    shown = pd.DataFrame({
        "design": table.design, "rows": table.n_rows.map("{:,}".format),
        "mixedkit_s": table.t_mixedkit.map(_fmt), "lme4_s": table.t_lme4.map(_fmt),
        "mixedlm_s": table.t_mixedlm.map(_fmt),
        "mk/lme4": table.ratio_mk_lme4.map(_fmt),
        "target": [target(v, w) for v, w in zip(table.target_mk_lme4, table.verdict_mk_lme4)],
        "mk/mixedlm": table.ratio_mk_mixedlm.map(_fmt),
        "target ": [target(v, w) for v, w in zip(table.target_mk_mixedlm,
                                                 table.verdict_mk_mixedlm)],
        "peak_MB_mk": table.peak_rss_mk_mb.map(lambda v: _fmt(v, ".0f")),
        "peak_MB_lme4": table.peak_rss_lme4_mb.map(lambda v: _fmt(v, ".0f")),
        "peak_MB_mixedlm": table.peak_rss_mixedlm_mb.map(lambda v: _fmt(v, ".0f")),
    })
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print("\nTimes (s, medians), ratios and targets:\n" + shown.to_string(index=False))
        ll = pd.DataFrame({
            "design": table.design, "logLik_mk": table.loglik_mk.map(lambda v: _fmt(v, ".4f")),
            "logLik_lme4": table.loglik_lme4.map(lambda v: _fmt(v, ".4f")),
            "logLik_mixedlm": table.loglik_mixedlm.map(lambda v: _fmt(v, ".4f")),
            "mk-lme4": table.dll_mk_lme4.map(lambda v: _fmt(v, "+.2g")),
            "mk-mixedlm": table.dll_mk_mixedlm.map(lambda v: _fmt(v, "+.2g")),
            "check": table.loglik_check,
        })
        print("\nREML log-likelihoods:\n" + ll.to_string(index=False))
    print("\nNotes:")
    for _, r in table.iterrows():
        print(f"  {r.design}: [mixedkit {r.status_mk}, lme4 {r.status_lme4}, mixedlm "
              f"{r.status_mixedlm}, statsmodels {r.notes_sm}] {r.notes or ''}")
    busy = table[table.other_cpu_s > BUSY_SHARE * table.wall_s]
    if len(busy):
        print("\n! The machine was not idle; these designs' times are inflated by contention:")
        for _, r in busy.iterrows():
            print(f"!   {r.design}: other processes used {r.other_cpu_s:.0f} CPU-s "
                  f"in {r.wall_s:.0f} s")
    bad = table[table.loglik_check.str.contains("BELOW")]
    if len(bad):
        print("\n" + "!" * 78)
        print(f"!!! mixedkit's logLik is more than {BELOW_TOL:g} below another tool's on "
              f"{len(bad)} design(s):")
        for _, r in bad.iterrows():
            print(f"!!!   {r.design} ({r.formula}): mixedkit {r.loglik_mk:.4f}, lme4 "
                  f"{r.loglik_lme4:.4f}, mixedlm {r.loglik_mixedlm:.4f}")
        print("!" * 78)


# --------------------------------------------------------------------------- main

def parse_repeats(text: str) -> tuple[int, int]:
    parts = [int(p) for p in text.split(",")]
    parts = parts * 2 if len(parts) == 1 else parts
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError("N or SMALL,LARGE (positive integers)")
    return parts[0], parts[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--designs", default=None,
                    help="run designs whose name contains any of these (comma-separated)")
    ap.add_argument("--repeats", type=parse_repeats, default=(3, 2),
                    help=f"timed repeats: N, or SMALL,LARGE for designs below and from "
                         f"{SMALL_ROWS:,} rows (default 3,2)")
    ap.add_argument("--no-r", action="store_true", help="skip lme4 (never call R)")
    ap.add_argument("--no-mixedlm", action="store_true", help="skip mixedlm")
    ap.add_argument("--peers-python", type=Path, default=DEFAULT_PEERS_PYTHON,
                    help="interpreter with mixedlm installed (default benchmarks/.venv-peers)")
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds one fit may take, any tool (default 300)")
    ap.add_argument("--tool-budget", type=float, default=60.0,
                    help="no more repeats of a tool on a design once its fits there took "
                         "this many seconds (default 60)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads for every tool's numeric libraries (sets "
                         f"{', '.join(THREAD_VARIABLES)} in the workers); default: each "
                         "library's own (OpenBLAS: one per core)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"CSV path (default {DEFAULT_OUT.relative_to(HERE.parent)})")
    return ap.parse_args(argv)


def write_csv(rows: list[dict], info: dict[str, str], out: Path) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    for key, value in info.items():
        table[key] = value
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = dict.fromkeys(TOOLS, "")
    r_info, r_problem = ({}, "--no-r") if args.no_r else probe_r()
    if r_problem:
        tools["lme4"] = f"skipped (no R/lme4: {r_problem})"
        print(f"note: lme4 skipped ({r_problem}); its ratios will be NaN")
    ml_version, ml_problem = ("", "--no-mixedlm") if args.no_mixedlm \
        else probe_mixedlm(args.peers_python)
    if ml_problem:
        tools["mixedlm"] = f"skipped ({ml_problem})"
        print(f"note: mixedlm skipped ({ml_problem}); its ratios will be NaN")
    info = machine_info(r_info, ml_version, args.threads)
    print(", ".join(f"{k} {v}" for k, v in info.items() if v), flush=True)

    wanted = args.designs.split(",") if args.designs else None
    chosen = [d for d in designs(use_r=not r_problem)
              if wanted is None or any(w.strip() and w.strip() in d.name for w in wanted)]
    if not chosen:
        print("no design selected")
        return 1
    rows: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_general_") as tmp:
        settings = Settings(args.repeats, tools, args.peers_python, args.timeout,
                            args.tool_budget, Path(tmp), args.threads)
        for design in chosen:
            row = audited(lambda d=design: run_design(d, settings))
            rows.append(row)
            write_csv(rows, info, args.out)
            print(f"  {row['design']:15s} n={row['n_rows']:>7,}  mk {_fmt(row['t_mixedkit']):>7s}s"
                  f"  lme4 {_fmt(row['t_lme4']):>7s}s  mixedlm {_fmt(row['t_mixedlm']):>7s}s  "
                  f"logLik {row['loglik_check']}  [{time.perf_counter() - start:4.0f}s elapsed]",
                  flush=True)
    table = write_csv(rows, info, args.out)
    print_report(table)
    trees = table.mixedkit_tree.unique()
    if len(trees) > 1 or source_fingerprint() != trees[0]:
        print("\n! mixedkit's source changed during the run: rows may have timed different code "
              "(column mixedkit_tree)")
    else:
        print(f"\nmixedkit source {trees[0]}")
    print(f"\nwrote {args.out} ({len(table)} rows); total {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
