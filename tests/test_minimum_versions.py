"""The lower bounds of the runtime dependencies in pyproject.toml are tested ones.

Every runtime dependency has a lower bound, and in CI's lowest-versions run (.ci/run sets
MIXEDKIT_LOWEST_VERSIONS=1 there) the versions installed really are at those bounds: a
bound that no wheel for the running Python satisfies (say numpy>=1.21 on Python 3.11,
where numpy's first wheels are 1.23.2) would otherwise let the run test newer versions
than the bound promises.

Bounds set by a feature, not only by the first wheel: tqdm>=4.66.3 for the progress bar
(``delay=`` came in 4.58 and in notebooks in 4.60, ipywidgets 8 display in 4.64.1, no
Python 3.12 DeprecationWarning from the bar in 4.66.2, CVE-2024-34062 fixed in 4.66.3).
"""

from __future__ import annotations

import inspect
import os
from importlib import metadata
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
requirements = pytest.importorskip("packaging.requirements")
version = pytest.importorskip("packaging.version")

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _runtime_requirements():
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return [requirements.Requirement(dep) for dep in deps]


def _lower_bound(req):
    lows = [version.Version(s.version) for s in req.specifier if s.operator in (">=", "~=")]
    return max(lows) if lows else None


def test_every_runtime_dependency_has_a_lower_bound():
    reqs = _runtime_requirements()
    assert reqs
    missing = [str(r) for r in reqs if _lower_bound(r) is None]
    assert not missing, f"runtime dependencies without a lower bound (>=): {missing}"


@pytest.mark.skipif(os.environ.get("MIXEDKIT_LOWEST_VERSIONS") != "1",
                    reason="checks the lowest-versions environment of .ci/run")
def test_installed_versions_are_the_lower_bounds():
    wrong = []
    for req in _runtime_requirements():
        bound = _lower_bound(req)
        got = version.Version(metadata.version(req.name))
        # numpy>=1.23 is met by 1.23.x (the first release with wheels for this Python)
        if got < bound or got.release[:len(bound.release)] != bound.release:
            wrong.append(f"{req.name} {got} (bound {req.specifier})")
    assert not wrong, (
        f"the lowest-versions run did not get the lower bounds: {wrong}; raise the bound "
        "to the first release installable on this Python")


def test_the_progress_bar_has_what_mixedkit_uses():
    """run_tasks' bar: tqdm.auto with delay= (at the bound in the lowest-versions run)."""
    from tqdm.auto import tqdm
    from tqdm.std import tqdm as text_bar  # tqdm.auto's classes pass their arguments on

    assert issubclass(tqdm, text_bar)
    params = inspect.signature(text_bar.__init__).parameters
    assert {"delay", "disable", "miniters", "file", "unit", "desc", "total"} <= set(params)
    assert callable(getattr(tqdm, "set_postfix_str", None))
