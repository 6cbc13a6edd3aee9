"""Parametric bootstrap: reproducibility, executors, failures, and coverage with known truth."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk
from mixedkit.inference import bootstrap


def simulate_icc(icc: float, n_groups: int, n_per: int, rng) -> pd.DataFrame:
    """y = 10 + 0.5 x + u_g + e with var(u) / (var(u) + var(e)) = icc, var(e) = 1."""
    g = np.repeat(np.arange(n_groups), n_per)
    x = rng.normal(size=n_groups * n_per)
    u = rng.normal(0, np.sqrt(icc / (1 - icc)), n_groups)
    y = 10 + 0.5 * x + u[g] + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "x": x, "g": g})


@pytest.fixture(scope="module")
def fit():
    return mk.fit_lmm("y ~ x + (1 | g)", simulate_icc(0.3, 20, 8, np.random.default_rng(5)))


def test_same_seed_same_interval_whatever_the_executor(fit):
    a = fit.icc(n_boot=24, seed=11, n_jobs=1)
    with ThreadPoolExecutor(2) as ex:
        b = fit.icc(n_boot=24, seed=11, executor=ex)
    c = fit.icc(n_boot=24, seed=11)  # default process pool
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert a.attrs["n_boot"] == 24 and a.attrs["n_failed"] == 0
    row = a.iloc[0]
    assert row["conf_low"] < row["estimate"] < row["conf_high"]
    assert fit.icc(n_boot=24, seed=12, n_jobs=1)["conf_low"].iloc[0] != row["conf_low"]


def test_failed_refits_are_recorded_not_fatal(fit, monkeypatch):
    real = bootstrap.refit_to
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise mk.FitError("no optimisation attempt reached a finite likelihood")
        return real(*args, **kwargs)

    monkeypatch.setattr(bootstrap, "refit_to", flaky)
    table = fit.icc(n_boot=12, seed=1, n_jobs=1)
    assert table.attrs["n_failed"] == 4
    assert np.isfinite(table["conf_low"].iloc[0])


def test_r2_interval(fit):
    r2 = fit.r2(n_boot=16, seed=3, n_jobs=1)
    assert list(r2.columns) == ["kind", "estimate", "conf_low", "conf_high"]
    assert (r2["conf_low"] <= r2["conf_high"]).all()


def test_bad_bootstrap_arguments(fit):
    with pytest.raises(mk.InputValueError, match=r"n_boot must be a positive integer; got -5"):
        fit.icc(n_boot=-5)
    with pytest.raises(mk.InputValueError, match=r"n_jobs must be a positive integer or None; "
                                                r"got 0"):
        fit.icc(n_boot=5, n_jobs=0)


def test_compare_models_bootstrap_p_value():
    ss = mk.load_dataset("sleepstudy")
    a = mk.fit_lmm("Reaction ~ Days + (1 | Subject)", ss)
    b = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", ss)
    comp = mk.compare_models(a, b, n_boot=19, seed=4, n_jobs=1)
    p = comp.table["p_value_boot"].iloc[1]
    assert p == pytest.approx(1 / 20)  # the observed LRT (42.8) beats every null replicate
    assert any("Bootstrap p-value" in n for n in comp.notes)


# Known truth: ICC 0.3; N data sets, each with its own bootstrap interval.
N_REPS, N_BOOT = 30, 99


@pytest.mark.slow
def test_bootstrap_interval_covers_true_icc():
    rng = np.random.default_rng(2026)
    covered = 0
    for _ in range(N_REPS):
        data = simulate_icc(0.3, 30, 10, rng)
        table = mk.fit_lmm("y ~ x + (1 | g)", data).icc(n_boot=N_BOOT, seed=rng.integers(1e9),
                                                        progress=False)
        row = table.iloc[0]
        covered += row["conf_low"] <= 0.3 <= row["conf_high"]
    # measured: 30 of 30 (mean interval width 0.26); nominal 95%
    assert covered >= 26, f"coverage {covered}/{N_REPS}"
