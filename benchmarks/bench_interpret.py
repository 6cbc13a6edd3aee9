"""Benchmark of issue #3: compare_models cost and bootstrap parallel speed-up.

Run: python benchmarks/bench_interpret.py [--repeats 5] [--n-boot 200]

1. compare_models(m0, m1) against one fit_lmm of the larger model (target <= 2.5x),
   for a pair that differs in fixed effects (both refitted by ML, warm-started) and a
   pair that differs in random effects (compared on the REML fits as given).
2. fit.icc(n_boot=N) with n_jobs=2 against n_jobs=1 (target >= 1.6x faster).
Medians of repeats, measured in one process on the same data.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import mixedkit as mk


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=200)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    ss, dx = mk.load_dataset("sleepstudy"), mk.load_dataset("dietox")
    pairs = [
        ("sleepstudy fixed (Days)", ss, "Reaction ~ 1 + (Days | Subject)",
         "Reaction ~ Days + (Days | Subject)"),
        ("sleepstudy random (slope)", ss, "Reaction ~ Days + (1 | Subject)",
         "Reaction ~ Days + (Days | Subject)"),
        ("dietox fixed (Evit + Cu)", dx, "Weight ~ Time + (Time | Pig)",
         "Weight ~ Time + Evit + Cu + (Time | Pig)"),
    ]
    print(f"{'pair':28s} {'t_fit_big':>10s} {'t_compare':>10s} {'ratio':>7s}")
    for name, data, f0, f1 in pairs:
        m0, m1 = mk.fit_lmm(f0, data), mk.fit_lmm(f1, data)
        t_fit = median_time(lambda f1=f1, data=data: mk.fit_lmm(f1, data), args.repeats)
        t_cmp = median_time(lambda m0=m0, m1=m1: mk.compare_models(m0, m1), args.repeats)
        print(f"{name:28s} {t_fit:10.3f} {t_cmp:10.3f} {t_cmp / t_fit:7.2f}")

    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    times = {}
    for jobs in (1, 2):
        times[jobs] = median_time(
            lambda jobs=jobs: fit.icc(n_boot=args.n_boot, seed=1, n_jobs=jobs, progress=False),
            max(1, args.repeats // 2))
    print(f"\nicc bootstrap, {args.n_boot} refits of sleepstudy (Days | Subject):")
    print(f"  n_jobs=1 {times[1]:.2f} s, n_jobs=2 {times[2]:.2f} s, "
          f"speed-up {times[1] / times[2]:.2f}x (target >= 1.6)")


if __name__ == "__main__":
    main()
