"""Designs near the boundary: mixedkit's optimum is never below another optimiser's.

Simulated random-slope data ``y ~ x + (x | g)`` whose truth sits close to the boundary
the optimiser must not stop on: an SD small but positive (5-20 % of the residual SD), or a
correlation of +/-0.95. For each, mixedkit's REML log-likelihood must not be below
statsmodels' own optimiser's (``MixedLM.fit(method="lbfgs")`` from its own start) nor below
a Nelder-Mead polish started at mixedkit's estimate, by more than 1e-6.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import optimize

import mixedkit as mk
from mixedkit.model.estimation import EngineObjective, theta_bounds


def simulate(seed: int, n_groups: int, n_per: int, kind: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), n_per)
    x = rng.uniform(0, 4, n_groups * n_per)
    if kind == "small intercept SD":
        sd, corr = (rng.uniform(0.05, 0.2), 0.5), 0.0
    elif kind == "small slope SD":
        sd, corr = (1.0, rng.uniform(0.05, 0.2)), 0.0
    else:  # a correlation of +/-0.95
        sd, corr = (1.0, 0.5), 0.95 if kind == "corr +0.95" else -0.95
    cov = np.array([[sd[0] ** 2, corr * sd[0] * sd[1]], [corr * sd[0] * sd[1], sd[1] ** 2]])
    b = rng.multivariate_normal([0, 0], cov, n_groups)
    y = 1 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "x": x, "g": [f"s{i}" for i in g]})


def check(data: pd.DataFrame) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mk.fit_lmm("y ~ x + (x | g)", data)
        sm = smf.mixedlm("y ~ x", data, groups="g", re_formula="~x").fit(reml=True,
                                                                         method="lbfgs")
    design = fit.state.design
    obj = EngineObjective(design.engine, True)
    start = fit.state.estimate.theta
    box = [(lo if lo is not None else -np.inf, np.inf) for lo, _ in theta_bounds(design, 0.0)]
    nm = optimize.minimize(obj, start, method="Nelder-Mead", bounds=box,
                           options={"xatol": 1e-9, "fatol": 1e-14, "maxfev": 4000})
    return fit.loglik, float(sm.llf), obj.loglik(nm.x)


KINDS = ["small intercept SD", "small slope SD", "corr +0.95", "corr -0.95"]


def _property(seed, n_groups, n_per, kind):
    ours, statsmodels_llf, polished = check(simulate(seed, n_groups, n_per, kind))
    assert ours >= statsmodels_llf - 1e-6, (ours, statsmodels_llf)
    assert ours >= polished - 1e-6, (ours, polished)


def _designs(max_groups: int, max_per: int) -> dict:
    return {"seed": st.integers(0, 2**31), "n_groups": st.integers(6, max_groups),
            "n_per": st.integers(3, max_per), "kind": st.sampled_from(KINDS)}


def _settings(n: int):
    return settings(derandomize=True, max_examples=n, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@_settings(24)
@given(**_designs(30, 10))
def test_never_below_another_optimiser(seed, n_groups, n_per, kind):
    _property(seed, n_groups, n_per, kind)


@pytest.mark.slow
@_settings(300)
@given(**_designs(40, 12))
def test_never_below_another_optimiser_many(seed, n_groups, n_per, kind):
    _property(seed, n_groups, n_per, kind)
