"""Unstructured residual covariance (MMRM): mixedkit's residual-structure likelihood
against nlme's ``gls(correlation = corSymm, weights = varIdent)``, in one run.

Data as users bring them: a CSV of a two-arm trial (subject ids, arm and visit as text),
``n`` subjects x 6 visits, an unstructured covariance, MAR-like dropout. Each tool runs in
a fresh process that reads the CSV and fits ``y ~ base + arm * visit`` with an
unstructured covariance over the visits within subject, by REML; the process reports its
fit time (reading excluded; mixedkit's is ``mk.fit_lmm(... + us(visit | id))``: checks,
design and fit), the extra time of Kenward-Roger's fixed-effects table, the REML
log-likelihood and its peak resident memory (the whole process: interpreter and
libraries included).

    python benchmarks/bench_residual.py [--subjects 200,1000,10000] [--timeout 900]

R with nlme is used when ``Rscript`` is there (skipped cleanly otherwise). Timings on
this 2-core machine are noisy: read the ratios, one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

VISITS = 6

PY_FIT = textwrap.dedent("""
    import json, resource, sys, time, warnings
    import pandas as pd
    import mixedkit as mk
    d = pd.read_csv(sys.argv[1])
    warnings.simplefilter("ignore", mk.DataWarning)  # the rows without y are dropped
    start = time.perf_counter()
    fit = mk.fit_lmm("y ~ base + arm * visit + us(visit | id)", d,
                     df_method="kenward-roger")  # the tables are computed when asked for
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    table = fit.fixed_effects  # Kenward-Roger's adjusted covariance and df
    kr_seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "kr_seconds": kr_seconds, "loglik": fit.loglik,
                      "peak_mb": peak, "converged": fit.converged}))
""")

R_FIT = textwrap.dedent("""
    suppressMessages(library(nlme))
    args <- commandArgs(TRUE)
    d <- read.csv(args[1], stringsAsFactors = TRUE)
    d <- d[!is.na(d$y), ]
    d$vi <- as.integer(d$visit)
    t <- system.time(m <- gls(y ~ base + arm * visit, data = d,
                              correlation = corSymm(form = ~ vi | id),
                              weights = varIdent(form = ~ 1 | visit), method = "REML"))
    hwm <- grep("^VmHWM", readLines("/proc/self/status"), value = TRUE)
    peak <- as.numeric(gsub("[^0-9]", "", hwm)) / 1024  # peak resident set, as Python's
    cat(sprintf('{"seconds": %.6f, "loglik": %.10f, "peak_mb": %.1f, "converged": true}\\n',
                t[["elapsed"]], as.numeric(logLik(m)), peak))
""")


def simulate(n_subjects: int, seed: int = 1) -> pd.DataFrame:
    """A two-arm trial: unstructured covariance (SDs rising, correlation decaying with
    lag), a treatment effect growing over visits, dropout after a low value."""
    rng = np.random.default_rng(seed)
    sd = np.linspace(4.0, 6.0, VISITS)
    lag = np.abs(np.subtract.outer(range(VISITS), range(VISITS)))
    corr = 0.35 + 0.4 * 0.7 ** lag
    np.fill_diagonal(corr, 1.0)
    cov = corr * np.outer(sd, sd)
    arm = rng.integers(0, 2, n_subjects)
    base = rng.normal(30, 5, n_subjects)
    mean = 20 + 0.5 * base[:, None] + np.arange(VISITS) * 0.6 + arm[:, None] * np.arange(VISITS) * 0.4
    y = mean + rng.multivariate_normal(np.zeros(VISITS), cov, n_subjects)
    keep = np.ones_like(y, bool)
    for v in range(1, VISITS):  # MAR: leaving after a low previous value is likelier
        p = 0.04 + 0.08 * (y[:, v - 1] < np.median(y[:, v - 1]))
        keep[:, v] = keep[:, v - 1] & (rng.random(n_subjects) > p)
    rows = np.argwhere(keep)
    return pd.DataFrame({
        "id": [f"s{i:05d}" for i in rows[:, 0]],
        "arm": np.where(arm[rows[:, 0]] == 1, "TRT", "PBO"),
        "visit": [f"V{v + 1}" for v in rows[:, 1]],
        "base": base[rows[:, 0]].round(2),
        "y": y[rows[:, 0], rows[:, 1]].round(3),
    })


def run(cmd: list[str], timeout: float) -> dict:
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": f"timeout after {timeout:.0f} s"}
    if out.returncode != 0:
        return {"status": "error: " + " ".join(out.stderr.split())[-300:]}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(status="ok", wall=time.perf_counter() - start)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", default="200,1000,10000")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    rscript = shutil.which("Rscript")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        r_file = Path(tmp) / "fit.R"
        r_file.write_text(R_FIT)
        for n in (int(s) for s in args.subjects.split(",")):
            csv = Path(tmp) / f"trial_{n}.csv"
            data = simulate(n)
            data.to_csv(csv, index=False)
            mk = run([sys.executable, "-c", PY_FIT, str(csv)], args.timeout)
            r = run([rscript, str(r_file), str(csv)], args.timeout) if rscript else \
                {"status": "skipped: no Rscript"}
            row = {"subjects": n, "rows": len(data), "visits": VISITS,
                   "mk_seconds": mk.get("seconds"), "mk_kr_table_seconds": mk.get("kr_seconds"),
                   "mk_peak_mb": mk.get("peak_mb"),
                   "mk_loglik": mk.get("loglik"), "nlme_seconds": r.get("seconds"),
                   "nlme_peak_mb": r.get("peak_mb"), "nlme_loglik": r.get("loglik"),
                   "nlme_status": r["status"], "mk_status": mk["status"]}
            if mk.get("seconds") and r.get("seconds"):
                row["mk_over_nlme"] = mk["seconds"] / r["seconds"]
                row["loglik_diff"] = mk["loglik"] - r["loglik"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
