#!/usr/bin/env python3
"""Time the inference-on-factors features against their targets.

Targets (issue: inference on factors): ``fit.confint(method="profile")`` on sleepstudy
``(Days | Subject)`` in <= 1 s; Kenward-Roger on a 2,000-row model in <= 2 s. Each is
the median of ``--repeats`` runs on a fit made once (so only the feature is timed);
KR is computed from scratch each time (the fit's cached copy is bypassed).

Usage::

    python3 benchmarks/bench_inference.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd

import mixedkit as mk
from mixedkit.inference.kenward_roger import kenward_roger


def _median_time(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _kr_data(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(100), 20)
    x = rng.normal(size=len(g))
    u = rng.normal(size=(100, 2)) * [2.0, 0.5]
    return pd.DataFrame({"y": 1 + 0.5 * x + u[g, 0] + u[g, 1] * x + rng.normal(size=len(g)),
                         "x": x, "f": rng.choice(list("abcd"), len(g)), "g": g})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore", mk.MixedkitWarning)
    sleep = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))
    sleep.confint()  # warm up imports
    t_profile = _median_time(sleep.confint, args.repeats)
    kr_fit = mk.fit_lmm("y ~ x + f + (x | g)", _kr_data())
    t_kr = _median_time(lambda: kenward_roger(kr_fit.state), args.repeats)
    t_anova = _median_time(lambda: mk.fit_lmm("y ~ x + f + (x | g)", _kr_data(),
                                              df_method="kenward-roger").anova(), args.repeats)
    print(f"confint(profile), sleepstudy (Days | Subject): {t_profile:.3f} s (target <= 1 s)")
    print(f"Kenward-Roger, 2,000 rows, y ~ x + f + (x | g): {t_kr:.4f} s (target <= 2 s)")
    print(f"fit + KR Type III anova, same model:           {t_anova:.3f} s")


if __name__ == "__main__":
    main()
