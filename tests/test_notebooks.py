"""Every teaching notebook runs top to bottom in a fresh kernel, is stored clean, and says
in its prose what its code gives.

The notebooks are built from percent-format sources (``notebooks/src/*.py``) by
``notebooks/make_notebooks.py``; the tests run the notebook built from each source, check
that the stored .ipynb files are exactly what the sources give, and that every number the
prose takes from the code (a ``{{expression:spec}}`` slot in the source) is, in the stored
notebook, what the code gives now.

The kernel is the ``python3`` kernel of the Python running the tests (where mixedkit is
installed). If no ``python3`` kernel spec is found, or the one found belongs to another
interpreter (a stale user-level spec, say), the kernel is started from ``sys.executable``
directly; nothing is installed or registered (``make_notebooks.kernel_manager``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "python3"


def _load_builder():
    spec = importlib.util.spec_from_file_location("make_notebooks",
                                                  NOTEBOOK_DIR / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 5, f"expected the teaching notebooks in {NOTEBOOK_DIR}"
    assert builder.NOTEBOOKS == NOTEBOOKS, "every notebook needs its notebooks/src/*.py source"


@pytest.mark.slow
@pytest.mark.parametrize("name", builder.NOTEBOOKS)
def test_notebook_runs_and_its_prose_is_what_the_code_gives(name):
    """The notebook built from src/ runs in a fresh kernel, and every number its prose
    takes from the code is, in the stored notebook, the value the code gives now: a stale
    sentence fails here, named."""
    try:
        ran = builder.execute(name)
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{name} failed:\n{err}", pytrace=False)
    stored = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert not builder.stale_prose(name, stored), "run: python notebooks/make_notebooks.py"
    stale = []
    cells = builder.read_cells(builder.sources()[name])
    for i, ((kind, template), now, then) in enumerate(zip(cells, ran.cells, stored.cells)):
        if kind == "md" and now.source != then.source:
            said = builder.stored_values(then.source, template)
            gives = builder.stored_values(now.source, template)
            for slot, old, new in zip(builder.SLOT.finditer(template), said, gives):
                if old != new:
                    stale.append(f"cell {i}: {{{{{slot['expr']}}}}} says {old!r} where the code "
                                 f"gives {new!r}: ...{_around(then.source, old)}...")
    assert not stale, (f"{name}: stale prose (run: python notebooks/make_notebooks.py "
                       f"{name[:2]}):\n" + "\n".join(stale))


def _around(text: str, value: str) -> str:
    at = text.find(value)
    return " ".join(text[max(at - 60, 0):at + len(value) + 20].split())


# Numbers the prose may type in: conventions and design choices, not results.
CONSTANT_NUMBERS = {"0.05", "95%", "95 %", "5%", "5 %", "80%", "80 %", "90%", "90 %", "0.5",
                    "1.96", "0.01", "0.001", "50%", "50 %"}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_decimal_numbers_in_prose_come_from_the_code(name):
    """A decimal or a percentage in a notebook's prose is a slot filled from the code, a
    convention (0.05, 95 %, ...), or inside code or maths: a typed-in result goes stale
    when the library or the data change, unnoticed."""
    source = builder.sources()[name]
    typed = []
    for i, (kind, text) in enumerate(builder.read_cells(source)):
        if kind != "md":
            continue
        prose = re.sub(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)", " ",
                       builder.SLOT.sub(" ", text), flags=re.DOTALL)
        typed += [f"cell {i}: {number}" for number in
                  re.findall(r"(?<![\w.])\d+\.\d+(?: ?%)?|(?<![\w.])\d+ ?%", prose)
                  if number not in CONSTANT_NUMBERS]
    assert not typed, (f"{source.name}: numbers typed into the prose; write each as a "
                       "{{expression:spec}} slot (notebooks/README.md):\n" + "\n".join(typed))


def test_slots_are_filled_and_read_back():
    template = "Pigs gain {{gain:.1f}} kg a week; {{n:words}} flags, {{n:Words}} in all."
    filled = builder.fill(template, ["5.8", "3", "3"])
    assert filled == "Pigs gain 5.8 kg a week; three flags, Three in all."
    assert builder.stored_values(filled, template) == ["5.8", "three", "Three"]
    assert not builder.matches("Pigs gain about 5.8 kg a week; three flags, Three in all.",
                               template)
    assert [m["expr"] for m in builder.SLOT.finditer(
        'SD {{fit.variance_components.loc[0, "std_dev"]:.2f}}, {{ x }}, {{d[1:3]}}')] == \
        ['fit.variance_components.loc[0, "std_dev"]', "x", "d[1:3]"]


@pytest.mark.slow  # starts a kernel, as the notebook runs do
def test_a_stale_sentence_is_caught(tmp_path, monkeypatch):
    """A stored number that is no longer what the code gives fails the check, named."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "99_tiny.py").write_text(
        "# %%\nflags = ['a', 'b', 'c']\n\n# %% [markdown]\n"
        "# {{len(flags):Words}} checks raise a flag; the first is {{flags[0]}}.\n",
        encoding="utf-8")
    monkeypatch.setattr(builder, "SRC", src)
    monkeypatch.setattr(builder, "HERE", tmp_path)
    ran = builder.execute("99_tiny.ipynb")
    assert ran.cells[1].source == "Three checks raise a flag; the first is a."
    assert ran.cells[0].outputs == []
    stored = nbformat.reads(builder.render("99_tiny.ipynb", ran), as_version=4)
    assert not builder.stale_prose("99_tiny.ipynb", stored)
    stored.cells[1].source = "Two checks raise a flag; the first is a."
    template = builder.read_cells(src / "99_tiny.py")[1][1]
    assert builder.stored_values(stored.cells[1].source, template) == ["Two", "a"]
    stored.cells[1].source = "Two assumption checks raise a flag; the first is a."
    assert builder.stale_prose("99_tiny.ipynb", stored) == ["cell 1"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.get("kernelspec", {}).get("name") == KERNEL_NAME
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{name}: code cells {dirty} have outputs or an execution count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_cells_match_source(name):
    """The stored notebook's cells, in order, are those of its src/*.py file (markdown
    with its slots filled in)."""
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    assert not builder.stale_prose(name, nb), (
        f"{name} differs from its source; run: python notebooks/make_notebooks.py {name[:2]}")


def test_notebooks_match_generator():
    """The stored notebooks are byte for byte what notebooks/make_notebooks.py builds."""
    assert builder.main(["--check"]) == 0, "run: python notebooks/make_notebooks.py"


def test_percent_format_parser(tmp_path):
    source = tmp_path / "nb.py"
    source.write_text(
        "# ruff: noqa: B018\n# a note, no cell\n\n"
        "# %% [markdown]\n# # Title\n#\n# text with `# %%` inside\n\n"
        "# %%\n# %matplotlib inline\n# a comment\nx = 1\n\nx\n\n"
        "# %%\n# !echo hi\n", encoding="utf-8")
    assert builder.read_cells(source) == [
        ("md", "# Title\n\ntext with `# %%` inside"),
        ("code", "%matplotlib inline\n# a comment\nx = 1\n\nx"),
        ("code", "!echo hi"),
    ]
    for bad in ("x = 1\n# %%\n", "# %% [markdown]\nnot a comment\n", "# %% [raw]\n", "#\n"):
        source.write_text(bad, encoding="utf-8")
        with pytest.raises(ValueError):
            builder.read_cells(source)
