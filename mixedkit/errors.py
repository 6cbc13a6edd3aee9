"""Exceptions and warnings raised by mixedkit.

Every exception subclasses :class:`MixedkitError` *and* the builtin it refines, so
``except ValueError`` in user code keeps working.  Every warning subclasses
:class:`MixedkitWarning`, itself a :class:`UserWarning`, so one filter silences all
of them.
"""

from __future__ import annotations

import difflib

__all__ = [
    "ColumnNotFoundError",
    "DataError",
    "DataWarning",
    "DesignTooLargeError",
    "FitError",
    "FitWarning",
    "FormulaError",
    "InputTypeError",
    "InputValueError",
    "MixedkitError",
    "MixedkitWarning",
    "StatsmodelsLimitError",
    "WorkerLostError",
    "WorkerWarning",
    "closest_names",
    "did_you_mean",
]


class MixedkitError(Exception):
    """Base class of every error raised by mixedkit."""


class DataError(MixedkitError, ValueError):
    """The data cannot be used with the requested model."""


class ColumnNotFoundError(DataError, KeyError):
    """A column named in the formula or an argument is not in the data."""

    # KeyError's str() wraps the message in quotes; keep it readable.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class FormulaError(MixedkitError, ValueError):
    """The model formula cannot be parsed or expressed in statsmodels."""


class StatsmodelsLimitError(FormulaError):
    """The model is beyond what statsmodels' ``MixedLM`` can express (a correlated random
    slope on a crossed factor or at a nested level, prior weights): mixedkit fits it,
    but statsmodels' own fit, results object and evaluation are not available."""


class InputTypeError(MixedkitError, TypeError):
    """An argument has the wrong type (for example data that is not a DataFrame)."""


class InputValueError(MixedkitError, ValueError):
    """An argument has the right type but a value mixedkit cannot use (for example
    ``conf_level=95`` or ``adjust="scheffe"``)."""


class DesignTooLargeError(MixedkitError, MemoryError):
    """The random-effects design would exhaust memory or time in statsmodels."""


class FitError(MixedkitError, RuntimeError):
    """No estimation attempt produced a valid likelihood."""


class WorkerLostError(MixedkitError, RuntimeError):
    """Worker processes of a parallel run (bootstrap, power simulation, ``fit_many``) kept
    dying, on mixedkit's process pool and on the fresh pools it started to finish the work,
    or a process pool passed as ``executor=`` broke (mixedkit cannot replace it)."""


class MixedkitWarning(UserWarning):
    """Base class of every warning issued by mixedkit."""


class DataWarning(MixedkitWarning):
    """The data can be fitted but something about them deserves attention."""


class FitWarning(MixedkitWarning):
    """The fit finished but its health report has a problem (see ``fit.health``)."""


class WorkerWarning(MixedkitWarning):
    """A worker process of a parallel run died (out of memory, a crash) and mixedkit re-ran
    its unfinished work on a fresh pool; the results are the same as without the loss."""


# Suggestions for the messages: the name a user likely meant.
def closest_names(name: str, candidates, n: int = 1) -> list[str]:
    """Names in ``candidates`` closest to ``name`` (case-insensitive first)."""
    candidates = [str(c) for c in candidates]
    lower = {c.lower(): c for c in candidates}
    if name.lower() in lower:
        return [lower[name.lower()]]
    return difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)


def did_you_mean(name: str, candidates) -> str:
    """Suggestion text for an unknown column name."""
    close = closest_names(name, candidates)
    if close:
        return f"did you mean {close[0]!r}?"
    shown = ", ".join(repr(str(c)) for c in list(candidates)[:12])
    more = ", ..." if len(candidates) > 12 else ""
    return f"available columns: {shown}{more}."
