"""Old import paths of modules that moved into wings, kept for one release.

``import mixedkit.many`` and ``from mixedkit import many`` still give the module (now
``mixedkit.scale.many``) with a :class:`DeprecationWarning` naming the new path. To be
removed in the release after 0.1 (see CHANGELOG).
"""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from importlib.abc import Loader, MetaPathFinder
from importlib.util import spec_from_loader

__all__ = ["MOVED", "install", "moved_module"]

# old name under mixedkit -> new dotted path under mixedkit
MOVED = {
    "formula": "model.formula", "safe_formula": "model.safe_formula",
    "validation": "model.validation", "design": "model.design", "engine": "model.engine",
    "estimation": "model.estimation", "state": "model.state", "extend": "model.extend",
    "kenward_roger": "inference.kenward_roger", "hypotheses": "inference.hypotheses",
    "anova": "inference.anova", "means": "inference.means", "intervals": "inference.intervals",
    "predictions": "inference.predictions", "variance": "inference.variance",
    "bootstrap": "inference.bootstrap", "diagnostics": "inference.diagnostics",
    "plotting": "plots.diagnostics", "effect_plots": "plots.effects",
    "power_plot": "plots.power", "power": "scale.power", "many": "scale.many",
    "simulate": "datasets.simulate",
}
_PACKAGE = __name__.rpartition(".")[0]


def _caller_stacklevel() -> int:
    """The stack level of the first frame outside mixedkit and the import machinery (whose
    frames ``warnings`` skips itself, so they are not counted)."""
    frame, level = sys._getframe(2), 2  # 1 is moved_module
    while frame is not None:
        filename = frame.f_code.co_filename
        if "importlib" in filename and "_bootstrap" in filename:
            frame = frame.f_back
            continue
        if not frame.f_globals.get("__name__", "").startswith(_PACKAGE):
            return level
        frame, level = frame.f_back, level + 1
    return 1


def moved_module(old: str):
    """The module now at ``MOVED[old]``, with a DeprecationWarning naming its new path."""
    new = f"{_PACKAGE}.{MOVED[old]}"
    warnings.warn(f"{_PACKAGE}.{old} moved to {new}; import it from there (or use the public "
                  f"names of 'import {_PACKAGE} as mk'). The old path goes in the next release.",
                  DeprecationWarning, stacklevel=_caller_stacklevel())
    return import_module(new)


class _MovedLoader(Loader):
    def __init__(self, old: str):
        self.old = old

    def create_module(self, spec):
        return moved_module(self.old)

    def exec_module(self, module):
        return None


class _MovedFinder(MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        package, _, old = fullname.rpartition(".")
        if package != _PACKAGE or old not in MOVED:
            return None
        return spec_from_loader(fullname, _MovedLoader(old))


def install() -> None:
    """Answer the old paths (once per process)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
