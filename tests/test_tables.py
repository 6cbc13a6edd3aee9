"""Every public table's columns, pinned against docs/tables.md (one vocabulary)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

import mixedkit as mk

DOC = Path(__file__).parent.parent / "docs" / "tables.md"


def documented() -> dict[str, list[str]]:
    out = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| ([\w ]+) \| `.*` \| `(.*)` \|$", line)
        if m:
            out[m.group(1).strip()] = [c.strip() for c in m.group(2).split(",")]
    return out


@pytest.fixture(scope="module")
def tables() -> dict:
    warnings.simplefilter("ignore", mk.MixedkitWarning)
    d = mk.load_dataset("dietox")
    fit = mk.fit_lmm("Weight ~ Time + C(Evit) + (Time | Pig)", d)
    small = mk.fit_lmm("Weight ~ Time + (1 | Pig)", d)
    diag = mk.diagnostics_data(fit)
    out = {
        "fixed_effects": fit.fixed_effects, "variance_components": fit.variance_components,
        "icc": fit.icc(), "r2": fit.r2(), "ranef": fit.ranef(), "attempts": fit.attempts,
        "health": fit.health.to_frame(),
        "check_data": mk.check_data("Weight ~ Time + (1 | Pig)", d).to_frame(),
        "check_assumptions": fit.check_assumptions(), "anova": fit.anova(),
        "marginal_means": fit.marginal_means("Evit"), "contrasts": fit.contrasts("Evit"),
        "confint": fit.confint("wald"),
        "predict_interval": fit.predict(d.head(3), include_random=False, interval="confidence"),
        "compare_models": mk.compare_models(small, fit).table,
        "reml_vs_ml": mk.reml_vs_ml(small).table,
        "means_data means": mk.means_data(fit, "Evit")["means"],
        "effects_data line": mk.effects_data(fit, "Time")["line"],
    }
    out.update({f"diagnostics {k}": v for k, v in diag.items()})
    return out


def _expand(columns: list[str]) -> list[str]:
    return [c for col in columns for c in (["Evit"] if col == "<factors>" else
                                            [] if col == "<by>" else [col])]


def test_every_documented_table_has_its_columns(tables):
    doc = documented()
    assert set(doc) == set(tables), "docs/tables.md and the test list different tables"
    for name, columns in doc.items():
        assert list(tables[name].columns) == _expand(columns), name


def test_statistic_columns_hold_numbers(tables):
    for name, table in tables.items():
        if "statistic" in table:
            assert table["statistic"].dtype.kind == "f", name
