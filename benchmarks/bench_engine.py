#!/usr/bin/env python3
"""Time mixedkit's estimation engine against lme4 and raw statsmodels, in one run.

Every design below is fitted by REML three ways, on the same data, in one run of
this script; the times, log-likelihoods and the lme4 agreement check are printed as
a table and written to a CSV.

Designs
-------
Run in this order (smallest first), all by REML:

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
sim_1e5, sim_1e6
    ``y ~ x + (x | g)``; 1e5 rows x 2,000 groups, 1e6 x 10,000.
intercept_125k
    ``y ~ f1 + f2 + (1 | g)``; 125,000 groups x 3 rows, f1 and f2 factors with 3
    and 4 levels (375,000 rows). Runs between sim_1e5 and sim_1e6.
icc_sleepstudy
    ``fit.icc(n_boot=1000, seed=1)`` on the sleepstudy ``(Days | Subject)`` fit
    (whole call, default executor: a process pool on every core); mixedkit only.

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
    sim_1e6, nested_50k and insteval.
lme4
    The data are written to CSV (not timed); one ``Rscript`` process per design
    (``benchmarks/bench_engine_lme4.R``) reads it, makes the grouping and factor
    columns factors, fits one untimed warmup model, then times
    ``lmer(formula, data, REML = TRUE)`` with ``system.time`` (elapsed) and prints
    the times, logLik and theta as JSON.

Reported times are medians of the repeats: 5 below 1e4 rows, 3 below 1e5, 1 from
1e5 rows (``--repeats``); ``icc_sleepstudy`` uses the last count. Python warms up
once on sleepstudy before the first design. A method that raises is recorded
(``status_*`` = ``error``, exception in ``notes``) and the run goes on. Warnings
are caught; their categories go to ``notes``. Any design where mixedkit's
log-likelihood is more than 1e-2 from lme4's is flagged as a LOGLIK MISMATCH.

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
* mixedkit / lme4 time <= 0.5 on sim_1e5 and sim_1e6;
* <= 1.0 on intercept_125k and nested_50k;
* <= 2.0 on crossed_1e4, insteval and sleepstudy;
* insteval peak memory (mixedkit) <= 3 GB;
* ``fit.icc(n_boot=1000, seed=1)`` on sleepstudy (default executor) <= 5 s.

sim_1e3 and sim_1e4 have no target; they show how time grows with size.

Usage
-----
From the repository root, with mixedkit installed (``. .venv/bin/activate``)::

    python benchmarks/bench_engine.py                   # everything (long: 1e6 rows)
    python benchmarks/bench_engine.py --skip-large      # no design with >= 1e5 rows
    python benchmarks/bench_engine.py --only insteval   # names containing this (a,b: either)
    python benchmarks/bench_engine.py --repeats 3,1,1   # <1e4 rows, <1e5, >=1e5
    python benchmarks/bench_engine.py --methods lme4    # lme4 only (or any of
                                                        # mixedkit,statsmodels,lme4)
    python benchmarks/bench_engine.py --no-r            # without R (lme4 ratios NaN)
    python benchmarks/bench_engine.py --out /tmp/r.csv  # default benchmarks/engine_results.csv

The mixedkit timed is the one ``import mixedkit`` finds (``mixedkit_path`` in the
CSV). To time a commit while the work tree is being edited::

    git archive COMMIT mixedkit | tar -x -C /tmp/mk_commit
    PYTHONPATH=/tmp/mk_commit python benchmarks/bench_engine.py --skip-large

R and lme4 (Debian/Ubuntu)::

    apt-get install -y r-base-core r-cran-lme4

When ``Rscript`` is not on the PATH or cannot load lme4 (checked with a small
probe), the lme4 column is skipped with a printed note and its ratios are NaN.

The CSV has one row per design: times (medians and every repeat), ratios,
log-likelihoods, theta, per-method status, target and verdict, notes, and the
machine (Python, numpy, statsmodels, mixedkit, BLAS, R and lme4 versions).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import statsmodels
import statsmodels.formula.api as smf

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
METHODS = ("mixedkit", "statsmodels", "lme4")
SLEEPSTUDY = "Reaction ~ Days + (Days | Subject)"
INSTEVAL_ROWS, INSTEVAL_S, INSTEVAL_D = 73_421, 2_972, 1_128
SM_SKIPPED = "skipped (statsmodels would take more than ~2 min)"


# --------------------------------------------------------------------------- designs

@dataclass(frozen=True)
class Target:
    """A time target: on the mixedkit / lme4 ratio, or on mixedkit's seconds."""

    limit: float
    on: str = "ratio_mk_lme4"  # or "t_mixedkit"

    def __str__(self) -> str:
        return f"mk/lme4 <= {self.limit:g}" if self.on == "ratio_mk_lme4" \
            else f"t <= {self.limit:g} s"


@dataclass(frozen=True)
class Design:
    """One model on one data set.

    ``sm_call`` is the raw statsmodels model, an expression over ``data``, ``smf``
    and ``np`` (mixedkit's ``fit.statsmodels_call`` translation); it is not run when
    ``sm_too_slow``. ``factors`` are the columns R must turn into factors.
    """

    name: str
    formula: str
    n_rows: int  # nominal, to pick repeats and --skip-large before making the data
    make_data: Callable[[], tuple[pd.DataFrame, str]]  # data, note about the data
    factors: tuple[str, ...]
    n_groups: str
    sm_call: str
    target: Target | None
    sm_too_slow: bool = False
    measure_memory: bool = False


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


def designs(use_r: bool) -> list[Design]:
    """Every design, smallest first (data are made when a design runs)."""
    def slopes(name: str, n_rows: int, n_groups: int, target: Target | None) -> Design:
        return Design(name, "y ~ x + (x | g)", n_rows, lambda: simulate_slopes(n_rows, n_groups),
                      ("g",), f"{n_groups:,}", _sm_slopes(), target,
                      sm_too_slow=n_rows >= 1_000_000)

    return [
        Design("sleepstudy", SLEEPSTUDY, 180, load_sleepstudy, ("Subject",), "18",
               "smf.mixedlm('Reaction ~ Days', data, groups='Subject', re_formula='~Days')",
               Target(2.0)),
        slopes("sim_1e3", 1_000, 50, None),
        slopes("sim_1e4", 10_000, 500, None),
        Design("crossed_1e4", "y ~ x + (1 | f1) + (1 | f2)", 10_000, simulate_crossed,
               ("f1", "f2"), "50 f1 x 40 f2", _sm_crossed("y ~ x", "f1", "f2"), Target(2.0)),
        Design("nested_50k", "y ~ x + (1 | team/user)", 50_000, simulate_nested,
               ("team", "user"), "100 team, 5,000 team:user",
               "smf.mixedlm('y ~ x', data, groups='team', re_formula='1', "
               "vc_formula={'team:user': '0 + C(user)'})",
               Target(1.0), sm_too_slow=True),
        Design("insteval", "y ~ service + (1 | s) + (1 | d)", INSTEVAL_ROWS,
               lambda: load_insteval(use_r), ("service", "s", "d"), "2,972 s x 1,128 d",
               _sm_crossed("y ~ service", "s", "d"), Target(2.0),
               sm_too_slow=True, measure_memory=True),
        slopes("sim_1e5", 100_000, 2_000, Target(0.5)),
        Design("intercept_125k", "y ~ f1 + f2 + (1 | g)", 375_000, simulate_intercept_factors,
               ("g", "f1", "f2"), "125,000", "smf.mixedlm('y ~ f1 + f2', data, groups='g')",
               Target(1.0), sm_too_slow=True),
        slopes("sim_1e6", 1_000_000, 10_000, Target(0.5)),
    ]


# --------------------------------------------------------------------------- timing

@dataclass
class Timing:
    """What one method did on one design."""

    status: str = "not run"  # ok | error | skipped | not run
    seconds: list[float] = field(default_factory=list)
    loglik: float = float("nan")
    theta: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.status == "ok" else float("nan")


def _tail(text: str, n: int = 300) -> str:
    return " ".join(text.split())[-n:]


def _first_line(exc: BaseException, n: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else "")[:n]


def _numbers(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in np.ravel(values))


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
    if design.sm_too_slow:
        return Timing("skipped", notes=[SM_SKIPPED])
    code = compile(design.sm_call, "<sm_call>", "eval")
    env = {"smf": smf, "np": np, "data": data}
    return time_python(lambda: eval(code, env).fit(reml=True), describe_statsmodels, repeats)


def time_lme4(design: Design, data: pd.DataFrame, repeats: int, workdir: Path) -> Timing:
    """One Rscript process: read the CSV, then time ``lmer`` ``repeats`` times."""
    path = workdir / f"{design.name}.csv"
    data.to_csv(path, index=False)
    proc = subprocess.run(["Rscript", str(R_HELPER), "fit", str(path), design.formula,
                           ",".join(design.factors), str(repeats)],
                          check=False, capture_output=True, text=True)
    path.unlink()
    if proc.returncode != 0:
        return Timing("error", notes=[f"Rscript failed: {_tail(proc.stderr)}"])
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    loglik = float("nan") if res["loglik"] is None else float(res["loglik"])
    return Timing("ok", [float(s) for s in res["seconds"]], loglik, _numbers(res["theta"]),
                  list(res["notes"]))


# A fresh process: load the data, fit once, report its peak RSS. On Linux that is
# VmHWM: getrusage's ru_maxrss keeps the parent's peak across fork + exec, so it
# would report at least the benchmark process's own size. Elsewhere ru_maxrss
# (KiB, bytes on macOS).
_MEMORY_CHILD = """
import json, resource, sys, time, warnings
import pandas as pd
import mixedkit as mk

def peak_mb():
    try:
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        return kib * 1024 / 1e6
    except (OSError, StopIteration):
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6

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


# --------------------------------------------------------------------------- results

def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def loglik_check(mk_ll: float, lme4_ll: float) -> str:
    if not (np.isfinite(mk_ll) and np.isfinite(lme4_ll)):
        return "n/a"
    return "ok" if abs(mk_ll - lme4_ll) <= LOGLIK_TOL else "MISMATCH"


def verdict(value: float, limit: float) -> str:
    return "n/a" if not np.isfinite(value) else "PASS" if value <= limit else "FAIL"


def result_row(name: str, formula: str, n_rows: int, n_groups: str, repeats: int,
               timings: dict[str, Timing], target: Target | None, sm_call: str = "",
               peak_mb: float | None = None, notes: tuple[str, ...] = ()) -> dict:
    """One CSV row; every method's notes are prefixed with its name.

    ``peak_mb`` is None when memory was not measured, NaN when that run failed.
    """
    mkt, smt, rt = timings["mixedkit"], timings["statsmodels"], timings["lme4"]
    row = {
        "design": name, "n_rows": n_rows, "n_groups": n_groups, "repeats": repeats,
        "t_mixedkit": mkt.median, "t_statsmodels": smt.median, "t_lme4": rt.median,
        "ratio_mk_lme4": _ratio(mkt.median, rt.median),
        "ratio_mk_sm": _ratio(mkt.median, smt.median),
        "loglik_mk": mkt.loglik, "loglik_sm": smt.loglik, "loglik_lme4": rt.loglik,
        "dloglik_mk_lme4": mkt.loglik - rt.loglik,
        "dloglik_sm_lme4": smt.loglik - rt.loglik,
        "loglik_check": loglik_check(mkt.loglik, rt.loglik),
        "target": str(target) if target else "",
        "verdict": "",
        "peak_rss_mb": float("nan") if peak_mb is None else peak_mb,
        "memory_verdict": "" if peak_mb is None else verdict(peak_mb, MEMORY_TARGET_GB * 1000),
        "status_mk": mkt.status, "status_sm": smt.status, "status_lme4": rt.status,
    }
    if target:
        row["verdict"] = verdict(row[target.on], target.limit)
    method_notes = [f"{method}: {note}" for method, t in timings.items() for note in t.notes]
    row["notes"] = "; ".join([*notes, *method_notes])
    row.update({
        "theta_mk": mkt.theta, "theta_lme4": rt.theta,
        "times_mk": _numbers(mkt.seconds), "times_sm": _numbers(smt.seconds),
        "times_lme4": _numbers(rt.seconds), "formula": formula, "sm_call": sm_call,
    })
    return row


def run_design(design: Design, repeats: int, methods: dict[str, str], workdir: Path) -> dict:
    """Time every method on one design; ``methods`` maps method to '' (run) or why not."""
    data, data_note = design.make_data()
    runners = {
        "mixedkit": lambda: time_mixedkit(design, data, repeats),
        "statsmodels": lambda: time_statsmodels(design, data, repeats),
        "lme4": lambda: time_lme4(design, data, repeats, workdir),
    }
    timings = {}
    for method, run in runners.items():
        if method not in methods:
            timings[method] = Timing()
        elif methods[method]:
            timings[method] = Timing("skipped", notes=[methods[method]])
        else:
            timings[method] = run()
    notes = [data_note] if data_note else []
    peak_mb = None
    if design.measure_memory and "mixedkit" in methods:
        peak_mb, note = peak_memory(design, data, workdir)
        notes.append(note)
    return result_row(design.name, design.formula, len(data), design.n_groups, repeats,
                      timings, design.target, design.sm_call, peak_mb, tuple(notes))


def icc_row(repeats: int) -> dict:
    timings = {"mixedkit": time_icc(repeats), "statsmodels": Timing(), "lme4": Timing()}
    return result_row("icc_sleepstudy", "fit.icc(n_boot=1000, seed=1) on " + SLEEPSTUDY, 180,
                      "18", repeats, timings, Target(5.0, on="t_mixedkit"))


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
    t = os.times()  # children: Rscript, the memory run, the bootstrap pool
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


def machine_info(r_info: dict[str, str]) -> dict[str, str]:
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
        "r_blas": r_info.get("r_blas", ""),
    }


# --------------------------------------------------------------------------- report

TABLE_COLUMNS = ["design", "n_rows", "n_groups", "t_mixedkit", "t_statsmodels", "t_lme4",
                 "ratio_mk_lme4", "ratio_mk_sm", "dloglik_mk_lme4", "target", "verdict"]


def print_report(table: pd.DataFrame) -> None:
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.max_colwidth", 40):
        shown = table[TABLE_COLUMNS].copy()
        for col in ("t_mixedkit", "t_statsmodels", "t_lme4", "ratio_mk_lme4", "ratio_mk_sm"):
            shown[col] = shown[col].map(lambda v: f"{v:.3f}" if np.isfinite(v) else "-")
        shown["dloglik_mk_lme4"] = shown["dloglik_mk_lme4"].map(
            lambda v: f"{v:+.2g}" if np.isfinite(v) else "-")
        print("\n" + shown.to_string(index=False))
    print("\nNotes:")
    for _, r in table.iterrows():
        statuses = f"mixedkit {r.status_mk}, statsmodels {r.status_sm}, lme4 {r.status_lme4}"
        print(f"  {r.design}: [{statuses}] {r.notes or ''}")
    for _, r in table[table.memory_verdict != ""].iterrows():
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=None,
                    help="run designs whose name contains any of these (comma-separated)")
    ap.add_argument("--repeats", type=parse_repeats, default=(5, 3, 1),
                    help="timed repeats: N, or SMALL,MEDIUM,LARGE for <1e4 rows, <1e5 rows "
                         "and >=1e5 rows (default 5,3,1); icc uses LARGE")
    ap.add_argument("--skip-large", action="store_true", help="skip designs with >= 1e5 rows")
    ap.add_argument("--methods", type=parse_methods, default=METHODS,
                    help="comma-separated subset of mixedkit,statsmodels,lme4 (default all)")
    ap.add_argument("--no-r", action="store_true",
                    help="never call R: no lme4 timings, InstEval simulated unless cached")
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    methods = {m: "" for m in args.methods}
    r_info, r_problem = ({}, "--no-r") if args.no_r else probe_r()
    if "lme4" in methods and r_problem:
        methods["lme4"] = f"skipped (no R/lme4: {r_problem})"
        print(f"note: lme4 timings skipped ({r_problem}); lme4 ratios will be NaN")
    info = machine_info(r_info)
    print(", ".join(f"{k} {v}" for k, v in info.items() if v), flush=True)

    chosen = [d for d in designs(use_r=not r_problem) if selected(d.name, d.n_rows, args)]
    run_icc = "mixedkit" in methods and selected("icc_sleepstudy", 180, args)
    warm_up(methods)
    rows: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_engine_") as tmp:
        for design in chosen:
            repeats = repeats_for(design.n_rows, args.repeats)
            row = audited(partial(run_design, design, repeats, methods, Path(tmp)))
            rows.append(row)
            write_csv(rows, info, args.out)
            print(f"  {row['design']:15s} n={row['n_rows']:>9,}  mk {_seconds(row['t_mixedkit'])}  "
                  f"sm {_seconds(row['t_statsmodels'])}  lme4 {_seconds(row['t_lme4'])}  "
                  f"logLik {row['loglik_check']:8s} [{time.perf_counter() - start:5.0f}s elapsed]",
                  flush=True)
    if run_icc:
        rows.append(audited(partial(icc_row, args.repeats[2])))
        print(f"  icc_sleepstudy  t {_seconds(rows[-1]['t_mixedkit'])}", flush=True)
    if not rows:
        print("no design selected")
        return 1
    table = write_csv(rows, info, args.out)
    print_report(table)
    print(f"\nwrote {args.out} ({len(table)} rows); total {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
