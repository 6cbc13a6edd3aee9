#!/usr/bin/env python3
"""Time mixedkit's parallel jobs (power_lmm, fit_many) on 1 and 2 workers, against the
alternatives in Python and R, in one run.

Every time below is measured in one run of this script, so the ratios compare runs on
the same machine in the same state; the table is printed and written to a CSV.

Benchmarks
----------
power
    ``mk.power_lmm(fit, "Days", effect=5, n_sims=1000, seed=1, progress=False)`` on the
    sleepstudy pilot ``fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)",
    mk.load_dataset("sleepstudy"))`` (fitted once, not timed), with the default executor
    (a process pool) and ``n_jobs=2``, and with ``n_jobs=1`` (in this process). The
    whole call is timed, pool start-up included. Against:

    * statsmodels: a loop of (draw a response at the pilot's parameters with numpy,
      ``smf.mixedlm("Reaction ~ Days", d, groups="Subject", re_formula="~Days")
      .fit(reml=True)``, Wald z p-value of Days), the pilot being statsmodels' own fit
      of sleepstudy with Days set to 5. Only ``--sm-subset`` simulations (default 50)
      are timed and the time is scaled to 1000 (``scaled`` in the CSV).
    * lme4 (``bench_scale_lme4.R power``): pilot ``lmer`` fit, Days set to 5, then a
      loop of ``simulate()`` one response + fit + test, twice: ``lmerTest::lmer`` on the
      data with that response and its Satterthwaite t test (``summary``; the same test
      as mixedkit's), and lme4's ``refit()`` with the Wald z test on its t value (lme4
      alone, the fastest R route). ``refit()`` + ``lmerTest::as_lmerModLmerTest`` is not
      used: lmerTest rebuilds the deviance function from the model's call, i.e. the
      pilot's data, and its df for a refitted model are wrong. ``--r-power-sims``
      (default all 1000) sets how many simulations are timed (scaled to 1000).
power_dask
    The same power call with ``executor=client``, a ``distributed.LocalCluster
    (n_workers=2, threads_per_worker=1, processes=True)``. The cluster's start-up and one
    untimed warm-up call (the workers import mixedkit) are reported in the notes, not in
    the time. Its table is checked to equal the local (``n_jobs=2``) table exactly, and
    the ``n_jobs=1`` table too (``check``). Skipped with a note without ``distributed``.
fit_many
    ``mk.fit_many("~ x + (1 | subject)", data, responses=[1000 columns])`` on 500 rows
    (50 subjects x 10 rows), ``n_jobs=2`` and ``n_jobs=1``. Each response is
    ``1 + 0.5 x + u_subject + e`` with ``x ~ N(0, 1)`` (shared), ``u ~ N(0, 1)``,
    ``e ~ N(0, 1)`` drawn afresh per response. Against a statsmodels loop of
    ``smf.mixedlm(f"{r} ~ x", data, groups="subject").fit(reml=True)`` over the first
    ``--sm-subset`` responses (scaled to 1000), and an lme4 loop of ``lmer(r ~ x +
    (1 | subject), REML = TRUE)`` + ``fixef`` over all 1000 (``bench_scale_lme4.R many``).
    mixedkit does more per response than either (Satterthwaite df and p-values, health
    checks, ICC, stacked tables). The x estimates are checked against both.
tiny_tasks
    Chunking overhead: ``mk.power_lmm`` with ``n_sims=10000`` on a very small pilot
    (``y ~ x + (1 | g)``, 6 groups x 4 rows, simulated), ``n_jobs=2`` and ``n_jobs=1``:
    time per task, and the extra worker time per task, ``(2 t_2 - t_1) / 10000``,
    pool start-up included (0 would be a perfect split over 2 workers).

How it is timed
---------------
``time.perf_counter`` wall time around the whole call. A measurement runs once; when
that run took less than ``--single-above`` seconds (default 20) it runs
``--repeats - 1`` more times (default 3 in all) and the median is reported, else the
single run is (``repeats`` in the CSV). Times of a subset are scaled linearly to the
full task count (``t_full``; ``t_measured`` is the subset's median). R's times come from
``system.time`` (elapsed) inside one ``Rscript`` process per measurement (the data are
written to a temporary CSV, not timed; one untimed warm-up fit first); the repeats of a
fast R loop run in a second ``Rscript`` process. R is single-threaded, so its ratios are
reported against both mixedkit with 1 worker and with 2. Python warms up once before
anything is timed. Warnings are ignored in the timed calls (R's are counted in
``notes``).

The 1- and 2-worker mixedkit runs of a benchmark alternate (2, 1, 2, 1, ...; a run
of 20 s or more is not repeated), so a change in the machine's load hits both; their
``wall_s`` and ``other_cpu_s`` are those of the pair. Ratios are ``mixedkit / other``
(below 1: mixedkit is faster): ``ratio_mk2`` uses mixedkit on 2 workers, ``ratio_mk1``
on 1 worker, both from the same benchmark. ``speedup`` (mixedkit rows) is
``t(1 worker) / t(2 workers)``.

Targets
-------
* power, ``n_jobs=2``: <= 10 s, and ``n_jobs=1`` / ``n_jobs=2`` >= 1.7;
* fit_many, ``n_jobs=2``: <= 30 s, and ``n_jobs=1`` / ``n_jobs=2`` >= 1.7.

As in ``bench_engine.py`` (whose ``audited`` and ``machine_info`` are used), each row
records the CPU seconds other processes used while it ran (``other_cpu_s``, a lower
bound) and rows where that exceeds 10% of the wall time are flagged: on 2 cores any
other load distorts a 2-worker time most.
``--wait-idle S`` waits (up to S seconds) before each row until other processes use
less than 0.15 cores. ``cpu_full`` is the CPU time of a run (this process and its
finished children: the pool's workers, Rscript's own count for R; NaN for dask), which
contention inflates much less than wall time.

Usage
-----
From the repository root, with mixedkit installed (``. .venv/bin/activate``)::

    python benchmarks/bench_scale.py                       # everything (~5.5 min, 2 cores)
    python benchmarks/bench_scale.py --only power,tiny     # benchmarks containing these
    python benchmarks/bench_scale.py --no-r                # without R (lme4 ratios NaN)
    python benchmarks/bench_scale.py --repeats 1           # one run everywhere
    python benchmarks/bench_scale.py --sm-subset 100       # statsmodels loops: 100 tasks
    python benchmarks/bench_scale.py --r-power-sims 200    # R power loops: 200, scaled
    python benchmarks/bench_scale.py --wait-idle 300       # on a shared machine
    python benchmarks/bench_scale.py --out /tmp/s.csv      # default benchmarks/scale_results.csv

R, lme4 and lmerTest (Debian/Ubuntu)::

    apt-get install -y r-base-core r-cran-lme4 r-cran-lmertest

Without ``Rscript`` (or without lme4) the R rows are skipped with a printed note;
without lmerTest the Satterthwaite row falls back to the z test, with a note.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
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
import statsmodels.formula.api as smf
from bench_engine import BUSY_SHARE, audited, machine_info

import mixedkit as mk

HERE = Path(__file__).resolve().parent
R_HELPER = HERE / "bench_scale_lme4.R"
DEFAULT_OUT = HERE / "scale_results.csv"

SEED = 20261130
WORKERS = 2
SLEEPSTUDY = "Reaction ~ Days + (Days | Subject)"
POWER_SIMS, POWER_EFFECT = 1000, 5.0
MANY_RESPONSES, MANY_SUBJECTS, MANY_PER_SUBJECT = 1000, 50, 10
MANY_RHS = "~ x + (1 | subject)"
TINY_SIMS, TINY_GROUPS, TINY_PER_GROUP = 10_000, 6, 4
TARGETS = {"power": (10.0, 1.7), "fit_many": (30.0, 1.7)}  # seconds on 2 workers, speedup
BENCHMARKS = ("power", "power_dask", "fit_many", "tiny_tasks")
ESTIMATE_TOL = 1e-3  # |x estimate, mixedkit - other| above which the check says MISMATCH


# --------------------------------------------------------------------------- timing

@dataclass
class Timing:
    """Seconds of each timed run (each run does ``n_timed`` tasks) and what it returned."""

    seconds: list[float] = field(default_factory=list)
    n_timed: int = 0
    cpu: list[float] = field(default_factory=list)  # CPU seconds of each run, workers too
    status: str = "ok"  # ok, skipped, error
    notes: list[str] = field(default_factory=list)
    result: object = None  # the last run's return value (a table, R's JSON, ...)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    def full(self, n_tasks: int) -> float:
        """Median time scaled to ``n_tasks`` tasks."""
        return self.median * n_tasks / self.n_timed if self.seconds else float("nan")

    def cpu_full(self, n_tasks: int) -> float:
        """Median CPU seconds of a run, scaled to ``n_tasks`` tasks."""
        return statistics.median(self.cpu) * n_tasks / self.n_timed if self.cpu \
            else float("nan")


def repeated(run: Callable[[int], Timing], repeats: int, single_above: float) -> Timing:
    """``run(1)``; when it took under ``single_above`` s, ``run(repeats - 1)`` more."""
    first = run(1)
    if first.status != "ok" or repeats <= 1:
        return first
    if first.median >= single_above:
        first.notes.append(f"single run (>= {single_above:g} s)")
        return first
    return _joined(first, run(repeats - 1))


def interleaved(runs: list[Callable[[int], Timing]], repeats: int, single_above: float
                ) -> list[Timing]:
    """Each run once, in turn; then rounds of the runs whose first run was quick.

    Runs compared by a ratio (1 and 2 workers) alternate, so a change in the machine's
    load hits both rather than one.
    """
    out = [run(1) for run in runs]
    quick = [t.status == "ok" and t.median < single_above for t in out]
    for t, fast in zip(out, quick):
        if t.status == "ok" and not fast and repeats > 1:
            t.notes.append(f"single run (>= {single_above:g} s)")
    for _ in range(repeats - 1):
        for i, run in enumerate(runs):
            if quick[i]:
                out[i] = _joined(out[i], run(1))
                quick[i] = out[i].status == "ok"
    return out


def _joined(first: Timing, rest: Timing) -> Timing:
    if rest.status != "ok":
        first.notes += [f"repeats stopped: {note}" for note in rest.notes]
        return first
    return Timing(first.seconds + rest.seconds, first.n_timed, first.cpu + rest.cpu, "ok",
                  merge_notes(first.notes + rest.notes), rest.result)


def merge_notes(notes: list[str]) -> list[str]:
    """Distinct notes, in order; R's counted notes ("text (x3)") have their counts summed."""
    counts: dict[str, int] = {}
    for note in notes:
        text, sep, count = note.rpartition(" (x")
        if sep and count.endswith(")") and count[:-1].isdigit():
            counts[text] = counts.get(text, 0) + int(count[:-1])
        else:
            counts.setdefault(note, 0)
    return [f"{text} (x{n})" if n else text for text, n in counts.items()]


def python_runner(fn: Callable[[], object], n_timed: int) -> Callable[[int], Timing]:
    """Times ``fn()`` k times; stops at the first exception (status ``error``).

    CPU time counts this process and its finished children (a process pool's workers
    are reaped when the call shuts the pool down; dask's workers are not children
    until the cluster closes, so their CPU is missing).
    """
    def run(k: int) -> Timing:
        out = Timing(n_timed=n_timed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(k):
                gc.collect()
                cpu0, t0 = _cpu_seconds(), time.perf_counter()
                try:
                    out.result = fn()
                except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                    return Timing(out.seconds, n_timed, out.cpu, "error",
                                  [f"{type(exc).__name__}: {_first_line(exc)}"])
                out.seconds.append(time.perf_counter() - t0)
                out.cpu.append(_cpu_seconds() - cpu0)
        return out
    return run


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def r_runner(args: list[str], n_timed: int, timeout: float, after: tuple[str, ...] = ()
             ) -> Callable[[int], Timing]:
    """Runs ``Rscript bench_scale_lme4.R *args k *after`` (k: the repeats)."""
    def run(k: int) -> Timing:
        cmd = ["Rscript", str(R_HELPER), *args, str(k), *after]
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return Timing(n_timed=n_timed, status="error", notes=[f"timed out after {timeout:g} s"])
        if proc.returncode != 0:
            return Timing(n_timed=n_timed, status="error",
                          notes=[f"Rscript failed: {_tail(proc.stdout + proc.stderr)}"])
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        return Timing([float(s) for s in result["seconds"]], n_timed,
                      [float(s) for s in result["cpu"]], "ok", list(result.get("notes") or []),
                      result)
    return run


def _first_line(exc: BaseException, n: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else "")[:n]


def _tail(text: str, n: int = 300) -> str:
    return " ".join(text.split())[-n:]


def _numbers(values) -> str:
    return " ".join(f"{float(v):.6g}" for v in np.ravel(values))


def skipped(why: str) -> Timing:
    return Timing(status="skipped", notes=[why])


# --------------------------------------------------------------------------- rows

def make_row(benchmark: str, method: str, label: str, workers: int, n_tasks: int,
             timing: Timing, check: str = "", notes: tuple[str, ...] = ()) -> dict:
    t_full = timing.full(n_tasks)
    return {
        "benchmark": benchmark, "method": method, "label": label, "workers": workers,
        "n_tasks": n_tasks, "n_timed": timing.n_timed, "scaled": timing.n_timed != n_tasks,
        "repeats": len(timing.seconds), "t_full": t_full, "t_measured": timing.median,
        "per_task_ms": 1000 * t_full / n_tasks,
        "cpu_full": timing.cpu_full(n_tasks), "speedup": float("nan"),
        "ratio_mk2": float("nan"), "ratio_mk1": float("nan"),
        "target": "", "verdict": "", "check": check, "status": timing.status,
        "notes": "; ".join([*notes, *timing.notes]), "times": _numbers(timing.seconds),
        "cpu_times": _numbers(timing.cpu),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def add_ratios(rows: list[dict]) -> None:
    """Speedups, mixedkit / other ratios and target verdicts, per benchmark."""
    by_key = {(r["benchmark"], r["method"]): r for r in rows}
    for r in rows:
        bench = "power" if r["benchmark"] == "power_dask" else r["benchmark"]
        mk2, mk1 = by_key.get((bench, "mixedkit_2")), by_key.get((bench, "mixedkit_1"))
        t2 = mk2["t_full"] if mk2 else float("nan")
        t1 = mk1["t_full"] if mk1 else float("nan")
        r["ratio_mk2"], r["ratio_mk1"] = _ratio(t2, r["t_full"]), _ratio(t1, r["t_full"])
        if r["method"] == "mixedkit_2":
            r["speedup"] = _ratio(t1, t2)
            if bench in TARGETS:
                limit, speedup = TARGETS[bench]
                r["target"] = f"t <= {limit:g} s; speedup >= {speedup:g}"
                r["verdict"] = (f"{_verdict(r['t_full'] <= limit, r['t_full'])}; "
                                f"{_verdict(r['speedup'] >= speedup, r['speedup'])}")


def _verdict(ok: bool, value: float) -> str:
    return "n/a" if not np.isfinite(value) else "PASS" if ok else "FAIL"


# --------------------------------------------------------------------------- power

def sleepstudy_pilot() -> mk.LmmFit:
    return mk.fit_lmm(SLEEPSTUDY, mk.load_dataset("sleepstudy"))


def mk_power(fit, n_jobs: int | None = None, executor=None, n_sims: int | None = None,
             term: str = "Days", effect: float = POWER_EFFECT) -> pd.DataFrame:
    return mk.power_lmm(fit, term, effect=effect, n_sims=n_sims or POWER_SIMS, seed=1,
                        progress=False, n_jobs=n_jobs, executor=executor)


def describe_power(table: pd.DataFrame | None) -> str:
    if table is None:
        return ""
    r = table.iloc[0]
    return (f"power {r.power:.3f} [{r.conf_low:.3f}, {r.conf_high:.3f}], {int(r.n_failed)} "
            f"failed, {int(r.n_singular)} singular")


def sm_power_loop(data: pd.DataFrame, n_sims: int, seed: int) -> tuple[float, int]:
    """simulate + statsmodels fit + Wald z test of Days, ``n_sims`` times: (power, failed).

    The pilot is statsmodels' REML fit of sleepstudy (fitted here, outside the timing).
    """
    pilot = smf.mixedlm("Reaction ~ Days", data, groups="Subject", re_formula="~Days").fit(
        reml=True)
    beta = pilot.fe_params.to_numpy().copy()
    beta[list(pilot.fe_params.index).index("Days")] = POWER_EFFECT
    cov, sd = pilot.cov_re.to_numpy(), float(np.sqrt(pilot.scale))
    codes, levels = pd.factorize(data["Subject"])
    z = np.column_stack([np.ones(len(data)), data["Days"].to_numpy(float)])
    mean = z @ beta  # X = Z here: intercept and Days
    rng = np.random.default_rng(seed)

    def run() -> tuple[float, int]:
        p_values = []
        for _ in range(n_sims):
            b = rng.multivariate_normal(np.zeros(2), cov, size=len(levels))
            y = mean + np.sum(z * b[codes], axis=1) + rng.normal(0.0, sd, len(data))
            try:
                res = smf.mixedlm("Reaction ~ Days", data.assign(Reaction=y), groups="Subject",
                                  re_formula="~Days").fit(reml=True)
                p_values.append(float(res.pvalues["Days"]))
            except (np.linalg.LinAlgError, ValueError):
                p_values.append(np.nan)
        p = np.array(p_values)
        ok = np.isfinite(p)
        return float(np.mean(p[ok] < 0.05)), int((~ok).sum())
    return run


def power_rows(args: argparse.Namespace, r_ok: str, tmp: Path, state: dict) -> list[Callable]:
    """The power measurements, each a callable returning its rows (run under ``audited``)."""
    data = mk.load_dataset("sleepstudy")
    fit = sleepstudy_pilot()
    csv = tmp / "sleepstudy.csv"
    data.to_csv(csv, index=False)
    rep = partial(repeated, repeats=args.repeats, single_above=args.single_above)

    def mixedkit() -> list[dict]:
        jobs = (WORKERS, 1)
        timings = interleaved([python_runner(partial(mk_power, fit, n_jobs=n), POWER_SIMS)
                               for n in jobs], args.repeats, args.single_above)
        rows = []
        for n_jobs, timing in zip(jobs, timings):
            state[f"power_table_{n_jobs}"] = timing.result
            rows.append(make_row("power", f"mixedkit_{n_jobs}", f"mk.power_lmm n_jobs={n_jobs}",
                                 n_jobs, POWER_SIMS, timing, describe_power(timing.result)))
        return rows

    def statsmodels_loop() -> list[dict]:
        n = min(args.sm_subset, POWER_SIMS)
        loop = sm_power_loop(data, n, SEED)
        timing = rep(python_runner(loop, n))
        check = "" if timing.result is None else \
            f"power {timing.result[0]:.3f} ({n} sims, Wald z), {timing.result[1]} failed"
        return [make_row("power", "statsmodels", "loop: simulate + smf.mixedlm fit + Wald z",
                         1, POWER_SIMS, timing, check)]

    def lme4_loop(test: str) -> list[dict]:
        n = min(args.r_power_sims, POWER_SIMS)
        label = ("loop: simulate + lmerTest::lmer + Satterthwaite t" if test == "satterthwaite"
                 else "loop: simulate + lme4 refit + Wald z")
        if r_ok:
            timing = skipped(r_ok)
        else:
            timing = rep(r_runner(["power", str(csv), str(n), f"{POWER_EFFECT:g}"], n,
                                  timeout=3600, after=(test,)))
        res = timing.result or {}
        check = f"power {res['power']:.3f} ({n} sims, {res['test']}), {res['n_failed']} failed" \
            if res else ""
        return [make_row("power", f"lme4_{test}", label, 1, POWER_SIMS, timing, check)]

    return [mixedkit, statsmodels_loop, partial(lme4_loop, "satterthwaite"),
            partial(lme4_loop, "z")]


def power_dask_row(args: argparse.Namespace, state: dict) -> list[dict]:
    """power_lmm on a 2-worker LocalCluster; the table checked against the local ones."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        return [make_row("power_dask", "mixedkit_dask", "mk.power_lmm executor=dask client",
                         WORKERS, POWER_SIMS, skipped(f"distributed not installed ({exc})"))]
    fit = sleepstudy_pilot()
    t0 = time.perf_counter()
    with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        t_start = time.perf_counter() - t0
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mk_power(fit, executor=client, n_sims=20)  # workers import mixedkit
        t_warm = time.perf_counter() - t0
        timing = repeated(python_runner(lambda: mk_power(fit, executor=client), POWER_SIMS),
                          args.repeats, args.single_above)
    timing.cpu = []  # the workers' CPU is not counted (not this process's children yet)
    table = timing.result
    checks = []
    for n_jobs in (WORKERS, 1):
        local = state.get(f"power_table_{n_jobs}")
        if table is not None and local is not None:
            same = _same_table(table, local)
            checks.append(f"table == local n_jobs={n_jobs}: {same}")
    state["dask_checks"] = checks
    note = (f"cluster start {t_start:.1f} s and warm-up call (20 sims) {t_warm:.1f} s, "
            "not in the time")
    return [make_row("power_dask", "mixedkit_dask", "mk.power_lmm executor=LocalCluster client",
                     WORKERS, POWER_SIMS, timing, "; ".join([describe_power(table), *checks]),
                     (note,))]


def _same_table(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    except AssertionError:
        return False
    return True


# --------------------------------------------------------------------------- fit_many

def simulate_many(n_responses: int | None = None) -> pd.DataFrame:
    """50 subjects x 10 rows; responses y0000.. = 1 + 0.5 x + u_subject + e, fresh u and e."""
    n_responses = MANY_RESPONSES if n_responses is None else n_responses
    rng = np.random.default_rng(SEED)
    subject = np.repeat(np.arange(MANY_SUBJECTS), MANY_PER_SUBJECT)
    x = rng.normal(0.0, 1.0, subject.size)
    u = rng.normal(0.0, 1.0, (n_responses, MANY_SUBJECTS))[:, subject]
    y = 1.0 + 0.5 * x + u + rng.normal(0.0, 1.0, (n_responses, subject.size))
    width = len(str(MANY_SUBJECTS - 1))
    frame = pd.DataFrame({"subject": [f"s{s:0{width}d}" for s in subject], "x": x})
    responses = pd.DataFrame(y.T, columns=[f"y{i:04d}" for i in range(n_responses)])
    return pd.concat([frame, responses], axis=1)


def many_rows(args: argparse.Namespace, r_ok: str, tmp: Path, state: dict) -> list[Callable]:
    data = simulate_many()
    responses = [c for c in data.columns if c.startswith("y")]
    csv = tmp / "many.csv"
    data.to_csv(csv, index=False)
    rep = partial(repeated, repeats=args.repeats, single_above=args.single_above)

    def estimates(many) -> pd.Series:
        fe = many.fixed_effects
        return fe[fe.term == "x"].set_index("response")["estimate"]

    def agreement(other: pd.Series, what: str) -> str:
        mine = state.get("many_x")
        if mine is None or other is None or not len(other):
            return ""
        diff = float(np.max(np.abs(other.to_numpy() - mine.reindex(other.index).to_numpy())))
        verdict = "ok" if diff <= ESTIMATE_TOL else "MISMATCH"
        return f"max |x estimate - mixedkit| = {diff:.2g} over {len(other)} {what} ({verdict})"

    def mixedkit() -> list[dict]:
        jobs = (WORKERS, 1)
        timings = interleaved(
            [python_runner(partial(mk.fit_many, MANY_RHS, data, responses=responses, n_jobs=n,
                                   progress=False), MANY_RESPONSES) for n in jobs],
            args.repeats, args.single_above)
        rows = []
        for n_jobs, timing in zip(jobs, timings):
            many, check = timing.result, ""
            if many is not None:
                state.setdefault("many_x", estimates(many))
                check = (f"{len(many.models)} fitted, {len(many.failures)} failed, "
                         f"{int(many.models.singular.sum())} singular")
            rows.append(make_row("fit_many", f"mixedkit_{n_jobs}", f"mk.fit_many n_jobs={n_jobs}",
                                 n_jobs, MANY_RESPONSES, timing, check))
        return rows

    def statsmodels_loop() -> list[dict]:
        subset = responses[:min(args.sm_subset, MANY_RESPONSES)]

        def loop() -> pd.Series:
            out = {}
            for r in subset:
                res = smf.mixedlm(f"{r} ~ x", data, groups="subject").fit(reml=True)
                out[r] = float(res.fe_params["x"])
            return pd.Series(out)

        timing = rep(python_runner(loop, len(subset)))
        return [make_row("fit_many", "statsmodels", "loop: smf.mixedlm(...).fit(reml=True)",
                         1, MANY_RESPONSES, timing, agreement(timing.result, "responses"))]

    def lme4_loop() -> list[dict]:
        if r_ok:
            timing = skipped(r_ok)
        else:
            timing = rep(r_runner(["many", str(csv), MANY_RHS, "subject"], MANY_RESPONSES,
                                  timeout=3600))
        res = timing.result or {}
        check = agreement(pd.Series(res["estimates"], index=responses, dtype=float),
                          "responses") if res else ""
        return [make_row("fit_many", "lme4", "loop: lmer(...) + fixef", 1, MANY_RESPONSES,
                         timing, check)]

    return [mixedkit, statsmodels_loop, lme4_loop]


# --------------------------------------------------------------------------- tiny tasks

def tiny_pilot() -> mk.LmmFit:
    """``y ~ x + (1 | g)`` on 6 groups x 4 rows: a fit takes a few milliseconds."""
    rng = np.random.default_rng(SEED + 1)
    g = np.repeat(np.arange(TINY_GROUPS), TINY_PER_GROUP)
    x = rng.normal(0.0, 1.0, g.size)
    y = 1.0 + 0.5 * x + rng.normal(0.0, 1.0, TINY_GROUPS)[g] + rng.normal(0.0, 1.0, g.size)
    data = pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mk.fit_lmm("y ~ x + (1 | g)", data)


def tiny_rows(args: argparse.Namespace, state: dict) -> list[Callable]:
    fit = tiny_pilot()

    def mixedkit() -> list[dict]:
        jobs = (WORKERS, 1)
        timings = interleaved(
            [python_runner(partial(mk_power, fit, n_jobs=n, n_sims=TINY_SIMS, term="x",
                                   effect=0.5), TINY_SIMS) for n in jobs],
            args.repeats, args.single_above)
        return [make_row("tiny_tasks", f"mixedkit_{n_jobs}",
                         f"mk.power_lmm n_sims={TINY_SIMS}, 24-row model, n_jobs={n_jobs}",
                         n_jobs, TINY_SIMS, timing, describe_power(timing.result))
                for n_jobs, timing in zip(jobs, timings)]

    return [mixedkit]


def tiny_overhead(rows: list[dict]) -> str:
    """Per-task times of the tiny-task run and the extra worker time per task."""
    by = {r["method"]: r for r in rows if r["benchmark"] == "tiny_tasks"}
    if "mixedkit_1" not in by or f"mixedkit_{WORKERS}" not in by:
        return ""
    t1, t2 = by["mixedkit_1"]["t_full"], by[f"mixedkit_{WORKERS}"]["t_full"]
    if not (np.isfinite(t1) and np.isfinite(t2)):
        return ""
    extra = (WORKERS * t2 - t1) / TINY_SIMS * 1000
    return (f"{TINY_SIMS:,} tiny tasks: {1000 * t2 / TINY_SIMS:.3f} ms/task on {WORKERS} "
            f"workers vs {1000 * t1 / TINY_SIMS:.3f} ms/task serial in-process (ideal "
            f"{1000 * t1 / TINY_SIMS / WORKERS:.3f}); extra worker time {extra:+.3f} ms/task "
            f"({100 * extra / (1000 * t1 / TINY_SIMS):+.0f}% of a task), speedup "
            f"{t1 / t2:.2f}")


# --------------------------------------------------------------------------- R

def probe_r() -> tuple[dict[str, str], str]:
    """R, lme4 and lmerTest versions, or an empty dict and why R cannot be used."""
    if shutil.which("Rscript") is None:
        return {}, "Rscript not found on PATH"
    try:
        proc = subprocess.run(["Rscript", str(R_HELPER), "probe"], check=False,
                              capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return {}, "Rscript probe timed out"
    if proc.returncode != 0:
        return {}, f"Rscript probe failed: {_tail(proc.stdout + proc.stderr)}"
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    return {k: v or "" for k, v in info.items()}, ""


# --------------------------------------------------------------------------- machine

def audited_rows(measure: Callable[[], list[dict]]) -> list[dict]:
    """``measure()``'s rows, each with the wall time and other processes' CPU of the whole
    measurement (for the interleaved 1- and 2-worker runs: of both together)."""
    rows: list[dict] = []

    def run() -> dict:
        rows.extend(measure())
        return {}

    audit = audited(run)
    for row in rows:
        row.update(wall_s=audit["wall_s"], other_cpu_s=audit["other_cpu_s"])
    return rows


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (Linux ``/proc/stat``), NaN elsewhere."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def wait_for_idle(max_wait: float, window: float = 2.0, idle_below: float = 0.15) -> str:
    """Wait (up to ``max_wait`` s) until other processes use < ``idle_below`` cores.

    Returns a note for the row ('' when the machine was idle at once or max_wait is 0).
    """
    if max_wait <= 0:
        return ""
    start = time.perf_counter()
    while True:
        busy, own = _machine_busy_seconds(), _cpu_seconds()
        time.sleep(window)
        load = ((_machine_busy_seconds() - busy) - (_cpu_seconds() - own)) / window
        waited = time.perf_counter() - start
        if not np.isfinite(load) or load < idle_below:
            return f"waited {waited:.0f} s for an idle machine" if waited > 2 * window else ""
        if waited >= max_wait:
            return f"machine still busy after {waited:.0f} s (others used {load:.2f} cores)"


# --------------------------------------------------------------------------- report

TABLE_COLUMNS = ["benchmark", "method", "workers", "n_tasks", "n_timed", "repeats", "t_full",
                 "cpu_full", "per_task_ms", "speedup", "ratio_mk2", "ratio_mk1", "verdict"]


def _fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if np.isfinite(value) else "-"


def print_report(table: pd.DataFrame, overhead: str, dask_checks: list[str]) -> None:
    shown = table[TABLE_COLUMNS].copy()
    for col in ("t_full", "cpu_full", "speedup", "ratio_mk2", "ratio_mk1"):
        shown[col] = shown[col].map(lambda v: _fmt(v, 2))
    shown["per_task_ms"] = shown["per_task_ms"].map(lambda v: _fmt(v, 2))
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.max_colwidth", 40):
        print("\n" + shown.to_string(index=False))
    print("\nt_full: seconds for all n_tasks (scaled when n_timed < n_tasks); cpu_full: CPU "
          "seconds of a run (all processes of the run), scaled alike; ratio_mk2 / ratio_mk1 = "
          "mixedkit (2 / 1 workers) / this row; speedup = t(1 worker) / t(2 workers)")
    print("\nChecks and notes:")
    for _, r in table.iterrows():
        text = "; ".join(t for t in (r.check, r.notes) if t)
        print(f"  {r.benchmark}/{r.method} [{r.status}]: {r.label}. {text}")
    print("\nTargets:")
    for _, r in table[table.target != ""].iterrows():
        print(f"  {r.benchmark}, {WORKERS} workers: {r.t_full:.2f} s, speedup "
              f"{_fmt(r.speedup, 2)} (target {r.target}): {r.verdict}")
    if overhead:
        print(f"\nChunking overhead: {overhead}")
    if dask_checks:
        print(f"\ndask LocalCluster vs local pool, same seed: {'; '.join(dask_checks)}")
    busy = table[table.other_cpu_s > BUSY_SHARE * table.wall_s]
    if len(busy):
        print("\n! The machine was not idle; these rows' times are inflated by contention:")
        for _, r in busy.iterrows():
            print(f"!   {r.benchmark}/{r.method}: other processes used {r.other_cpu_s:.0f} "
                  f"CPU-s in {r.wall_s:.0f} s")


def write_csv(rows: list[dict], info: dict[str, str], out: Path) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    for key, value in info.items():
        table[key] = value
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return table


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=None,
                    help=f"benchmarks whose name contains any of these (comma-separated; "
                         f"{', '.join(BENCHMARKS)})")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of a measurement whose first run is quick (default 3; median)")
    ap.add_argument("--single-above", type=float, default=20.0,
                    help="a first run at least this long (s) is not repeated (default 20)")
    ap.add_argument("--sm-subset", type=int, default=50,
                    help="tasks timed in the statsmodels loops, scaled to 1000 (default 50)")
    ap.add_argument("--r-power-sims", type=int, default=POWER_SIMS,
                    help="simulations timed in the R power loops, scaled to 1000 (default 1000)")
    ap.add_argument("--no-r", action="store_true", help="never call R (no lme4 rows)")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each row, wait up to this long for other processes to use "
                         "< 0.15 cores (default 0: do not wait); the wait goes to the notes")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"CSV path (default {DEFAULT_OUT.relative_to(HERE.parent)})")
    args = ap.parse_args(argv)
    if min(args.repeats, args.sm_subset, args.r_power_sims) < 1:
        ap.error("--repeats, --sm-subset and --r-power-sims must be positive")
    return args


def selected(name: str, args: argparse.Namespace) -> bool:
    return args.only is None or any(part and part in name for part in args.only.split(","))


def warm_up() -> None:
    """Imports, lazy modules and caches, before any timing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sleepstudy_pilot()
        mk_power(fit, n_jobs=1, n_sims=10)
        data = simulate_many(2)
        mk.fit_many(MANY_RHS, data, responses=["y0000", "y0001"], n_jobs=1, progress=False)
        smf.mixedlm("y0000 ~ x", data, groups="subject").fit(reml=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    r_info, r_problem = ({}, "--no-r") if args.no_r else probe_r()
    r_ok = f"skipped (no R/lme4: {r_problem})" if r_problem else ""
    if r_problem:
        print(f"note: R timings skipped ({r_problem}); lme4 ratios will be NaN")
    elif not r_info.get("lmertest_version"):
        print("note: lmerTest not installed; the R Satterthwaite row uses the z test")
    info = machine_info(r_info)
    info["lmertest_version"] = r_info.get("lmertest_version", "")
    print(", ".join(f"{k} {v}" for k, v in info.items() if v), flush=True)

    warm_up()
    rows: list[dict] = []
    state: dict = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        plan: list[Callable[[], list[dict]]] = []
        if selected("power", args):
            plan += power_rows(args, r_ok, Path(tmp), state)
        if selected("power_dask", args):
            plan.append(partial(power_dask_row, args, state))
        if selected("fit_many", args):
            plan += many_rows(args, r_ok, Path(tmp), state)
        if selected("tiny_tasks", args):
            plan += tiny_rows(args, state)
        for measure in plan:
            waited = wait_for_idle(args.wait_idle)
            for row in audited_rows(measure):
                if waited:
                    row["notes"] = "; ".join(t for t in (row["notes"], waited) if t)
                rows.append(row)
                print(f"  {row['benchmark']:10s} {row['method']:20s} "
                      f"{_fmt(row['t_full'], 2):>8s} s ({row['repeats']} run(s) of "
                      f"{row['n_timed']:,} tasks) {row['check']} "
                      f"[{time.perf_counter() - start:4.0f}s elapsed]", flush=True)
            write_csv(rows, info, args.out)
    if not rows:
        print("no benchmark selected")
        return 1
    add_ratios(rows)
    table = write_csv(rows, info, args.out)
    print_report(table, tiny_overhead(rows), state.get("dask_checks", []))
    print(f"\nwrote {args.out} ({len(table)} rows); total {time.perf_counter() - start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
