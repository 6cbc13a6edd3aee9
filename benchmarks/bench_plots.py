"""Benchmark: diagnostic plots of a large fit (target: plot_diagnostics <= 2 s at 1e5 rows).

Run: python benchmarks/bench_plots.py [--rows 100000] [--groups 2000] [--repeats 3]
                                      [--plots plot_diagnostics plot_ranef ...]

Simulates ``y ~ x + (x | g)`` (default 1e5 rows, 2,000 groups), fits it once, then times
each plot function twice over: the call alone (building the figure, which includes
``diagnostics_data``) and the call plus rendering the figure to an in-memory PNG at the
figure's dpi (what a user waits for before seeing it). Median of ``--repeats``; figures
are closed after each repeat. ``diagnostics_data(fit)`` alone is timed as well, since
every plot calls it once.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import warnings

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import mixedkit as mk
from mixedkit.inference.diagnostics import diagnostics_data
from mixedkit.plots import diagnostics as plotting

PLOTS = ["plot_diagnostics", "plot_residuals", "plot_qq", "plot_scale_location",
         "plot_ranef_qq", "plot_ranef", "plot_shrinkage", "plot_fitted"]
TARGET = {"plot_diagnostics": 2.0}


def simulate(rows: int, groups: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, rows)
    x = rng.normal(size=rows)
    b0, b1 = rng.normal(size=groups), 0.5 * rng.normal(size=groups)
    y = 1.0 + 2.0 * x + b0[g] + b1[g] * x + rng.normal(size=rows)
    return pd.DataFrame({"y": y, "x": x, "g": np.char.add("g", g.astype(str))})


def _figure(out):
    return out if isinstance(out, matplotlib.figure.Figure) else out.figure


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        plt.close("all")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plots", nargs="+", default=PLOTS, choices=PLOTS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    data = simulate(args.rows, args.groups)
    t0 = time.perf_counter()
    fit = mk.fit_lmm("y ~ x + (x | g)", data)
    print(f"y ~ x + (x | g): {args.rows:,} rows, {args.groups:,} groups; "
          f"fit {time.perf_counter() - t0:.2f} s; matplotlib {matplotlib.__version__}; "
          f"median of {args.repeats}")
    t_data = median_time(lambda: diagnostics_data(fit), args.repeats)
    print(f"{'diagnostics_data':22s} {t_data:8.3f} s")
    print(f"{'plot':22s} {'call (s)':>9s} {'+ PNG (s)':>10s} {'target':>8s}")
    for name in args.plots:
        func = getattr(plotting, name)

        def render(func=func):
            buf = io.BytesIO()
            _figure(func(fit)).savefig(buf, format="png")

        t_call = median_time(lambda func=func: func(fit), args.repeats)
        t_png = median_time(render, args.repeats)
        target = TARGET.get(name)
        flag = "" if target is None else f"<= {target:g}" + (" MISS" if t_png > target else "")
        print(f"{name:22s} {t_call:9.3f} {t_png:10.3f} {flag:>8s}", flush=True)


if __name__ == "__main__":
    main()
