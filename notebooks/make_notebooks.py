"""Build the teaching notebooks in this folder from their sources in ``src/``.

Run from anywhere::

    python notebooks/make_notebooks.py             # (re)write every notebook
    python notebooks/make_notebooks.py 04 06       # only notebooks 04 and 06
    python notebooks/make_notebooks.py --check     # exit 1 if a stored notebook differs

Each notebook ``NN_name.ipynb`` is built from ``src/NN_name.py``, a Python file in
jupytext's *percent* format (lintable with ruff, readable in a diff):

* ``# %%`` starts a code cell; ``# %% [markdown]`` starts a markdown cell, whose lines
  are prefixed with ``# `` (an empty line is a bare ``#``);
* in a code cell, a line ``# %magic`` or ``# !command`` is the IPython magic or shell
  line without the ``# `` (commented out so that the file stays Python);
* comment lines before the first cell (a ``# ruff: noqa`` line, a note) are no cell;
* blank lines at the start and end of a cell are dropped.

**Prose from code.** A number in a markdown cell that comes from the analysis is written
as a slot, ``{{expression}}`` or ``{{expression:spec}}``: the expression is evaluated in
the notebook's kernel after the code cells above it have run, and formatted with
``format(value, spec)`` (``{{est:.1f}}``, ``{{share:.0%}}``). Two more specs spell a count
as a word: ``{{n:words}}`` gives "three", ``{{n:Words}}`` "Three". The builder executes a
notebook that has slots and stores its markdown with the values filled in, so the
notebook reads as plain prose. ``tests/test_notebooks.py`` executes every notebook again
and fails, naming the sentence, when a stored value is no longer what the code gives: a
sentence cannot go stale.

Edit the sources, not the .ipynb files. The notebooks are stored without outputs (the
tests run them); cell ids are derived from the file name, so rebuilding an unchanged
source gives an identical file. Needs nbformat, and nbclient with ipykernel to fill slots
(the ``test`` extra).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"

CELL_MARKER = re.compile(r"^# %%(?: \[(?P<kind>\w+)\])?\s*$")
COMMENTED_MAGIC = re.compile(r"^# (?=%{1,2}[A-Za-z]|!)")
# {{expression}} or {{expression:spec}}; a spec is what format() takes, or words/Words
SLOT = re.compile(r"\{\{\s*(?P<expr>[^\n]+?)\s*"
                  r"(?::(?P<spec>[<>=^]?[+\- ]?#?0?\d*[,_]?(?:\.\d+)?[bcdeEfFgGnosxX%]?|words|Words))?"
                  r"\s*\}\}")
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve")
CELL_TIMEOUT = 600  # seconds per cell


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


NOTEBOOKS = sorted(sources())


# ------------------------------------------------------------------ prose from code
def has_slots(cells) -> bool:
    return any(kind == "md" and SLOT.search(text) for kind, text in cells)


def _kernel_code(slots: list[re.Match], cell: int) -> str:
    """Code that prints, as JSON, each slot's value formatted by its spec."""
    parts = []
    for slot in slots:
        spec = slot["spec"] or ""
        spec = "d" if spec in ("words", "Words") else spec
        parts.append(f"format({slot['expr']}, {spec!r})")
    return (f"# the values of the slots in markdown cell {cell}\n"
            f"print('\\x00slots', __import__('json').dumps([{', '.join(parts)}]))")


def _spell(text: str, spec: str | None) -> str:
    if spec not in ("words", "Words"):
        return text
    n = int(text)
    word = WORDS[n] if 0 <= n < len(WORDS) else text
    return word.capitalize() if spec == "Words" else word


def fill(template: str, values: list[str]) -> str:
    """``template`` with its slots replaced, in order, by ``values``."""
    it = iter(values)

    def one(slot: re.Match) -> str:
        value = _spell(next(it), slot["spec"])
        if not value or any(c.isspace() for c in value):
            raise ValueError(f"the slot {{{{{slot['expr']}}}}} gave {value!r}: a slot's value "
                             "must be one word or number, without spaces")
        return value

    return SLOT.sub(one, template)


def matches(stored: str, template: str) -> bool:
    """Whether ``stored`` is ``template`` with a word or number in each slot."""
    return stored_values(stored, template) is not None


def stored_values(stored: str, template: str) -> list[str] | None:
    """The text in each slot of ``template`` as ``stored`` fills it; None if the literal
    text differs."""
    pattern = "".join(re.escape(part) if i % 2 == 0 else r"(\S+)"
                      for i, part in enumerate(_split(template)))
    found = re.fullmatch(pattern, stored)
    return None if found is None else list(found.groups())


def _split(template: str) -> list[str]:
    """Literal text and slots alternately (slots at odd positions, as empty strings)."""
    out, last = [], 0
    for m in SLOT.finditer(template):
        out += [template[last:m.start()], ""]
        last = m.end()
    return out + [template[last:]]


def _same_interpreter(executable: str) -> bool:
    # jupyter_client replaces a bare "python"/"python3" with sys.executable
    if executable in {"python", f"python{sys.version_info[0]}",
                      f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return True
    # compare paths without resolving symlinks: a venv's python links to its base python
    return os.path.normcase(os.path.abspath(executable)) == os.path.normcase(
        os.path.abspath(sys.executable))


def kernel_manager():
    """None when the registered python3 kernel runs this interpreter (nbclient then starts
    it by name); otherwise a KernelManager that launches ipykernel from sys.executable, so
    that a stale user-level kernel spec never runs the notebooks. Nothing is registered."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import KernelManager

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
        if spec.argv and _same_interpreter(spec.argv[0]):
            return None
    except NoSuchKernel:
        pass

    class ThisInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python 3 ({sys.executable})", language="python")

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())


def execute(name: str) -> nbformat.NotebookNode:
    """Run notebook ``name`` as built from its source in a fresh kernel; return it with its
    outputs and its markdown slots filled in with the values the code gave.

    Raises nbclient's CellExecutionError when a cell (or a slot's expression) fails.
    """
    import nbclient

    cells = read_cells(sources()[name])
    runnable, where = [], {}  # where: markdown cell index -> index of its slot cell
    for i, (kind, text) in enumerate(cells):
        slots = list(SLOT.finditer(text)) if kind == "md" else []
        if slots:
            where[i] = len(runnable)
            runnable.append(("code", _kernel_code(slots, i)))
        runnable.append((kind, text))
    nb = build(name, runnable)
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            km=kernel_manager(),
                            resources={"metadata": {"path": str(HERE)}}).execute()
    out = build(name, [(kind, fill(text, _slot_values(nb.cells[where[i]])) if i in where
                        else text) for i, (kind, text) in enumerate(cells)])
    code = iter(c for c in nb.cells if c.cell_type == "code" and not
                c.source.startswith("# the values of the slots"))
    for cell in out.cells:
        if cell.cell_type == "code":
            ran = next(code)
            cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
    return out


def _slot_values(cell) -> list[str]:
    # the kernel may split one print into several stream outputs: join them first
    text = "".join(o.text for o in cell.outputs if o.get("name") == "stdout")
    if "\x00slots" not in text:
        raise RuntimeError(f"no slot values in the output of: {cell.source}")
    return json.loads(text.split("\x00slots", 1)[1])


def render(name: str, filled: nbformat.NotebookNode | None = None) -> str:
    """The text of notebook ``name`` as stored: built from its source, its markdown taken
    from ``filled`` (an executed notebook) when given."""
    cells = read_cells(sources()[name])
    if filled is not None:
        cells = [(kind, got.source if kind == "md" else text)
                 for (kind, text), got in zip(cells, filled.cells)]
    return nbformat.writes(build(name, cells)) + "\n"


def stale_prose(name: str, stored: nbformat.NotebookNode) -> list[str]:
    """The markdown cells of ``stored`` that do not fit their source's template
    (literal text changed, or a cell added or removed); no execution."""
    cells = read_cells(sources()[name])
    if len(cells) != len(stored.cells):
        return [f"{len(stored.cells)} cells stored, {len(cells)} in the source"]
    return [f"cell {i}" for i, ((kind, text), cell) in enumerate(zip(cells, stored.cells))
            if (kind == "md") != (cell.cell_type == "markdown")
            or (kind == "md" and not matches(cell.source, text))
            or (kind == "code" and cell.source != text)]


def _expected(name: str, path: Path) -> str | None:
    """What notebook ``name`` should be without executing it: None when its slots' values
    are unknown (no stored file, or its literal text changed)."""
    cells = read_cells(sources()[name])
    if not has_slots(cells):
        return render(name)
    if not path.exists():
        return None
    stored = nbformat.read(path, as_version=4)
    if stale_prose(name, stored):
        return None
    return render(name, stored)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    wanted = [a for a in argv if not a.startswith("--")]
    names = [n for n in NOTEBOOKS if not wanted or any(n.startswith(w) for w in wanted)]
    stale = []
    for name in names:
        path = HERE / name
        if check:
            expected = _expected(name, path)
            if expected is None or path.read_text(encoding="utf-8") != expected:
                stale.append(name)
            continue
        if has_slots(read_cells(sources()[name])):
            print(f"running {name} to fill its prose ...", flush=True)
            text = render(name, execute(name))
        else:
            text = render(name)
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
