"""Build the teaching notebooks in this folder from their sources in ``src/``.

Run from anywhere::

    python notebooks/make_notebooks.py          # (re)write every notebook
    python notebooks/make_notebooks.py --check  # exit 1 if a stored notebook differs

Each notebook ``NN_name.ipynb`` is built from ``src/NN_name.py``, a Python file in
jupytext's *percent* format (lintable with ruff, readable in a diff):

* ``# %%`` starts a code cell; ``# %% [markdown]`` starts a markdown cell, whose lines
  are prefixed with ``# `` (an empty line is a bare ``#``);
* in a code cell, a line ``# %magic`` or ``# !command`` is the IPython magic or shell
  line without the ``# `` (commented out so that the file stays Python);
* comment lines before the first cell (a ``# ruff: noqa`` line, a note) are no cell;
* blank lines at the start and end of a cell are dropped.

Edit the sources, not the .ipynb files. The notebooks are stored without outputs (the
tests run them); cell ids are derived from the file name, so rebuilding an unchanged
source gives an identical file. Needs only nbformat (the ``test`` extra).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"

CELL_MARKER = re.compile(r"^# %%(?: \[(?P<kind>\w+)\])?\s*$")
COMMENTED_MAGIC = re.compile(r"^# (?=%{1,2}[A-Za-z]|!)")


def read_cells(path: Path) -> list[tuple[str, str]]:
    """The cells of a percent-format source, as ("md" | "code", source) pairs."""
    lines = path.read_text(encoding="utf-8").split("\n")
    cells: list[tuple[str, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        marker = CELL_MARKER.match(line)
        if marker:
            kind = marker["kind"]
            if kind not in (None, "markdown", "md"):
                raise ValueError(f"{path}:{number}: unknown cell type [{kind}]")
            cells.append(("code" if kind is None else "md", []))
        elif not cells:
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"{path}:{number}: code before the first '# %%' cell marker")
        elif cells[-1][0] == "md":
            if line == "#" or not line.strip():
                cells[-1][1].append("")
            elif line.startswith("# "):
                cells[-1][1].append(line[2:])
            else:
                raise ValueError(f"{path}:{number}: markdown line not prefixed by '# '")
        else:
            cells[-1][1].append(COMMENTED_MAGIC.sub("", line))
    if not cells:
        raise ValueError(f"{path}: no '# %%' cell marker")
    return [(kind, "\n".join(body).strip("\n")) for kind, body in cells]


def build(name: str, cells) -> nbformat.NotebookNode:
    """The notebook ``name`` without outputs, with deterministic cell ids."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    stem = name.removesuffix(".ipynb").replace("_", "-")
    for i, (kind, text) in enumerate(cells):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"{stem}-{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def sources() -> dict[str, Path]:
    """Notebook name -> its source file, e.g. "01_quick_start.ipynb" -> src/01_quick_start.py."""
    return {path.with_suffix(".ipynb").name: path for path in sorted(SRC.glob("*.py"))}


def render(name: str) -> str:
    """The text of notebook ``name`` as built from its source."""
    return nbformat.writes(build(name, read_cells(sources()[name]))) + "\n"


NOTEBOOKS = sorted(sources())


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        text = render(name)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    orphans = sorted({p.name for p in HERE.glob("*.ipynb")} - set(NOTEBOOKS))
    if orphans:
        print("no source in notebooks/src/ for: " + ", ".join(orphans))
    if stale:
        print("out of date (run notebooks/make_notebooks.py): " + ", ".join(stale))
    return 1 if stale or orphans else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
