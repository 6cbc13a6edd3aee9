"""ICC and Nakagawa R² against performance 0.10.2 (tests/reference/fits/*.json)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEC_DATA
from test_lme4_reference import fitted

import mixedkit as mk

CASES = [(s, m) for s in SPEC_DATA for m in ("REML", "ML")]
# performance drops the slope variance of (x || g) models; see test_uncorrelated_slopes
PERFORMANCE_COMPARABLE = [c for c in CASES if c[0] not in ("sleepstudy_uncorr", "dyestuff2")]


def _ref(spec, method):
    from conftest import load_reference_fit

    return load_reference_fit(spec)["fits"][method]


def _get(table, group, kind):
    row = table[(table["group"] == group) & (table["kind"] == kind)]
    return row["estimate"].item()


@pytest.mark.parametrize("spec,method", PERFORMANCE_COMPARABLE)
def test_icc_matches_performance(spec, method):
    fit, ref = fitted(spec, method), _ref(spec, method)
    table = fit.icc()
    total = table["group"].iloc[0]
    assert _get(table, total, "adjusted") == pytest.approx(ref["icc"]["adjusted"], rel=1e-3)
    assert _get(table, total, "unadjusted") == pytest.approx(ref["icc"]["unadjusted"], rel=1e-3)
    if len(fit.n_groups) > 1:  # per-factor rows, intercept-only models here
        for row in ref["icc_by_group"]:
            group = next(g for g in fit.n_groups if set(g.split(":")) == set(row["group"].split(":")))
            assert _get(table, group, "adjusted") == pytest.approx(row["icc"], rel=1e-3)


@pytest.mark.parametrize("spec,method", PERFORMANCE_COMPARABLE)
def test_r2_matches_performance(spec, method):
    fit, ref = fitted(spec, method), _ref(spec, method)
    r2 = fit.r2().set_index("kind")["estimate"]
    assert r2["marginal"] == pytest.approx(ref["r2_nakagawa"]["marginal"], rel=1e-3, abs=1e-12)
    assert r2["conditional"] == pytest.approx(ref["r2_nakagawa"]["conditional"], rel=1e-3)


def test_icc_table_columns_and_design_effect():
    fit = fitted("sleepstudy_int", "REML")
    table = fit.icc()
    assert list(table.columns) == ["group", "kind", "estimate", "conf_low", "conf_high"]
    assert list(table["kind"]) == ["adjusted", "unadjusted", "design_effect"]
    icc = _get(table, "Subject", "adjusted")
    assert _get(table, "Subject", "design_effect") == pytest.approx(1 + (10 - 1) * icc)
    assert table["conf_low"].isna().all() and table.attrs["n_boot"] == 0


def test_uncorrelated_slopes_use_the_consistent_definition():
    """performance: 0.4898 (intercept only). mixedkit: slope variance included, as for (x|g)."""
    fit = fitted("sleepstudy_uncorr", "REML")
    vc = fit.variance_components.set_index("term")["variance"]
    days = mk.load_dataset("sleepstudy")["Days"].to_numpy(float)
    random = vc["Intercept"] + vc["Days"] * np.mean(days**2)  # trace(Z Sigma Z')/n, cov = 0
    expected = random / (random + vc[""])
    table = fit.icc()
    assert _get(table, "Subject", "adjusted") == pytest.approx(expected, rel=1e-10)
    assert _get(table, "Subject", "adjusted") == pytest.approx(0.716, abs=1e-3)
    assert _ref("sleepstudy_uncorr", "REML")["icc"]["adjusted"] == pytest.approx(0.4898, abs=1e-4)
    assert "random slopes" in table.attrs["note"]


def test_singular_fit_icc_is_zero_with_reason():
    fit = fitted("dyestuff2", "REML")
    table = fit.icc()
    assert _get(table, "Batch", "adjusted") == 0.0
    assert "singular fit" in table.attrs["note"]
    r2 = fit.r2()
    np.testing.assert_allclose(r2["estimate"], 0.0, atol=1e-12)
    assert "performance returns NA" in r2.attrs["note"]
