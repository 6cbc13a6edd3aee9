"""mixedkit: linear mixed models that reach lme4's answer, on statsmodels MixedLM.

>>> import mixedkit as mk
>>> fit = mk.fit_lmm("Reaction ~ Days + (Days | Subject)", mk.load_dataset("sleepstudy"))

Submodules are imported on first use so that ``import mixedkit`` stays fast.
"""

from __future__ import annotations

from importlib import import_module

from . import _moved
from ._version import __version__
from .errors import (
    ColumnNotFoundError,
    DataError,
    DataWarning,
    DesignTooLargeError,
    FitError,
    FitWarning,
    FormulaError,
    InputTypeError,
    InputValueError,
    MixedkitError,
    MixedkitWarning,
    StatsmodelsLimitError,
    WorkerLostError,
    WorkerWarning,
)

__all__ = [
    "ColumnNotFoundError",
    "DataError",
    "DataWarning",
    "DesignTooLargeError",
    "FitError",
    "FitReport",
    "FitWarning",
    "FormulaError",
    "InputTypeError",
    "InputValueError",
    "LmmFit",
    "MixedkitError",
    "MixedkitWarning",
    "RepeatedMeasuresFit",
    "StatsmodelsLimitError",
    "WorkerLostError",
    "WorkerWarning",
    "__version__",
    "check_assumptions",
    "check_data",
    "check_formula",
    "compare_models",
    "diagnostics_data",
    "effects_data",
    "fit_lmm",
    "fit_many",
    "load_dataset",
    "means_data",
    "plot_diagnostics",
    "plot_effects",
    "plot_fitted",
    "plot_means",
    "plot_power",
    "plot_qq",
    "plot_ranef",
    "plot_ranef_qq",
    "plot_residuals",
    "plot_scale_location",
    "plot_shrinkage",
    "power_lmm",
    "reml_vs_ml",
    "simulate_lmm",
]

_LAZY = {
    "fit_lmm": ".fitting",
    "check_data": ".checks",
    "check_formula": ".model.safe_formula",
    "load_dataset": ".datasets",
    "LmmFit": ".results",
    "RepeatedMeasuresFit": ".repeated",
    "FitReport": ".report",
    "compare_models": ".compare",
    "reml_vs_ml": ".compare",
    "check_assumptions": ".inference.diagnostics",
    "simulate_lmm": ".datasets.simulate",
    "power_lmm": ".scale.power",
    "plot_power": ".plots.power",
    "fit_many": ".scale.many",
    "diagnostics_data": ".inference.diagnostics",
    **{name: ".plots.diagnostics" for name in (
        "plot_diagnostics", "plot_residuals", "plot_qq", "plot_scale_location", "plot_ranef_qq",
        "plot_ranef", "plot_shrinkage", "plot_fitted")},
    **{name: ".plots.effects" for name in ("plot_means", "plot_effects", "means_data",
                                          "effects_data")},
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _moved.MOVED:  # a module's old path (mixedkit.many, ...): one more release
        globals()[name] = module = _moved.moved_module(name)
        return module
    raise AttributeError(f"module 'mixedkit' has no attribute {name!r}")


_moved.install()


def __dir__():
    return sorted(__all__)
