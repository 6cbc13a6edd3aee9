"""Every teaching notebook runs top to bottom in a fresh kernel, and is stored clean.

The notebooks are built from percent-format sources (``notebooks/src/*.py``) by
``notebooks/make_notebooks.py``; the tests run the notebook built from each source and check
that the stored .ipynb files are exactly what the sources give.

The kernel is the ``python3`` kernel of the Python running the tests (where mixedkit is
installed). If no ``python3`` kernel spec is found, or the one found belongs to another
interpreter (a stale user-level spec, say), the kernel is started from ``sys.executable``
directly; nothing is installed or registered.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb"))


def _load_builder():
    spec = importlib.util.spec_from_file_location("make_notebooks",
                                                  NOTEBOOK_DIR / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()

CELL_TIMEOUT = 300  # seconds per cell
KERNEL_NAME = "python3"


def _same_interpreter(executable: str) -> bool:
    # jupyter_client replaces a bare "python"/"python3" with sys.executable
    if executable in {"python", f"python{sys.version_info[0]}",
                      f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return True
    # compare paths without resolving symlinks: a venv's python links to its base python
    return os.path.normcase(os.path.abspath(executable)) == os.path.normcase(
        os.path.abspath(sys.executable))


def _kernel_manager():
    """None when the registered python3 kernel runs this interpreter (nbclient then starts
    it by name); otherwise a KernelManager that launches ipykernel from sys.executable."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager, NoSuchKernel
    from jupyter_client.manager import KernelManager

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if spec.argv and _same_interpreter(spec.argv[0]):
            return None
    except NoSuchKernel:
        pass

    class ThisInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python 3 ({sys.executable})", language="python")

    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ThisInterpreter())


def test_notebooks_exist():
    assert len(NOTEBOOKS) >= 5, f"expected the teaching notebooks in {NOTEBOOK_DIR}"
    assert builder.NOTEBOOKS == NOTEBOOKS, "every notebook needs its notebooks/src/*.py source"


@pytest.mark.slow
@pytest.mark.parametrize("name", builder.NOTEBOOKS)
def test_notebook_runs(name):
    """The notebook built from src/ runs (it is the stored one: see the tests below)."""
    nb = nbformat.reads(builder.render(name), as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL_NAME, km=_kernel_manager(),
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"{name} failed:\n{err}", pytrace=False)


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
    """The stored notebook's cells, in order, are those of its src/*.py file."""
    source = NOTEBOOK_DIR / "src" / name.replace(".ipynb", ".py")
    assert source.exists(), f"{name} has no source {source}"
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    stored = [({"markdown": "md"}.get(cell.cell_type, cell.cell_type), cell.source)
              for cell in nb.cells]
    expected = builder.read_cells(source)
    assert len(stored) == len(expected), (
        f"{name}: {len(stored)} cells, {source.name}: {len(expected)}; "
        "run: python notebooks/make_notebooks.py")
    for i, (got, want) in enumerate(zip(stored, expected)):
        assert got == want, f"{name}: cell {i} differs from {source.name}; " \
                            "run: python notebooks/make_notebooks.py"


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
