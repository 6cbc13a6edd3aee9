"""Every command-line example a newcomer is shown runs as written.

The examples of ``mixedkit --help`` and of each command's ``--help``, the README's
command-line block and the command-line guide's are run in a fresh directory (files they
write land there), each in a new process, and must succeed. They name bundled data sets
(``sleepstudy``, ``ergostool``, ``dietox``), so they need no file of the reader's.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["fit", "check", "compare", "anova", "means", "power", "demo"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mixedkit", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False)


def _help_examples() -> list[str]:
    lines = []
    for command in [None, *COMMANDS]:
        out = _run(["--help"] if command is None else [command, "--help"], ROOT)
        assert out.returncode == 0, out.stderr
        lines += [line.strip() for line in out.stdout.splitlines()
                  if line.strip().startswith("mixedkit ")]
    return lines


def _block_commands(path: Path, heading: str | None = None) -> list[str]:
    """The ``mixedkit ...`` lines of the first bash block (after ``heading``), with
    continuation lines joined and trailing comments removed."""
    text = path.read_text(encoding="utf-8")
    if heading is not None:
        text = text[text.index(heading):]
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL).group(1)
    block = block.replace("\\\n", " ")
    out = []
    for line in block.splitlines():
        line = line.split(" # ", 1)[0].strip()
        if line.startswith("mixedkit "):
            out.append(line)
    return out


EXAMPLES = sorted(set(_help_examples() + _block_commands(ROOT / "README.md", "## Command line")
                      + _block_commands(ROOT / "docs" / "guide" / "cli.md")))


def test_the_examples_were_found():
    assert len(EXAMPLES) >= 10
    assert any(e.startswith("mixedkit anova ergostool") for e in EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES)
def test_a_command_line_example_runs_as_written(example, tmp_path):
    out = _run(shlex.split(example)[1:], tmp_path)
    assert out.returncode == 0, f"{example}\n{out.stderr[-2000:]}"
    assert out.stdout.strip()


def _readme_python() -> str:
    """The README's Python blocks in order, as one script (the dask block needs a cluster)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"),
                        re.DOTALL)
    return "\n".join(b for b in blocks if "scheduler-address" not in b)


def test_the_readme_python_blocks_were_found():
    script = _readme_python()
    assert script.count("mk.fit_lmm(") >= 5 and "mk.fit_many(" in script


@pytest.mark.slow
def test_the_readme_python_examples_run_as_written(tmp_path):
    """One fresh process runs every Python block of the README, top to bottom, as a reader
    pasting them into a session would (each block may use names of the blocks above)."""
    out = subprocess.run([sys.executable, "-c", _readme_python()], cwd=tmp_path,
                         capture_output=True, text=True, timeout=900, check=False,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    assert out.returncode == 0, out.stderr[-3000:]
