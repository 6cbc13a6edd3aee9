#!/usr/bin/env python3
"""What the boundary checks cost, and where they change the answer (issue 17).

Fits every lme4 reference model (REML and ML), six simulated singular random-slope designs
and nlme's Dialyzer twice in one run, interleaved: with mixedkit's boundary checks
(``mixedkit.model.estimation._boundary_checks``: interior restarts and a Nelder-Mead check
of an optimum on or near a bound) and with them switched off. Prints, per model and method,
whether the fit is singular each way, the log-likelihood gained, the median times of three
fits each way and their ratio.

    python3 benchmarks/bench_boundary.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import SPEC_DATA, load_reference_data, load_reference_fit

import mixedkit as mk
from mixedkit.model import estimation


def cases() -> list[tuple[str, str, pd.DataFrame]]:
    out = [(spec, load_reference_fit(spec)["formula"], load_reference_data(data))
           for spec, data in SPEC_DATA.items()]
    rng = np.random.default_rng(1)
    for i in range(6):  # a zero intercept (even i) or slope (odd i) variance
        g = np.repeat(np.arange(20), 8)
        x = np.tile(np.arange(8.0), 20)
        b0 = rng.normal(0, [0.0, 1.0][i % 2], 20)
        b1 = rng.normal(0, [0.3, 0.0][i % 2], 20)
        y = 1 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=160)
        out.append((f"sim_singular_{i}", "y ~ x + (x | g)",
                    pd.DataFrame({"y": y, "x": x, "g": g})))
    d = pd.read_csv(ROOT / "tests" / "data" / "dialyzer.csv").astype({"QB": str})
    out.append(("dialyzer", "rate ~ QB * (pressure + I(pressure**2)) + (pressure | Subject)", d))
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    real = estimation._boundary_checks

    def off(*args, **kwargs):
        return "", 0.0

    rows = []
    for name, formula, data in cases():
        for reml in (True, False):
            times: dict[str, list[float]] = {"off": [], "on": []}
            fits = {}
            for label, checks in (("off", off), ("on", real)) * 3:
                estimation._boundary_checks = checks
                t0 = time.perf_counter()
                fits[label] = mk.fit_lmm(formula, data, reml=reml)
                times[label].append(time.perf_counter() - t0)
            estimation._boundary_checks = real
            rows.append({"model": name, "method": "REML" if reml else "ML",
                         "singular_off": fits["off"].singular, "singular_on": fits["on"].singular,
                         "loglik_gain": fits["on"].loglik - fits["off"].loglik,
                         "off_ms": 1e3 * np.median(times["off"]),
                         "on_ms": 1e3 * np.median(times["on"])})
    table = pd.DataFrame(rows)
    table["ratio"] = table["on_ms"] / table["off_ms"]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
