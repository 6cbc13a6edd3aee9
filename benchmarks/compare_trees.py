#!/usr/bin/env python3
"""Time mixedkit's fits from two source trees in one run: a baseline against a candidate.

What it is for
--------------
Checking that a refactor or an optimisation did not make ``mk.fit_lmm`` slower (or that it
made it faster) than a baseline commit. Timings taken minutes apart on a small shared
machine differ by more than most regressions, so both trees are timed in the same run,
interleaved: each round runs ``bench_engine.py`` once for tree A (``--before``), then once
for tree B (``--after``), each in a fresh Python process, so load that comes and goes hits
both trees alike. ``--alternate`` runs B first on every second round (A B, B A, A B, ...),
which also cancels a steady drift over the run.

Every run is the *same* script, ``bench_engine.py`` from the after tree's ``benchmarks/``
(``--script`` to choose another), with ``--methods mixedkit --no-r --out RUN.csv`` plus the
pass-through options (``--only``, ``--skip-large``, ``--repeats``); only ``PYTHONPATH``
differs: it is set to exactly the tree under test, so ``import mixedkit`` finds that tree's
package ahead of the venv's editable install (a ``sys.meta_path`` finder appended after the
path finder). This is checked twice: before timing, a probe process per tree imports
mixedkit, fits sleepstudy and checks that every ``mixedkit`` module loaded lives in that
tree; after each run, the CSV's ``mixedkit_path`` must be that tree's package. Bytecode is
not written (``PYTHONDONTWRITEBYTECODE=1``), so neither tree is modified.

Output
------
Per design: the median over the rounds of ``t_mixedkit`` (itself bench_engine's median over
its repeats) for A and for B, ``B / A``, the smallest and largest per-round ratio (round i's
B over round i's A), the log-likelihood difference B - A (the trees should agree) and the
CPU seconds other processes used while the design ran (bench_engine's ``other_cpu_s``,
summed over all runs; large values mean a loaded machine). A design is flagged ``SLOWER``
when ``B / A`` exceeds ``--threshold`` (default 1.15) and every round's ratio is above 1,
``faster`` in the mirror case. Also given: the fastest single fit of each tree over every
repeat of every round and their ratio (``ratio_min``); other load only ever adds time, so on
a busy machine the minimum is the steadier figure. On a busy 2-core machine, OpenBLAS
threads waiting for a busy core can make one fit vary tenfold; ``--blas-threads 1`` sets
``OPENBLAS_NUM_THREADS`` (and OMP, MKL) for both trees alike. Every run's CSV and log are kept in ``--raw-dir`` (default a
new ``/tmp/compare_trees_*`` directory), with ``runs.csv`` (every row of every run, with
tree and round) and the summary CSV (``--out``, default ``RAW_DIR/summary.csv``).

Usage
-----
From the repository root, with the venv's Python (the baseline as a read-only checkout)::

    git worktree add /tmp/before COMMIT          # or: git archive COMMIT | tar -x -C /tmp/before
    .venv/bin/python benchmarks/compare_trees.py --before /tmp/before --after . \\
        --rounds 3 --skip-large                  # quick: below 1e5 rows (+ icc)
    .venv/bin/python benchmarks/compare_trees.py --before /tmp/before --after . --rounds 2
    .venv/bin/python benchmarks/compare_trees.py --before /tmp/before --after . \\
        --only sim_1e5,insteval --repeats 5,3,3 --rounds 5
    .venv/bin/python benchmarks/compare_trees.py --from-runs /tmp/compare_trees_X/runs.csv

A tree is a directory holding the ``mixedkit`` package (a checkout or an unpacked archive).
Run it on an otherwise idle machine; it prints the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
LABELS = ("before", "after")

# Run in a fresh process with PYTHONPATH=TREE: import mixedkit, fit once (so the modules a
# fit needs are loaded), and list any mixedkit module whose file is outside TREE.
_PROBE = """
import sys, warnings
from pathlib import Path
import mixedkit as mk
warnings.simplefilter("ignore")
mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"), reml=True)
tree = Path(sys.argv[1]).resolve()
files = [Path(m.__file__).resolve() for name, m in list(sys.modules.items())
         if name.split(".")[0] == "mixedkit" and getattr(m, "__file__", None)]
outside = [str(f) for f in files if tree not in f.parents]
print(len(files), Path(mk.__file__).resolve().parent)
print("\\n".join(outside))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path,
                    help="baseline tree (A): a directory holding the mixedkit package")
    ap.add_argument("--after", type=Path,
                    help="candidate tree (B): a directory holding the mixedkit package")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of A then B (default 3)")
    ap.add_argument("--alternate", action="store_true",
                    help="run B first on every second round (A B, B A, ...)")
    ap.add_argument("--only", default=None, help="passed to bench_engine.py")
    ap.add_argument("--skip-large", action="store_true", help="passed to bench_engine.py")
    ap.add_argument("--repeats", default=None, help="passed to bench_engine.py (e.g. 5,3,1)")
    ap.add_argument("--script", type=Path, default=None,
                    help="bench_engine.py to run for both trees "
                         "(default AFTER/benchmarks/bench_engine.py)")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter for the runs (default: this one)")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="set OPENBLAS/OMP/MKL_NUM_THREADS for both trees (default: unset)")
    ap.add_argument("--from-runs", type=Path, default=None,
                    help="no timing: summarise an earlier run's runs.csv again")
    ap.add_argument("--threshold", type=float, default=1.15,
                    help="B/A above this, with every round above 1, is flagged (default 1.15)")
    ap.add_argument("--raw-dir", type=Path, default=None,
                    help="where each run's CSV and log go (default a new /tmp/compare_trees_*)")
    ap.add_argument("--out", type=Path, default=None,
                    help="summary CSV (default RAW_DIR/summary.csv)")
    args = ap.parse_args(argv)
    if args.from_runs:
        args.out = args.out or args.from_runs.parent / "summary.csv"
        return args
    if args.before is None or args.after is None:
        ap.error("--before and --after are required (unless --from-runs)")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    for name in LABELS:
        tree = getattr(args, name).resolve()
        if not (tree / "mixedkit" / "__init__.py").is_file():
            ap.error(f"--{name} {tree}: no mixedkit/__init__.py there")
        setattr(args, name, tree)
    args.script = (args.script or args.after / "benchmarks" / "bench_engine.py").resolve()
    if not args.script.is_file():
        ap.error(f"--script {args.script} does not exist")
    if args.raw_dir is None:
        stamp = f"{datetime.datetime.now():%Y%m%d_%H%M%S}"
        args.raw_dir = Path(tempfile.mkdtemp(prefix=f"compare_trees_{stamp}_", dir="/tmp"))
    args.raw_dir.mkdir(parents=True, exist_ok=True)
    args.out = args.out or args.raw_dir / "summary.csv"
    return args


def tree_env(tree: Path, blas_threads: int | None = None) -> dict[str, str]:
    """This environment with PYTHONPATH set to exactly ``tree`` and no bytecode writes."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if blas_threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(blas_threads)
    return env


def probe(python: str, tree: Path) -> str:
    """Check that a process with PYTHONPATH=tree runs this tree's mixedkit, and only it."""
    proc = subprocess.run([python, "-c", _PROBE, str(tree)], env=tree_env(tree),
                          cwd=tempfile.gettempdir(), check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"probe of {tree} failed:\n{proc.stderr[-2000:]}")
    first, *outside = proc.stdout.strip().splitlines()
    n_modules, package = first.split(" ", 1)
    outside = [line for line in outside if line.strip()]
    if Path(package) != tree / "mixedkit" or outside:
        sys.exit(f"PYTHONPATH={tree} imports mixedkit from {package}; modules outside the "
                 f"tree: {outside}")
    return f"{tree}: mixedkit from {package}, {n_modules} mixedkit modules loaded, all in the tree"


def bench_command(args: argparse.Namespace, out: Path) -> list[str]:
    cmd = [args.python, str(args.script), "--methods", "mixedkit", "--no-r", "--out", str(out)]
    if args.only:
        cmd += ["--only", args.only]
    if args.skip_large:
        cmd.append("--skip-large")
    if args.repeats:
        cmd += ["--repeats", args.repeats]
    return cmd


def run_once(args: argparse.Namespace, label: str, round_no: int) -> pd.DataFrame:
    """One bench_engine.py process for one tree; its CSV rows, tagged with tree and round."""
    tree = getattr(args, label)
    out = args.raw_dir / f"round{round_no}_{label}.csv"
    log = args.raw_dir / f"round{round_no}_{label}.log"
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(bench_command(args, out), env=tree_env(tree, args.blas_threads),
                              cwd=args.raw_dir,
                              check=False, stdout=fh, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.is_file():
        sys.exit(f"bench_engine.py failed for {label} (round {round_no}); see {log}")
    table = pd.read_csv(out)
    paths = set(table["mixedkit_path"].astype(str))
    if paths != {str(tree / "mixedkit")}:
        sys.exit(f"{label} run imported mixedkit from {paths}, not {tree / 'mixedkit'}")
    table.insert(0, "tree", label)
    table.insert(1, "round", round_no)
    table["load1_before"] = load
    print(f"  round {round_no} {label:6s} {wall:6.1f} s  load {load:4.2f}  "
          + "  ".join(f"{r.design} {r.t_mixedkit:.3f}" for r in table.itertuples()), flush=True)
    return table


def summarise(runs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One row per design: medians over rounds, B/A, per-round ratio range, flags."""
    rows = []
    for design, sub in runs.groupby("design", sort=False):
        t = {lab: sub[sub.tree == lab].set_index("round")["t_mixedkit"] for lab in LABELS}
        ll = {lab: sub[sub.tree == lab]["loglik_mk"].median() for lab in LABELS}
        # fastest single fit over every repeat of every round: contention only adds time
        fastest = {lab: min((float(v) for times in sub[sub.tree == lab]["times_mk"].dropna()
                             for v in str(times).split()), default=float("nan"))
                   for lab in LABELS}
        med = {lab: t[lab].median() for lab in LABELS}  # NaN (a failed fit) skipped
        per_round = (t["after"] / t["before"]).dropna()
        ratio = med["after"] / med["before"] if med["before"] > 0 else float("nan")
        flag = ""
        if ratio > threshold and (per_round > 1).all():
            flag = "SLOWER"
        elif ratio < 1 / threshold and (per_round < 1).all():
            flag = "faster"
        statuses = set(sub["status_mk"].astype(str))
        rows.append({
            "design": design, "n_rows": int(sub["n_rows"].iloc[0]),
            "rounds": int(min(t["before"].size, t["after"].size)),
            "repeats": int(sub["repeats"].iloc[0]),
            "t_before": med["before"], "t_after": med["after"], "ratio_after_before": ratio,
            "ratio_round_min": per_round.min(), "ratio_round_max": per_round.max(),
            "flag": flag,
            "t_before_min": fastest["before"], "t_after_min": fastest["after"],
            "ratio_min": fastest["after"] / fastest["before"],
            "dloglik_after_before": ll["after"] - ll["before"],
            "other_cpu_s": sub["other_cpu_s"].sum(), "wall_s": sub["wall_s"].sum(),
            "status": ",".join(sorted(statuses)),
            "times_before": " ".join(f"{v:.4g}" for v in t["before"]),
            "times_after": " ".join(f"{v:.4g}" for v in t["after"]),
        })
    return pd.DataFrame(rows)


def print_summary(summary: pd.DataFrame) -> None:
    shown = summary[["design", "n_rows", "t_before", "t_after", "ratio_after_before",
                     "ratio_round_min", "ratio_round_max", "flag", "t_before_min",
                     "t_after_min", "ratio_min", "dloglik_after_before", "other_cpu_s"]].copy()
    for col in ("t_before", "t_after", "t_before_min", "t_after_min"):
        shown[col] = shown[col].map(lambda v: f"{v:.4f}")
    for col in ("ratio_after_before", "ratio_round_min", "ratio_round_max", "ratio_min"):
        shown[col] = shown[col].map(lambda v: f"{v:.3f}")
    shown["dloglik_after_before"] = shown["dloglik_after_before"].map(lambda v: f"{v:+.2g}")
    shown["other_cpu_s"] = shown["other_cpu_s"].map(lambda v: f"{v:.1f}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print("\n" + shown.to_string(index=False))


def report(summary: pd.DataFrame, threshold: float) -> None:
    print_summary(summary)
    flagged = summary[summary.flag == "SLOWER"]
    print(f"\n{len(flagged)} design(s) slower than {threshold:g}x in every round"
          + (f": {', '.join(flagged.design)}" if len(flagged) else ""))
    busy = summary[summary.other_cpu_s > 0.1 * summary.wall_s]
    if len(busy):
        print("other processes used > 10% of the wall time on: " + ", ".join(busy.design))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_runs:
        summary = summarise(pd.read_csv(args.from_runs), args.threshold)
        summary.to_csv(args.out, index=False)
        report(summary, args.threshold)
        print(f"wrote {args.out}")
        return 0
    blas = "" if args.blas_threads is None else f"OPENBLAS_NUM_THREADS={args.blas_threads} ... "
    print(f"A = before: {args.before}\nB = after:  {args.after}\nscript: {args.script}\n"
          f"command: {blas}PYTHONPATH=TREE {' '.join(bench_command(args, Path('RUN.csv')))}\n"
          f"raw CSVs and logs: {args.raw_dir}\nload average at start: "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()), flush=True)
    for label in LABELS:
        print("probe " + probe(args.python, getattr(args, label)), flush=True)
    start = time.perf_counter()
    tables = []
    for round_no in range(1, args.rounds + 1):
        order = LABELS[::-1] if args.alternate and round_no % 2 == 0 else LABELS
        for label in order:
            tables.append(run_once(args, label, round_no))
            runs = pd.concat(tables, ignore_index=True)
            runs.to_csv(args.raw_dir / "runs.csv", index=False)
    summary = summarise(runs, args.threshold)
    summary.to_csv(args.out, index=False)
    report(summary, args.threshold)
    print(f"load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
          f"total {time.perf_counter() - start:.0f} s\nwrote {args.out} and "
          f"{args.raw_dir / 'runs.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
