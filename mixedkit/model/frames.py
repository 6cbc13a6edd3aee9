"""Data frames from other libraries, as the pandas DataFrame the rest of mixedkit reads.

:func:`as_pandas` is called once where data enter (``fit_lmm``, ``check_data``,
``fit_many``, ``LmmFit.predict``): a pandas DataFrame passes through untouched (never
copied, never modified); a polars DataFrame, a pyarrow Table or RecordBatch, and any
object with the Arrow PyCapsule stream (``__arrow_c_stream__``) or the dataframe
interchange protocol (``__dataframe__``) is converted to a new pandas DataFrame, so every
result is pandas. Neither polars nor pyarrow is imported by mixedkit: the libraries are
recognised by the module of the object's type, and pyarrow is imported only to read the
two protocols, when it is installed.

What the columns become (checked by ``tests/test_dataframe_inputs.py``, which fits each
against the same data in pandas):

- text (polars String, Arrow string): text (object, or pandas' ``str`` dtype);
- a polars Enum, an Arrow dictionary: a pandas Categorical in the same category order
  (the first category is the reference level, as for a pandas Categorical);
- a polars Categorical: a pandas Categorical whose categories are sorted, as polars
  sorts them (and as text levels are); the order they were first seen in is not kept;
- integers and booleans with missing values: floats and objects, as pandas reads them.
"""

from __future__ import annotations

import warnings

import pandas as pd

from ..errors import InputTypeError

__all__ = ["as_pandas"]


def as_pandas(obj, argument: str = "data", *, long_format: bool = True) -> pd.DataFrame:
    """``obj`` as a pandas DataFrame, converted once (see the module docstring).

    Parameters
    ----------
    obj : object
        A pandas DataFrame (returned as it is), a polars DataFrame, a pyarrow Table or
        RecordBatch, or any frame with ``__arrow_c_stream__`` or ``__dataframe__``.
    argument : str, default "data"
        The argument's name, for the error message.
    long_format : bool, default True
        Whether the message asks for long format (``data``) or not (``newdata``).

    Returns
    -------
    DataFrame
        ``obj`` itself when it is a pandas DataFrame, else a new DataFrame with a
        RangeIndex (the other libraries have no index).

    Raises
    ------
    InputTypeError
        A polars LazyFrame (the message says to call ``.collect()``), a frame whose
        conversion failed (with the library's reason), or anything that is not a frame.
    """
    if isinstance(obj, pd.DataFrame):
        return obj
    kind = type(obj)
    library = kind.__module__.split(".")[0]
    if library == "polars" and kind.__name__ == "LazyFrame":
        raise InputTypeError(
            f"{argument} is a polars LazyFrame, a query that has not run yet; call .collect() "
            f"and pass the DataFrame it gives: {argument}.collect()")
    convert = _CONVERTERS.get((library, kind.__name__))
    if convert is None and library not in _KNOWN and (
            hasattr(obj, "__arrow_c_stream__") or hasattr(obj, "__dataframe__")):
        convert = _from_protocol  # (a polars Series or an Arrow array has the stream too)
    if convert is not None:
        try:
            out = convert(obj)
        except Exception as err:  # noqa: BLE001 - the library's own error, named and explained
            fix = ("Install pyarrow (pip install pyarrow): the conversion needs it"
                   if isinstance(err, ImportError) else
                   "Convert it yourself (its to_pandas() method, or "
                   "pd.api.interchange.from_dataframe) and pass the result")
            raise InputTypeError(
                f"{argument} ({library}.{kind.__name__}) could not be converted to a pandas "
                f"DataFrame: {type(err).__name__}: {str(err).rstrip('.')}. {fix}") from None
        if isinstance(out, pd.DataFrame):
            return out
    found = f"{library} {kind.__name__}" if library in _KNOWN else kind.__name__
    shape = " in long format" if long_format else ""
    raise InputTypeError(
        f"{argument} must be a pandas DataFrame{shape}; got {found}. Convert with "
        "pd.DataFrame(...) or read it with pd.read_csv(...); a polars DataFrame, a pyarrow "
        "Table or any frame with the dataframe interchange protocol is accepted too")


def _from_polars(frame) -> pd.DataFrame:
    """A polars DataFrame as pandas: polars' ``to_pandas`` (which needs pyarrow), else the
    Arrow stream or the interchange protocol; a Categorical's categories sorted."""
    try:
        out = frame.to_pandas()
    except ImportError as missing:  # no pyarrow: the protocols may still do
        try:
            out = _from_protocol(frame)
        except Exception:  # noqa: BLE001 - the missing pyarrow is the reason to report
            raise missing from None
    for name, dtype in frame.schema.items():
        kind = dtype if isinstance(dtype, type) else type(dtype)  # old polars: the class
        if kind.__name__ == "Categorical" and isinstance(out[name].dtype, pd.CategoricalDtype):
            categories = out[name].cat.categories
            if not categories.is_monotonic_increasing:
                out[name] = out[name].cat.reorder_categories(categories.sort_values())
    return out


def _from_arrow(table) -> pd.DataFrame:
    """A pyarrow Table or RecordBatch as pandas (a dictionary column: a Categorical)."""
    return table.to_pandas()


def _from_protocol(obj) -> pd.DataFrame:
    """A frame with the Arrow PyCapsule stream or the dataframe interchange protocol: read
    by pyarrow when it is installed (the stream needs pyarrow>=14), else the protocol by
    pandas (whose reader is reliable from pandas 2.0.3 on)."""
    try:
        import pyarrow  # optional: the best reader of both protocols
        import pyarrow.interchange
    except ImportError:
        pyarrow = None
    if pyarrow is not None:
        if hasattr(obj, "__arrow_c_stream__"):
            try:
                return pyarrow.table(obj).to_pandas()
            except TypeError:  # pyarrow < 14 cannot read the stream
                if not hasattr(obj, "__dataframe__"):
                    raise
        if hasattr(obj, "__dataframe__"):
            return pyarrow.interchange.from_dataframe(obj).to_pandas()
    if not hasattr(obj, "__dataframe__"):
        raise ImportError("reading an Arrow stream needs pyarrow>=14 (pip install pyarrow)")
    with warnings.catch_warnings():
        # pandas 3 deprecates the interchange protocol in favour of the Arrow stream, which
        # it reads with pyarrow; without pyarrow, the protocol is the way that remains
        warnings.filterwarnings("ignore", message=".*[Ii]nterchange [Pp]rotocol",
                                category=Warning)
        return pd.api.interchange.from_dataframe(obj)


# (module's top package, type name) -> conversion; other types of these libraries (a
# polars Series, an Arrow array) are not frames; any other library's frame goes through a
# protocol
_KNOWN = ("polars", "pyarrow")
_CONVERTERS = {("polars", "DataFrame"): _from_polars, ("pyarrow", "Table"): _from_arrow,
               ("pyarrow", "RecordBatch"): _from_arrow}
