"""Every check mixedkit makes on the data before estimation.

:func:`prepare` runs the checks in order and returns the model frame (only the
columns the model uses, rows with missing values removed, the caller's DataFrame
untouched).  An error is raised as a typed exception whose message names the
column or argument, shows what was found and gives the fix; warnings and notes
are collected in a :class:`~mixedkit.findings.Report`.
:func:`mixedkit.checks.check_data` runs these and the design's checks and returns
the report instead of raising.
"""

from __future__ import annotations

import keyword
import numbers
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import (
    ColumnNotFoundError,
    DataError,
    DataWarning,
    FormulaError,
    InputTypeError,
    InputValueError,
)
from ..findings import Finding, Report
from .formula import (
    NameMap,
    ParsedFormula,
    RandomTerm,
    did_you_mean,
    parse_formula,
    terms_from_keywords,
)
from .frames import as_pandas
from .levels import factor_levels

__all__ = ["MIN_GROUPS", "PreparedData", "check_model", "groups_column", "is_real_number",
           "parses_as_number", "prepare", "warn_dropped"]

MIN_GROUPS = 5  # below this, variance components are poorly estimated (warning)
# A predictor stored as text whose values are numbers is refused when it has more distinct
# values than this (a factor with that many levels is almost never what was meant).
MAX_TEXT_NUMBER_LEVELS = 10

_WIDE = re.compile(
    r"^(?P<stem>.*?[A-Za-z])(?P<sep>[_.]?)"
    r"(?P<label>(?:t|time|wave|visit|day|week|month|year|session|trial|v)?)(?P<num>\d+)$",
    re.IGNORECASE,
)


@dataclass
class PreparedData:
    """The checked inputs of a fit.

    Attributes
    ----------
    frame : DataFrame
        The columns the model uses, renamed to patsy-safe names, rows with missing
        values removed; the index is the caller's.
    parsed : ParsedFormula
    names : NameMap
    random : tuple of RandomTerm
    n_input : int
        Rows in the caller's data.
    dropped : dict
        Column (user name) -> rows removed because that column was missing.
    dropped_index : Index
        Index labels of the removed rows.
    report : Report
    weights : ndarray or None
        Prior weights of the rows used (``weights=``), checked finite and positive.
    weights_name : str or None
        The weights' column name (``"weights"`` when given as an array).
    """

    frame: pd.DataFrame
    parsed: ParsedFormula
    names: NameMap
    random: tuple[RandomTerm, ...]
    n_input: int
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_index: pd.Index = field(default_factory=lambda: pd.Index([]))
    report: Report = field(default_factory=lambda: Report("data checks"))
    weights: np.ndarray | None = None  # prior weights of the rows used (None: all 1)
    weights_name: str | None = None  # the column (or "weights" for an array)
    # statsmodels-style arguments as given ("groups='Subject', re_formula='~Days'"), or ""
    keywords: str = ""
    # each factor's level codes and labels, computed on first use (by this class only):
    # sorting 125,000 text ids takes 60 ms, and the checks, the design and patsy's coding
    # all need them
    _levels: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def user(self, safe: str) -> str:
        """The user's name for a safe column name."""
        return self.names.original.get(safe, safe)

    def levels(self, factor: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Each row's level code of ``factor`` and each code's label, computed once (see
        :func:`~mixedkit.model.levels.factor_levels`)."""
        if factor not in self._levels:
            self._levels[factor] = factor_levels(self.frame, factor)
        return self._levels[factor]

    def codes(self, factor: tuple[str, ...]) -> np.ndarray:
        """Each row's level code of ``factor`` (see :meth:`levels`)."""
        return self.levels(factor)[0]

    def predictor_columns(self) -> dict[str, bool]:
        """Safe names of the columns the fixed part or a random slope uses -> whether every
        use is inside ``C(...)`` (declared a factor)."""
        return _predictor_columns(self)


def _wide_families(columns) -> dict[str, list[str]]:
    """Groups of columns that look like one measure repeated (``score_t1, score_t2``)."""
    fams: dict[tuple, list[str]] = {}
    for col in map(str, columns):
        m = _WIDE.match(col)
        if m:
            fams.setdefault((m["stem"], m["sep"], m["label"].lower()), []).append(col)
    return {key[0]: cols for key, cols in fams.items() if len(cols) >= 2}


# Column stems that name the time, not the measure (``day0 ... day9``).
_TIME_STEMS = {"t", "time", "wave", "visit", "day", "days", "week", "weeks", "month", "year",
               "session", "trial", "v", "occasion", "period"}


def _melt_hint(data: pd.DataFrame, stem: str, cols: list[str]) -> str:
    """The reshaping to long format, with the time as a number (not 'day0' ... 'day9')."""
    ids = [str(c) for c in data.columns if str(c) not in cols]
    if stem.lower().rstrip("_.") in _TIME_STEMS:  # day0 ... day9: the columns are times
        what, time, value = f"one measure on each {stem}", stem, "value"
    else:  # score_t1 ... score_t4: the columns are one measure at several times
        what, time, value = f"repeated measures of {stem!r}", "time", stem
    return (
        f"data look wide: columns {', '.join(cols)} look like {what}. "
        "A mixed model needs long format (one row per measurement). Reshape first:\n"
        f"    long = data.melt(id_vars={ids!r}, value_vars={cols!r}, "
        f"var_name={time!r}, value_name={value!r})\n"
        f"    long[{time!r}] = long[{time!r}].str.extract(r'(\\d+)$', expand=False).astype(int)"
    )


def _check_frame(data) -> pd.DataFrame:
    """``data`` as a pandas DataFrame (a polars or pyarrow frame converted: see
    :func:`~mixedkit.model.frames.as_pandas`), not empty, its column names unique."""
    data = as_pandas(data, "data")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise DataError(f"data is empty (shape {data.shape}); pass the rows to fit")
    if data.columns.duplicated().any():
        dup = sorted(set(map(str, data.columns[data.columns.duplicated()])))
        raise DataError(f"data has duplicated column names {dup}; rename them to be unique")
    return data


def _response_name(formula: str) -> str:
    lhs = formula.split("~", 1)[0].strip()
    return lhs.strip("`")


def _parse(formula, data, groups, re_formula, vc_formula):
    cols = [str(c) for c in data.columns]
    if isinstance(formula, str) and "~" in formula:
        resp = _response_name(formula)
        if resp not in cols and resp.isidentifier():
            fams = _wide_families(cols)
            if resp in fams:
                raise ColumnNotFoundError(
                    f"formula: response {resp!r} is not a column, but "
                    + _melt_hint(data, resp, fams[resp])
                )
    try:
        parsed, names = parse_formula(formula, cols)
    except ColumnNotFoundError as err:
        fams = _wide_families(cols)
        if not fams:
            raise
        stem, family = max(fams.items(), key=lambda kv: len(kv[1]))
        raise ColumnNotFoundError(f"{err} Perhaps the {_melt_hint(data, stem, family)}") \
            from None
    random = list(parsed.random)
    used = list(parsed.columns)
    if groups is not None or re_formula is not None or vc_formula is not None:
        if random:
            raise FormulaError(
                "give the random effects one way: either lme4 terms in the formula "
                f"({random[0].source}) or groups=/re_formula=/vc_formula=, not both"
            )
        if groups is None:
            raise FormulaError(
                "re_formula= and vc_formula= need groups= (the grouping column), "
                "e.g. groups='Subject'"
            )
        if not isinstance(groups, str):
            raise InputTypeError(
                f"groups must be the name of a column of data; got {type(groups).__name__}"
            )
        if groups not in cols:
            raise ColumnNotFoundError(
                f"groups={groups!r} is not a column of data; {did_you_mean(groups, cols)}"
            )

        def categorical(col):
            s = data[col]
            return not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s))

        random, extra = terms_from_keywords(groups, re_formula, vc_formula, names, cols, categorical)
        used += [c for c in extra if c not in used]
    residual = parsed.residual
    if not random and residual is None:
        raise FormulaError(
            f"formula {formula!r} has no random-effects term; add one such as "
            "'+ (1 | group)', or pass groups='group', or a residual structure such as "
            "'+ us(visit | subject)'"
        )
    return parsed, names, tuple(random), used


def _missing(data, used, names, missing, report, extra=None):
    """Rows without missing values in ``used`` (and the ``extra`` Series, such as the
    weights): the kept rows, the counts per column and the dropped index."""
    by_name = {str(c): c for c in data.columns}  # the data's own labels (maybe not str)
    sub = data[[by_name[c] for c in used]]
    sub.columns = list(used)
    na = sub.isna()
    if extra is not None:
        na = na.assign(**{extra.name: extra.isna().to_numpy()})
    bad = na.any(axis=1).to_numpy()
    counts = {c: int(na[c].sum()) for c in na.columns if na[c].any()}
    if not bad.any():
        return sub, {}, pd.Index([])
    detail = ", ".join(f"{c!r} ({n})" for c, n in counts.items())
    if missing == "raise":
        rows = list(sub.index[bad][:5])
        n_bad = int(bad.sum())
        raise DataError(
            f"data: {n_bad} {'row has' if n_bad == 1 else 'rows have'} missing values in {detail} "
            f"(first rows: {rows}); "
            "pass missing='drop' to fit the complete rows, or fill the values first"
        )
    report.add(
        Finding(
            "missing values",
            "note",
            f"{int(bad.sum())} of {len(sub)} rows dropped for missing values in {detail}.",
            "Estimates use the complete rows only; models compared must use the same rows.",
            "Fill or remove the missing values yourself if dropping them is not what you want.",
        )
    )
    return sub.iloc[~bad], counts, sub.index[bad]


def _per_row(value, data: pd.DataFrame, argument: str, what: str) -> pd.Series:
    """``argument=`` given as one value per row of ``data``: a Series aligned on the data's
    index (the same labels in any order, or a superset of them, as for a subset of the
    rows), or a 1-d array or list in row order (a polars Series too); named by the Series'
    name or ``argument``."""
    if isinstance(value, pd.Series):
        if not value.index.equals(data.index):
            if value.index.is_unique and data.index.isin(value.index).all():
                value = value.reindex(data.index)
            else:
                raise InputValueError(
                    f"{argument}: the Series' index does not match the data's index; pass "
                    f"{argument}=column_name, or a Series indexed like data "
                    f"({argument}.reindex(data.index))")
        return value.rename(argument if value.name is None else str(value.name))
    try:
        values = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        values = None
    if values is None or values.ndim != 1:
        raise InputTypeError(
            f"{argument} must be a column name or one value per row of data (a Series or "
            f"1-d array); got {type(value).__name__}")
    if len(values) != len(data):
        raise InputValueError(
            f"{argument} has {len(values)} values but data has {len(data)} rows; give one "
            f"{what} per row (or the name of the {argument} column)")
    # a polars Series (groups=data["Subject"] with polars data) is named like a pandas one
    name = getattr(value, "name", None) if type(value).__module__.startswith("polars.") \
        else None
    return pd.Series(values, index=data.index,
                     name=name if isinstance(name, str) and name else argument)


def _weights_series(weights, data: pd.DataFrame) -> pd.Series:
    """``weights=`` as a Series on the data's index: a column name, or one value per row
    (a Series is aligned on the index)."""
    if isinstance(weights, str):
        cols = [str(c) for c in data.columns]
        if weights not in cols:
            raise ColumnNotFoundError(
                f"weights={weights!r} is not a column of data; {did_you_mean(weights, cols)}")
        return data[data.columns[cols.index(weights)]].rename(weights)
    return _per_row(weights, data, "weights", "weight")


def groups_column(data, groups) -> tuple[pd.DataFrame, str | None]:
    """statsmodels' ``groups=`` idiom: a column name, or one label per row (a Series, as
    ``groups=data["Subject"]``, aligned on the index; an array in row order). Returns the
    data (a copy with the labels as a column when they are not one of its columns: the
    caller's data is never modified) and the column's name."""
    if groups is None or isinstance(groups, str) or not isinstance(data, pd.DataFrame):
        return data, groups
    labels = _per_row(groups, data, "groups", "group label")
    name = str(labels.name)
    cols = [str(c) for c in data.columns]
    if name in cols:
        own = data[data.columns[cols.index(name)]]
        if own.equals(labels) or (own.astype(str) == labels.astype(str)).all():
            return data, name  # the data's own column, given as a Series
        raise InputValueError(
            f"groups: the Series {name!r} differs from data's column {name!r}; rename the "
            f"Series (groups=labels.rename('cluster')) or pass groups={name!r}")
    return data.assign(**{name: labels.to_numpy()}), name


def _checked_weights(w: pd.Series) -> np.ndarray | None:
    """Finite positive prior weights as floats (None when every weight is 1: the
    unweighted model)."""
    name = w.name
    label = "weights" if name == "weights" else f"weights {name!r}"  # an array has no name
    if not (pd.api.types.is_numeric_dtype(w) and not pd.api.types.is_bool_dtype(w)):
        kind = "text" if pd.api.types.is_string_dtype(w) or w.dtype == object else str(w.dtype)
        raise DataError(
            f"{label} must be numeric; got {kind} values such as "
            f"{w.iloc[0]!r}. Convert the column with pd.to_numeric")
    values = w.to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(
            f"{label} has {int(bad.sum())} infinite value(s) (rows "
            f"{list(w.index[bad][:5])}); prior weights must be finite and positive")
    for test, what, fix in ((values < 0, "negative", "prior weights are inverse variances"),
                            (values == 0, "zero", ("a zero weight removes a row from the fit: "
                             "drop those rows instead"))):
        if test.any():
            n_bad = int(test.sum())
            raise DataError(
                f"{label} has {n_bad} {what} value{'s' if n_bad > 1 else ''} (rows "
                f"{list(w.index[test][:5])}); weights must be positive ({fix})")
    return None if np.all(values == 1.0) else values


def warn_dropped(n_input: int, n_used: int, counts: dict[str, int], stacklevel: int = 4) -> None:
    """The one warning that rows were dropped (the fit's ``dropped`` has the counts);
    ``stacklevel`` points it at the caller's line."""
    detail = ", ".join(f"{c!r} ({n})" for c, n in counts.items())
    n_drop = n_input - n_used
    warnings.warn(
        f"{n_drop} of {n_input} {'row' if n_input == 1 else 'rows'} dropped for missing values "
        f"in {detail}; the model uses the other {n_used}. Fill the values, or pass "
        "missing='raise' to refuse data with missing values (fit.dropped has the counts)",
        DataWarning,
        stacklevel=stacklevel,
    )


def _formula_name(name: str) -> str:
    """``name`` as a formula must write it (backticks unless a plain identifier)."""
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"`{name}`"


def _predictor_columns(prep: PreparedData) -> dict[str, bool]:
    """Safe names of the columns the fixed part or a random slope uses -> whether every use
    is inside ``C(...)`` (declared a factor)."""
    texts = [prep.parsed.fixed_rhs] + [e for t in prep.random for e in t.exprs]
    out = {}
    for col in prep.frame.columns:
        if col == prep.parsed.response:
            continue
        pattern = re.compile(rf"(?<![\w.]){re.escape(col)}(?![\w.])")
        hits = [(text, m) for text in texts for m in pattern.finditer(text)]
        if hits:
            out[col] = all(re.search(r"(?<![\w.])C\(\s*$", text[:m.start()])
                           for text, m in hits)
    return out


def _plain_dtypes(frame: pd.DataFrame) -> None:
    """pandas' nullable numeric and boolean dtypes as the numpy dtypes patsy reads (no
    missing values are left); text keeps its dtype (patsy reads it as a factor)."""
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or \
                not pd.api.types.is_extension_array_dtype(s.dtype):
            continue
        if pd.api.types.is_bool_dtype(s.dtype):
            frame[col] = s.to_numpy(dtype=bool)
        elif pd.api.types.is_integer_dtype(s.dtype):
            frame[col] = s.to_numpy(dtype=np.int64)
        elif pd.api.types.is_float_dtype(s.dtype):
            frame[col] = s.to_numpy(dtype=float)


def _is_text_dtype(dtype) -> bool:
    """object, or pandas' string dtype (the default for text from pandas 3 on)."""
    return dtype == object or isinstance(dtype, pd.StringDtype)


def is_real_number(value) -> bool:
    """A real number that is not a bool (True is not 1 in a data column)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def parses_as_number(value) -> bool:
    """Text that reads as a number (``"3.5"``, ``" 12 "``)."""
    if not isinstance(value, str):
        return False
    try:
        float(value.strip())
    except ValueError:
        return False
    return True


def _numbers_as_objects(frame: pd.DataFrame, col: str, name: str, report: Report) -> None:
    """An object column holding only numbers is numeric (patsy would make it a factor)."""
    s = frame[col]
    if s.dtype != object or len(s) == 0 or not all(is_real_number(v) for v in s.to_numpy()):
        return
    frame[col] = s.to_numpy(dtype=float)
    report.add(Finding(
        "numbers stored as objects", "note",
        f"column {name!r} has dtype object but holds only numbers; it is used as numeric.",
        "", f"Store it as numbers: data[{name!r}] = pd.to_numeric(data[{name!r}])."))


def _number_flags(prep: PreparedData, col: str, values: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: is the value a number (real or text), and is it text that reads as one.

    A column of text is judged on its distinct values (a few hundred ids instead of a
    million rows, coded once for the checks and the design by ``prep.levels``); a column
    mixing types (1 and "1", True) value by value, since hashing would merge 1 with 1.0
    and True.
    """
    if pd.api.types.infer_dtype(prep.frame[col], skipna=False) == "string":
        codes, uniques = prep.levels((col,))
        text = np.array([parses_as_number(v) for v in uniques], dtype=bool)[codes]
        return text, text
    text = np.array([parses_as_number(v) for v in values], dtype=bool)
    return np.array([is_real_number(v) for v in values], dtype=bool) | text, text


def _check_predictor_type(prep: PreparedData, col: str, name: str, report: Report) -> None:
    """Numbers stored as text, and dates, would silently become many-level factors."""
    s = prep.frame[col]
    formula_name = _formula_name(name)
    if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
        to_number = (f"(data[{name!r}] - data[{name!r}].min()).dt.days"
                     if pd.api.types.is_datetime64_any_dtype(s.dtype)
                     else f"data[{name!r}].dt.total_seconds()")
        kind = "dates" if pd.api.types.is_datetime64_any_dtype(s.dtype) else "durations"
        raise DataError(
            f"column {name!r} holds {kind} (dtype {s.dtype}); in a formula every distinct value "
            f"would become a level of a factor ({s.nunique()} levels). Use a number, e.g. "
            f"data[{name + '_num'!r}] = {to_number}, or write C({formula_name}) if each value "
            "is a category"
        )
    if not _is_text_dtype(s.dtype):
        return
    values = s.to_numpy(dtype=object)
    is_num, text_num = _number_flags(prep, col, values)
    n_text_num = int(text_num.sum())
    if not n_text_num or is_num.sum() * 2 <= len(values):
        return
    fix = (f"Convert it: data[{name!r}] = pd.to_numeric(data[{name!r}], errors=\"coerce\") "
           f"(values that are not numbers become missing, and their rows are dropped), or write "
           f"C({formula_name}) in the formula if {name!r} is a factor")
    n_levels = s.astype(str).nunique()
    if not is_num.all():
        bad = list(pd.unique(pd.Series(values[~is_num]).astype(str)))
        rows = list(s.index[~is_num][:5])
        raise DataError(
            f"column {name!r} looks numeric but is stored as text: {int(is_num.sum())} of "
            f"{len(values)} values are numbers, these are not: {bad[:5]} (rows {rows}). As "
            f"text it would be a factor with {n_levels} levels. {fix}"
        )
    if n_levels > MAX_TEXT_NUMBER_LEVELS:
        shown = list(pd.unique(pd.Series(values).astype(str))[:3])
        raise DataError(
            f"column {name!r} holds numbers stored as text (values like {shown}); as text it "
            f"would be a factor with {n_levels} levels. {fix}"
        )
    report.add(Finding(
        "numbers stored as text", "warning",
        f"column {name!r} holds numbers stored as text; it is used as a factor with "
        f"{n_levels} levels.",
        "A numeric predictor read as text gets one coefficient per value instead of a slope.",
        fix + " (which also silences this)."))


def _check_types(prep: PreparedData) -> None:
    """Give every column the type the model means (the frame is mixedkit's own copy)."""
    frame, report = prep.frame, prep.report
    _plain_dtypes(frame)
    resp = prep.parsed.response
    if resp in frame.columns:
        _numbers_as_objects(frame, resp, prep.user(resp), report)
        _check_response(frame[resp], prep.user(resp))
    for col, declared_factor in _predictor_columns(prep).items():
        if not declared_factor:
            _numbers_as_objects(frame, col, prep.user(col), report)
            _check_predictor_type(prep, col, prep.user(col), report)
        s = frame[col]
        factor = declared_factor or not pd.api.types.is_numeric_dtype(s.dtype) or \
            pd.api.types.is_bool_dtype(s.dtype)
        if not factor:
            inf = np.isinf(s.to_numpy(dtype=float))
            if inf.any():
                name = prep.user(col)
                raise DataError(
                    f"column {name!r} has {int(inf.sum())} infinite values (rows "
                    f"{list(s.index[inf][:5])}); replace them with NaN (those rows are then "
                    f"dropped) or with finite values: data[{name!r}].replace([np.inf, -np.inf], "
                    "np.nan)"
                )
        if factor and len(prep.levels((col,))[1]) < 2:
            name = prep.user(col)
            value = s.iloc[0].item() if isinstance(s.iloc[0], np.generic) else s.iloc[0]
            raise DataError(
                f"factor {name!r} has a single level ({value!r}) in the rows used, so it has no "
                f"effect to estimate (R: 'contrasts can be applied only to factors with 2 or "
                f"more levels'). Remove {name!r} from the formula, or check the rows used"
            )


def _check_response(y: pd.Series, name: str) -> None:
    if pd.api.types.is_bool_dtype(y):
        raise DataError(
            f"response {name!r} is boolean (True/False); a linear mixed model needs a numeric "
            "outcome. For a binary outcome use a generalized mixed model; to fit a linear "
            f"probability model anyway, convert it: data[{name!r}].astype(int)"
        )
    if not pd.api.types.is_numeric_dtype(y):
        shown = list(pd.unique(y.astype(str))[:3])
        raise DataError(
            f"response {name!r} is not numeric (dtype {y.dtype}, values like {shown}); "
            f"convert it with pd.to_numeric(data[{name!r}], errors='coerce') or pick a numeric column"
        )
    vals = y.to_numpy(dtype=float)
    inf = ~np.isfinite(vals)
    if inf.any():
        raise DataError(
            f"response {name!r} has {int(inf.sum())} infinite values (rows {list(y.index[inf][:5])}); "
            "replace them with NaN or finite values"
        )
    if np.nanmax(vals) == np.nanmin(vals):
        raise DataError(
            f"response {name!r} is constant (every value is {float(vals[0])!r}); there is no variation "
            "to model. Check that the right column is on the left of '~'"
        )


def _term_width(prep: PreparedData, term: RandomTerm) -> int:
    """Columns of a random term (a factor slope counts its levels), as lme4 counts them."""
    width = int(term.intercept)
    for expr in term.exprs:
        col = re.fullmatch(r"\s*(?:C\(\s*)?([\w.]+)\s*\)?\s*", expr)
        s = prep.frame[col.group(1)] if col and col.group(1) in prep.frame.columns else None
        if s is not None and (expr.strip().startswith("C(") or not pd.api.types.is_numeric_dtype(
                s.dtype) or pd.api.types.is_bool_dtype(s.dtype)):
            width += s.nunique() - (1 if term.intercept else 0)
        else:
            width += 1
    return width


def _check_random_effects_count(prep: PreparedData) -> None:
    """lme4's check.nobs.vs.nRE: fewer rows than random effects cannot be estimated."""
    n = len(prep.frame)
    for term in prep.random:
        n_re = (prep.codes(term.factor).max() + 1) * _term_width(prep, term)
        if n <= n_re and (term.exprs or not term.intercept):
            raise DataError(
                f"random term {term.source}: the number of observations ({n}) is not more than "
                f"the number of random effects it has ({n_re}), so its variances and the "
                "residual variance cannot be told apart (lme4 stops here too). Simplify the "
                f"random part, e.g. (1 | {':'.join(prep.user(c) for c in term.factor)}), or "
                "use more data"
            )


def _check_grouping(prep: PreparedData, data: pd.DataFrame) -> None:
    frame, report = prep.frame, prep.report
    seen = set()
    for term in prep.random:
        if term.factor in seen:
            continue
        seen.add(term.factor)
        label = ":".join(prep.user(c) for c in term.factor)
        for col in term.factor:
            # one inferred type (all str, all int, ...) is one kind: no per-row Python
            kinds = {type(v).__name__ for v in frame[col].to_numpy()} if \
                frame[col].dtype == object and pd.api.types.infer_dtype(
                    frame[col], skipna=False).startswith("mixed") else set()
            if len(kinds) > 1:
                report.add(Finding(
                    "mixed types", "warning",
                    f"grouping column {prep.user(col)!r} mixes value types "
                    f"({', '.join(sorted(kinds))}), so e.g. '1' and 1 are different groups.",
                    "Groups that should be one are split in two.",
                    f"Convert the column to one type: data[{prep.user(col)!r}].astype(str)."))
        codes = prep.codes(term.factor)
        sizes = np.bincount(codes)
        ng = len(sizes)
        if ng < 2:
            value = frame[term.factor[0]].iloc[0]
            value = value.item() if isinstance(value, np.generic) else value
            raise DataError(
                f"grouping factor {label!r} has a single level ({value!r}) in the rows used; "
                "a random effect needs several groups. Check the column, or fit an ordinary "
                "regression (statsmodels.formula.api.ols) instead"
            )
        if sizes.max() == 1:
            fams = _wide_families(data.columns)
            if fams:
                stem, cols = next(iter(fams.items()))
                raise DataError(f"grouping factor {label!r} has one row per level; " + _melt_hint(data, stem, cols))
            raise DataError(
                f"grouping factor {label!r} has {ng} levels with one row each, so its variance "
                "cannot be told apart from the residual variance. Use a grouping column that "
                "repeats (e.g. subject id), or check that the data are in long format"
            )
        if ng < MIN_GROUPS:
            report.add(
                Finding(
                    "few groups",
                    "warning",
                    f"grouping factor {label!r} has only {ng} levels.",
                    f"A variance estimated from fewer than {MIN_GROUPS} groups is very uncertain "
                    "and often estimated as 0.",
                    f"Treat {label!r} as a fixed effect, or interpret its variance with care.",
                )
            )
        singles = int((sizes == 1).sum())
        if singles:
            report.add(
                Finding(
                    "singleton groups",
                    "note",
                    f"{singles} of {ng} levels of {label!r} have a single row.",
                    "Single-row groups add little information about the group variance.",
                )
            )


def _check_residual(prep: PreparedData) -> None:
    """A residual structure's columns: a subject column that repeats, each visit at most
    once per subject (a numeric time for sp_exp), a structure group constant within a
    subject."""
    term, frame = prep.parsed.residual, prep.frame
    subject = prep.user(term.subject)
    codes = prep.codes((term.subject,))
    n_subjects = int(codes.max()) + 1
    if n_subjects < 2:
        raise DataError(
            f"residual structure {term.source}: the subject column {subject!r} has a single "
            "level in the rows used; the structure is estimated from many subjects. Check "
            "the column"
        )
    within = prep.user(term.within)
    if term.kind == "sp_exp":
        values = frame[term.within]
        if not (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)):
            raise InputTypeError(
                f"residual structure {term.source}: sp_exp needs the time as numbers; column "
                f"{within!r} holds {values.dtype} values (e.g. {values.iloc[0]!r}). Convert it, "
                f"data[{within!r}] = pd.to_numeric(data[{within!r}]), or use a visit "
                f"structure such as ar1({within} | {subject})"
            )
        if not np.isfinite(values.to_numpy(float)).all():
            raise DataError(f"residual structure {term.source}: column {within!r} has "
                            "non-finite times; remove those rows or fix the values")
    visit = prep.codes((term.within,)) if term.kind != "sp_exp" else \
        pd.factorize(frame[term.within])[0]
    pairs = pd.DataFrame({"s": codes, "v": visit})
    repeated = pairs.duplicated().to_numpy()
    if repeated.any():
        pos = int(np.flatnonzero(repeated)[0])
        row, first = frame.index[pos], frame.iloc[pos]
        raise DataError(
            f"residual structure {term.source}: {int(repeated.sum())} rows repeat a "
            f"{'time' if term.kind == 'sp_exp' else 'visit'} of their subject (e.g. row "
            f"{row!r}: {subject}={first[term.subject]!r}, {within}={first[term.within]!r}); "
            "a subject has one row per visit. Average the repeats, or check that "
            f"{subject!r} identifies subjects and {within!r} visits"
        )
    if term.by is not None:
        by = prep.codes((term.by,))
        varies = pd.Series(by).groupby(codes).nunique().to_numpy() > 1
        if varies.any():
            raise DataError(
                f"residual structure {term.source}: {prep.user(term.by)!r} changes within "
                f"{int(varies.sum())} subjects; the structure group (e.g. the arm) must be "
                f"constant within each subject of {subject!r}"
            )
    for random in dict.fromkeys(t.factor for t in prep.random):
        # whitening a subject's rows keeps each row in its level only if the level is
        # the subject's (mixedkit.model.mixed_residual)
        levels = prep.codes(random)
        varies = pd.Series(levels).groupby(codes).nunique().to_numpy() > 1
        if varies.any():
            label = ":".join(prep.user(c) for c in random)
            raise DataError(
                f"residual structure {term.source} with random effects of {label!r}: "
                f"{label!r} changes within {int(varies.sum())} subjects of {subject!r}. With "
                "a residual structure, random effects must be of factors constant within a "
                "subject (a site, a centre, the subject itself); for crossed factors "
                "(items) fit the random effects without the structure"
            )


def check_model(formula, data, *, groups=None, re_formula=None, vc_formula=None) -> None:
    """The checks of :func:`prepare` that depend only on the formula and the column names:
    a formula that does not parse, a column that is not in ``data``, random effects given
    two ways. Raises what :func:`prepare` would; for mistakes shared by many fits (those of
    :func:`~mixedkit.fit_many`), which must stop the run before the first fit."""
    data = _check_frame(data)
    data, groups = groups_column(data, groups)
    _parse(formula, data, groups, re_formula, vc_formula)


def prepare(
    formula,
    data,
    *,
    groups=None,
    re_formula=None,
    vc_formula=None,
    missing: str = "drop",
    warn_dropped: bool = True,
    weights=None,
) -> PreparedData:
    """Run every data check and return the model frame (see module docstring).

    Rows dropped for missing values are recorded (a note in the report) and, with
    ``warn_dropped``, announced by one :class:`~mixedkit.DataWarning`.
    """
    data = _check_frame(data)
    data, groups = groups_column(data, groups)
    if missing not in ("drop", "raise"):
        raise InputTypeError(f"missing must be 'drop' or 'raise'; got {missing!r}")
    parsed, names, random, used = _parse(formula, data, groups, re_formula, vc_formula)
    report = Report("data checks")
    w = None if weights is None else _weights_series(weights, data)
    sub, counts, dropped_index = _missing(data, used, names, missing, report, w)
    if len(sub) == 0:
        raise DataError(
            "data: no rows are left after removing missing values in "
            f"{', '.join(counts)}; check those columns"
        )
    frame = sub.copy()
    frame.columns = [names.safe[c] for c in used]
    prep = PreparedData(frame, parsed, names, random, len(data), counts, dropped_index, report)
    given = (("groups", groups), ("re_formula", re_formula), ("vc_formula", vc_formula))
    prep.keywords = ", ".join(f"{k}={v!r}" for k, v in given if v is not None)
    if w is not None:
        prep.weights = _checked_weights(w.loc[frame.index] if len(dropped_index) else w)
        prep.weights_name = str(w.name)
    _check_types(prep)
    if parsed.residual is not None:
        if prep.weights is not None:
            raise InputValueError(
                f"weights={prep.weights_name!r} with the residual structure "
                f"{parsed.residual.source}: prior weights are not combined with a residual "
                "structure yet; a heterogeneous structure (csh, ar1h, toeph, adh, us) gives "
                "each visit its own variance"
            )
        _check_residual(prep)
    _check_grouping(prep, data)
    _check_random_effects_count(prep)
    if counts and warn_dropped:
        warn_dropped(len(data), len(frame), counts)
    return prep
