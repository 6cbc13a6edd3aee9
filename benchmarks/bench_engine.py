#!/usr/bin/env python3
"""Time mixedkit's estimation engine against lme4, mixedlm and raw statsmodels, in one run.

Every design below is fitted by REML four ways, on the same data, in one run of
this script; the times, log-likelihoods and the lme4 agreement check are printed as
a table and written to a CSV.

Designs
-------
Run in this order (smallest first; a variant right after the design it repeats),
all by REML:

sleepstudy
    ``Reaction ~ Days + (Days | Subject)``; ``mk.load_dataset("sleepstudy")``, 180 rows.
sim_1e3, sim_1e4
    ``y ~ x + (x | g)``; 1e3 rows x 50 groups, 1e4 x 500.
crossed_1e4
    ``y ~ x + (1 | f1) + (1 | f2)``; 50 x 40 levels, fully crossed, 5 rows a cell.
nested_50k
    ``y ~ x + (1 | team/user)``; 100 teams x 50 users x 10 rows (user labels repeat
    across teams, so 5,000 team:user levels).
insteval
    ``y ~ service + (1 | s) + (1 | d)``; ``lme4::InstEval``, 73,421 rows,
    2,972 s x 1,128 d levels.
insteval_busy
    The insteval row again (same data, methods and repeats) beside another numerical
    process: a child Python process (this interpreter) that multiplies two
    1500 x 1500 matrices in a loop (``a @ b``, numpy's default BLAS threads, so it
    competes for every core). It starts before the first method, which waits until
    its first product is done and then 1 s more; it is stopped after the last method
    (in a ``finally``, so also on error or Ctrl-C; it also stops by itself when this
    script's process is gone or after ``BUSY_MAX_S``). The notes give how many
    products it did. Its CPU time is this script's own (a child), so the row is not
    flagged as "not idle".
sim_1e5, sim_1e6
    ``y ~ x + (x | g)``; 1e5 rows x 2,000 groups, 1e6 x 10,000.
intercept_125k
    ``y ~ f1 + f2 + (1 | g)``; 125,000 groups x 3 rows, f1 and f2 factors with 3
    and 4 levels (375,000 rows). Runs between sim_1e5 and sim_1e6.
<design>_text
    ``sim_1e3_text``, ``sim_1e4_text``, ``crossed_1e4_text``, ``nested_50k_text``,
    ``sim_1e5_text``, ``intercept_125k_text``, ``sim_1e6_text``: each simulated
    design again on its data as users meet them in a file. The design's data
    frame holds its grouping and factor columns as pandas Categoricals (integer
    codes with text labels such as ``g0042``, ``a1``): the "integer twin". The text
    variant writes that frame to a CSV and reads it back with a plain
    ``pd.read_csv`` (not timed), so those columns arrive as text (pandas' ``str`` or
    ``object`` dtype; the notes give the dtypes read). ``ratio_text_int`` is
    ``t_mixedkit`` of the text row over that of its twin. lme4 and mixedlm run on
    them too (lme4 gets the same CSV either way); statsmodels only on the twin.
    mixedkit has no public call for its design step alone, so the whole
    ``fit_lmm`` is timed here as everywhere.
icc_sleepstudy
    ``fit.icc(n_boot=1000, seed=1)`` on the sleepstudy ``(Days | Subject)`` fit
    (whole call, default executor: a process pool on every core); mixedkit only.
cold_start
    What a user waits for from a fresh process: import the package, read sleepstudy
    from a CSV (written once from ``mk.load_dataset("sleepstudy")`` with Subject as
    text, ``S308`` ...), fit ``Reaction ~ Days + (Days | Subject)`` once by REML:

    * mixedkit: ``python -c "import mixedkit as mk, pandas as pd; d =
      pd.read_csv(CSV); mk.fit_lmm(FORMULA, d)"`` (this interpreter);
    * mixedlm: ``python -c "import mixedlm, pandas as pd; d = pd.read_csv(CSV);
      mixedlm.lmer(FORMULA, d, REML=True)"`` (the peers interpreter);
    * lme4: ``Rscript -e "library(lme4); d <- read.csv(CSV); fit <- lmer(FORMULA,
      d)"``.

    Each is the wall time of ``subprocess.run`` measured in this process with
    ``time.perf_counter`` (process start to exit), median of ``--cold-runs`` (5)
    fresh processes, the tools taking turns (the OS file cache is warm after the
    first).

Simulated data use ``numpy.random.default_rng`` with a fixed seed per design:
``sim_*`` is ``y = 1 + 0.5 x + b0_g + b1_g x + e`` with ``x ~ U(0, 10)``,
``b0 ~ N(0, 1)``, ``b1 ~ N(0, 0.25^2)``, ``e ~ N(0, 1)``; the others add normal
effects per level to a fixed part (see the ``simulate_*`` functions). InstEval is
exported from R once with ``Rscript`` and cached in ``benchmarks/.cache/`` (git
ignores it); without R (and no cache) an InstEval-shaped design with the same
row and level counts is simulated instead, and the row's notes say so.

What is timed
-------------
mixedkit
    ``mk.fit_lmm(formula, data, reml=True)``: the whole call (checks, design,
    estimation, results object), ``time.perf_counter``.
statsmodels
    ``smf.mixedlm(...)`` built from the DataFrame plus ``.fit(reml=True)`` with
    statsmodels' default optimiser; the call is mixedkit's ``fit.statsmodels_call``
    translation, written out per design. Skipped ("skipped" in ``status_sm``) on
    the designs where it would take more than about two minutes: intercept_125k,
    sim_1e6, nested_50k and insteval (so insteval_busy too), and on the text
    variants.
lme4
    The data are written to CSV (not timed); one ``Rscript`` process per design
    (``benchmarks/bench_engine_lme4.R``) reads it, makes the grouping and factor
    columns factors, fits one untimed warmup model, then times
    ``lmer(formula, data, REML = TRUE)`` with ``system.time`` (elapsed) and prints
    the times, logLik and theta as JSON.
mixedlm
    The PyPI package ``mixedlm`` (a Rust-backed lme4 port; never a dependency of
    mixedkit) in its own virtual environment, ``benchmarks/.venv-peers`` (git
    ignores it; ``--peers-python`` points elsewhere)::

        python3 -m venv benchmarks/.venv-peers
        benchmarks/.venv-peers/bin/pip install mixedlm pandas

    One worker process per design (``PY_WORKER`` of ``benchmarks/peers.py``, shared
    with ``bench_general.py``) run by that interpreter: it imports mixedlm, fits
    sleepstudy once (untimed warmup), reads the design's CSV (the one lme4 reads)
    with the grouping and factor columns as text, made pandas Categoricals again
    where mixedkit got Categoricals (so both get the same dtypes), then times
    ``mixedlm.lmer(formula, data, REML=True)`` (default control) with
    ``time.perf_counter`` once per repeat; its log-likelihood is
    ``fit.logLik().value``. A fit that takes more than ``PEER_TIMEOUT`` seconds
    kills the worker (``status_mixedlm`` = ``error``). When the peers interpreter
    is missing or cannot import mixedlm (a small probe), or with ``--no-mixedlm``,
    the column is not run (``status_mixedlm`` = ``not run``, a note, ratios NaN).

Reported times are medians of the repeats: 5 below 1e4 rows, 3 below 1e5, 1 from
1e5 rows (``--repeats``); ``icc_sleepstudy`` uses the last count. Python warms up
once on sleepstudy before the first design. A method that raises is recorded
(``status_*`` = ``error``, exception in ``notes``) and the run goes on. Warnings
are caught; their categories go to ``notes``. Any design where mixedkit's
log-likelihood is more than 1e-2 from lme4's is flagged as a LOGLIK MISMATCH;
``dll_mk_mixedlm`` is mixedkit's minus mixedlm's.

Run it on an idle machine. On Linux the CSV's ``other_cpu_s`` is the CPU time
other processes used while a design ran (``/proc/stat`` minus this process and
its children; approximate, a lower bound), and designs where it exceeds 10% of
``wall_s`` are flagged in the report.

Peak memory of the mixedkit InstEval fit: one extra fit in a fresh Python process
(``python -c``, same interpreter) that loads the pickled data, then runs
``fit_lmm`` once and reports its peak resident set size (whole process,
interpreter and data included): ``VmHWM`` from ``/proc/self/status`` on Linux,
because ``getrusage(RUSAGE_SELF).ru_maxrss`` carries the parent's peak over fork
and exec; ``ru_maxrss`` elsewhere. The same figure taken just before ``fit_lmm``
(imports and data) is the baseline in ``notes``.

Targets
-------
Against lme4 (``target`` / ``verdict``):

* mixedkit / lme4 time <= 0.5 on sim_1e5 and sim_1e6 (and their text variants);
* <= 1.0 on intercept_125k and nested_50k (and their text variants);
* <= 2.0 on crossed_1e4 (and its text variant), insteval and sleepstudy;
* <= 0.5 on insteval_busy;
* insteval peak memory (mixedkit) <= 3 GB;
* ``fit.icc(n_boot=1000, seed=1)`` on sleepstudy (default executor) <= 5 s.

Against mixedlm (``target_mk_mixedlm`` / ``verdict_mk_mixedlm``):

* mixedkit / mixedlm time <= 1.0 on every design from 1e4 rows (insteval,
  insteval_busy and the text variants included);
* <= 2.0 on sleepstudy;
* cold_start: mixedkit's cold start <= mixedlm's (ratio <= 1.0).

Against the row a variant repeats (``target_twin`` / ``verdict_twin``):

* text variants: ``ratio_text_int`` <= 1.2 (text within 1.2x its integer twin);
* insteval_busy: ``ratio_busy_idle`` (its mixedkit time over insteval's) <= 1.3.

sim_1e3 and sim_1e4 have no lme4 target (sim_1e3 none at all); they show how time
grows with size.

Usage
-----
From the repository root, with mixedkit installed (``. .venv/bin/activate``)::

    python benchmarks/bench_engine.py                   # everything (long: 1e6 rows)
    python benchmarks/bench_engine.py --skip-large      # no design with >= 1e5 rows
    python benchmarks/bench_engine.py --only insteval   # names containing this (a,b: either)
    python benchmarks/bench_engine.py --repeats 3,1,1   # <1e4 rows, <1e5, >=1e5
    python benchmarks/bench_engine.py --methods lme4    # lme4 only (or any of
                                                        # mixedkit,statsmodels,lme4,mixedlm)
    python benchmarks/bench_engine.py --no-r            # without R (lme4 ratios NaN)
    python benchmarks/bench_engine.py --no-mixedlm      # without mixedlm (its ratios NaN)
    python benchmarks/bench_engine.py --peers-python P  # interpreter with mixedlm
    python benchmarks/bench_engine.py --cold-runs 3     # fresh processes per tool (default 5)
    python benchmarks/bench_engine.py --out /tmp/r.csv  # default benchmarks/engine_results.csv

``--only sim_1e4`` also runs ``sim_1e4_text`` and ``--only insteval`` also
``insteval_busy`` (names containing the text); a variant whose twin did not run in
the same run has its twin ratio NaN.

The mixedkit timed is the one ``import mixedkit`` finds (``mixedkit_path`` in the
CSV). To time a commit while the work tree is being edited::

    git archive COMMIT mixedkit | tar -x -C /tmp/mk_commit
    PYTHONPATH=/tmp/mk_commit python benchmarks/bench_engine.py --skip-large

R and lme4 (Debian/Ubuntu)::

    apt-get install -y r-base-core r-cran-lme4

When ``Rscript`` is not on the PATH or cannot load lme4 (checked with a small
probe), the lme4 column is skipped with a printed note and its ratios are NaN.

The CSV has one row per design: times (medians and every repeat), ratios,
log-likelihoods, theta, per-method status, targets and verdicts, notes, and the
machine (Python, numpy, statsmodels, mixedkit, BLAS, R, lme4 and mixedlm versions).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import statsmodels
import statsmodels.formula.api as smf
from peers import (
    DEFAULT_PEERS_PYTHON,
    PEAK_MB_SOURCE,
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
R_HELPER = HERE / "bench_engine_lme4.R"
CACHE = HERE / ".cache"
DEFAULT_OUT = HERE / "engine_results.csv"

SEED = 20261129
LOGLIK_TOL = 1e-2
LARGE_ROWS = 100_000
MEDIUM_ROWS = 10_000
MEMORY_TARGET_GB = 3.0
BUSY_SHARE = 0.1  # other processes' CPU per wall second above which times are suspect
METHODS = ("mixedkit", "statsmodels", "lme4", "mixedlm")
SLEEPSTUDY = "Reaction ~ Days + (Days | Subject)"
INSTEVAL_ROWS, INSTEVAL_S, INSTEVAL_D = 73_421, 2_972, 1_128
SM_SKIPPED = "skipped (statsmodels would take more than ~2 min)"
SM_TEXT = "skipped (text variant: statsmodels is timed on the integer twin only)"
PEER_TIMEOUT = 600.0  # seconds one mixedlm fit may take before its worker is killed
TEXT_TARGET = 1.2  # text variant's mixedkit time / its integer twin's
BUSY_TARGET = 1.3  # insteval_busy's mixedkit time / insteval's
BUSY_SIZE = 1500  # the busy neighbour multiplies two BUSY_SIZE x BUSY_SIZE matrices
BUSY_SETTLE_S = 1.0  # wait after its first product, before the first timed method
BUSY_MAX_S = 3600.0  # the neighbour stops by itself after this long, whatever happens
COLD_RUNS = 5
COLD_TIMEOUT = 300.0
COLD_NOTE = "wall time of fresh processes (import, read sleepstudy CSV, one REML fit), median"


# --------------------------------------------------------------------------- designs

TARGET_LABELS = {"ratio_mk_lme4": "mk/lme4", "t_mixedkit": "t", "ratio_text_int": "text/int",
                 "ratio_busy_idle": "busy/idle"}


@dataclass(frozen=True)
class Target:
    """A target: on the mixedkit / lme4 ratio, mixedkit's seconds or a twin ratio."""

    limit: float
    on: str = "ratio_mk_lme4"  # or a key of TARGET_LABELS

    def __str__(self) -> str:
        return f"{TARGET_LABELS[self.on]} <= {self.limit:g}" + (" s" if self.on == "t_mixedkit"
                                                                 else "")


@dataclass(frozen=True)
class Design:
    """One model on one data set.

    ``sm_call`` is the raw statsmodels model, an expression over ``data``, ``smf``
    and ``np`` (mixedkit's ``fit.statsmodels_call`` translation); it is not run when
    ``sm_skipped`` (the reason) is set. ``factors`` are the columns R must turn into
    factors. A variant names the row it repeats in ``twin`` and is judged against it
    by ``twin_target``; ``busy`` runs it beside a busy neighbour.
    """

    name: str
    formula: str
    n_rows: int  # nominal, to pick repeats and --skip-large before making the data
    make_data: Callable[[], tuple[pd.DataFrame, str]]  # data, note about the data
    factors: tuple[str, ...]
    n_groups: str
    sm_call: str
    target: Target | None
    target_mixedlm: float | None = None  # on the mixedkit / mixedlm ratio
    sm_skipped: str = ""
    measure_memory: bool = False
    twin: str = ""
    twin_target: Target | None = None
    busy: bool = False


def _factor(prefix: str, codes: np.ndarray, n_levels: int) -> pd.Categorical:
    """Integer codes as a categorical with zero-padded labels (same order in R)."""
    width = len(str(n_levels - 1))
    labels = [f"{prefix}{i:0{width}d}" for i in range(n_levels)]
    return pd.Categorical.from_codes(codes, categories=labels)


def load_sleepstudy() -> tuple[pd.DataFrame, str]:
    return mk.load_dataset("sleepstudy"), ""


def simulate_slopes(n_rows: int, n_groups: int) -> tuple[pd.DataFrame, str]:
    """Balanced random intercept and slope data, ``x ~ U(0, 10)``."""
    rng = np.random.default_rng(SEED + n_rows)
    g = np.repeat(np.arange(n_groups), n_rows // n_groups)
    x = rng.uniform(0.0, 10.0, g.size)
    b0, b1 = rng.normal(0.0, 1.0, n_groups), rng.normal(0.0, 0.25, n_groups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(0.0, 1.0, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": _factor("g", g, n_groups)}), ""


def simulate_intercept_factors(n_groups: int = 125_000, per_group: int = 3
                               ) -> tuple[pd.DataFrame, str]:
    """Random intercept per group; fixed factors f1 (3 levels) and f2 (4 levels)."""
    rng = np.random.default_rng(SEED + 1)
    g = np.repeat(np.arange(n_groups), per_group)
    f1, f2 = rng.integers(0, 3, g.size), rng.integers(0, 4, g.size)
    y = (1.0 + np.array([0.0, 0.5, -0.5])[f1] + np.array([0.0, 0.3, 0.6, -0.2])[f2]
         + rng.normal(0.0, 1.0, n_groups)[g] + rng.normal(0.0, 1.0, g.size))
    return pd.DataFrame({"y": y, "f1": _factor("a", f1, 3), "f2": _factor("b", f2, 4),
                         "g": _factor("g", g, n_groups)}), ""


def simulate_nested(n_teams: int = 100, users_per_team: int = 50, per_user: int = 10
                    ) -> tuple[pd.DataFrame, str]:
    """Users nested in teams; user labels repeat across teams (u00..u49 in each)."""
    rng = np.random.default_rng(SEED + 2)
    team = np.repeat(np.arange(n_teams), users_per_team * per_user)
    user = np.tile(np.repeat(np.arange(users_per_team), per_user), n_teams)
    x = rng.normal(0.0, 1.0, team.size)
    u = rng.normal(0.0, 0.7, n_teams * users_per_team)[team * users_per_team + user]
    y = 1.0 + 0.5 * x + rng.normal(0.0, 1.0, n_teams)[team] + u + rng.normal(0.0, 1.0, x.size)
    return pd.DataFrame({"y": y, "x": x, "team": _factor("t", team, n_teams),
                         "user": _factor("u", user, users_per_team)}), ""


def simulate_crossed(n1: int = 50, n2: int = 40, per_cell: int = 5) -> tuple[pd.DataFrame, str]:
    """Fully crossed factors f1 x f2, ``per_cell`` rows in every cell."""
    rng = np.random.default_rng(SEED + 3)
    f1 = np.repeat(np.arange(n1), n2 * per_cell)
    f2 = np.tile(np.repeat(np.arange(n2), per_cell), n1)
    x = rng.normal(0.0, 1.0, f1.size)
    y = (1.0 + 0.5 * x + rng.normal(0.0, 1.0, n1)[f1] + rng.normal(0.0, 0.5, n2)[f2]
         + rng.normal(0.0, 1.0, x.size))
    return pd.DataFrame({"y": y, "x": x, "f1": _factor("a", f1, n1),
                         "f2": _factor("b", f2, n2)}), ""


def simulate_insteval() -> pd.DataFrame:
    """InstEval-shaped: 73,421 rows, every one of 2,972 s and 1,128 d levels used."""
    rng = np.random.default_rng(SEED + 4)
    s = rng.permutation(np.arange(INSTEVAL_ROWS) % INSTEVAL_S)
    d = rng.permutation(np.arange(INSTEVAL_ROWS) % INSTEVAL_D)
    service = rng.integers(0, 2, INSTEVAL_ROWS)
    y = (3.2 - 0.1 * service + rng.normal(0.0, 0.3, INSTEVAL_S)[s]
         + rng.normal(0.0, 0.5, INSTEVAL_D)[d] + rng.normal(0.0, 1.2, INSTEVAL_ROWS))
    return pd.DataFrame({"y": y, "service": _factor("", service, 2),
                         "s": _factor("s", s, INSTEVAL_S), "d": _factor("d", d, INSTEVAL_D)})


def load_insteval(use_r: bool) -> tuple[pd.DataFrame, str]:
    """lme4's InstEval (exported once to the cache), else the simulated stand-in."""
    path = CACHE / "InstEval.csv"
    if not path.exists() and use_r:
        CACHE.mkdir(exist_ok=True)
        proc = subprocess.run(["Rscript", str(R_HELPER), "insteval", str(path)],
                              check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            path.unlink(missing_ok=True)
            print(f"note: exporting InstEval from R failed: {_tail(proc.stderr)}", flush=True)
    if not path.exists():
        return simulate_insteval(), "simulated InstEval-shaped data (lme4::InstEval unavailable)"
    data = pd.read_csv(path, usecols=["y", "service", "s", "d"])
    for col in ("service", "s", "d"):
        data[col] = data[col].astype(str).astype("category")
    return data, f"lme4::InstEval ({path.relative_to(HERE.parent)})"


def _sm_slopes() -> str:
    return "smf.mixedlm('y ~ x', data, groups='g', re_formula='~x')"


def _sm_crossed(fixed: str, a: str, b: str) -> str:
    """Two crossed random intercepts: variance components of one all-rows group."""
    vc = {a: f"0 + C({a})", b: f"0 + C({b})"}
    return (f"smf.mixedlm({fixed!r}, data, groups=np.ones(len(data)), re_formula='0', "
            f"vc_formula={vc!r}, use_sparse=True)")


def read_back_as_text(make_data: Callable[[], tuple[pd.DataFrame, str]],
                      factors: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    """``make_data()``'s frame written to CSV and read back with a plain ``pd.read_csv``.

    The Categorical columns come back as text, as users get them from a file.
    """
    data, note = make_data()
    with tempfile.TemporaryDirectory(prefix="bench_engine_text_") as tmp:
        path = Path(tmp) / "data.csv"
        data.to_csv(path, index=False)
        del data
        text = pd.read_csv(path)
    dtypes = ", ".join(f"{col} {text[col].dtype}" for col in factors)
    return text, "; ".join(filter(None, [note, f"read back from CSV: {dtypes}"]))


def text_variant(design: Design) -> Design:
    """``design`` on its data as text columns, judged against ``design`` itself."""
    return replace(design, name=f"{design.name}_text",
                   make_data=partial(read_back_as_text, design.make_data, design.factors),
                   sm_skipped=design.sm_skipped or SM_TEXT, measure_memory=False,
                   twin=design.name, twin_target=Target(TEXT_TARGET, on="ratio_text_int"))


def designs(use_r: bool) -> list[Design]:
    """Every design, smallest first, each variant after its twin (data made when run)."""
    def slopes(name: str, n_rows: int, n_groups: int, target: Target | None) -> Design:
        return Design(name, "y ~ x + (x | g)", n_rows, lambda: simulate_slopes(n_rows, n_groups),
                      ("g",), f"{n_groups:,}", _sm_slopes(), target,
                      target_mixedlm=1.0 if n_rows >= MEDIUM_ROWS else None,
                      sm_skipped=SM_SKIPPED if n_rows >= 1_000_000 else "")

    def with_text(design: Design) -> list[Design]:
        return [design, text_variant(design)]

    insteval = Design("insteval", "y ~ service + (1 | s) + (1 | d)", INSTEVAL_ROWS,
                      lambda: load_insteval(use_r), ("service", "s", "d"), "2,972 s x 1,128 d",
                      _sm_crossed("y ~ service", "s", "d"), Target(2.0), target_mixedlm=1.0,
                      sm_skipped=SM_SKIPPED, measure_memory=True)
    return [
        Design("sleepstudy", SLEEPSTUDY, 180, load_sleepstudy, ("Subject",), "18",
               "smf.mixedlm('Reaction ~ Days', data, groups='Subject', re_formula='~Days')",
               Target(2.0), target_mixedlm=2.0),
        *with_text(slopes("sim_1e3", 1_000, 50, None)),
        *with_text(slopes("sim_1e4", 10_000, 500, None)),
        *with_text(Design("crossed_1e4", "y ~ x + (1 | f1) + (1 | f2)", 10_000, simulate_crossed,
                          ("f1", "f2"), "50 f1 x 40 f2", _sm_crossed("y ~ x", "f1", "f2"),
                          Target(2.0), target_mixedlm=1.0)),
        *with_text(Design("nested_50k", "y ~ x + (1 | team/user)", 50_000, simulate_nested,
                          ("team", "user"), "100 team, 5,000 team:user",
                          "smf.mixedlm('y ~ x', data, groups='team', re_formula='1', "
                          "vc_formula={'team:user': '0 + C(user)'})",
                          Target(1.0), target_mixedlm=1.0, sm_skipped=SM_SKIPPED)),
        insteval,
        replace(insteval, name="insteval_busy", target=Target(0.5), measure_memory=False,
                twin="insteval", twin_target=Target(BUSY_TARGET, on="ratio_busy_idle"),
                busy=True),
        *with_text(slopes("sim_1e5", 100_000, 2_000, Target(0.5))),
        *with_text(Design("intercept_125k", "y ~ f1 + f2 + (1 | g)", 375_000,
                          simulate_intercept_factors, ("g", "f1", "f2"), "125,000",
                          "smf.mixedlm('y ~ f1 + f2', data, groups='g')", Target(1.0),
                          target_mixedlm=1.0, sm_skipped=SM_SKIPPED)),
        *with_text(slopes("sim_1e6", 1_000_000, 10_000, Target(0.5))),
    ]


# --------------------------------------------------------------------------- timing

def _first_line(exc: BaseException, n: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else "")[:n]



def time_python(fit: Callable[[], object], describe: Callable[[object], tuple[float, str, str]],
                repeats: int) -> Timing:
    """Time ``fit()`` ``repeats`` times; ``describe(result)`` gives loglik, theta, note.

    Stops at the first exception, which becomes the status and a note.
    """
    out = Timing()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(repeats):
            gc.collect()
            t0 = time.perf_counter()
            try:
                result = fit()
            except Exception as exc:  # noqa: BLE001 - a failure is a result here
                out.status = "error"
                out.notes.append(f"{type(exc).__name__} after {time.perf_counter() - t0:.1f} s: "
                                 f"{_first_line(exc)}")
                break
            out.seconds.append(time.perf_counter() - t0)
            if out.status != "ok":
                out.status = "ok"
                out.loglik, out.theta, note = describe(result)
                out.notes += [note] if note else []
            del result
    categories = sorted({w.category.__name__ for w in caught})
    if categories:
        out.notes.append("warned " + ", ".join(categories))
    return out


def describe_mixedkit(fit) -> tuple[float, str, str]:
    return float(fit.loglik), _numbers(fit.theta), "" if fit.converged else "not converged"


def describe_statsmodels(res) -> tuple[float, str, str]:
    return float(res.llf), "", "" if res.converged else "converged=False"


def time_mixedkit(design: Design, data: pd.DataFrame, repeats: int) -> Timing:
    return time_python(lambda: mk.fit_lmm(design.formula, data, reml=True), describe_mixedkit,
                       repeats)


def time_statsmodels(design: Design, data: pd.DataFrame, repeats: int) -> Timing:
    if design.sm_skipped:
        return Timing("skipped", notes=[design.sm_skipped])
    code = compile(design.sm_call, "<sm_call>", "eval")
    env = {"smf": smf, "np": np, "data": data}
    return time_python(lambda: eval(code, env).fit(reml=True), describe_statsmodels, repeats)


def time_lme4(design: Design, path: Path, repeats: int) -> Timing:
    """One Rscript process: read the CSV at ``path``, then time ``lmer`` ``repeats`` times."""
    proc = subprocess.run(["Rscript", str(R_HELPER), "fit", str(path), design.formula,
                           ",".join(design.factors), str(repeats)],
                          check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        return Timing("error", notes=[f"Rscript failed: {_tail(proc.stderr)}"])
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    loglik = float("nan") if res["loglik"] is None else float(res["loglik"])
    return Timing("ok", [float(s) for s in res["seconds"]], loglik, _numbers(res["theta"]),
                  list(res["notes"]))


def time_mixedlm(design: Design, data: pd.DataFrame, path: Path, repeats: int,
                 python: Path, workdir: Path) -> Timing:
    """One mixedlm worker (peers interpreter) on the CSV at ``path``, ``repeats`` fits.

    Columns that are Categoricals in ``data`` are made Categoricals in the worker too,
    so mixedlm gets the dtypes mixedkit got.
    """
    categorical = [col for col in design.factors
                   if isinstance(data[col].dtype, pd.CategoricalDtype)]
    cmd = python_worker_cmd("mixedlm", python, path, design.formula, design.factors,
                            categorical=categorical)
    runner = WorkerRunner(Worker("mixedlm", cmd, PEER_TIMEOUT, workdir))
    timing = Timing()
    try:
        if runner.wait_ready(timing):
            for _ in range(repeats):
                runner.fit(timing)
                if timing.status == "error":
                    break
    finally:
        runner.close()
    return timing


# A numerical neighbour for insteval_busy: matrix products until SIGTERM, until its
# parent (this script) is gone, or after argv[3] seconds, whichever comes first; then
# it prints how many products it did and in how many seconds.
_BUSY_CHILD = r"""
import os, signal, sys, time
import numpy as np

parent, size, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
rng = np.random.default_rng(0)
a, b = rng.random((size, size)), rng.random((size, size))
a @ b
print("ready", flush=True)
start, n = time.monotonic(), 0
while not stop and os.getppid() == parent and time.monotonic() - start < limit:
    a @ b
    n += 1
try:
    print(n, time.monotonic() - start, flush=True)
except BrokenPipeError:  # the benchmark is gone
    pass
"""


class NeighbourError(RuntimeError):
    """The busy neighbour did not start."""


@dataclass
class Neighbour:
    """The busy neighbour process; ``products`` and ``seconds`` are set when it stops."""

    pid: int
    size: int
    products: int = -1
    seconds: float = float("nan")

    def note(self) -> str:
        if self.products < 0:
            return f"busy neighbour (pid {self.pid}) did not report its work"
        gflops = 2 * self.size ** 3 * self.products / self.seconds / 1e9 if self.seconds else 0.0
        return (f"beside a busy neighbour: {self.products} products of {self.size}x{self.size} "
                f"matrices in {self.seconds:.0f} s ({gflops:.1f} GFLOP/s)")


@contextmanager
def busy_neighbour(size: int = BUSY_SIZE) -> Iterator[Neighbour]:
    """A child process looping numpy matrix products for the duration of the block.

    Yields once the child has done its first product and ``BUSY_SETTLE_S`` more have
    passed; always stops it (terminate, then kill) when the block ends, however.
    """
    proc = subprocess.Popen([sys.executable, "-c", _BUSY_CHILD, str(os.getpid()), str(size),
                             str(BUSY_MAX_S)], stdout=subprocess.PIPE, text=True)
    neighbour = Neighbour(proc.pid, size)
    try:
        first = proc.stdout.readline().strip()  # "" if it died
        if first != "ready":
            raise NeighbourError(f"busy neighbour did not start (exit code {proc.poll()})")
        time.sleep(BUSY_SETTLE_S)
        yield neighbour
    finally:
        proc.terminate()  # it finishes the product under way, then reports
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        parts = out.split()
        if len(parts) == 2:
            neighbour.products, neighbour.seconds = int(parts[0]), float(parts[1])


# A fresh process: load the data, fit once, report its peak RSS. On Linux that is
# VmHWM: getrusage's ru_maxrss keeps the parent's peak across fork + exec, so it
# would report at least the benchmark process's own size. Elsewhere ru_maxrss
# (KiB, bytes on macOS).
_MEMORY_CHILD = """
import json, resource, sys, time, warnings
import pandas as pd
import mixedkit as mk
""" + PEAK_MB_SOURCE + """

fit_lmm = mk.fit_lmm
data = pd.read_pickle(sys.argv[1])
warnings.simplefilter("ignore")
baseline, t0, error = peak_mb(), time.perf_counter(), ""
try:
    fit_lmm(sys.argv[2], data, reml=True)
except Exception as exc:
    error = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak_mb(),
                  "seconds": time.perf_counter() - t0, "error": error}))
"""


def peak_memory(design: Design, data: pd.DataFrame, workdir: Path) -> tuple[float, str]:
    """Peak RSS (MB) of a fresh process that runs mixedkit's fit once, and a note."""
    path = workdir / f"{design.name}.pkl"
    data.to_pickle(path)
    proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(path), design.formula],
                          check=False, capture_output=True, text=True)
    path.unlink()
    if proc.returncode != 0:
        return float("nan"), f"memory run crashed: {_tail(proc.stderr)}"
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    note = (f"memory run: peak RSS {res['peak_mb']:.0f} MB in a fresh process "
            f"(baseline {res['baseline_mb']:.0f} MB before fit_lmm; fit {res['seconds']:.1f} s)")
    if res["error"]:
        return float("nan"), f"{note}, failed with {res['error']}"
    return float(res["peak_mb"]), note


def time_icc(repeats: int) -> Timing:
    """``fit.icc(n_boot=1000, seed=1)`` on sleepstudy ``(Days | Subject)``, whole call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mk.fit_lmm(SLEEPSTUDY, mk.load_dataset("sleepstudy"), reml=True)

    def describe(table: pd.DataFrame) -> tuple[float, str, str]:
        first = table.iloc[0]
        return float("nan"), "", (f"ICC {first.estimate:.3f} [{first.conf_low:.3f}, "
                                  f"{first.conf_high:.3f}], {table.attrs.get('n_failed')} "
                                  "failed refits")

    return time_python(lambda: fit.icc(n_boot=1000, seed=1), describe, repeats)


def cold_commands(csv: Path, peers_python: Path) -> dict[str, list[str]]:
    """Each tool's fresh process: import, read the sleepstudy CSV, fit once by REML."""
    read, read_r = f"d = pd.read_csv({str(csv)!r})", f"d <- read.csv({json.dumps(str(csv))})"
    mk_fit = f"mk.fit_lmm({SLEEPSTUDY!r}, d)"
    ml_fit = f"mixedlm.lmer({SLEEPSTUDY!r}, d, REML=True)"
    return {
        "mixedkit": [sys.executable, "-c",
                     f"import mixedkit as mk, pandas as pd; {read}; {mk_fit}"],
        "lme4": ["Rscript", "-e", f"library(lme4); {read_r}; fit <- lmer({SLEEPSTUDY}, d)"],
        "mixedlm": [str(peers_python), "-c", f"import mixedlm, pandas as pd; {read}; {ml_fit}"],
    }


def time_cold_starts(commands: dict[str, list[str]], runs: int, cwd: Path) -> dict[str, Timing]:
    """Wall time of each command, ``runs`` fresh processes each, the tools taking turns.

    Each command runs once untimed first, with bytecode writing allowed (an environment's
    ``PYTHONDONTWRITEBYTECODE`` is dropped for these processes): a ``pip install`` compiles
    every module, so a user's first fit never compiles mixedkit's source, while an editable
    checkout under ``PYTHONDONTWRITEBYTECODE=1`` would compile it in every process (0.1 s).
    The processes run in ``cwd`` (the work directory), not in the checkout: ``python -c``
    puts the current directory first on ``sys.path``, where the checkout's ``mixedkit``
    would shadow the one under test (``PYTHONPATH``, as compare_trees.py sets it).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for cmd in commands.values():
        subprocess.run(cmd, check=False, capture_output=True, timeout=COLD_TIMEOUT, env=env,
                       cwd=cwd)
    timings = {tool: Timing("ok") for tool in commands}
    for _ in range(runs):
        for tool, cmd in commands.items():
            timing = timings[tool]
            if timing.status != "ok":
                continue
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                                      timeout=COLD_TIMEOUT, env=env, cwd=cwd)
            except subprocess.TimeoutExpired:
                timings[tool] = Timing("error", notes=[f"no exit within {COLD_TIMEOUT:g} s"])
                continue
            seconds = time.perf_counter() - t0
            if proc.returncode != 0:
                error = f"exited with {proc.returncode}: {_tail(proc.stderr)}"
                timings[tool] = Timing("error", notes=[error])
                continue
            timing.seconds.append(seconds)
    return timings


# --------------------------------------------------------------------------- results

def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def loglik_check(mk_ll: float, lme4_ll: float) -> str:
    if not (np.isfinite(mk_ll) and np.isfinite(lme4_ll)):
        return "n/a"
    return "ok" if abs(mk_ll - lme4_ll) <= LOGLIK_TOL else "MISMATCH"


def verdict(value: float, limit: float | None) -> str:
    if limit is None:
        return ""
    return "n/a" if not np.isfinite(value) else "PASS" if value <= limit else "FAIL"


def result_row(name: str, formula: str, n_rows: int, n_groups: str, repeats: int,
               timings: dict[str, Timing], target: Target | None, sm_call: str = "",
               peak_mb: float | None = None, notes: tuple[str, ...] = (),
               target_mixedlm: float | None = None, twin: str = "",
               twin_target: Target | None = None, twin_t: float = float("nan")) -> dict:
    """One CSV row; every method's notes are prefixed with its name.

    ``peak_mb`` is None when memory was not measured, NaN when that run failed;
    ``twin_t`` is the mixedkit time of the ``twin`` row (NaN when it did not run).
    """
    mkt, smt, rt = timings["mixedkit"], timings["statsmodels"], timings["lme4"]
    mlt = timings["mixedlm"]
    nan = float("nan")
    row = {
        "design": name, "n_rows": n_rows, "n_groups": n_groups, "repeats": repeats,
        "t_mixedkit": mkt.median, "t_statsmodels": smt.median, "t_lme4": rt.median,
        "t_mixedlm": mlt.median,
        "ratio_mk_lme4": _ratio(mkt.median, rt.median),
        "ratio_mk_sm": _ratio(mkt.median, smt.median),
        "ratio_mk_mixedlm": _ratio(mkt.median, mlt.median),
        "loglik_mk": mkt.loglik, "loglik_sm": smt.loglik, "loglik_lme4": rt.loglik,
        "loglik_mixedlm": mlt.loglik,
        "dloglik_mk_lme4": mkt.loglik - rt.loglik,
        "dloglik_sm_lme4": smt.loglik - rt.loglik,
        "dll_mk_mixedlm": mkt.loglik - mlt.loglik,
        "loglik_check": loglik_check(mkt.loglik, rt.loglik),
        "target": str(target) if target else "",
        "verdict": "",
        "target_mk_mixedlm": nan if target_mixedlm is None else target_mixedlm,
        "verdict_mk_mixedlm": verdict(_ratio(mkt.median, mlt.median), target_mixedlm),
        "twin": twin, "ratio_text_int": nan, "ratio_busy_idle": nan,
        "target_twin": str(twin_target) if twin_target else "",
        "verdict_twin": "",
        "peak_rss_mb": nan if peak_mb is None else peak_mb,
        "memory_verdict": "" if peak_mb is None else verdict(peak_mb, MEMORY_TARGET_GB * 1000),
        "status_mk": mkt.status, "status_sm": smt.status, "status_lme4": rt.status,
        "status_mixedlm": mlt.status,
    }
    if target:
        row["verdict"] = verdict(row[target.on], target.limit)
    if twin_target:
        row[twin_target.on] = _ratio(mkt.median, twin_t)
        row["verdict_twin"] = verdict(row[twin_target.on], twin_target.limit)
    method_notes = [f"{method}: {note}" for method, t in timings.items() for note in t.notes]
    row["notes"] = "; ".join([*notes, *method_notes])
    row.update({
        "theta_mk": mkt.theta, "theta_lme4": rt.theta, "theta_mixedlm": mlt.theta,
        "times_mk": _numbers(mkt.seconds), "times_sm": _numbers(smt.seconds),
        "times_lme4": _numbers(rt.seconds), "times_mixedlm": _numbers(mlt.seconds),
        "formula": formula, "sm_call": sm_call,
    })
    return row


def not_run(method: str, methods: dict[str, str]) -> Timing | None:
    """The Timing of a method that will not run (not chosen, or unavailable), else None.

    ``methods`` maps each chosen method to "" (run) or why it cannot run.
    """
    if method not in methods:
        return Timing()
    if methods[method]:  # lme4 without R is "skipped", mixedlm without its venv "not run"
        return Timing("not run" if method == "mixedlm" else "skipped", notes=[methods[method]])
    return None


def run_design(design: Design, repeats: int, methods: dict[str, str], workdir: Path,
               peers_python: Path, twin_t: float | None = None) -> dict:
    """Time every method on one design; ``twin_t`` is the twin row's mixedkit time.

    ``twin_t`` is None when the design has no twin or its twin did not run.
    """
    data, data_note = design.make_data()
    notes = [data_note] if data_note else []
    if design.twin and twin_t is None:
        notes.append(f"{design.twin} not run in this run: no {design.twin_target.on}")
    path = workdir / f"{design.name}.csv"  # read by Rscript and the mixedlm worker
    runners = {
        "mixedkit": lambda: time_mixedkit(design, data, repeats),
        "statsmodels": lambda: time_statsmodels(design, data, repeats),
        "lme4": lambda: time_lme4(design, path, repeats),
        "mixedlm": lambda: time_mixedlm(design, data, path, repeats, peers_python, workdir),
    }
    timings = {method: not_run(method, methods) for method in runners}
    if any(timings[m] is None for m in ("lme4", "mixedlm")):
        data.to_csv(path, index=False)  # not timed
    try:
        with ExitStack() as stack:
            neighbour = stack.enter_context(busy_neighbour()) if design.busy else None
            for method, run in runners.items():
                if timings[method] is None:
                    timings[method] = run()
        if neighbour:
            notes.append(neighbour.note())
    except NeighbourError as exc:  # nothing was timed
        timings = {m: t or Timing("error", notes=[str(exc)]) for m, t in timings.items()}
    finally:
        path.unlink(missing_ok=True)
    peak_mb = None
    if design.measure_memory and "mixedkit" in methods:
        peak_mb, note = peak_memory(design, data, workdir)
        notes.append(note)
    return result_row(design.name, design.formula, len(data), design.n_groups, repeats,
                      timings, design.target, design.sm_call, peak_mb, tuple(notes),
                      design.target_mixedlm, design.twin, design.twin_target,
                      float("nan") if twin_t is None else twin_t)


def icc_row(repeats: int) -> dict:
    timings = {m: Timing() for m in METHODS}
    timings["mixedkit"] = time_icc(repeats)
    return result_row("icc_sleepstudy", "fit.icc(n_boot=1000, seed=1) on " + SLEEPSTUDY, 180,
                      "18", repeats, timings, Target(5.0, on="t_mixedkit"))


def cold_start_row(methods: dict[str, str], workdir: Path, peers_python: Path,
                   runs: int) -> dict:
    """Import + read sleepstudy from CSV + one fit, in fresh processes, per tool."""
    csv = workdir / "sleepstudy_cold.csv"
    data = mk.load_dataset("sleepstudy")
    data["Subject"] = "S" + data["Subject"].astype(str)  # text in every reader
    data.to_csv(csv, index=False)
    timings = {m: not_run(m, methods) for m in METHODS}
    timings["statsmodels"] = Timing()
    commands = {tool: cmd for tool, cmd in cold_commands(csv, peers_python).items()
                if timings[tool] is None}
    try:
        timings.update(time_cold_starts(commands, runs, workdir))
    finally:
        csv.unlink()
    return result_row("cold_start", "fresh process: import, read_csv, fit " + SLEEPSTUDY, 180,
                      "18", runs, timings, None,
                      notes=(COLD_NOTE,),
                      target_mixedlm=1.0)


# --------------------------------------------------------------------------- machine

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
    t = os.times()  # children once reaped: Rscript, mixedlm, the memory run, the busy
    # neighbour, the cold starts, the bootstrap pool
    return t.user + t.system + t.children_user + t.children_system


def audited(run: Callable[[], dict]) -> dict:
    """``run()``'s row plus its wall time and the CPU seconds other processes used."""
    busy, own, t0 = _busy_cpu_seconds(), _own_cpu_seconds(), time.perf_counter()
    row = run()
    row["wall_s"] = time.perf_counter() - t0
    # Tick counts and per-process times disagree a little (and on VMs now and then by
    # seconds, always towards too little), so this is a lower bound, not a measure.
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


def git_head() -> str:
    """The repository's commit, marked when mixedkit/ has uncommitted changes.

    Empty when the mixedkit imported is not this repository's.
    """
    if HERE.parent not in Path(mk.__file__).resolve().parents:
        return ""

    def git(*cmd: str) -> str:
        try:
            proc = subprocess.run(["git", "-C", str(HERE.parent), *cmd], check=False,
                                  capture_output=True, text=True)
        except OSError:  # no git
            return ""
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    return f"{head} (mixedkit/ modified)" if head and git("status", "--porcelain", "mixedkit") \
        else head


def machine_info(r_info: dict[str, str], mixedlm_version: str,
                 peers_python: Path) -> dict[str, str]:
    from threadpoolctl import threadpool_info

    blas = "; ".join(f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
                     for p in threadpool_info() if p.get("user_api") == "blas")
    return {
        "date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}",
        "python": platform.python_version(), "numpy": np.__version__,
        "pandas": pd.__version__, "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__, "mixedkit": mk.__version__,
        "mixedkit_path": str(Path(mk.__file__).parent), "git_head": git_head(),
        "blas": blas, "cpus": str(os.cpu_count()), "platform": platform.platform(),
        "r_version": r_info.get("r_version", ""), "lme4_version": r_info.get("lme4_version", ""),
        "r_blas": r_info.get("r_blas", ""), "mixedlm_version": mixedlm_version,
        "peers_python": str(peers_python) if mixedlm_version else "",
    }


# --------------------------------------------------------------------------- report

def _fmt(value: float, spec: str = ".3f") -> str:
    return format(value, spec) if np.isfinite(value) else "-"


def print_report(table: pd.DataFrame) -> None:
    def limit(value: float, judged: str) -> str:
        return f"<= {value:g} {judged}" if np.isfinite(value) else ""

    shown = pd.DataFrame({
        "design": table.design, "n_rows": table.n_rows, "n_groups": table.n_groups,
        **{col: table[col].map(_fmt) for col in ("t_mixedkit", "t_statsmodels", "t_lme4",
                                                 "t_mixedlm", "ratio_mk_lme4", "ratio_mk_sm",
                                                 "ratio_mk_mixedlm")},
        "dloglik_mk_lme4": table.dloglik_mk_lme4.map(lambda v: _fmt(v, "+.2g")),
        "dll_mk_mixedlm": table.dll_mk_mixedlm.map(lambda v: _fmt(v, "+.2g")),
        "target": table.target.fillna(""), "verdict": table.verdict.fillna(""),
        "target_mk_mixedlm": [limit(v, j) for v, j in zip(table.target_mk_mixedlm,
                                                           table.verdict_mk_mixedlm.fillna(""))],
    })
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.max_colwidth", 40):
        print("\n" + shown.to_string(index=False))
        twins = table[table.twin.fillna("") != ""]
        if len(twins):
            t_of = dict(zip(table.design, table.t_mixedkit))
            ratio = twins.ratio_text_int.where(twins.ratio_text_int.notna(), twins.ratio_busy_idle)
            print("\nVariants against their twin (mixedkit seconds):\n" + pd.DataFrame({
                "design": twins.design, "twin": twins.twin,
                "t_mixedkit": twins.t_mixedkit.map(_fmt),
                "t_twin": twins.twin.map(lambda name: _fmt(t_of.get(name, float("nan")))),
                "ratio": ratio.map(_fmt), "target": twins.target_twin,
                "verdict": twins.verdict_twin}).to_string(index=False))
    print("\nNotes:")
    for _, r in table.iterrows():
        statuses = (f"mixedkit {r.status_mk}, statsmodels {r.status_sm}, lme4 {r.status_lme4}, "
                    f"mixedlm {r.status_mixedlm}")
        print(f"  {r.design}: [{statuses}] {r.notes if isinstance(r.notes, str) else ''}")
    for _, r in table[table.memory_verdict.fillna("") != ""].iterrows():
        print(f"\nPeak memory, mixedkit {r.design}: {r.peak_rss_mb:.0f} MB "
              f"(target <= {MEMORY_TARGET_GB:g} GB): {r.memory_verdict}")
    busy = table[table.other_cpu_s > BUSY_SHARE * table.wall_s]
    if len(busy):
        print("\n! The machine was not idle; these designs' times are inflated by contention:")
        for _, r in busy.iterrows():
            print(f"!   {r.design}: other processes used {r.other_cpu_s:.0f} CPU-s "
                  f"in {r.wall_s:.0f} s")
    bad = table[table.loglik_check == "MISMATCH"]
    if len(bad):
        print("\n" + "!" * 78)
        print(f"!!! LOGLIK MISMATCH: mixedkit vs lme4 differ by more than {LOGLIK_TOL:g} on "
              f"{len(bad)} design(s):")
        for _, r in bad.iterrows():
            print(f"!!!   {r.design}: mixedkit {r.loglik_mk:.4f}, lme4 {r.loglik_lme4:.4f} "
                  f"(mixedkit - lme4 = {r.dloglik_mk_lme4:+.4g})")
        print("!" * 78)
    checked = table[table.loglik_check == "ok"]
    print(f"\nlogLik agreement mixedkit vs lme4 (|diff| <= {LOGLIK_TOL:g}): {len(checked)} ok, "
          f"{len(bad)} mismatch, {len(table) - len(checked) - len(bad)} not comparable")
    dll = table.dll_mk_mixedlm[np.isfinite(table.dll_mk_mixedlm)]
    if len(dll):
        far = table[np.abs(table.dll_mk_mixedlm) > LOGLIK_TOL]
        print(f"logLik mixedkit vs mixedlm: {len(dll) - len(far)} within {LOGLIK_TOL:g}"
              + "".join(f"; {r.design} mixedkit - mixedlm = {r.dll_mk_mixedlm:+.4g}"
                        for _, r in far.iterrows()))


# --------------------------------------------------------------------------- main

def _seconds(value: float) -> str:
    return f"{value:8.3f}s" if np.isfinite(value) else f"{'-':>9s}"


def parse_repeats(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(",")]
    parts = parts * 3 if len(parts) == 1 else parts
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError("N or SMALL,MEDIUM,LARGE (positive integers)")
    return parts[0], parts[1], parts[2]


def parse_methods(text: str) -> tuple[str, ...]:
    chosen = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = set(chosen) - set(METHODS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {','.join(METHODS)}")
    return chosen


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("a positive integer")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=None,
                    help="run designs whose name contains any of these (comma-separated)")
    ap.add_argument("--repeats", type=parse_repeats, default=(5, 3, 1),
                    help="timed repeats: N, or SMALL,MEDIUM,LARGE for <1e4 rows, <1e5 rows "
                         "and >=1e5 rows (default 5,3,1); icc uses LARGE")
    ap.add_argument("--skip-large", action="store_true", help="skip designs with >= 1e5 rows")
    ap.add_argument("--methods", type=parse_methods, default=METHODS,
                    help=f"comma-separated subset of {','.join(METHODS)} (default all)")
    ap.add_argument("--no-r", action="store_true",
                    help="never call R: no lme4 timings, InstEval simulated unless cached")
    ap.add_argument("--no-mixedlm", action="store_true", help="no mixedlm timings")
    ap.add_argument("--peers-python", type=Path, default=DEFAULT_PEERS_PYTHON,
                    help="interpreter with mixedlm installed (default benchmarks/.venv-peers)")
    ap.add_argument("--cold-runs", type=positive_int, default=COLD_RUNS,
                    help=f"fresh processes per tool in cold_start (default {COLD_RUNS})")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"CSV path (default {DEFAULT_OUT.relative_to(HERE.parent)})")
    return ap.parse_args(argv)


def repeats_for(n_rows: int, repeats: tuple[int, int, int]) -> int:
    small, medium, large = repeats
    return large if n_rows >= LARGE_ROWS else medium if n_rows >= MEDIUM_ROWS else small


def selected(name: str, n_rows: int, args: argparse.Namespace) -> bool:
    if args.skip_large and n_rows >= LARGE_ROWS:
        return False
    return args.only is None or any(part in name for part in args.only.split(","))


def warm_up(methods: dict[str, str]) -> None:
    """Imports, lazy modules and caches, on sleepstudy, before any timing."""
    data = mk.load_dataset("sleepstudy")
    fits = {"mixedkit": lambda: mk.fit_lmm(SLEEPSTUDY, data, reml=True),
            "statsmodels": lambda: smf.mixedlm("Reaction ~ Days", data, groups="Subject",
                                               re_formula="~Days").fit()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method, fit in fits.items():
            try:
                if method in methods:
                    fit()
            except Exception as exc:  # noqa: BLE001 - the timed runs record it
                print(f"note: {method} warmup failed: {type(exc).__name__}: {_first_line(exc)}")


def write_csv(rows: list[dict], info: dict[str, str], out: Path) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    for key, value in info.items():
        table[key] = value
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table


def progress(row: dict, start: float) -> None:
    print(f"  {row['design']:19s} n={row['n_rows']:>9,}  mk {_seconds(row['t_mixedkit'])}  "
          f"sm {_seconds(row['t_statsmodels'])}  lme4 {_seconds(row['t_lme4'])}  "
          f"mixedlm {_seconds(row['t_mixedlm'])}  logLik {row['loglik_check']:8s} "
          f"[{time.perf_counter() - start:5.0f}s elapsed]", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    methods = {m: "" for m in args.methods}
    r_info, r_problem = ({}, "--no-r") if args.no_r else probe_r()
    if "lme4" in methods and r_problem:
        methods["lme4"] = f"skipped (no R/lme4: {r_problem})"
        print(f"note: lme4 timings skipped ({r_problem}); lme4 ratios will be NaN")
    ml_version, ml_problem = "", ""
    if "mixedlm" in methods:
        ml_version, ml_problem = ("", "--no-mixedlm") if args.no_mixedlm \
            else probe_mixedlm(args.peers_python)
        if ml_problem:
            methods["mixedlm"] = f"not run ({ml_problem})"
            print(f"note: mixedlm not run ({ml_problem}); mixedlm ratios will be NaN")
    info = machine_info(r_info, ml_version, args.peers_python)
    print(", ".join(f"{k} {v}" for k, v in info.items() if v), flush=True)

    chosen = [d for d in designs(use_r=not r_problem) if selected(d.name, d.n_rows, args)]
    run_icc = "mixedkit" in methods and selected("icc_sleepstudy", 180, args)
    run_cold = selected("cold_start", 180, args) and any(
        m in methods and not methods[m] for m in ("mixedkit", "lme4", "mixedlm"))
    warm_up(methods)
    rows: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_engine_") as tmp:
        for design in chosen:
            repeats = repeats_for(design.n_rows, args.repeats)
            twin = next((r for r in rows if r["design"] == design.twin), None)
            row = audited(partial(run_design, design, repeats, methods, Path(tmp),
                                  args.peers_python, twin and twin["t_mixedkit"]))
            rows.append(row)
            write_csv(rows, info, args.out)
            progress(row, start)
        if run_icc:
            rows.append(audited(partial(icc_row, args.repeats[2])))
            print(f"  icc_sleepstudy      t {_seconds(rows[-1]['t_mixedkit'])}", flush=True)
        if run_cold:
            rows.append(audited(partial(cold_start_row, methods, Path(tmp), args.peers_python,
                                        args.cold_runs)))
            progress(rows[-1], start)
    if not rows:
        print("no design selected")
        return 1
    table = write_csv(rows, info, args.out)
    print_report(table)
    print(f"\nwrote {args.out} ({len(table)} rows); total {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
