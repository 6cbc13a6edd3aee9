"""Hypothesis matrices for the F test of each fixed-effect term (Types I, II and III).

The constructions are lmerTest's (Kuznetsova, Brockhoff & Christensen 2017,
``get_contrasts_type1/2/3``), on the fixed-effects design patsy built:

- Type I (sequential): rows of the Doolittle factor of X'X for the term's columns.
- Type II: the same after moving the term and the terms that contain it last.
- Type III: lmerTest's coding-independent construction.  In treatment coding,
  L = ginv(X_trt) rdX expresses the over-parameterised design rdX (every level of
  every factor) in the model's coefficients; the columns of a term contained in a
  higher-order term are orthogonalised against that term's, highest order first;
  the rows for the model's coefficients are kept and mapped to the coding the user
  chose (M = ginv(X_trt) X), so the test does not depend on contrast coding.

A term is contained in another when its variables are a proper subset of the
other's and both have the same numeric variables (lmerTest's ``term_contain``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from ..errors import FormulaError
from ..model.design import factor_column, formula_env
from ..model.state import FitState

__all__ = ["FixedTerm", "contrast_matrices", "fixed_terms"]

_EPS = 1e-6  # lmerTest's doolittle tolerance


@dataclass(frozen=True)
class FixedTerm:
    """One term of the fixed part: its label, columns of X and variables."""
    name: str
    columns: np.ndarray
    variables: frozenset
    numerics: frozenset
    order: int


def _label(state: FitState, term) -> str:
    return ":".join(state.prep.names.restore(f.code) for f in term.factors)


def fixed_terms(state: FitState) -> list[FixedTerm]:
    """The fixed-effect terms in R's order (by degree, then as written; patsy orders
    X's columns its own way), the intercept left out."""

    info = state.design_info
    written = patsy.ModelDesc.from_formula(state.prep.parsed.fixed_formula).rhs_termlist
    position = {term: i for i, term in enumerate(written)}
    out = []
    # R's order: by degree (main effects before interactions), then as written
    for term, sl in sorted(info.term_slices.items(),
                           key=lambda kv: (len(kv[0].factors), position.get(kv[0], 0))):
        if not term.factors:
            continue
        codes = frozenset(f.code for f in term.factors)
        numerics = frozenset(f.code for f in term.factors
                             if info.factor_infos[f].type == "numerical")
        out.append(FixedTerm(_label(state, term), np.arange(sl.start, sl.stop), codes, numerics,
                             len(term.factors)))
    return out


def _contained_in(term: FixedTerm, terms: list[FixedTerm]) -> list[FixedTerm]:
    return [t for t in terms if term.variables < t.variables and term.numerics == t.numerics]


def doolittle_lower(a: np.ndarray, eps: float = _EPS) -> np.ndarray:
    """The unit lower-triangular factor of lmerTest's Doolittle decomposition of ``a``."""
    n = a.shape[0]
    lower, upper = np.eye(n), np.zeros((n, n))
    for i in range(n):
        upper[i, :] = a[i, :] - lower[i, :i] @ upper[:i, :]
        if i + 1 < n:
            col = a[i + 1:, i] - lower[i + 1:, :i] @ upper[:i, i]
            lower[i + 1:, i] = 0.0 if abs(upper[i, i]) < eps else col / upper[i, i]
    lower[np.abs(lower) < eps] = 0.0
    return lower


def _type1(x: np.ndarray, terms: list[FixedTerm]) -> dict[str, np.ndarray]:
    """Sequential hypotheses, the columns taken in formula order."""
    p = x.shape[1]
    if not terms:
        return {}
    if p == 1:
        return {t.name: np.ones((1, 1)) for t in terms}
    rest = np.setdiff1d(np.arange(p), np.concatenate([t.columns for t in terms]))
    order = np.concatenate([rest] + [t.columns for t in terms])  # intercept first
    xn = x[:, order]
    lower = doolittle_lower(xn.T @ xn).T
    back = np.empty(p, dtype=int)
    back[order] = np.arange(p)
    return {t.name: lower[np.flatnonzero(np.isin(order, t.columns))][:, back] for t in terms}


def _type2(x: np.ndarray, terms: list[FixedTerm]) -> dict[str, np.ndarray]:
    if x.shape[1] <= 1 or len(terms) <= 1:
        return _type1(x, terms)
    out = {}
    p = x.shape[1]
    for term in terms:
        last = np.concatenate([term.columns] + [t.columns for t in _contained_in(term, terms)])
        order = np.r_[np.setdiff1d(np.arange(p), last), last]
        xn = x[:, order]
        lower = doolittle_lower(xn.T @ xn).T
        rows = np.flatnonzero(np.isin(order, term.columns))
        back = np.empty(p, dtype=int)
        back[order] = np.arange(p)
        out[term.name] = lower[rows][:, back]
    return out


# ------------------------------------------------------------------------ type III
def _factor_columns(state: FitState, info) -> dict:
    """Every factor evaluated on the fitted rows: level indicators, or numeric values."""
    frame = state.patsy_frame  # text factors as Categoricals: coded without per-row Python
    out = {}
    for factor, finfo in info.factor_infos.items():
        col = factor_column(factor.code)  # x, or the x of C(x)
        column = frame[col] if col in frame.columns else None
        if finfo.type == "categorical" and column is not None and \
                isinstance(column.dtype, pd.CategoricalDtype) and \
                list(column.cat.categories) == list(finfo.categories):
            # the indicators from the codes (patsy's C() would code 375,000 rows in 0.3 s)
            codes = column.cat.codes.to_numpy()
            m = np.zeros((len(codes), len(finfo.categories)))
            m[np.arange(len(codes)), codes] = 1.0
        elif finfo.type == "categorical":
            m = patsy.dmatrix(f"0 + C({factor.code}, Treatment)", frame,
                              eval_env=formula_env(None), NA_action="raise")
            if m.shape[1] != len(finfo.categories):
                raise FormulaError(f"type III tests: the levels of {factor.code!r} could not "
                                   "be recovered; use type=2")
        else:
            m = patsy.dmatrix(f"0 + {factor.code}", frame, eval_env=formula_env(None),
                              NA_action="raise")
        out[factor] = np.asarray(m)
    return out


def _row_product(blocks: list[np.ndarray]) -> np.ndarray:
    out = np.ones((blocks[0].shape[0], 1)) if blocks else None
    for b in blocks:
        out = (out[:, :, None] * b[:, None, :]).reshape(out.shape[0], -1)
    return out


def _treatment_design(info, columns) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """X in treatment coding (same column space and term slices as the user's X), rdX, and
    per term its columns in each."""
    n = next(iter(columns.values())).shape[0] if columns else 0
    x_parts, rd_parts, x_terms, rd_terms = [], [], {}, {}
    col = rd_col = 0
    for term in info.term_slices:
        start = col
        for sub in info.term_codings[term]:
            blocks = []
            for f in sub.factors:
                values = columns[f]
                if f in sub.contrast_matrices:
                    k = sub.contrast_matrices[f].matrix.shape[1]
                    values = values if k == values.shape[1] else values[:, 1:]
                blocks.append(values)
            part = _row_product(blocks) if blocks else np.ones((n, 1))
            x_parts.append(part)
            col += part.shape[1]
        x_terms[term] = np.arange(start, col)
        rd = _row_product([columns[f] for f in term.factors]) if term.factors else np.ones((n, 1))
        rd_parts.append(rd)
        rd_terms[term] = np.arange(rd_col, rd_col + rd.shape[1])
        rd_col += rd.shape[1]
    return np.hstack(x_parts), np.hstack(rd_parts), x_terms, rd_terms


def _zapsmall(a: np.ndarray, digits: int = 7) -> np.ndarray:
    big = np.max(np.abs(a)) if a.size else 0.0
    if big == 0:
        return a
    return np.round(a, max(0, digits - int(np.ceil(np.log10(big)))))


def _type3(state: FitState, x: np.ndarray, terms: list[FixedTerm]) -> dict[str, np.ndarray]:
    info = state.design_info
    if x.shape[1] <= 1 or len(terms) <= 1:
        return _type1(x, terms)
    x_trt, rdx, x_terms, rd_terms = _treatment_design(info, _factor_columns(state, info))
    # rank and pseudo-inverse on unit-norm columns: a predictor in 1e9 loses nothing
    norms = np.linalg.norm(x_trt, axis=0)
    norms[norms == 0] = 1.0
    if np.linalg.matrix_rank(x_trt / norms) < x_trt.shape[1]:
        raise FormulaError("type III tests: the treatment-coded design is not of full rank; "
                           "use type=2")
    pinv = np.linalg.pinv(x_trt / norms) / norms[:, None]
    big = _zapsmall((pinv @ rdx).T)  # rows: rdX columns, columns: X_trt coefficients
    trt_terms = {_label(state, t): x_terms[t] for t in info.term_slices if t.factors}
    by_name = {t.name: t for t in terms}
    for term in sorted(terms, key=lambda t: -t.order):
        containing = _contained_in(term, terms)
        if not containing:
            continue
        cols = trt_terms[term.name]
        others = np.concatenate([trt_terms[t.name] for t in containing])
        coef = np.linalg.lstsq(big[:, others], big[:, cols], rcond=None)[0]
        big[:, cols] = _zapsmall(big[:, cols] - big[:, others] @ coef)
    # keep the rows of rdX that are columns of X_trt: each equals a column of its term's block
    rows = [_matching_column(rdx, x_trt[:, j], rd_terms[term])
            for term, cols in x_terms.items() for j in cols]
    square = big[rows]  # (X_trt coefficient, X_trt coefficient)
    mapping = _zapsmall(pinv @ x)  # treatment coefficients as the user's
    out = {}
    for name in by_name:
        l_trt = square[:, trt_terms[name]].T @ mapping
        out[name] = l_trt[np.abs(l_trt).sum(axis=1) > 1e-8]
    return out


def _matching_column(rdx: np.ndarray, column: np.ndarray, candidates: np.ndarray) -> int:
    block = rdx[:, candidates]
    hits = candidates[np.all(np.isclose(block, column[:, None], rtol=0, atol=1e-12), axis=0)]
    if not len(hits):
        raise FormulaError("type III tests: a coefficient of this formula has no counterpart "
                           "in the cell-means design (a term without its lower-order terms?); "
                           "use type=2")
    return int(hits[0])


def contrast_matrices(state: FitState, kind: int) -> dict[str, np.ndarray]:
    """Per term (name -> L), the hypothesis matrix of the Type ``kind`` F test."""
    x = state.design.exog.to_numpy(float)
    terms = fixed_terms(state)
    if kind == 1:
        return _type1(x, terms)
    if kind == 2:
        return _type2(x, terms)
    return _type3(state, x, terms)


