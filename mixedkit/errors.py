"""Exceptions and warnings raised by mixedkit.

Every exception subclasses :class:`MixedkitError` *and* the builtin it refines, so
``except ValueError`` in user code keeps working.  Every warning subclasses
:class:`MixedkitWarning`, itself a :class:`UserWarning`, so one filter silences all
of them.
"""

from __future__ import annotations

import numbers

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
    "check_positive_int",
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


class InputTypeError(MixedkitError, TypeError):
    """An argument has the wrong type (for example data that is not a DataFrame)."""


class InputValueError(MixedkitError, ValueError):
    """An argument has the right type but a value mixedkit cannot use (for example
    ``conf_level=95`` or ``adjust="scheffe"``)."""


class DesignTooLargeError(MixedkitError, MemoryError):
    """The random-effects design would exhaust memory or time in statsmodels."""


class FitError(MixedkitError, RuntimeError):
    """No estimation attempt produced a valid likelihood."""


class MixedkitWarning(UserWarning):
    """Base class of every warning issued by mixedkit."""


class DataWarning(MixedkitWarning):
    """The data can be fitted but something about them deserves attention."""


class FitWarning(MixedkitWarning):
    """The fit finished but its health report has a problem (see ``fit.health``)."""


def check_positive_int(value, name: str, *, allow_none: bool = False) -> int | None:
    """``value`` as an int, or :class:`InputTypeError` / :class:`InputValueError` naming
    ``name`` (``None`` passes through with ``allow_none``)."""
    if value is None and allow_none:
        return None
    what = "a positive integer or None" if allow_none else "a positive integer"
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise InputTypeError(f"{name} must be {what}; got {value!r}")
    if value < 1:
        raise InputValueError(f"{name} must be {what}; got {value!r}")
    return int(value)
