#!/usr/bin/env python3
"""One model, its factor and grouping columns in every dtype users bring: same fit, same time?

The model is ``y ~ c1 + c2 + x + (1 | g)``: ``--groups`` groups (default 125,000) of 3
rows, ``c1`` a two-level factor, ``c2`` a four-level one, ``x`` numeric. The same data
are given as

``csv text``
    written to CSV and read back with ``pd.read_csv``: text as pandas gives it (object
    before pandas 3, its ``str`` dtype from 3 on);
``object``, ``string``, ``categorical``
    ``c1``, ``c2`` and ``g`` as numpy objects, pandas' ``string`` dtype, or Categoricals;
``integer codes``
    ``g``, ``c1`` and ``c2`` as integers, the factors written ``C(c1) + C(c2)``;
``bool``
    ``c1`` as True/False (``g`` as integers).

For each: the median over ``--repeats`` of the checks (``prepare``), the design
(``build_design``: patsy, the random-effects structure, the engine's cross-products) and
the whole ``fit_lmm`` call, each in seconds, and the fit's time over the Categorical
one's. Every variant must reach the same log-likelihood (printed; a difference above
1e-6 is flagged).

Usage::

    .venv/bin/python benchmarks/bench_dtypes.py
    .venv/bin/python benchmarks/bench_dtypes.py --groups 20000 --repeats 7 --out /tmp/dtypes.csv
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import mixedkit as mk
from mixedkit.model.design import build_design
from mixedkit.model.validation import prepare

FORMULA = "y ~ c1 + c2 + x + (1 | g)"
CODED = "y ~ C(c1) + C(c2) + x + (1 | g)"


def variants(n_groups: int, seed: int = 1) -> dict[str, tuple[str, pd.DataFrame]]:
    rng = np.random.default_rng(seed)
    g = np.repeat(rng.permutation(n_groups), 3)  # ids in no particular order, as in a file
    n = len(g)
    c1, c2, x = rng.integers(0, 2, n), rng.integers(0, 4, n), rng.normal(size=n)
    y = 1 + 0.5 * c1 + 0.2 * c2 + x + rng.normal(size=n_groups)[g] + rng.normal(size=n)
    text = pd.DataFrame({"y": y, "x": x, "c1": np.where(c1, "yes", "no"),
                         "c2": np.array(["a", "b", "c", "d"])[c2],
                         "g": np.char.add("s", np.char.zfill(g.astype(str), 6))})
    buf = io.StringIO()
    text.to_csv(buf, index=False)
    buf.seek(0)
    factors = ["c1", "c2", "g"]
    return {
        "csv text": (FORMULA, pd.read_csv(buf)),
        "object": (FORMULA, text.astype(dict.fromkeys(factors, object))),
        "string": (FORMULA, text.astype(dict.fromkeys(factors, "string"))),
        "categorical": (FORMULA, text.astype(dict.fromkeys(factors, "category"))),
        "integer codes": (CODED, text.assign(c1=c1, c2=c2, g=g)),
        "bool": (FORMULA, text.assign(c1=c1.astype(bool), g=g)),
    }


def median_times(formula: str, data: pd.DataFrame, repeats: int) -> tuple[dict, float]:
    times: dict[str, list[float]] = {"prepare": [], "design": [], "fit": []}
    fit = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        prep = prepare(formula, data)
        t1 = time.perf_counter()
        build_design(prep)
        t2 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = mk.fit_lmm(formula, data)
        t3 = time.perf_counter()
        times["prepare"].append(t1 - t0)
        times["design"].append(t2 - t1)
        times["fit"].append(t3 - t2)
    return {k: statistics.median(v) for k, v in times.items()}, fit.loglik


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", type=int, default=125_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for name, (formula, data) in variants(args.groups).items():
        median_times(formula, data, 1)  # warm up
        times, loglik = median_times(formula, data, args.repeats)
        dtypes = " ".join(f"{c}:{data[c].dtype}" for c in ("c1", "c2", "g"))
        rows.append({"variant": name, **times, "loglik": loglik, "dtypes": dtypes})
        print(f"{name:<14} prepare {times['prepare']:.3f}  design {times['design']:.3f}  "
              f"fit {times['fit']:.3f}  ({dtypes})", flush=True)
    table = pd.DataFrame(rows)
    base = table.set_index("variant").loc["categorical"]
    table["fit / categorical"] = table["fit"] / base["fit"]
    table["dloglik"] = table["loglik"] - base["loglik"]
    table["same model"] = table["dloglik"].abs() <= 1e-6
    with pd.option_context("display.width", 200, "display.float_format", "{:.4g}".format):
        print(table.drop(columns="dtypes").to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)
    return 0 if table["same model"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
