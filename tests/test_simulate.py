"""simulate_lmm: the documented generative model, and recovery of its parameters."""

from __future__ import annotations

import numpy as np
import pytest

import mixedkit as mk


def test_shape_labels_and_truth():
    d = mk.simulate_lmm(12, 5, icc=0.4, effects={"dose": 1.0, "age": -0.2}, seed=1)
    assert list(d.columns) == ["group", "dose", "age", "y"] and len(d) == 60
    assert d["group"].iloc[0] == "g01" and d["group"].nunique() == 12
    assert d.attrs["formula"] == "y ~ dose + age + (1 | group)"
    assert d.attrs["truth"]["tau"] == pytest.approx(np.sqrt(0.4 / 0.6))
    again = mk.simulate_lmm(12, 5, icc=0.4, effects={"dose": 1.0, "age": -0.2}, seed=1)
    assert d.equals(again)


def test_variance_decomposition_in_a_large_sample():
    d = mk.simulate_lmm(2000, 10, icc=0.3, effects={"x": 0.5}, seed=2)
    y = d["y"] - 0.5 * d["x"]
    group_means = y.groupby(d["group"]).mean()
    within = (y - d["group"].map(group_means)).var()
    assert within == pytest.approx(1.0 * 9 / 10, rel=0.03)
    assert group_means.var() - within / 10 == pytest.approx(0.3 / 0.7, rel=0.1)


def test_bad_arguments():
    with pytest.raises(mk.InputValueError, match=r"icc must be in \[0, 1\); got 1.2"):
        mk.simulate_lmm(5, 5, icc=1.2)
    with pytest.raises(mk.InputValueError, match=r"n_groups must be a positive integer; got 0"):
        mk.simulate_lmm(0, 5)
    with pytest.raises(mk.InputTypeError, match=r"n_groups must be a positive integer; got 2.5"):
        mk.simulate_lmm(2.5, 5)


# Recovery: N data sets of 40 groups x 8; the true ICC inside the bootstrap interval and
# the true fixed effects inside their 95% intervals. Measured: ICC covered in 17 of 20,
# the slope in 19 of 20, the intercept in 19 of 20.
N = 20


@pytest.mark.slow
def test_fitting_recovers_the_parameters():
    rng = np.random.default_rng(99)
    icc_hits = slope_hits = intercept_hits = 0
    for _ in range(N):
        d = mk.simulate_lmm(40, 8, icc=0.3, effects={"x": 0.5}, intercept=2.0, seed=rng)
        fit = mk.fit_lmm(d.attrs["formula"], d)
        icc = fit.icc(n_boot=49, seed=int(rng.integers(1e9)), n_jobs=1, progress=False).iloc[0]
        icc_hits += icc["conf_low"] <= 0.3 <= icc["conf_high"]
        fe = fit.fixed_effects.set_index("term")
        slope_hits += fe.loc["x", "conf_low"] <= 0.5 <= fe.loc["x", "conf_high"]
        intercept_hits += fe.loc["Intercept", "conf_low"] <= 2.0 <= fe.loc["Intercept", "conf_high"]
    assert icc_hits >= 16 and slope_hits >= 16 and intercept_hits >= 16, \
        (icc_hits, slope_hits, intercept_hits)
