"""The profiled likelihood of statsmodels' ``MixedLM``, evaluated fast and exactly.

statsmodels defines the model: y = X beta + Z b + e, b ~ N(0, sigma^2 Lambda Lambda'),
e ~ N(0, sigma^2 I), with Lambda the relative Cholesky factor packed in ``theta``
(``MixedLM.loglike(theta, profile_fe=True)`` with ``use_sqrt=True``).  Its own
evaluation loops over groups in Python and switches to a pseudo-inverse near a zero
variance.  This module evaluates the same function in lme4's formulation (Bates,
Maechler, Bolker & Walker 2015, J. Stat. Softw. 67(1), section 3):

    M = Lambda' Z'Z Lambda + I,      T = [X y]'[X y] - Phi' M^-1 Phi,   Phi = Lambda' Z'[X y]

    T_xx = X' V^-1 X,  beta = T_xx^-1 T_xy,  r2 = T_yy - T_xy' beta    (V = I + Z Lambda Lambda' Z')
    -2 l_ML   = log|M|              + n (1 + log(2 pi r2 / n))
    -2 l_REML = log|M| + log|T_xx|  + (n - p) (1 + log(2 pi r2 / (n - p)))

Every quantity comes from cross-products formed once per model (Z'Z, Z'X, Z'y,
X'X, ...), so an evaluation never touches the n rows and has no Python loop over
groups.  M has eigenvalues >= 1 for every theta, theta = 0 included, so the
likelihood is exact and smooth on the boundary.

Structure.  Each :class:`RandomFactor` (a random term on one grouping factor) has a
q x q block of Lambda per level.  The factor with the most columns is *primary*: its
part of M is block diagonal (one q x q block per level), handled as a stack of small
matrices.  All other factors (crossed, nested or partially crossed, q_j columns per
level) are *secondary*: their part of M is reduced to the Schur complement
S = C - B' A^-1 B, which splits into connected components (one per top-level group for
nested designs, one dense block for crossed ones), each factorised densely.  Within S,
Lambda_2 mixes the columns of one level, so Z_2'Z_2 is kept as full q_j1 x q_j2 blocks
for every pair of levels that share a row.

The gradient in theta is analytic: with Psi = M^-1 Phi and E = Z'[X y] - Z'Z Lambda Psi,
d T = -2 sym((dLambda Psi)' E) and d log|M| = 2 tr(M^-1 Lambda' Z'Z dLambda), which
needs M^-1 only where Z'Z is non-zero (a selected inverse, read off the block
factorisation).  Tests assert equality with statsmodels' ``loglike`` and ``score``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.linalg import blas, lapack
from scipy.sparse import csgraph
from threadpoolctl import ThreadpoolController

__all__ = ["Engine", "EngineTooLargeError", "Evaluation", "RandomFactor", "Solution", "blas_threads",
           "physical_memory", "scaled_inverse"]

_LOG_2PI = float(np.log(2 * np.pi))
_FLOPS_PER_SECOND = 5e9  # dense factorisations on one core of a small machine (measured)
_CONTROLLER = None


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def blas_threads():
    """One BLAS thread for every evaluation, whatever the size of its dense blocks.

    The rule, measured with ``benchmarks/bench_threads.py`` on the final engine of issue 19
    (2 cores, OpenBLAS; a *busy neighbour* is another process multiplying 1500 x 1500
    matrices with numpy's default two threads, as a second notebook kernel would):

    ================================  ========  =========  ========  =========
    (seconds, medians)                idle, 1   idle, 2    busy, 1   busy, 2
    ================================  ========  =========  ========  =========
    factor + inverse, 64 x 64         0.0011    0.0011     0.0011    0.0012
    factor + inverse, 256 x 256       0.0029    0.0027     0.0077    0.0085
    factor + inverse, 1128 x 1128     0.064     0.050      0.093     0.225
    factor + inverse, 2048 x 2048     0.43      0.35       0.59      3.42
    sleepstudy fit (2 x 2 blocks)     0.0056    0.0053     0.0058    0.056
    InstEval fit (one 1128 block)     1.37      1.08       2.12      3.25
    ================================  ========  =========  ========  =========

    A second thread gains about 20 % on large factorisations of an idle machine (InstEval
    1.37 -> 1.08 s), and costs 1.5-10x beside a busy neighbour, where it spins waiting for
    a core the other process holds (an earlier engine, with many small products per
    evaluation, took 26 s there against 4.7 s). One thread degrades only with its share of
    the cores: InstEval 1.55x idle beside the neighbour (1.5x is the fair share of 2 cores
    among 3 busy threads). Never more threads than the caller set either: a bootstrap
    worker limited to one stays at one.
    """
    return _controller().limit(limits=1, user_api="blas")


class EngineTooLargeError(MemoryError):
    """The design's factorisation would not fit in memory (see ``Engine.cost``)."""


@dataclass(frozen=True)
class RandomFactor:
    """All random terms on one grouping factor.

    Attributes
    ----------
    name : str
        Label (for messages).
    codes : ndarray of int, shape (n,)
        Each row's level, 0 .. n_levels - 1.
    n_levels : int
    z : ndarray, shape (n, q)
        The random-design columns of every term on this factor.
    theta_pos : tuple of (k, a, b)
        ``theta[k]`` is entry (a, b) of this factor's q x q block of Lambda; the
        other entries are 0.
    """

    name: str
    codes: np.ndarray
    n_levels: int
    z: np.ndarray
    theta_pos: tuple

    @property
    def q(self) -> int:
        return self.z.shape[1]

    def lam(self, theta: np.ndarray) -> np.ndarray:
        out = np.zeros((self.q, self.q))
        for k, a, b in self.theta_pos:
            out[a, b] = theta[k]
        return out


@dataclass
class Solution:
    """Everything the engine knows at one theta (REML or ML).

    ``beta`` and ``sigma2`` are profiled as statsmodels and lme4 profile them;
    ``xtvx`` is X' V^-1 X for the relative V (so ``sigma2 * inv(xtvx)`` is the
    covariance of ``beta``); ``b`` are the conditional modes per factor, shape
    (n_levels, q); ``b_cov`` their conditional covariance per level divided by
    sigma2, shape (n_levels, q, q).
    """

    theta: np.ndarray
    reml: bool
    loglik: float
    beta: np.ndarray
    sigma2: float
    xtvx: np.ndarray
    b: list
    b_cov: list


class Evaluation(NamedTuple):
    """One evaluation at theta: ``gradient`` is None unless asked for."""
    loglik: float
    gradient: np.ndarray | None
    sigma2: float
    xtvx: np.ndarray


def _inv_logdet(a: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverse and log-determinant of a stack (L, q, q) of SPD matrices (eigenvalues >= 1)."""
    q = a.shape[-1]
    if q == 1:
        return 1.0 / a, float(np.log(a[:, 0, 0]).sum())
    if q == 2:
        a00, a01, a11 = a[:, 0, 0], a[:, 0, 1], a[:, 1, 1]
        det = a00 * a11 - a01 * a01
        inv = np.empty_like(a)
        inv[:, 0, 0], inv[:, 1, 1] = a11 / det, a00 / det
        inv[:, 0, 1] = inv[:, 1, 0] = -a01 / det
        return inv, float(np.log(det).sum())
    if q >= 64:  # few large blocks: LAPACK's Cholesky and inverse from it, in place
        inv = np.empty_like(a)
        logdet = 0.0
        for i, block in enumerate(a):
            chol, info = lapack.dpotrf(block, lower=1)
            if info:
                raise np.linalg.LinAlgError("Schur complement is not positive definite")
            logdet += 2.0 * float(np.log(np.diagonal(chol)).sum())
            lower, info = lapack.dpotri(chol, lower=1)
            inv[i] = np.tril(lower) + np.tril(lower, -1).T
        return inv, logdet
    chol = np.linalg.cholesky(a)
    logdet = 2.0 * float(np.log(np.diagonal(chol, axis1=1, axis2=2)).sum())
    eye = np.broadcast_to(np.eye(q), a.shape)
    inv = np.linalg.solve(a, eye)
    return (inv + np.swapaxes(inv, 1, 2)) / 2, logdet


# Components of S with at least this many columns are factorised by LAPACK and kept as
# their lower triangle only (row >= column, row-major): assembling, symmetrising and
# reading the other half cost as much as the factorisation (InstEval, one 1,128 block:
# 148 -> 113 ms an evaluation).
_LOWER_ONLY = 64


def _inv_logdet_lower(a: np.ndarray) -> float:
    """:func:`_inv_logdet` for a C-contiguous stack of large blocks given by their lower
    triangles, inverted in place; returns the log-determinant.

    Entries above the diagonal are never read, and those of the result are not set.
    A row-major lower triangle is LAPACK's (column-major) upper one, so the transposed
    view goes to ``dpotrf``/``dpotri`` as it is: no copy in, none out.
    """
    logdet = 0.0
    for block in a:
        chol, info = lapack.dpotrf(block.T, lower=0, overwrite_a=1)
        if info:
            raise np.linalg.LinAlgError("Schur complement is not positive definite")
        logdet += 2.0 * float(np.log(np.diagonal(chol)).sum())
        inv, info = lapack.dpotri(chol, lower=0, overwrite_c=1)
        if not np.shares_memory(inv, block):  # f2py copied after all (not contiguous)
            block.T[...] = inv
    return logdet


def segment_sum(values: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
    """Sum rows of ``values`` (first axis) into ``size`` bins by ``index``."""
    flat = values.reshape(len(values), -1)
    if flat.shape[1] >= 8:  # one sparse product beats a bincount per column (measured)
        indicator = sparse.csr_array((np.ones(len(index)), (index, np.arange(len(index)))),
                                     shape=(size, len(index)))
        return np.asarray(indicator @ flat).reshape((size,) + values.shape[1:])
    out = np.zeros((size, flat.shape[1]))
    if len(values):
        for j in range(flat.shape[1]):
            out[:, j] = np.bincount(index, weights=flat[:, j], minlength=size)
    return out.reshape((size,) + values.shape[1:])


@dataclass
class _Components:
    """The secondary levels split into the connected components of S."""
    sizes: list  # one entry per size class
    members: list  # per class: (k, s) secondary indices
    base: list  # per class: offset in the flat stack
    comp_pos: np.ndarray  # per secondary index: flat offset of its component block
    local: np.ndarray  # per secondary index: position in its component
    size_of: np.ndarray  # per secondary index: its component's size
    total: int

    def flat(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Flat stack positions of entries (rows, cols) of the same component; in
        components of ``_LOWER_ONLY`` columns or more, of (cols, rows) above the diagonal
        (S and S^-1 are symmetric, and only their lower triangle is kept there)."""
        i, j = self.local[rows], self.local[cols]
        upper = (self.size_of[rows] >= _LOWER_ONLY) & (i < j)
        return self.comp_pos[rows] + np.where(upper, j, i) * self.size_of[rows] + \
            np.where(upper, i, j)

    def upper(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Whether entries (rows, cols) are ones :meth:`flat` folds onto the lower triangle."""
        return (self.size_of[rows] >= _LOWER_ONLY) & (self.local[rows] < self.local[cols])


class Engine:
    """Profiled (REML or ML) log-likelihood of one model, its gradient and solution.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Fixed-effects design.
    y : ndarray, shape (n,)
        Response.
    factors : list of RandomFactor
        The random terms, each a q x q block of Lambda per level of its factor
        (q >= 1); crossed, nested or partially crossed.
    n_theta : int
        Length of theta (statsmodels' packed covariance parameters).
    memory_limit : float, optional
        Bytes the factorisation may use; :class:`EngineTooLargeError` beyond.
    weights : ndarray, shape (n,), optional
        Prior weights w (lme4's): the residual covariance is sigma^2 W^-1 instead of
        sigma^2 I.

    Notes
    -----
    The residual covariance enters only here: with R = W^-1 = R^(1/2) R^(1/2)', the
    rows of X, y and Z are multiplied by R^(-1/2) (sqrt(w)) once, the model becomes one
    with residual covariance sigma^2 I, and the log-likelihood gains the Jacobian
    -log|R^(1/2)| = sum(log w) / 2.  ``factors`` (and :attr:`x`) hold the transformed
    columns; the caller's are ``design.factors()``.  A residual correlation within a
    group is the same step with a block R^(1/2) per group whose parameters join theta.
    """

    _last = None  # (theta, reml, loglik, state) of the last loglik_and_gradient

    def __init__(self, x: np.ndarray, y: np.ndarray, factors: list[RandomFactor],
                 n_theta: int, memory_limit: float | None = None,
                 weights: np.ndarray | None = None):
        self.memory_limit = memory_limit
        self.weights = None if weights is None else np.asarray(weights, float)
        self._sqrt_w = None if weights is None else np.sqrt(self.weights)
        self._log_jacobian = 0.0 if weights is None else 0.5 * float(np.log(self.weights).sum())
        x = self.weighted(np.asarray(x, float))
        y = self.weighted(np.asarray(y, float))
        self.n, self.p = x.shape
        self.n_theta = int(n_theta)
        if self._sqrt_w is not None:
            factors = [replace(f, z=self.weighted(f.z)) for f in factors]
        self.factors = list(factors)
        # The factor with the most columns is eliminated level by level (its blocks are
        # independent); the others meet in the Schur complement, which is dense where they
        # cross, so it should be the smaller part.
        self.primary = int(np.argmax([f.n_levels * f.q for f in self.factors]))
        self.secondary = [i for i in range(len(self.factors)) if i != self.primary]
        self._x = x
        self._structure()
        self._set_response(y)

    def with_fixed(self, x: np.ndarray, y: np.ndarray) -> Engine:
        """The same random-effects structure with another fixed design and response
        (profiles of fixed effects: a column moved into an offset)."""
        new = copy.copy(self)
        new._last = None
        new._x = self.weighted(np.asarray(x, float))
        new.n, new.p = new._x.shape
        new._set_response(self.weighted(np.asarray(y, float)))
        return new

    def with_response(self, y: np.ndarray) -> Engine:
        """The same model for another response (the random-effects structure is shared)."""
        new = copy.copy(self)
        new._last = None
        new._set_response(self.weighted(np.asarray(y, float)))
        return new

    def weighted(self, a: np.ndarray) -> np.ndarray:
        """Rows of ``a`` (the caller's X, y or Z) as the engine holds them: times sqrt(w)."""
        if self._sqrt_w is None:
            return a
        return a * (self._sqrt_w if a.ndim == 1 else self._sqrt_w[:, None])

    # ------------------------------------------------------------------ set-up
    def _set_response(self, y: np.ndarray) -> None:
        x = self._x
        # The penalised residual sum of squares never goes below this: on data the model
        # interpolates it is 0 up to rounding (+-1e-30, or exactly 0 with another numpy),
        # and its log would make the likelihood infinite or NaN. At the floor the fit is
        # returned with a residual variance ~1e-31 of the response's, which fit.health
        # reports as an error ("the model interpolates the data").
        self._r2_floor = len(y) * (np.finfo(float).eps ** 2) * max(float(np.var(y)),
                                                                  np.finfo(float).tiny)
        # y replaced by its OLS residual: the likelihood is unchanged, the quadratic
        # forms lose their cancellation; the OLS coefficients are added back to beta.
        if self.p:
            self.beta_ols = np.linalg.lstsq(x, y, rcond=None)[0]
            y = y - x @ self.beta_ols
        else:
            self.beta_ols = np.zeros(0)
        self._y = y
        xy = np.column_stack([x, y])
        fp = self.factors[self.primary]
        self.xy_xy = xy.T @ xy
        self.ztxy_p = segment_sum(fp.z[:, :, None] * xy[:, None, :], fp.codes, self.L)
        if self.Q2:
            self.ztxy_2 = self._z2t @ xy

    def _structure(self) -> None:
        fp = self.factors[self.primary]
        zp = fp.z
        self.L, self.q = fp.n_levels, fp.q
        # Z'Z of the primary factor, one block per level.
        self.ztz_p = segment_sum(zp[:, :, None] * zp[:, None, :], fp.codes, self.L)
        # Secondary factors: q_j columns per level, level-major, factor after factor.
        sec = [self.factors[i] for i in self.secondary]
        self.sec_offsets = np.cumsum([0] + [f.n_levels * f.q for f in sec])
        self.Q2 = int(self.sec_offsets[-1])
        self.largest_block = 0
        self._flops = 0.0
        if not self.Q2:
            self.n_pairs = 0
            return
        n = self.n
        cols = [self.sec_offsets[j] + f.codes[:, None] * f.q + np.arange(f.q)
                for j, f in enumerate(sec)]
        width = sum(f.q for f in sec)
        z2 = sparse.csr_array((np.concatenate([f.z for f in sec], axis=1).ravel(),
                               (np.repeat(np.arange(n), width),
                                np.concatenate(cols, axis=1).ravel())), shape=(n, self.Q2))
        z2t = z2.T.tocsr()
        self._z2t = z2t
        self.ztz_22 = (z2t @ z2).tocsr()  # an operator only: scipy drops computed zeros
        # Z_2'Z_2 as full q_j1 x q_j2 blocks for every pair of levels that share a row:
        # Lambda_2' C Lambda_2 mixes the columns of a level, so the pattern is by level.
        self._cblocks = []
        for j1, f1 in enumerate(sec):
            for j2, f2 in enumerate(sec):
                key = f1.codes.astype(np.int64) * f2.n_levels + f2.codes
                ukey, inverse = np.unique(key, return_inverse=True)
                vals = segment_sum(f1.z[:, :, None] * f2.z[:, None, :], inverse.ravel(),
                                   len(ukey))
                rows = self.sec_offsets[j1] + (ukey // f2.n_levels)[:, None] * f1.q \
                    + np.arange(f1.q)
                cols_ = self.sec_offsets[j2] + (ukey % f2.n_levels)[:, None] * f2.q \
                    + np.arange(f2.q)
                self._cblocks.append((j1, j2, vals, rows, cols_))
        # Z_P' Z_2 as pairs (primary level, secondary column) with a q-vector each; the
        # pairs of one (primary level, secondary level) are q_j consecutive pairs.
        pair_l, pair_m, pair_v = [], [], []
        for j, f in enumerate(sec):
            key = fp.codes.astype(np.int64) * f.n_levels + f.codes
            ukey, inverse = np.unique(key, return_inverse=True)
            g = segment_sum(f.z[:, :, None] * zp[:, None, :], inverse.ravel(), len(ukey))
            pair_l.append(np.repeat(ukey // f.n_levels, f.q))
            pair_m.append((self.sec_offsets[j] + (ukey % f.n_levels)[:, None] * f.q
                           + np.arange(f.q)).ravel())
            pair_v.append(g.reshape(-1, self.q))
        lengths = [len(v) for v in pair_l]
        pair_l, pair_m = np.concatenate(pair_l), np.concatenate(pair_m)
        order = np.lexsort((pair_m, pair_l))
        self.n_pairs = len(order)
        self.pair_l = pair_l[order].astype(np.intp)
        self.pair_m = pair_m[order].astype(np.intp)
        self.ztz_p2 = np.concatenate(pair_v)[order]
        position = np.empty(self.n_pairs, dtype=np.intp)
        position[order] = np.arange(self.n_pairs)
        sizes = np.r_[0, np.cumsum(lengths)]
        # per secondary factor: (pair units, q_j) positions of its pairs
        self.pair_units = [position[sizes[j]:sizes[j + 1]].reshape(-1, f.q)
                           for j, f in enumerate(sec)]
        self._components()

    def _components(self) -> None:
        """Connected components of S and the index arrays of its assembly."""
        # Pairs are sorted by primary level: the pairs of level l are a contiguous run.
        starts = np.flatnonzero(np.r_[True, np.diff(self.pair_l) != 0])
        counts = np.diff(np.r_[starts, self.n_pairs])
        n_triples = int((counts.astype(np.int64) ** 2).sum())
        first = np.repeat(self.pair_m[starts], counts)
        c_rows = np.concatenate([np.broadcast_to(r[:, :, None], v.shape).ravel()
                                 for _, _, v, r, _ in self._cblocks])
        c_cols = np.concatenate([np.broadcast_to(c[:, None, :], v.shape).ravel()
                                 for _, _, v, _, c in self._cblocks])
        graph = sparse.coo_array(
            (np.ones(len(c_rows) + self.n_pairs),
             (np.r_[c_rows, first], np.r_[c_cols, self.pair_m])),
            shape=(self.Q2, self.Q2))
        n_comp, label = csgraph.connected_components(graph, directed=False)
        comp_size = np.bincount(label, minlength=n_comp)
        self.largest_block = int(comp_size.max())
        self._flops = float((comp_size.astype(float) ** 3).sum() * 4 / 3
                            + n_triples * 4 * self.q + len(c_rows) * 4)
        # per triple: three indices and about four q-vectors of temporaries; per dense
        # block: the block and its inverse; per entry of Z_2'Z_2: its value and position.
        needed = (n_triples * 8 * (3 + 4 * self.q) + len(c_rows) * 8 * 4
                  + 2 * 8 * float((comp_size.astype(float) ** 2).sum()))
        if self.memory_limit is not None and needed > self.memory_limit:
            raise EngineTooLargeError(
                f"its factorisation needs about {needed / 1e9:.1f} GB (limit "
                f"{self.memory_limit / 1e9:.1f} GB): the largest dense block of crossed or "
                f"nested random effects has {self.largest_block:,} columns and "
                f"{n_triples:,} cross-products are formed per evaluation")
        order = np.argsort(label, kind="stable")
        local = np.empty(self.Q2, dtype=np.intp)
        comp_start = np.r_[0, np.cumsum(comp_size)[:-1]]
        local[order] = np.arange(self.Q2) - np.repeat(comp_start, comp_size)
        comp_pos = np.zeros(n_comp, dtype=np.int64)
        sizes, members, base = [], [], []
        offset = 0
        for s in np.unique(comp_size):
            comps = np.flatnonzero(comp_size == s)
            mem = np.empty((len(comps), s), dtype=np.intp)
            rank = np.empty(n_comp, dtype=np.intp)
            rank[comps] = np.arange(len(comps))
            in_class = np.isin(label, comps)
            idx = np.flatnonzero(in_class)
            mem[rank[label[idx]], local[idx]] = idx
            comp_pos[comps] = offset + np.arange(len(comps)) * s * s
            sizes.append(int(s))
            members.append(mem)
            base.append(offset)
            offset += len(comps) * int(s) * int(s)
        self.comp = _Components(sizes, members, base, comp_pos[label], local,
                                comp_size[label], offset)
        # The pairs of one primary level l meet in S -= B_l' A_l^-1 B_l: a dense c x c block
        # for a level with c pairs. Levels with the same c are stacked, so that block is one
        # batched matrix product: (pair indices (n, c), positions in S (n, c, c)) per c.
        self._runs = []
        for c in np.unique(counts):
            first = starts[counts == c]
            idx = first[:, None] + np.arange(c)
            m = self.pair_m[idx]
            self._runs.append((idx, self.comp.flat(m[:, :, None], m[:, None, :])))
        # B' A^-1 B is assembled from its triples (level l, pair i, pair j), each adding
        # b_i' A_l^-1 b_j = b_i . w_j to one entry of S: gathered and summed in one pass,
        # into the distinct entries they reach (compact bins: InstEval's 1.3 million
        # triples reach 129,000 of S's 1.3 million entries), then added to S. A level's
        # block is symmetric, so where S keeps only its lower triangle the triples above
        # the diagonal are left out. 25 -> 9 ms an evaluation on InstEval against a
        # batched product per run of levels and a scatter into the whole of S.
        tri_i, tri_j, tri_pos = [], [], []
        for idx, pos in self._runs:
            m = self.pair_m[idx]
            keep = ~self.comp.upper(m[:, :, None], m[:, None, :])
            shape = pos.shape
            tri_i.append(np.broadcast_to(idx[:, :, None], shape)[keep])
            tri_j.append(np.broadcast_to(idx[:, None, :], shape)[keep])
            tri_pos.append(pos[keep])
        self._tri_i, self._tri_j = np.concatenate(tri_i), np.concatenate(tri_j)
        tri_pos = np.concatenate(tri_pos)
        # Every factor with one column (crossed or nested intercepts, the commonest
        # case): b_i . w_j = z_i z_j lambda_P^2 lambda_f(i) lambda_f(j) / a_l, so each
        # triple keeps the fixed product z_i z_j and its level (a gather from L numbers
        # per evaluation instead of two from the pairs: InstEval 8.7 -> 1.9 ms).
        self._tri_v = self._tri_l = self._tri_ff = None
        if self.q == 1 and all(self.factors[i].q == 1 for i in self.secondary):
            z = self.ztz_p2[:, 0]
            self._tri_v = z[self._tri_i] * z[self._tri_j]
            self._tri_l = self.pair_l[self._tri_i]
            if len(self.secondary) > 1:  # which two secondary factors a triple joins
                fac = np.searchsorted(self.sec_offsets, self.pair_m, side="right") - 1
                self._tri_ff = fac[self._tri_i] * len(self.secondary) + fac[self._tri_j]
            self._tri_i = self._tri_j = None
        reached = np.zeros(self.comp.total, dtype=bool)
        reached[tri_pos] = True  # np.unique, without sorting a million positions
        self._tri_pos = np.flatnonzero(reached)
        self._tri_bin = (np.cumsum(reached) - 1)[tri_pos]
        # Crossed factors (one dense component): B' A^-1 B as one dense product when its
        # flops are few against the scattered pair products (a lexical-decision design,
        # 600 items x 45 subjects with slopes: 9.7e6 BLAS flops instead of 1.2e6 scattered
        # products, 3x faster), and B fits in memory.
        dense_flops = float(self.L * self.q) * self.Q2 * self.Q2
        single = len(members) == 1 and len(members[0]) == 1  # one component holds all of S
        self._dense_order = members[0][0] if single else None
        self._dense_schur = (single and dense_flops <= 30.0 * n_triples
                             and self.L * self.q * self.Q2 * 8 <= 2e8)
        # each block of Z_2'Z_2 with the positions of its entries in the flat stack
        self._cblocks = [(j1, j2, vals, self.comp.flat(rows[:, :, None], cols[:, None, :]))
                         for j1, j2, vals, rows, cols in self._cblocks]
        self.diag_pos = self.comp.flat(np.arange(self.Q2), np.arange(self.Q2))
        # per secondary factor: positions of each level's diagonal q_j x q_j block of S
        self.unit_diag_pos = []
        for j, i in enumerate(self.secondary):
            f = self.factors[i]
            c = self.sec_offsets[j] + np.arange(f.n_levels)[:, None] * f.q + np.arange(f.q)
            self.unit_diag_pos.append(self.comp.flat(c[:, :, None], c[:, None, :]))

    def seconds_per_evaluation(self) -> float:
        """A rough estimate of one likelihood-and-gradient evaluation."""
        primary = self.L * (self.q**3 + self.q**2 * (self.p + 1)) * 10
        return (self._flops + primary) / _FLOPS_PER_SECOND

    # -------------------------------------------------------------- evaluation
    def loglik(self, theta: np.ndarray, reml: bool) -> float:
        """statsmodels' ``MixedLM.loglike(theta, profile_fe=True)``."""
        return self._evaluate(np.asarray(theta, float), reml, gradient=False)[0]

    def loglik_and_gradient(self, theta: np.ndarray, reml: bool) -> tuple[float, np.ndarray]:
        """The log-likelihood and statsmodels' ``MixedLM.score(theta, profile_fe=True)``.

        The evaluation's intermediate results are kept until the next call or
        :meth:`solve`: the optimiser's last point is usually the optimum, which
        :meth:`solve` then need not evaluate again.
        """
        theta = np.asarray(theta, float)
        ll, grad, st = self._evaluate(theta, reml, gradient=True)
        self._last = (theta.tobytes(), bool(reml), ll, st)
        return ll, grad

    def profile(self, theta: np.ndarray, reml: bool) -> tuple[float, float, np.ndarray]:
        """The log-likelihood, profiled residual variance and X' V^-1 X at theta."""
        ev = self.evaluate(theta, reml)
        return ev.loglik, ev.sigma2, ev.xtvx

    def evaluate(self, theta: np.ndarray, reml: bool, gradient: bool = False) -> Evaluation:
        """Log-likelihood, (optionally) its gradient, sigma^2 and X' V^-1 X in one pass."""
        ll, grad, st = self._evaluate(np.asarray(theta, float), reml, gradient=gradient)
        return Evaluation(ll, grad, st.r2 / st.m, st.t[:self.p, :self.p])

    def solve(self, theta: np.ndarray, reml: bool) -> Solution:
        """Fixed effects, residual variance, conditional modes and variances at theta."""
        theta = np.asarray(theta, float)
        last, self._last = self._last, None  # not kept alive with the fit
        if last is not None and last[:2] == (theta.tobytes(), bool(reml)):
            ll, st = last[2], last[3]
        else:
            ll, _, st = self._evaluate(theta, reml, gradient=False)
        return self._solution(theta, reml, ll, st)

    def group_pieces(self, theta: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
        """Each top-level group's share of [X y]' V^-1 [X y] at theta, shape (G, p+1, p+1).

        Valid when every random factor is nested in ``groups`` (row codes 0..G-1):
        V is then block diagonal by group and the shares add up to T.  ``y`` is the
        engine's (its OLS residual: solve a share for ``beta - beta_ols``).
        """
        theta = np.asarray(theta, float)
        _, _, st = self._evaluate(theta, True, gradient=False)
        xy = np.column_stack([self._x, self._y])
        indicator = sparse.csr_array((np.ones(len(groups)), (groups, np.arange(len(groups)))),
                                     shape=(n_groups, len(groups)))
        pieces = np.empty((n_groups, self.p + 1, self.p + 1))
        for r in range(self.p + 1):  # column by column: no (n, p+1, p+1) temporary
            pieces[:, r, :] = indicator @ (xy * xy[:, r:r + 1])
        fp = self.factors[self.primary]
        group_of = np.zeros(self.L, dtype=np.intp)
        group_of[fp.codes] = groups
        pieces -= segment_sum(np.einsum("lir,lis->lrs", st.r1, st.psi1), group_of, n_groups)
        if self.Q2:
            sec_group = np.zeros(self.Q2, dtype=np.intp)
            for j, i in enumerate(self.secondary):
                f = self.factors[i]
                for c in range(f.q):
                    sec_group[self.sec_offsets[j] + f.codes * f.q + c] = groups
            pieces -= segment_sum(st.r2_mat[:, :, None] * st.psi2[:, None, :], sec_group,
                                   n_groups)
        return pieces

    def _evaluate(self, theta, reml, gradient):
        with blas_threads():
            return self._evaluate_here(theta, reml, gradient)

    def _evaluate_here(self, theta, reml, gradient):
        fp = self.factors[self.primary]
        lam = fp.lam(theta)
        st = _State()
        # Primary blocks: A = lam' Z'Z lam + I, per level.
        a = lam.T @ self.ztz_p @ lam
        a += np.eye(self.q)
        ainv, logdet = _inv_logdet(a)
        r1 = lam.T @ self.ztxy_p  # Lambda' Z'[X y], per level
        y1 = ainv @ r1
        if self.Q2:
            lams = [self.factors[i].lam(theta) for i in self.secondary]
            zl2 = self._pairs_times_lambda2(lams)
            b = zl2 @ lam  # Lambda_P' Z_P'Z_2 Lambda_2 on the pairs
            w = np.einsum("pij,pj->pi", ainv[self.pair_l], b)
            flat = np.zeros(self.comp.total)
            for j1, j2, vals, pos in self._cblocks:  # Lambda_2' Z_2'Z_2 Lambda_2
                flat[pos] = _sandwich(lams[j1], vals, lams[j2])
            flat[self.diag_pos] += 1.0
            if self._dense_schur:
                bd = self._dense_pairs(b)
                wd = (ainv @ bd).reshape(-1, self.Q2)
                order = self._dense_order
                flat -= (bd.reshape(-1, self.Q2).T @ wd)[np.ix_(order, order)].ravel()
                st.update(wd=wd)
            else:
                if self._tri_v is not None:  # every factor with one column
                    bw = self._tri_v * (lam[0, 0] ** 2 * ainv[:, 0, 0])[self._tri_l]
                    lam2 = np.array([lam_j[0, 0] for lam_j in lams])
                    bw *= np.outer(lam2, lam2).ravel()[self._tri_ff] \
                        if self._tri_ff is not None else lam2[0] ** 2
                elif self.q == 1:  # b_i . w_j for every triple
                    bw = np.take(b.ravel(), self._tri_i) * np.take(w.ravel(), self._tri_j)
                else:
                    bw = np.einsum("tk,tk->t", b[self._tri_i], w[self._tri_j])
                flat[self._tri_pos] -= np.bincount(self._tri_bin, weights=bw,
                                                   minlength=len(self._tri_pos))
            sinv_flat, logdet_s = self._factor_components(flat)
            logdet += logdet_s
            r2 = self._lambda2_times(lams, self.ztxy_2, transpose=True)
            rhs2 = r2 - segment_sum(np.einsum("pi,pir->pr", b, y1[self.pair_l]), self.pair_m,
                                     self.Q2)
            psi2 = self._component_solve(sinv_flat, rhs2)
            psi1 = y1 - segment_sum(w[:, :, None] * psi2[self.pair_m, None, :], self.pair_l,
                                     self.L)
            t = self.xy_xy - np.einsum("lir,lis->rs", r1, psi1) - r2.T @ psi2
            st.update(b=b, w=w, sinv_flat=sinv_flat, psi2=psi2, lams=lams, zl2=zl2, r2_mat=r2)
        else:
            psi1 = y1
            t = self.xy_xy - np.einsum("lir,lis->rs", r1, psi1)
        st.update(lam=lam, ainv=ainv, psi1=psi1, t=t, r1=r1)
        p, n = self.p, self.n
        txx = t[:p, :p]
        if p:
            beta_c = np.linalg.solve(txx, t[:p, p])
            _, logdet_x = np.linalg.slogdet(txx)
        else:
            beta_c, logdet_x = np.zeros(0), 0.0
        r2_pen = max(float(t[p, p] - t[:p, p] @ beta_c), self._r2_floor)
        m = n - p if reml else n
        dev = logdet + m * (1 + _LOG_2PI + np.log(r2_pen / m))
        if reml:
            dev += logdet_x
        st.update(beta_c=beta_c, r2=r2_pen, m=m)
        grad = self._gradient(theta, reml, st) if gradient else None
        return -dev / 2 + self._log_jacobian, grad, st

    def _pairs_times_lambda2(self, lams: list) -> np.ndarray:
        """(Lambda_2' Z_2'Z_P) on the pairs: each pair's q-vector of Z_P'Z_2, mixed with
        the other columns of its secondary level by that factor's block of Lambda."""
        out = np.empty_like(self.ztz_p2)
        for idx, lam_j in zip(self.pair_units, lams):
            if lam_j.shape == (1, 1):
                out[idx[:, 0]] = self.ztz_p2[idx[:, 0]] * lam_j[0, 0]
            else:
                out[idx] = lam_j.T @ self.ztz_p2[idx]
        return out

    def _lambda2_times(self, lams: list, arr: np.ndarray, transpose: bool) -> np.ndarray:
        """Lambda_2 @ arr (or Lambda_2' @ arr) for arr with one row per secondary column."""
        out = np.empty_like(arr)
        for j, i in enumerate(self.secondary):
            sl = slice(self.sec_offsets[j], self.sec_offsets[j + 1])
            f, lam_j = self.factors[i], lams[j].T if transpose else lams[j]
            if f.q == 1:
                out[sl] = arr[sl] * lam_j[0, 0]
            else:
                out[sl] = (lam_j @ arr[sl].reshape(f.n_levels, f.q, -1)).reshape(arr[sl].shape)
        return out

    def _secondary_traces(self, st, x12: np.ndarray, lams: list) -> list:
        """Per secondary factor: K[b, a] = sum over its levels of (M^-1 Lambda' Z'Z) at
        ((level, b), (level, a)), the derivative of log|M| in its block of Lambda."""
        lam_zp = self.ztz_p2 @ st.lam  # (Lambda_P' Z_P'Z_2) per pair
        out = [-np.einsum("nbi,nai->ba", x12[idx], lam_zp[idx]) for idx in self.pair_units]
        for j1, j2, vals, pos in self._cblocks:
            left = lams[j1].T @ vals if vals.shape[1] > 1 else vals * lams[j1][0, 0]
            out[j2] += np.einsum("ncb,nca->ba", st.sinv_flat[pos], left)
        return out

    def _factor_components(self, flat: np.ndarray) -> tuple[np.ndarray, float]:
        """The inverse of every component of S (in place of S in ``flat``) and log|S|."""
        logdet = 0.0
        for s, base, mem in zip(self.comp.sizes, self.comp.base, self.comp.members):
            k = len(mem)
            block = flat[base:base + k * s * s].reshape(k, s, s)
            if s >= _LOWER_ONLY:
                logdet += _inv_logdet_lower(block)
            else:
                inv, ld = _inv_logdet(block)
                block[...] = inv
                logdet += ld
        return flat, logdet

    def _component_solve(self, sinv_flat: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        out = np.empty_like(rhs)
        for s, base, mem in zip(self.comp.sizes, self.comp.base, self.comp.members):
            k = len(mem)
            inv = sinv_flat[base:base + k * s * s].reshape(k, s, s)
            if s >= _LOWER_ONLY:  # the lower triangle only: BLAS's symmetric product
                for i, rows in enumerate(mem):
                    out[rows] = blas.dsymm(1.0, inv[i].T, rhs[rows], lower=0)
            else:
                out[mem] = inv @ rhs[mem]
        return out

    def _dense_pairs(self, values: np.ndarray) -> np.ndarray:
        """Pair values (n_pairs, q) as a dense (L, q, Q2) array, zero off the pattern."""
        out = np.zeros((self.L, self.q, self.Q2))
        out[self.pair_l, :, self.pair_m] = values
        return out

    def _x12(self, st) -> np.ndarray:
        """(W S^-1) on the pairs' pattern: minus M^-1's primary-secondary block."""
        if self._dense_schur:
            order, s = self._dense_order, self.Q2
            sinv = np.empty((s, s))
            block = st.sinv_flat[:s * s].reshape(s, s)
            if s >= _LOWER_ONLY:  # kept as its lower triangle
                block = np.tril(block) + np.tril(block, -1).T
            sinv[np.ix_(order, order)] = block
            xd = (st.wd @ sinv).reshape(self.L, self.q, s)
            return xd[self.pair_l, :, self.pair_m]
        out = np.empty_like(st.w)
        for idx, pos in self._runs:  # X12_l = S^-1_l' W_l on the level's pairs
            out[idx] = np.swapaxes(st.sinv_flat[pos], 1, 2) @ st.w[idx]
        return out

    def _primary_inverse(self, st, x12) -> np.ndarray:
        """Diagonal blocks of M^-1 for the primary levels: A^-1 + (W S^-1 W')_ll."""
        d = st.ainv.copy()
        if self.Q2:
            d += segment_sum(x12[:, :, None] * st.w[:, None, :], self.pair_l, self.L)
        return d

    def _gradient(self, theta, reml, st) -> np.ndarray:
        p, lam = self.p, st.lam
        x12 = self._x12(st) if self.Q2 else None
        st.x12 = x12
        d = self._primary_inverse(st, x12)
        st.d = d
        # E = Z'[X y] - Z'Z Lambda Psi, primary rows.
        lam_psi1 = lam @ st.psi1
        e1 = self.ztxy_p - self.ztz_p @ lam_psi1
        # tr(M^-1 Lambda' Z'Z dLambda) for the primary factor: K[b, a] summed over levels.
        h = self.ztz_p @ lam  # (Z'Z Lambda)_l, rows a
        k_mat = np.einsum("lbc,lac->ba", d, h)
        if self.Q2:
            lams, psi2 = st.lams, st.psi2
            lam_psi2 = self._lambda2_times(lams, psi2, transpose=False)
            e1 -= segment_sum(self.ztz_p2[:, :, None] * lam_psi2[self.pair_m, None, :],
                               self.pair_l, self.L)
            e2 = (self.ztxy_2
                  - segment_sum(np.einsum("pa,par->pr", self.ztz_p2, lam_psi1[self.pair_l]),
                                 self.pair_m, self.Q2)
                  - self.ztz_22 @ lam_psi2)
            k_mat -= np.einsum("pb,pa->ba", x12, st.zl2)
            k2 = self._secondary_traces(st, x12, lams)
        c4 = np.einsum("lbr,las->abrs", st.psi1, e1)
        w = np.r_[-st.beta_c, 1.0]
        txx = st.t[:p, :p]
        txx_inv = np.linalg.inv(txx) if p else np.zeros((0, 0))
        grad = np.zeros(self.n_theta)
        fp = self.factors[self.primary]
        for k, a, b in fp.theta_pos:
            grad[k] += self._dev_term(c4[a, b], 2 * k_mat[b, a], w, txx_inv, st, reml)
        for j, i in enumerate(self.secondary):
            sl = slice(self.sec_offsets[j], self.sec_offsets[j + 1])
            f = self.factors[i]
            psi_j = st.psi2[sl].reshape(f.n_levels, f.q, -1)
            e_j = e2[sl].reshape(f.n_levels, f.q, -1)
            c4_j = np.einsum("lbr,las->abrs", psi_j, e_j)
            for k, a, b in f.theta_pos:
                grad[k] += self._dev_term(c4_j[a, b], 2 * k2[j][b, a], w, txx_inv, st, reml)
        return -grad / 2

    def _dev_term(self, c, dlogdet, w, txx_inv, st, reml) -> float:
        """d deviance for one theta: c = sum (dLambda Psi)' E for that theta."""
        p = self.p
        dt = -(c + c.T)
        value = dlogdet + st.m * float(w @ dt @ w) / st.r2
        if reml and p:
            value += float(np.sum(txx_inv * dt[:p, :p]))
        return value

    def _solution(self, theta, reml, ll, st) -> Solution:
        p = self.p
        beta = st.beta_c + self.beta_ols
        sigma2 = st.r2 / st.m
        if not hasattr(st, "d"):
            st.x12 = self._x12(st) if self.Q2 else None
            st.d = self._primary_inverse(st, st.x12)
        w = np.r_[-st.beta_c, 1.0]
        lam = st.lam
        u1 = st.psi1 @ w  # spherical modes, (L, q)
        b_modes, b_cov = [None] * len(self.factors), [None] * len(self.factors)
        b_modes[self.primary] = u1 @ lam.T
        b_cov[self.primary] = lam @ st.d @ lam.T
        if self.Q2:
            u2 = st.psi2 @ w
            for j, i in enumerate(self.secondary):
                sl = slice(self.sec_offsets[j], self.sec_offsets[j + 1])
                f, lam_j = self.factors[i], st.lams[j]
                b_modes[i] = u2[sl].reshape(f.n_levels, f.q) @ lam_j.T
                b_cov[i] = lam_j @ st.sinv_flat[self.unit_diag_pos[j]] @ lam_j.T
        return Solution(theta=theta, reml=reml, loglik=float(ll), beta=beta, sigma2=float(sigma2),
                        xtvx=st.t[:p, :p].copy(), b=b_modes, b_cov=b_cov)


def _sandwich(left: np.ndarray, vals: np.ndarray, right: np.ndarray) -> np.ndarray:
    """left' @ vals @ right for a stack of blocks (scalars multiply)."""
    if left.shape == right.shape == (1, 1):
        return vals * (left[0, 0] * right[0, 0])
    return left.T @ vals @ right


class _State:
    """Intermediate results of one evaluation (kept for the gradient and the solution)."""
    def update(self, **kw) -> None:
        self.__dict__.update(kw)


def scaled_inverse(a: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive (semi)definite matrix such as X'V^-1 X, computed
    on its unit-diagonal rescaling so that columns in very different units (a predictor in
    1e9) lose nothing to the cutoff; a pseudo-inverse where it is singular."""
    a = np.asarray(a, float)
    if a.size == 0:
        return np.zeros_like(a)
    d = np.sqrt(np.abs(np.diag(a)))
    d[d == 0] = 1.0
    scaled = a / np.outer(d, d)
    try:
        inner = np.linalg.inv(scaled)
    except np.linalg.LinAlgError:
        inner = np.linalg.pinv(scaled)
    return inner / np.outer(d, d)


def physical_memory() -> float:
    """Bytes of physical memory (8e9 where the system does not say): what the engine's and
    Kenward–Roger's dense blocks are sized against."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8e9
