"""Every public name has a docstring whose numpydoc sections parse, and is in the API pages.

The public surface is listed once, in ``docs/_public.py``: ``mixedkit.__all__``, the public
methods and properties of ``LmmFit`` and of the result classes (``ManyFits``,
``ModelComparison``, ``RemlMlComparison``, ``Report``, ``Finding``) and the command line's
entry point ``mixedkit.cli.main``. The documentation build (``docs/conf.py``, with ``-W``)
fails on the same problems; these tests find them in seconds, without Sphinx.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import re
import warnings
from functools import cached_property
from pathlib import Path

import pytest

docscrape = pytest.importorskip("numpydoc.docscrape")  # the test extra installs numpydoc

import mixedkit

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load_public():
    spec = importlib.util.spec_from_file_location("mixedkit_docs_public", DOCS / "_public.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


public = _load_public()
OBJECTS = public.public_objects()


def own_docstring(obj) -> str:
    """The object's own docstring ("" when it has none: not inherited, not generated)."""
    doc = obj.__doc__ if not isinstance(obj, (property, cached_property)) else (
        obj.fget.__doc__ if isinstance(obj, property) else obj.func.__doc__)
    doc = doc or ""
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) \
            and doc.startswith(f"{obj.__name__}("):
        return ""  # the signature dataclasses writes when a class has no docstring
    return doc.strip()


def missing_docstrings(objects: dict) -> list[str]:
    return [name for name, obj in objects.items() if not own_docstring(obj)]


def parsed(name: str):
    """The numpydoc sections of a public object's docstring; any warning is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return docscrape.NumpyDocString(inspect.cleandoc(own_docstring(OBJECTS[name])))
        except Exception as err:  # noqa: BLE001 - reported with the object's name
            pytest.fail(f"{name}: its docstring does not parse as numpydoc: {err}")


def callables() -> list[str]:
    return [name for name, obj in OBJECTS.items()
            if inspect.isfunction(obj) or inspect.isfunction(getattr(obj, "__wrapped__", None))]


def documented_parameters(doc) -> list[str]:
    names = []
    for param in doc["Parameters"]:
        names += [n.strip().lstrip("*") for n in param.name.split(",") if n.strip()]
    return names


def test_public_surface_is_listed():
    assert {f"mixedkit.{n}" for n in mixedkit.__all__ if n != "__version__"} <= set(OBJECTS)
    for cls in ("mixedkit.LmmFit", "mixedkit.scale.many.ManyFits"):
        assert any(name.startswith(cls + ".") for name in OBJECTS), cls
    for name in ("mixedkit.LmmFit.fixed_effects", "mixedkit.LmmFit.anova",
                 "mixedkit.scale.many.ManyFits.fit", "mixedkit.cli.main"):
        assert name in OBJECTS


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_public_name_has_a_docstring(name):
    assert own_docstring(OBJECTS[name]), f"{name} has no docstring"


def test_missing_docstring_is_found():
    """The check above catches a function, a property and a dataclass without docstrings."""

    def undocumented():
        pass

    @dataclasses.dataclass
    class Plain:
        x: int = 0

    class WithProperty:
        @property
        def value(self):
            return 1

    objects = {"f": undocumented, "p": vars(WithProperty)["value"], "c": Plain,
               "ok": mixedkit.fit_lmm}
    assert missing_docstrings(objects) == ["f", "p", "c"]


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_numpydoc_sections_parse(name):
    parsed(name)


@pytest.mark.parametrize("name", callables())
def test_documented_parameters_are_the_signature(name):
    """Every name in Parameters is a parameter; a Parameters section lists all of them
    (a ``**kwargs`` catch-all may be left out)."""
    doc = parsed(name)
    signature = inspect.signature(OBJECTS[name])
    params = [p for p in signature.parameters.values() if p.name != "self"]
    documented = documented_parameters(doc)
    unknown = [n for n in documented if n not in signature.parameters]
    assert not unknown, f"{name}: Parameters lists {unknown}, which it does not take"
    if doc["Parameters"]:
        missing = [p.name for p in params if p.name not in documented
                   and p.kind is not inspect.Parameter.VAR_KEYWORD]  # fit_lmm's **unknown
        assert not missing, f"{name}: parameters {missing} are not in its Parameters section"


@pytest.mark.parametrize("name", [n for n in callables() if n.count(".") == 1])
def test_functions_returning_a_value_say_what(name):
    """A public function that returns something has a Returns section."""
    source = inspect.getsource(OBJECTS[name])
    returns_value = re.search(r"^\s+return \S", source, re.MULTILINE) is not None
    if returns_value:
        assert parsed(name)["Returns"], f"{name} returns a value but has no Returns section"


def test_api_pages_list_every_public_name():
    """docs/api/index.rst names every public function and class (the build checks members)."""
    text = (DOCS / "api" / "index.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s{3}([\w.]+)\s*$", text, re.MULTILINE))
    expected = {n for n in mixedkit.__all__ if n != "__version__"}
    expected |= {name.removeprefix("mixedkit.") for name in public.RESULT_CLASSES}
    expected.add("cli.main")
    assert not expected - listed, f"not in docs/api/index.rst: {sorted(expected - listed)}"
    assert ".. py:data:: __version__" in text
