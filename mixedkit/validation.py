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

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import (
    ColumnNotFoundError,
    DataError,
    FormulaError,
    InputTypeError,
)
from .findings import Finding, Report
from .formula import (
    NameMap,
    ParsedFormula,
    RandomTerm,
    did_you_mean,
    parse_formula,
    terms_from_keywords,
)

__all__ = ["MIN_GROUPS", "PreparedData", "prepare"]

MIN_GROUPS = 5  # below this, variance components are poorly estimated (warning)

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
    """

    frame: pd.DataFrame
    parsed: ParsedFormula
    names: NameMap
    random: tuple[RandomTerm, ...]
    n_input: int
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_index: pd.Index = field(default_factory=lambda: pd.Index([]))
    report: Report = field(default_factory=lambda: Report("data checks"))

    def user(self, safe: str) -> str:
        """The user's name for a safe column name."""
        return self.names.original.get(safe, safe)

    def codes(self, factor: tuple[str, ...]) -> np.ndarray:
        """Each row's level code of ``factor`` (computed once; see :func:`factor_codes`)."""
        cache = self.__dict__.setdefault("_codes", {})
        if factor not in cache:
            cache[factor] = factor_codes(self.frame, factor)
        return cache[factor]


def _wide_families(columns) -> dict[str, list[str]]:
    """Groups of columns that look like one measure repeated (``score_t1, score_t2``)."""
    fams: dict[tuple, list[str]] = {}
    for col in map(str, columns):
        m = _WIDE.match(col)
        if m:
            fams.setdefault((m["stem"], m["sep"], m["label"].lower()), []).append(col)
    return {key[0]: cols for key, cols in fams.items() if len(cols) >= 2}


def _melt_hint(data: pd.DataFrame, stem: str, cols: list[str]) -> str:
    ids = [str(c) for c in data.columns if str(c) not in cols]
    return (
        f"data look wide: columns {', '.join(cols)} look like repeated measures of {stem!r}. "
        "A mixed model needs long format (one row per measurement). Reshape first:\n"
        f"    long = data.melt(id_vars={ids!r}, value_vars={cols!r}, "
        f"var_name='time', value_name={stem!r})"
    )


def _check_frame(data) -> None:
    if not isinstance(data, pd.DataFrame):
        raise InputTypeError(
            f"data must be a pandas DataFrame in long format; got {type(data).__name__}. "
            "Convert with pd.DataFrame(...) or read it with pd.read_csv(...)."
        )
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise DataError(f"data is empty (shape {data.shape}); pass the rows to fit")
    if data.columns.duplicated().any():
        dup = sorted(set(map(str, data.columns[data.columns.duplicated()])))
        raise DataError(f"data has duplicated column names {dup}; rename them to be unique")


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
    parsed, names = parse_formula(formula, cols)
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
    if not random:
        raise FormulaError(
            f"formula {formula!r} has no random-effects term; add one such as "
            "'+ (1 | group)', or pass groups='group'"
        )
    return parsed, names, tuple(random), used


def _missing(data, used, names, missing, report):
    sub = data[used]
    na = sub.isna()
    bad = na.any(axis=1)
    counts = {c: int(na[c].sum()) for c in used if na[c].any()}
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
    return sub.loc[~bad], counts, sub.index[bad]


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


def factor_codes(frame: pd.DataFrame, factor: tuple[str, ...]) -> np.ndarray:
    if len(factor) == 1:
        return pd.factorize(frame[factor[0]], sort=True)[0]
    return frame.groupby(list(factor), sort=True, observed=True).ngroup().to_numpy()


def _check_grouping(prep: PreparedData, data: pd.DataFrame) -> None:
    frame, report = prep.frame, prep.report
    seen = set()
    for term in prep.random:
        if term.factor in seen:
            continue
        seen.add(term.factor)
        label = ":".join(prep.user(c) for c in term.factor)
        for col in term.factor:
            kinds = {type(v).__name__ for v in frame[col].to_numpy()} if \
                frame[col].dtype == object else set()
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


def prepare(
    formula,
    data,
    *,
    groups=None,
    re_formula=None,
    vc_formula=None,
    missing: str = "drop",
) -> PreparedData:
    """Run every data check and return the model frame (see module docstring)."""
    _check_frame(data)
    if missing not in ("drop", "raise"):
        raise InputTypeError(f"missing must be 'drop' or 'raise'; got {missing!r}")
    parsed, names, random, used = _parse(formula, data, groups, re_formula, vc_formula)
    report = Report("data checks")
    sub, counts, dropped_index = _missing(data, used, names, missing, report)
    if len(sub) == 0:
        raise DataError(
            "data: no rows are left after removing missing values in "
            f"{', '.join(counts)}; check those columns"
        )
    frame = sub.copy()
    frame.columns = [names.safe[c] for c in used]
    prep = PreparedData(frame, parsed, names, random, len(data), counts, dropped_index, report)
    resp = parsed.response
    if resp in frame.columns:
        _check_response(frame[resp], prep.user(resp))
    _check_grouping(prep, data)
    return prep
