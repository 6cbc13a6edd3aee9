"""``check_data``: every check ``fit_lmm`` makes before estimating, as a report.

Imports run one way: formula -> validation -> design -> engine, and this module
sits on top of validation and design, so the report holds exactly what
:func:`~mixedkit.fit_lmm` would raise or record in ``fit.health`` before fitting.
"""

from __future__ import annotations

from .errors import MixedkitError
from .findings import Finding, Report
from .model.design import build_design
from .model.repeated import build_repeated_design
from .model.validation import prepare

__all__ = ["check_data"]


def check_data(formula, data=None, *, groups=None, re_formula=None, vc_formula=None,
               weights=None, missing: str = "drop") -> Report:
    """Check data and formula before fitting, without estimating anything.

    Runs exactly the checks :func:`~mixedkit.fit_lmm` runs (data type, columns,
    response, grouping factors, wide format, missing values, random slopes that do
    not vary within groups, rank of the fixed-effects design, design size) and
    returns them as a report instead of raising.

    Parameters
    ----------
    formula : str
        lme4-style formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
        ``check_data(data, formula)`` is accepted too.
    data : DataFrame
        Long-format data (one row per observation). Never modified. pandas; a polars
        DataFrame, a pyarrow Table or any frame with the dataframe interchange protocol
        is converted once, as :func:`~mixedkit.fit_lmm` converts it.
    groups, re_formula, vc_formula, weights, missing
        As in :func:`~mixedkit.fit_lmm`.

    Returns
    -------
    Report
        ``report.ok`` is True when nothing failed or warned; ``report.verdict`` is
        ``"ok"``, ``"warning"`` or ``"error"``; ``report.to_frame()`` has columns
        ``check, severity, what, why, fix``. An error finding carries the message
        fit_lmm would raise.
    """
    if not isinstance(formula, str) and isinstance(data, str):  # check_data(data, formula)
        formula, data = data, formula
    report = Report("data checks")
    try:
        prep = prepare(formula, data, groups=groups, re_formula=re_formula, warn_dropped=False,
                       vc_formula=vc_formula, missing=missing, weights=weights)
        report.findings.extend(prep.report.findings)
        residual = prep.parsed.residual
        design = build_design(prep) if residual is None else build_repeated_design(prep)
        report.findings.extend(design.findings)  # scaling, design size: as fit.health shows
    except MixedkitError as err:
        report.add(Finding("input", "error", f"{type(err).__name__}: {err}"))
        return report
    what = (f"random terms {', '.join(dict.fromkeys(t.source for t in prep.random))}"
            if residual is None else
            f"residual structure {residual.source} ({design.likelihood.n_subjects} subjects, "
            f"{len(design.likelihood.patterns) or len(design.likelihood.batches)} visit "
            "patterns)")
    report.add(Finding("data", "ok", f"{len(prep.frame)} rows, response "
                       f"{prep.user(prep.parsed.response)!r}, {what}."))
    return report
