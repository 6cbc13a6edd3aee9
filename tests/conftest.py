"""Shared fixtures: lme4 reference data and fits (see tests/reference/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

REF = Path(__file__).parent / "reference"

# spec -> data file; formulas are taken from the JSON (lme4 syntax, which mixedkit reads).
SPEC_DATA = {
    "sleepstudy_corr": "sleepstudy", "sleepstudy_int": "sleepstudy",
    "sleepstudy_uncorr": "sleepstudy", "sleepstudy_null": "sleepstudy",
    "dyestuff": "Dyestuff", "dyestuff2": "Dyestuff2", "dietox_int": "dietox",
    "dietox_slope": "dietox", "dietox_evit_cu": "dietox", "penicillin": "Penicillin",
    "pastes": "Pastes",
}


def load_reference_data(name: str) -> pd.DataFrame:
    """A reference CSV with R's factors as pandas Categoricals in R's level order."""
    levels = json.loads((REF / "data" / "levels.json").read_text())
    kw = {"index_col": 0} if name == "dietox" else {}
    data = pd.read_csv(REF / "data" / f"{name}.csv", **kw)
    for col, info in levels.get(name, {}).items():
        data[col] = pd.Categorical(data[col].astype(str), categories=info["levels"])
    return data


def load_reference_fit(spec: str) -> dict:
    return json.loads((REF / "fits" / f"{spec}.json").read_text())


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    return load_reference_data("sleepstudy")


@pytest.fixture(scope="session")
def dietox() -> pd.DataFrame:
    return load_reference_data("dietox")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the slow simulation studies and notebook runs (CI does)")


def pytest_collection_modifyitems(config, items):
    """Slow tests are deselected unless --run-slow (or an explicit -m) asks for them."""
    if config.getoption("--run-slow") or config.getoption("-m"):
        return
    keep = [item for item in items if "slow" not in item.keywords]
    if len(keep) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if "slow" in i.keywords])
        items[:] = keep


@pytest.fixture(scope="session")
def dask_client():
    """A dask.distributed LocalCluster of two worker processes (one thread each)."""
    distributed = pytest.importorskip("distributed")
    import logging

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
