"""The Pythons mixedkit says it supports are the ones CI tests.

``requires-python`` gives the oldest, the classifiers list every minor version from it on,
and ``.ci/run`` runs the fast tests on the oldest and the newest of them (the README's test
command runs on the machine's default Python, between the two).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _classified() -> list[tuple[int, int]]:
    found = re.findall(r'"Programming Language :: Python :: (\d+)\.(\d+)"', PYPROJECT)
    return sorted((int(a), int(b)) for a, b in found)


def test_the_classifiers_run_from_requires_python_without_gaps():
    oldest = tuple(map(int, re.search(r'requires-python = ">=(\d+)\.(\d+)"', PYPROJECT).groups()))
    versions = _classified()
    assert versions[0] == oldest
    assert versions == [(3, minor) for minor in range(oldest[1], versions[-1][1] + 1)]


def test_ci_runs_the_oldest_and_the_newest_supported_python():
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    versions = _classified()
    wanted = [f"{a}.{b}" for a, b in (versions[0], versions[-1])]
    assert re.search(rf"for v in {' '.join(wanted)}; do", run), wanted


def test_this_python_is_supported():
    assert sys.version_info[:2] in _classified()
