"""Sphinx configuration of mixedkit's documentation site.

Build it from the repository root (needs the ``docs`` extra)::

    pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API pages are generated from the docstrings (numpydoc style, autosummary stubs in
``docs/api/generated/``); the teaching notebooks in ``notebooks/`` are copied into
``docs/notebooks/`` at every build and executed by myst-nb (a failing cell fails the
build); the command-line help in ``docs/guide/cli.md`` is printed by the parser itself
(``docs/guide/_generated/``). These three are build products (in .gitignore). With ``-W``
a broken cross-reference (``nitpicky``), a public name missing from the API pages or
without a docstring, and a notebook cell that raises are errors.

Cross-references in docstrings resolve as Python reads the names: a bare name in the
module that defines the documented object (:func:`_qualify_names`), and a public object
named by its defining module (``mixedkit.scale.many.fit_many``) on its public page
(:func:`_public_location`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))  # docs/_public.py

from _public import class_members, undocumented

import mixedkit

# --------------------------------------------------------------------------- project
project = "mixedkit"
author = "mixedkit developers"
copyright = "mixedkit developers, BSD-3-Clause"
release = mixedkit.__version__
version = release

# ------------------------------------------------------------------------- extensions
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",  # MyST markdown pages and executed notebooks (includes myst_parser)
    "sphinx_copybutton",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "jupyter_execute", "guide/_generated"]

# Every cross-reference must resolve: a broken :func:/:class:/:meth:/:mod: is a warning
# (an error with -W). No intersphinx (CI has no network), so the few references to other
# projects' objects are listed here.
nitpicky = True
nitpick_ignore_regex = [
    ("py:mod", "ast"),
    (r"py:.*", r"(pandas|pd|numpy|np|matplotlib|scipy|statsmodels|patsy|concurrent)\..*"),
]

# autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = False
autosummary_context = {"class_members": class_members()}  # what each class page lists
autodoc_typehints = "none"  # the numpydoc Parameters/Returns sections carry the types
autodoc_default_options = {"member-order": "bysource"}
autodoc_preserve_defaults = True
numpydoc_show_class_members = False  # the class template lists members itself
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = True
numpydoc_xref_ignore = "all"  # link only the names below; others stay plain text
numpydoc_xref_aliases = {
    "LmmFit": "mixedkit.LmmFit",
    "ManyFits": "mixedkit.scale.many.ManyFits",
    "Report": "mixedkit.findings.Report",
    "Finding": "mixedkit.findings.Finding",
    "ModelComparison": "mixedkit.compare.ModelComparison",
    "RemlMlComparison": "mixedkit.compare.RemlMlComparison",
    "FitState": "mixedkit.model.state.FitState",
}
# numpydoc's own checks of every documented object: GL08 = no docstring
numpydoc_validation_checks = {"GL08"}

# MyST and notebooks
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = "force"  # every notebook runs at every build; a failing cell fails it
nb_execution_timeout = 600  # seconds per cell
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_render_markdown_format = "myst"  # Markdown outputs may hold tables

# ------------------------------------------------------------------------------ HTML
toc_object_entries_show_parents = "hide"  # "ranef()" in a page's contents, not "LmmFit.ranef()"
html_theme = "pydata_sphinx_theme"
html_title = f"mixedkit {release}"
html_static_path = ["_static"]
html_css_files = ["mixedkit.css"]
html_show_sourcelink = False
html_theme_options = {
    "logo": {"text": "mixedkit"},
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {page: [] for page in ("index", "getting_started", "tables", "changelog")}
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


# ------------------------------------------------------------------------ build steps
def _copy_notebooks() -> None:
    """notebooks/*.ipynb -> docs/notebooks/ (every notebook, by glob; stale copies removed)."""
    target = HERE / "notebooks"
    target.mkdir(exist_ok=True)
    sources = {p.name: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}
    for old in target.glob("*.ipynb"):
        if old.name not in sources:
            old.unlink()
    for name, source in sources.items():
        copy = target / name
        if not copy.exists() or copy.read_bytes() != source.read_bytes():
            shutil.copyfile(source, copy)


def _write_cli_help() -> None:
    """guide/_generated/cli_commands.md: the ``--help`` of ``mixedkit`` and of every
    command, printed by the parser itself (a new command appears without editing docs)."""
    from mixedkit import cli

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # argparse wraps at the terminal width
    try:
        parser = cli._parser()
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parts = ["## `mixedkit --help`\n", "```text", parser.format_help().rstrip(), "```\n"]
        for name, command in sub.choices.items():
            parts += [f"## `mixedkit {name}`\n", "```text", command.format_help().rstrip(),
                      "```\n"]
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    out = HERE / "guide" / "_generated"
    out.mkdir(exist_ok=True)
    path = out / "cli_commands.md"
    text = "\n".join(parts)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_copy_notebooks()
_write_cli_help()


_ROLE = re.compile(r"(:(?:py:)?(?:func|class|meth|attr|data|exc|obj):`)(~?)([A-Za-z_]\w*)(`)")


def _qualify_names(app, what, name, obj, options, lines):
    """Read a bare name in a docstring as Python reads it: in the module that defines the
    documented object. ``power_lmm`` is defined in ``mixedkit.scale.power`` but documented as
    ``mixedkit.power_lmm``; its :func:`clopper_pearson` is ``mixedkit.scale.power.clopper_pearson``.
    Public names (``mixedkit.__all__``) are left alone: :func:`_public_location` sends them
    to their public pages. A name the module does not have is left as written, and stays a
    broken reference (an error with -W)."""
    from importlib import import_module

    target = getattr(obj, "fget", None) or getattr(obj, "func", None) or obj
    module_name = obj.__name__ if what == "module" else getattr(target, "__module__", None)
    if not module_name or not module_name.startswith("mixedkit."):
        return
    module = import_module(module_name)

    def qualify(match):
        role, _tilde, bare, end = match.groups()
        if bare in mixedkit.__all__ or not hasattr(module, bare):
            return match.group(0)
        return f"{role}~{module_name}.{bare}{end}"

    lines[:] = [_ROLE.sub(qualify, line) for line in lines]


def _check_docstring(app, what, name, obj, options, lines):
    """Warn (an error with -W) when a public object of mixedkit has no docstring."""
    if name.startswith("mixedkit") and not any(line.strip() for line in lines) \
            and what in ("function", "class", "method", "property", "exception"):
        from sphinx.util import logging

        logging.getLogger("mixedkit.docs").warning(f"{name} has no docstring")


def _check_api_complete(app, env):
    """Warn when a public name is missing from the API reference."""
    from sphinx.util import logging

    documented = set(env.get_domain("py").objects)
    for name in undocumented(documented):
        logging.getLogger("mixedkit.docs").warning(
            f"public name {name} is not in the API reference (docs/api/)")


def _only_own_xref_aliases(app, config):
    """Link only mixedkit's names in numpydoc types: numpydoc's default aliases (str, int,
    bool, ...) point into Python's intersphinx inventory, which CI cannot download."""
    config.numpydoc_xref_aliases_complete = dict(config.numpydoc_xref_aliases)


def _public_location(app, env, node, contnode):
    """Resolve a reference to a public object by the name of the module defining it.

    ``fit_lmm`` is defined in ``mixedkit.fitting`` and documented as ``mixedkit.fit_lmm``.
    A docstring in ``mixedkit.scale.many`` that writes :func:`fit_many`, or one that writes
    :class:`~mixedkit.results.LmmFit`, means the public object; this resolves such a
    reference to its page when the name, looked up as Python would (in the referring
    module, or by its dotted path), is the very object ``mixedkit.<name>``. A member of a
    public class named the same way (:meth:`~mixedkit.results.LmmFit.marginal_means`)
    resolves to ``mixedkit.<class>.<member>``. Any other unresolved reference stays a
    warning (an error with -W).
    """
    from importlib import import_module

    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    module_name, _, name = target.rpartition(".")
    member = ""
    if module_name.startswith("mixedkit.") and name not in mixedkit.__all__:
        # mixedkit.<module>.<PublicClass>.<member>
        member = name
        module_name, _, name = module_name.rpartition(".")
    if not module_name:
        module_name = node.get("py:module") or ""
    if not module_name.startswith("mixedkit") or name not in mixedkit.__all__:
        return None
    try:
        obj = getattr(import_module(module_name), name)
    except (ImportError, AttributeError):
        return None
    if obj is not getattr(mixedkit, name) or module_name == "mixedkit":
        return None
    if member and not (isinstance(obj, type) and hasattr(obj, member)):
        return None
    node = node.deepcopy()
    node["reftarget"] = f"mixedkit.{name}" + (f".{member}" if member else "")
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                               node["reftarget"], node, contnode)


def setup(app):
    app.connect("missing-reference", _public_location)
    app.connect("config-inited", _only_own_xref_aliases, priority=900)
    app.connect("autodoc-process-docstring", _qualify_names)
    app.connect("autodoc-process-docstring", _check_docstring)
    app.connect("env-check-consistency", _check_api_complete)
    return {"parallel_read_safe": True}

