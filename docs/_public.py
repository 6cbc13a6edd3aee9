"""mixedkit's public surface, as the documentation must cover it.

Used by ``docs/conf.py`` (the build warns, an error with ``-W``, when a name below is not
in the API reference) and by ``tests/test_docstrings.py`` (every name has a docstring and
its numpydoc sections parse). Names are the ones the API reference documents them under.
"""

from __future__ import annotations

import inspect
from functools import cached_property

import mixedkit

# classes that public functions return, documented under their modules
RESULT_CLASSES = {
    "mixedkit.scale.many.ManyFits": ("mixedkit.scale.many", "ManyFits"),
    "mixedkit.compare.ModelComparison": ("mixedkit.compare", "ModelComparison"),
    "mixedkit.compare.RemlMlComparison": ("mixedkit.compare", "RemlMlComparison"),
    "mixedkit.findings.Report": ("mixedkit.findings", "Report"),
    "mixedkit.findings.Finding": ("mixedkit.findings", "Finding"),
}
# classes whose public methods and properties are documented one by one
MEMBER_CLASSES = ("mixedkit.LmmFit", "mixedkit.RepeatedMeasuresFit", "mixedkit.FitReport",
                  *RESULT_CLASSES)


def _class_members(cls) -> dict[str, object]:
    """Public methods and properties defined on ``cls`` itself (not inherited)."""
    out = {}
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (property, cached_property)) or inspect.isfunction(value):
            out[name] = value
    return out


def class_members() -> dict[str, dict[str, list[str]]]:
    """For the class pages: documented class name -> its "properties" and "methods"."""
    from importlib import import_module

    out = {}
    for name in MEMBER_CLASSES:
        module, _, attr = name.rpartition(".")
        members = _class_members(getattr(import_module(module), attr))
        props = [m for m, v in members.items() if isinstance(v, (property, cached_property))]
        out[name] = {"properties": props,
                     "methods": [m for m in members if m not in props]}
    return out


def public_objects() -> dict[str, object]:
    """Documented name -> object, for every public name but ``mixedkit.__version__``.

    ``mixedkit.__all__``; the public methods and properties of ``LmmFit`` and of the
    result classes (``ManyFits``, ``ModelComparison``, ``RemlMlComparison``, ``Report``,
    ``Finding``); the ``mixedkit`` command's entry point ``mixedkit.cli.main``.
    """
    from importlib import import_module

    objects = {f"mixedkit.{name}": getattr(mixedkit, name)
               for name in mixedkit.__all__ if name != "__version__"}
    for name, (module, attr) in RESULT_CLASSES.items():
        objects[name] = getattr(import_module(module), attr)
    for name in MEMBER_CLASSES:
        for member, value in _class_members(objects[name]).items():
            objects[f"{name}.{member}"] = value
    objects["mixedkit.cli.main"] = import_module("mixedkit.cli").main
    return objects


def public_members() -> list[str]:
    """Every documented name, ``mixedkit.__version__`` included."""
    return sorted([*public_objects(), "mixedkit.__version__"])


def undocumented(documented: set[str]) -> list[str]:
    """The public names that are not in ``documented`` (Sphinx's Python objects)."""
    return [name for name in public_members() if name not in documented]
