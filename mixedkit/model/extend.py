"""A pilot study's design, grown or shrunk: more groups, more rows per group.

Power by simulation (:mod:`mixedkit.scale.power`) needs the design of the study one plans,
built from the pilot's (simr's ``extend``):

- **Along a grouping factor** (``n_groups``): the new design's groups are copies of
  the pilot's groups — their rows, covariates and the levels of any other factor —
  under new labels. The pilot's groups are taken in an interleaved order: groups
  with the same between-group covariates (a treatment arm constant within clusters)
  form strata, visited in turn, so a balanced pilot gives a balanced design at every
  size that the strata divide (two arms: every even number of groups). Copies made
  beyond the pilot's size cycle through the same order. Factors nested in the
  extended one must be written as nested in the formula (``(1 | school/class)``), so
  a copied school's classes are new classes too.
- **Within groups** (``n_per_group``): each group's rows are cycled to that many
  rows (row k is the pilot group's row k mod n_j): sleepstudy's ten days become
  twenty with each day twice, or five with the first five days.

The parameters carry over: the fixed effects unchanged (the design matrix has the
same columns), and theta re-expressed for the new design's column scaling.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..arguments import check_positive_int
from ..errors import InputTypeError, InputValueError, MixedkitError
from .design import Design, build_design
from .estimation import std_theta, user_theta
from .validation import PreparedData

__all__ = ["ExtendedDesign", "extend_design", "grouping_columns"]

_COPY_MARK = "#"  # copied groups are labelled "<label>#<copy>" (copy 2, 3, ...)


@dataclass(frozen=True)
class ExtendedDesign:
    """A design to simulate from: checked data, matrices, and the pilot's parameters in it."""

    prep: PreparedData
    design: Design
    theta: np.ndarray  # unit-free, statsmodels' packed order, for this design's scaling
    n_groups: int
    n_per_group: float  # rows per group (the mean when groups differ)
    along: str  # the grouping column counted by n_groups


def grouping_columns(prep) -> list[str]:
    """The user's names of the columns that define a random term's grouping factor."""
    seen: list[str] = []
    for term in prep.random:
        for safe in term.factor:
            name = prep.user(safe)
            if name not in seen:
                seen.append(name)
    return seen


def resolve_along(prep, along) -> str:
    """The grouping column to extend (the only one when ``along`` is None)."""
    columns = grouping_columns(prep)
    if along is None:
        if len(columns) == 1:
            return columns[0]
        raise InputValueError(
            f"along: the model has several grouping columns ({', '.join(map(repr, columns))}); "
            "say which one gets more (or fewer) groups, e.g. along='" + columns[0] + "'")
    if not isinstance(along, str):
        raise InputTypeError(f"along must be the name of a grouping column; got {along!r}")
    if along not in columns:
        raise InputValueError(
            f"along={along!r} is not a grouping column of the model; its grouping columns are "
            f"{', '.join(map(repr, columns))}")
    return along


def _group_order(codes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Pilot groups in an interleaved order: strata of equal between-group covariates
    visited in turn (each stratum in its pilot order)."""
    n_groups = int(codes.max()) + 1
    first = np.full(n_groups, -1)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # each group's first row
    lo = np.full((n_groups, x.shape[1]), np.inf)
    hi = np.full((n_groups, x.shape[1]), -np.inf)
    np.minimum.at(lo, codes, x)
    np.maximum.at(hi, codes, x)
    between = np.all(np.isclose(lo, hi, rtol=1e-12, atol=1e-12), axis=0)
    profile = np.round(x[first][:, between], 10)
    appearance = np.argsort(first, kind="stable")  # groups as they appear in the data
    strata: dict[tuple, list[int]] = {}
    for g in appearance:
        strata.setdefault(tuple(profile[g]), []).append(int(g))
    order = []
    for rank in range(max(len(s) for s in strata.values())):
        order += [s[rank] for s in strata.values() if rank < len(s)]
    return np.array(order)


def extended_frame(prep, design, along: str, n_groups: int | None,
                   n_per_group: int | None) -> pd.DataFrame:
    """The pilot's model frame (safe names) with ``n_groups`` groups of ``along`` and
    ``n_per_group`` rows per group (None: as in the pilot)."""
    frame = prep.frame.reset_index(drop=True)
    safe = prep.names.safe[along]
    codes = prep.codes((safe,))
    pilot_groups = int(codes.max()) + 1
    order = _group_order(codes, design.exog.to_numpy(float))
    n_groups = pilot_groups if n_groups is None else n_groups
    rows_of = [np.flatnonzero(codes == g) for g in range(pilot_groups)]
    labels = frame[safe].astype(str).to_numpy()
    pieces, new_labels = [], []
    for j in range(n_groups):
        g = order[j % pilot_groups]
        rows = rows_of[g]
        if n_per_group is not None:
            rows = rows[np.arange(n_per_group) % len(rows)]
        copy = j // pilot_groups
        label = labels[rows[0]] if copy == 0 else f"{labels[rows[0]]}{_COPY_MARK}{copy + 1}"
        pieces.append(rows)
        new_labels.append(np.full(len(rows), label, dtype=object))
    take = np.concatenate(pieces)
    out = frame.iloc[take].reset_index(drop=True)
    out[safe] = np.concatenate(new_labels)
    out.attrs["pilot_rows"] = take  # each row's pilot row (its prior weight, ...)
    return out


def extend_design(state, theta: np.ndarray, *, along: str | None = None,
                  n_groups: int | None = None, n_per_group: int | None = None) -> ExtendedDesign:
    """The pilot fit's design with ``n_groups`` groups of ``along`` and ``n_per_group``
    rows in each; ``theta`` (unit-free, for the pilot's design) carried over in the new
    design's units.

    Raises
    ------
    InputValueError
        ``along`` is not a grouping column, or the new design lacks a column of the
        pilot's (a factor level no copied group has) or cannot hold the model.
    """
    prep, design = state.prep, state.design
    n_groups = check_positive_int(n_groups, "n_groups", allow_none=True)
    n_per_group = check_positive_int(n_per_group, "n_per_group", allow_none=True)
    along = resolve_along(prep, along)
    if n_groups is None and n_per_group is None:
        new_prep, new_design = prep, design
    else:
        frame = extended_frame(prep, design, along, n_groups, n_per_group)
        weights = None if prep.weights is None else prep.weights[frame.attrs["pilot_rows"]]
        new_prep = replace(prep, frame=frame, n_input=len(frame), dropped={},
                           dropped_index=pd.Index([]), weights=weights)
        try:
            new_design = build_design(new_prep)
        except MixedkitError as err:
            raise InputValueError(
                f"the design with n_groups={n_groups}, n_per_group={n_per_group} cannot hold "
                f"the model: {err}") from None
        if list(new_design.exog.columns) != list(design.exog.columns):
            missing = sorted(set(design.exog.columns) - set(new_design.exog.columns))
            raise InputValueError(
                f"the design with n_groups={n_groups}, n_per_group={n_per_group} has no rows "
                f"for the fixed-effect column(s) {missing}: too few groups or rows carry every "
                "level; use more groups (or rows per group)")
        if new_design.n_theta != design.n_theta:
            raise InputValueError(
                f"the design with n_groups={n_groups}, n_per_group={n_per_group} changes the "
                "random-effects structure; use more groups (or rows per group)")
    theta = std_theta(new_design, user_theta(design, np.asarray(theta, float)))
    codes = new_prep.codes((prep.names.safe[along],))
    sizes = np.bincount(codes)
    return ExtendedDesign(new_prep, new_design, theta, len(sizes), float(sizes.mean()), along)
