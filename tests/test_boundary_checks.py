"""An optimum on a bound (a zero variance) is re-examined before the fit is called singular.

The deviance's gradient in a Cholesky diagonal is 0 at 0 whatever the data, so a gradient
optimiser can stop on the bound of a variance that should be positive. On nlme's Dialyzer
(``tests/data/dialyzer.csv``) L-BFGS-B from lme4's start stopped after 7 evaluations with
both Cholesky diagonals of ``(pressure | Subject)`` at 0: REML log-likelihood -380.445,
reported singular, while statsmodels' own likelihood (``engine="statsmodels"``, an
independent evaluation and optimiser path) reaches -379.339. The interior restart finds it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedkit as mk

DATA = Path(__file__).parent / "data"
FORMULA = "rate ~ QB * (pressure + I(pressure**2)) + (pressure | Subject)"


@pytest.fixture(scope="module")
def dialyzer() -> pd.DataFrame:
    d = pd.read_csv(DATA / "dialyzer.csv")
    return d.assign(QB=d["QB"].astype(str), Subject=d["Subject"].astype(str))


@pytest.mark.parametrize("reml", [True, False])
def test_a_false_boundary_stop_is_left(dialyzer, reml):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        fit = mk.fit_lmm(FORMULA, dialyzer, reml=reml)
        ref = mk.fit_lmm(FORMULA, dialyzer, reml=reml, engine="statsmodels")
    assert not fit.singular
    assert fit.loglik == pytest.approx(ref.loglik, abs=1e-5)
    assert fit.loglik > -380.0 if reml else fit.loglik > -382.0  # the stop: -380.445, -382.828
    starts = list(fit.attempts["start"])
    assert starts[:2] == ["lme4 start", "interior restart"]
    note = [f for f in fit.health.findings if f.check == "boundary check"]
    assert len(note) == 1 and note[0].severity == "note"
    assert "stopped on a boundary" in note[0].what and "not singular" in note[0].what


def test_a_true_boundary_is_confirmed_and_reported_singular():
    d = pd.read_csv(Path(__file__).parent / "reference" / "data" / "Dyestuff2.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        fit = mk.fit_lmm("Yield ~ 1 + (1 | Batch)", d)
    assert fit.singular  # lme4's isSingular: TRUE
    starts = list(fit.attempts["start"])
    assert "interior restart" in starts
    check = [f for f in fit.health.findings if f.check == "boundary check"]
    assert len(check) == 1 and check[0].severity == "ok"
    assert check[0].what.startswith("The boundary optimum was confirmed by interior restarts")


def test_interior_optima_get_no_extra_attempts(sleepstudy):
    fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert list(fit.attempts["start"]) == ["lme4 start"]
    assert not [f for f in fit.health.findings if f.check == "boundary check"]
    assert np.isfinite(fit.loglik)


def _near_boundary_data() -> pd.DataFrame:
    """The design where a load-dependent boundary check once left an optimum 4e-5 lower:
    y ~ x + (x | g), 10 groups of 10, a small intercept SD (tests/test_near_boundary.py's
    simulate(15, 10, 10, "small intercept SD"))."""
    rng = np.random.default_rng(15)
    g = np.repeat(np.arange(10), 10)
    x = rng.uniform(0, 4, 100)
    sd = (rng.uniform(0.05, 0.2), 0.5)
    b = rng.multivariate_normal([0, 0], np.diag(np.square(sd)), 10)
    y = 1 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(size=100)
    return pd.DataFrame({"y": y, "x": x, "g": [f"s{i}" for i in g]})


def test_the_fit_does_not_depend_on_the_machines_load(monkeypatch):
    """Budgets (the boundary's Nelder-Mead check, the fallback's evaluations, when restarts
    stop) come from a model of the design's cost, not the clock: with every evaluation
    looking 100 times slower, the same attempts run and the same optimum is reported."""
    from mixedkit.model import estimation

    data = _near_boundary_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mk.MixedkitWarning)
        idle = mk.fit_lmm("y ~ x + (x | g)", data)
        clock = iter(np.arange(0.0, 1e7, 1.0))  # one second between two readings
        monkeypatch.setattr(estimation.time, "perf_counter", lambda: float(next(clock)))
        busy = mk.fit_lmm("y ~ x + (x | g)", data)
    assert list(busy.attempts["start"]) == list(idle.attempts["start"])
    assert "boundary check" in list(idle.attempts["start"])
    assert busy.loglik == idle.loglik
    np.testing.assert_array_equal(busy.state.theta, idle.state.theta)
