#!/usr/bin/env python3
"""Benchmark ``mk.fit_lmm`` against raw statsmodels ``MixedLM`` on the same models.

For every model (lme4 reference models and simulated random intercept + slope
data), by REML and by ML, three fits are timed in the same process on the same
DataFrame:

* ``mixedkit``    ``mk.fit_lmm(formula, data, reml=...)``
* ``sm_default``  ``eval(fit.statsmodels_call).fit(reml=...)``  (statsmodels' own
                  default: bfgs, then lbfgs, then cg)
* ``sm_lbfgs``    ``eval(fit.statsmodels_call).fit(reml=..., method="lbfgs")``

Each timing covers model construction from the DataFrame (the ``smf.mixedlm``
call for statsmodels; ``fit_lmm`` does everything itself) plus the fit, measured
with ``time.perf_counter``; the reported time is the median of the repeats.
Repeats of the three ways are interleaved so that machine noise hits all of them.

A raw statsmodels fit is "ok" when it raised no exception and its log-likelihood
is within 1e-3 of mixedkit's; exceptions and warnings are recorded (statsmodels
"wrong answers" are what mixedkit exists to fix, see mixedkit/estimation.py).

Usage (from the repository root)::

    python3 benchmarks/bench_fit.py                   # full run, several minutes
    python3 benchmarks/bench_fit.py --quick           # skip the 1e5-row data
    python3 benchmarks/bench_fit.py --repeats 5,3,1   # repeats: small, 1e4, 1e5 rows
    python3 benchmarks/bench_fit.py --repeats 1 --out /tmp/results.csv
    python3 benchmarks/bench_fit.py --only sleepstudy  # models whose name contains this

Targets (project requirement): median over models of t_mixedkit / t_sm_default
<= 1.0, and median over models where sm_lbfgs succeeded of t_mixedkit / t_sm_lbfgs
<= 1.3.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.formula.api as smf

import mixedkit as mk

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / "tests" / "reference"
LOGLIK_TOL = 1e-3
SEED = 20261128

# Simulated data: y = 1 + 0.5 x + b0_g + b1_g x + e, x ~ Uniform(0, 10),
# b0_g ~ N(0, SD_B0^2), b1_g ~ N(0, SD_B1^2) independent, e ~ N(0, SD_E^2).
SD_B0, SD_B1, SD_E = 1.0, 0.25, 1.0
SIM_SIZES = [  # (label, n groups, rows per group)
    ("sim_1e3", 100, 10),
    ("sim_1e4", 1000, 10),
    ("sim_1e5", 5000, 20),
]

REFERENCE_MODELS = [  # (model name, data set, lme4 formula, reference fit json)
    ("sleepstudy_corr", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "sleepstudy_corr"),
    ("sleepstudy_int", "sleepstudy", "Reaction ~ Days + (1 | Subject)", "sleepstudy_int"),
    ("sleepstudy_uncorr", "sleepstudy", "Reaction ~ Days + (Days || Subject)", "sleepstudy_uncorr"),
    ("sleepstudy_null", "sleepstudy", "Reaction ~ 1 + (1 | Subject)", "sleepstudy_null"),
    ("dyestuff", "Dyestuff", "Yield ~ 1 + (1 | Batch)", "dyestuff"),
    ("dyestuff2", "Dyestuff2", "Yield ~ 1 + (1 | Batch)", "dyestuff2"),
    ("dietox_int", "dietox", "Weight ~ Time + (1 | Pig)", "dietox_int"),
    ("dietox_slope", "dietox", "Weight ~ Time + (Time | Pig)", "dietox_slope"),
    ("dietox_evit_cu", "dietox", "Weight ~ Time + Evit + Cu + (Time | Pig)", "dietox_evit_cu"),
    ("penicillin", "Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
    ("pastes", "Pastes", "strength ~ 1 + (1 | batch/cask)", "pastes"),
]


# --------------------------------------------------------------------------- data

def load_reference_data(name: str) -> pd.DataFrame:
    """A reference CSV with R's factors as pandas Categoricals in R's level order."""
    levels = json.loads((REF / "data" / "levels.json").read_text())
    kw = {"index_col": 0} if name == "dietox" else {}
    data = pd.read_csv(REF / "data" / f"{name}.csv", **kw)
    for col, info in levels.get(name, {}).items():
        data[col] = pd.Categorical(data[col].astype(str), categories=info["levels"])
    return data


def reference_loglik(spec: str, reml: bool) -> float:
    """lme4's log-likelihood, or NaN when the reference file is missing."""
    path = REF / "fits" / f"{spec}.json"
    if not path.exists():
        return float("nan")
    return float(json.loads(path.read_text())["fits"]["REML" if reml else "ML"]["logLik"])


def simulate(n_groups: int, per_group: int, seed: int) -> pd.DataFrame:
    """Random intercept + slope data; see SD_B0, SD_B1, SD_E."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.uniform(0.0, 10.0, size=g.size)
    b0 = rng.normal(0.0, SD_B0, n_groups)
    b1 = rng.normal(0.0, SD_B1, n_groups)
    y = 1.0 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(0.0, SD_E, g.size)
    labels = np.array([f"g{i:05d}" for i in range(n_groups)])
    return pd.DataFrame({"y": y, "x": x,
                         "g": pd.Categorical(labels[g], categories=labels)})


# --------------------------------------------------------------------------- fits

@dataclass
class Outcome:
    seconds: float
    loglik: float = float("nan")
    converged: bool | None = None
    error: str = ""
    warnings: str = ""


def _run(fn) -> Outcome:
    """Time ``fn()`` with warnings caught; exceptions recorded, never raised."""
    gc.collect()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        try:
            res = fn()
            seconds = time.perf_counter() - t0
            err = ""
        except Exception as exc:  # noqa: BLE001 - a failure is a result here
            seconds = time.perf_counter() - t0
            res, err = None, type(exc).__name__
    names = sorted({w.category.__name__ for w in record})
    out = Outcome(seconds, error=err, warnings=";".join(names))
    if res is not None:
        ll = getattr(res, "loglik", None)
        out.loglik = float(ll if ll is not None else res.llf)
        out.converged = bool(res.converged)
    return out


def make_fitters(formula: str, data: pd.DataFrame, reml: bool):
    """The three ways, plus the mixedkit fit used to get the statsmodels call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = mk.fit_lmm(formula, data, reml=reml)
    code = compile(probe.statsmodels_call, "<statsmodels_call>", "eval")
    env = {"smf": smf, "np": np, "data": data}

    def fit_mk():
        return mk.fit_lmm(formula, data, reml=reml)

    def fit_sm_default():
        return eval(code, env).fit(reml=reml)

    def fit_sm_lbfgs():
        return eval(code, env).fit(reml=reml, method="lbfgs")

    return probe, {"mk": fit_mk, "sm_default": fit_sm_default, "sm_lbfgs": fit_sm_lbfgs}


def bench_model(name, formula, data, reml, repeats, warmup, ref_ll):
    probe, fitters = make_fitters(formula, data, reml)
    first: dict[str, Outcome] = {}
    times: dict[str, list[float]] = {k: [] for k in fitters}
    if warmup:  # untimed; also the run whose answer is checked
        for key, fn in fitters.items():
            first[key] = _run(fn)
    for _ in range(repeats):
        for key, fn in fitters.items():  # interleaved
            out = _run(fn)
            first.setdefault(key, out)
            times[key].append(out.seconds)
    med = {k: statistics.median(v) for k, v in times.items()}
    mk_ll = first["mk"].loglik
    row = {
        "model": name, "formula": formula, "method": "REML" if reml else "ML",
        "n_rows": len(data), "repeats": repeats,
        "t_mixedkit": med["mk"], "t_sm_default": med["sm_default"], "t_sm_lbfgs": med["sm_lbfgs"],
        "ratio_mk_default": med["mk"] / med["sm_default"],
        "ratio_mk_lbfgs": med["mk"] / med["sm_lbfgs"],
    }
    for key in ("sm_default", "sm_lbfgs"):
        o = first[key]
        ok = (not o.error and np.isfinite(o.loglik) and np.isfinite(mk_ll)
              and abs(o.loglik - mk_ll) <= LOGLIK_TOL)
        row[f"{key}_ok"] = bool(ok)
    row.update({
        "mk_loglik": mk_ll, "mk_converged": first["mk"].converged,
        "mk_attempts": len(probe.attempts), "lme4_loglik": ref_ll,
        "mk_minus_lme4": mk_ll - ref_ll,
    })
    for key in ("sm_default", "sm_lbfgs"):
        o = first[key]
        row[f"{key}_loglik"] = o.loglik
        row[f"{key}_minus_mk"] = o.loglik - mk_ll
        row[f"{key}_converged"] = o.converged
        row[f"{key}_error"] = o.error
        row[f"{key}_warnings"] = o.warnings
    row["statsmodels_call"] = probe.statsmodels_call
    for key in ("mk", "sm_default", "sm_lbfgs"):
        row[f"times_{key}"] = " ".join(f"{t:.4f}" for t in times[key])
    return row


# --------------------------------------------------------------------------- main

def parse_repeats(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.split(",")]
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError("--repeats: N or SMALL,N1E4,N1E5 (positive integers)")
    return tuple(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=parse_repeats, default=(5, 3, 1),
                    help="timed repeats: one N for all, or SMALL,N1E4,N1E5 (default 5,3,1); "
                         "'small' is every model below 1e4 rows")
    ap.add_argument("--quick", action="store_true", help="skip the 1e5-row simulated data")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.csv"),
                    help="CSV output path (default benchmarks/results.csv)")
    ap.add_argument("--only", default=None, help="run only models whose name contains this")
    ap.add_argument("--no-warmup-1e5", dest="warm_big", action="store_false",
                    help="no per-model warmup fit at 1e5 rows (the first timed fit is checked)")
    args = ap.parse_args(argv)
    rep_small, rep_1e4, rep_1e5 = args.repeats

    cases = []  # (name, formula, data, ref spec or None)
    datasets: dict[str, pd.DataFrame] = {}
    for name, ds, formula, spec in REFERENCE_MODELS:
        if ds not in datasets:
            datasets[ds] = load_reference_data(ds)
        cases.append((name, formula, datasets[ds], spec))
    for label, n_groups, per_group in SIM_SIZES:
        if args.quick and n_groups * per_group >= 100_000:
            continue
        data = simulate(n_groups, per_group, SEED + n_groups * per_group)
        cases.append((label, "y ~ x + (x | g)", data, None))
    if args.only:
        cases = [c for c in cases if args.only in c[0]]

    print(f"mixedkit {mk.__version__}, statsmodels {statsmodels.__version__}, "
          f"numpy {np.__version__}, pandas {pd.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {datetime.datetime.now():%Y-%m-%d %H:%M}", flush=True)
    print(f"repeats: {rep_small} (<1e4 rows), {rep_1e4} (1e4), {rep_1e5} (1e5)", flush=True)

    # Global warmup: imports, lazy modules, patsy/scipy caches.
    ss = datasets.get("sleepstudy", load_reference_data("sleepstudy"))
    _, warm = make_fitters("Reaction ~ Days + (Days | Subject)", ss, True)
    for fn in warm.values():
        _run(fn)

    rows = []
    t_start = time.perf_counter()
    for name, formula, data, spec in cases:
        n = len(data)
        repeats = rep_1e5 if n >= 100_000 else rep_1e4 if n >= 10_000 else rep_small
        warmup = n < 100_000 or args.warm_big
        for reml in (True, False):
            ref_ll = reference_loglik(spec, reml) if spec else float("nan")
            row = bench_model(name, formula, data, reml, repeats, warmup, ref_ll)
            rows.append(row)
            print(f"  {name:18s} {row['method']:4s} n={n:6d}  mk {row['t_mixedkit']:8.3f}s  "
                  f"default {row['t_sm_default']:8.3f}s  lbfgs {row['t_sm_lbfgs']:8.3f}s  "
                  f"ok {row['sm_default_ok']!s:5s} {row['sm_lbfgs_ok']!s:5s} "
                  f"[{time.perf_counter() - t_start:6.0f}s elapsed]", flush=True)

    table = pd.DataFrame(rows)
    show = table[["model", "method", "n_rows", "t_mixedkit", "t_sm_default", "t_sm_lbfgs",
                  "ratio_mk_default", "ratio_mk_lbfgs", "sm_default_ok", "sm_lbfgs_ok"]]
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.3f}".format):
        print()
        print(show.to_string(index=False))

    print()
    problems = table[~table.sm_default_ok | ~table.sm_lbfgs_ok
                     | (table.sm_default_warnings != "") | (table.sm_lbfgs_warnings != "")]
    if len(problems):
        print("Raw statsmodels problems (loglik difference vs mixedkit; exception; warnings):")
        for _, r in problems.iterrows():
            for key in ("sm_default", "sm_lbfgs"):
                if r[f"{key}_ok"] and not r[f"{key}_warnings"]:
                    continue
                print(f"  {r.model:18s} {r.method:4s} {key:10s} ok={r[f'{key}_ok']!s:5s} "
                      f"dloglik={r[f'{key}_minus_mk']:+.4g} converged={r[f'{key}_converged']} "
                      f"error={r[f'{key}_error'] or '-'} warnings={r[f'{key}_warnings'] or '-'}")
    bad_mk = table[(table.mk_minus_lme4.abs() > LOGLIK_TOL) | (table.mk_converged != True)]
    if len(bad_mk):
        print("mixedkit off lme4 / not converged:")
        print(bad_mk[["model", "method", "mk_loglik", "lme4_loglik", "mk_converged"]].to_string(index=False))

    r_def = table.ratio_mk_default
    ok_l = table[table.sm_lbfgs_ok].ratio_mk_lbfgs
    print()
    print(f"median over models of t_mixedkit/t_sm_default = {r_def.median():.3f} "
          f"(target <= 1.0: {'PASS' if r_def.median() <= 1.0 else 'FAIL'}); "
          f"max {r_def.max():.3f} ({table.loc[r_def.idxmax(), 'model']} "
          f"{table.loc[r_def.idxmax(), 'method']}); n = {len(r_def)}")
    ok_d = table[table.sm_default_ok].ratio_mk_default
    if len(ok_d) != len(r_def):
        print(f"  (only where sm_default was ok: median {ok_d.median():.3f}, n = {len(ok_d)})")
    if len(ok_l):
        print(f"median over models where sm_lbfgs succeeded of t_mixedkit/t_sm_lbfgs = "
              f"{ok_l.median():.3f} (target <= 1.3: {'PASS' if ok_l.median() <= 1.3 else 'FAIL'}); "
              f"max {ok_l.max():.3f} ({table.loc[ok_l.idxmax(), 'model']} "
              f"{table.loc[ok_l.idxmax(), 'method']}); n = {len(ok_l)} of {len(table)}")
    else:
        print("sm_lbfgs succeeded on no model")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"\nwrote {out} ({len(table)} rows); total {time.perf_counter() - t_start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
