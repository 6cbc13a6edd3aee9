"""Kenward-Roger small-sample inference for fixed effects, as pbkrtest computes it.

Kenward & Roger (1997, Biometrics 53(3)) in the form of pbkrtest 0.5.2 (Halekoh &
Højsgaard 2014, J. Stat. Softw. 59(9)), which lmerTest (``summary(m, ddf =
"Kenward-Roger")``, ``anova(m, ddf = "Kenward-Roger")``) and emmeans
(``lmer.df = "kenward-roger"``) call.

pbkrtest writes the marginal covariance linearly in the variance parameters,
V = sum_i gamma_i G_i: one G_i = Z_f (I ⊗ E_ab) Z_f' per element (a, b) of each
random factor's covariance matrix (E_ab the symmetric 0/1 matrix of that element)
and G = I for the residual variance, so every second derivative of V is 0.  With
Phi = (X'V^-1 X)^-1 (lme4's ``vcov``)::

    P_i  = -X'V^-1 G_i V^-1 X,      Q_ij = X'V^-1 G_i V^-1 G_j V^-1 X
    I_ij = tr(V^-1 G_i V^-1 G_j) - 2 tr(Phi Q_ij) + tr(Phi P_i Phi P_j),   W = 2 I^-1
    Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j)] Phi            (vcovAdj)

(W from a generalised inverse when the smallest absolute eigenvalue of I is
<= 1e-10).  For a hypothesis L beta = 0 of rank q, Theta = L'(L Phi L')^-1 L,
u_i = Theta Phi P_i Phi, A1 = sum W_ij tr(u_i) tr(u_j) and A2 = sum W_ij tr(u_i u_j)
give the denominator df and the F scaling (``.KR_adjust``, ``Lb_ddf``).  A zero variance
is no special case: its G_i stays in the sum (pbkrtest does not drop it).

Computation.  Nothing of size n x n is formed.  Rows are grouped by the top-level
grouping factor (one group holding every row for crossed designs); within a group
V = sigma^2 (I + Z Lambda Lambda' Z'), and V^-1 maps the columns of W = [Z X] to W T
with T = sigma^-2 (I - [R; 0] Z'W), R = Lambda M^-1 Lambda', M = Lambda'Z'Z Lambda + I.
Hence W'V^-k W = (W'W) T^k, and every quantity above is a sum over groups of small
products of these blocks.  Groups with the same number of levels of each random
factor share one column layout and are processed as one batch.  Z is taken in the
data's units, as lme4's: the result does not depend on how the gammas are scaled
except through the 1e-10 threshold above, which then decides as pbkrtest does.

Validated against pbkrtest 0.5.2 through lmerTest 3.1-3 and emmeans 1.8.4-1 (R 4.2.2)
in tests/test_kenward_roger.py: KR df, SE and p of every coefficient of every REML
model of ``tests/reference/fits`` and ``tests/reference/kr`` (unbalanced, crossed with
fixed effects, unbalanced nested with a random slope, a 3 x 3 block), the adjusted
covariance, type III KR F tests (also a rank-deficient L) and the KR emmeans of
``dietox_fac``.  At lme4's theta they agree to 1e-10 relative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse, stats

from ..arguments import check_df_method
from ..errors import DesignTooLargeError
from ..model.engine import blas_threads, physical_memory
from ..model.state import FitState

__all__ = ["KenwardRoger", "kenward_roger"]

_EIGEN_TOL = 1e-10  # pbkrtest: W = 2 solve(I) if min |eigenvalue| > this, else 2 ginv(I)
_GINV_TOL = float(np.sqrt(np.finfo(float).eps))  # MASS::ginv's relative tolerance
# Peak memory (tracemalloc): about ten dense (s x s) arrays per group of a batch, and
# about 100 bytes per non-zero of the row-level design [Z X].
_BYTES_PER_CELL = 8 * 12
_BYTES_PER_ENTRY = 128


# --------------------------------------------------------------------- public result
@dataclass(frozen=True)
class KenwardRoger:
    """Kenward-Roger adjusted inference for the fixed effects of one REML fit.

    Attributes
    ----------
    vcov : ndarray, shape (p, p)
        The adjusted covariance of beta (pbkrtest's ``vcovAdj``).
    vcov_unadjusted : ndarray, shape (p, p)
        sigma^2 (X'V^-1 X)^-1 (lme4's ``vcov``).
    p_mats : ndarray, shape (k, p, p)
        P_i = -X'V^-1 G_i V^-1 X for each variance parameter (random-effect
        covariance elements factor by factor, then the residual variance).
    w : ndarray, shape (k, k)
        W = 2 I^-1, the asymptotic covariance of the variance parameters.
    information : ndarray, shape (k, k)
        I, twice the expected REML information of the variance parameters.
    """

    vcov: np.ndarray
    vcov_unadjusted: np.ndarray
    p_mats: np.ndarray
    w: np.ndarray
    information: np.ndarray

    def t_df(self, l: np.ndarray) -> float:
        """Denominator df of the contrast ``l @ beta`` (pbkrtest's ``Lb_ddf``).

        Parameters
        ----------
        l : ndarray, shape (p,) or (1, p)

        Returns
        -------
        float
            The df lmerTest's ``summary(m, ddf = "Kenward-Roger")`` and emmeans
            report; with the standard error ``sqrt(l @ vcov @ l)``.
        """
        lmat = np.atleast_2d(np.asarray(l, float))
        if not np.any(lmat):  # no fixed effects (or l = 0): nothing to test, as Satterthwaite
            return np.nan
        a1, a2 = self._a1_a2(lmat)
        return _ddf_and_scaling(a1, a2, lmat.shape[0])[0]

    def se(self, l: np.ndarray) -> float:
        """Kenward-Roger standard error of ``l @ beta``: sqrt(l' vcov l)."""
        l = np.asarray(l, float).ravel()
        return float(np.sqrt(l @ self.vcov @ l))

    def f_test(self, L: np.ndarray, beta: np.ndarray) -> tuple[float, int, float, float]:
        """F test of L beta = 0 as lmerTest's ``anova(m, ddf = "Kenward-Roger")`` reports it.

        Parameters
        ----------
        L : ndarray, shape (r, p) or (p,)
            Hypothesis matrix, one row per constraint.  A rank-deficient L is
            replaced by an orthonormal basis of its row space (pbkrtest's
            ``force_full_rank``).
        beta : ndarray, shape (p,)
            The fixed-effect estimates.

        Returns
        -------
        F, num_df, den_df, p
            F = lambda (L beta)'(L vcov L')^-1 (L beta) / q with the KR scaling
            lambda (1 when q = 1, and when den_df is within 0.01 of 2);
            num_df = q = rank(L); p = P(F(q, den_df) > F).  lmerTest's ``Mean Sq``
            is the unscaled F times sigma^2.  (nan, 0, nan, nan) when L has rank 0.
        """
        lmat = _full_row_rank(np.atleast_2d(np.asarray(L, float)))
        q = lmat.shape[0]
        if q == 0:
            return np.nan, 0, np.nan, np.nan
        a1, a2 = self._a1_a2(lmat)
        ddf, scaling = _ddf_and_scaling(a1, a2, q)
        lb = lmat @ np.asarray(beta, float)
        f = scaling * float(lb @ np.linalg.solve(lmat @ self.vcov @ lmat.T, lb)) / q
        p = float(stats.f.sf(f, q, ddf)) if np.isfinite(ddf) else np.nan
        return f, q, ddf, p

    def _a1_a2(self, lmat: np.ndarray) -> tuple[float, float]:
        """pbkrtest's A1 = sum W_ij tr(u_i) tr(u_j), A2 = sum W_ij tr(u_i u_j)."""
        phi = self.vcov_unadjusted
        theta = lmat.T @ np.linalg.solve(lmat @ phi @ lmat.T, lmat)
        u = theta @ phi @ self.p_mats @ phi  # (k, p, p)
        tr_u = np.trace(u, axis1=1, axis2=2)
        a1 = float(tr_u @ self.w @ tr_u)
        a2 = float(np.einsum("ij,iab,jba->", self.w, u, u))
        return a1, a2


def _ddf_and_scaling(a1: float, a2: float, q: int) -> tuple[float, float]:
    """Denominator df and F scaling from A1, A2 (pbkrtest's ``.KR_adjust``).

    Degenerate cases (A2 = 0) give NaN, as in R, instead of raising.
    """
    with np.errstate(all="ignore"):
        return _ddf_and_scaling_here(np.float64(a1), np.float64(a2), q)


def _ddf_and_scaling_here(a1: np.float64, a2: np.float64, q: int) -> tuple[float, float]:
    b = (a1 + 6 * a2) / (2 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    denom = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    v0 = 1 + c1 * b
    v0 = 0.0 if abs(v0) < 1e-10 else v0
    v1, v2 = 1 - c2 * b, 1 - c3 * b
    x = 1 - a2 / q
    ratio = 1.0 if abs(x) < 1e-14 and abs(v1) < 1e-14 else x / v1  # pbkrtest's .divZero
    rho = ratio**2 * v0 / v2 / q
    ddf = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(ddf - 2) < 0.01 else ddf * (1 - a2 / q) / (ddf - 2)
    return float(ddf), float(scaling)


def _full_row_rank(lmat: np.ndarray) -> np.ndarray:
    """L itself, or an orthonormal basis of its row space (no rows when L is 0)."""
    if lmat.size == 0:
        return lmat.reshape(0, lmat.shape[-1])
    _, s, vt = np.linalg.svd(lmat, full_matrices=False)
    rank = int((s > max(lmat.shape) * np.finfo(float).eps * s[0]).sum())
    return lmat if rank == lmat.shape[0] else vt[:rank]


# ------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Param:
    """One covariance element (a, b) of random factor ``f``: G = Z_f (I ⊗ E_ab) Z_f'."""

    f: int
    a: int
    b: int


@dataclass
class _Batch:
    """Groups sharing one column layout: per group, columns [Z_g X_g] of width q + p."""

    gram: np.ndarray  # (G, s, s): [Z X]'[Z X] per group
    n_rows: np.ndarray  # (G,) rows per group
    lam: np.ndarray  # (q, q): the relative Cholesky factor on this layout, data units
    cols: list  # per factor: (n_levels_in_group, q_f) column indices

    @property
    def q(self) -> int:
        return self.lam.shape[0]


def _params(factors) -> list[_Param]:
    out = []
    for fi, factor in enumerate(factors):
        pos = sorted({(max(a, b), min(a, b)) for _, a, b in factor.theta_pos},
                     key=lambda ab: (ab[1], ab[0]))  # lme4's column-major lower triangle
        out += [_Param(fi, a, b) for a, b in pos]
    return out


def _data_scales(design, factors) -> list[np.ndarray]:
    """Per factor, the divisors mixedkit applied to its random-design columns."""
    scales = [np.asarray(block.scale, float) for block in design.blocks]
    if len(scales) != len(factors) or any(len(s) != f.q for s, f in zip(scales, factors)):
        return [np.ones(f.q) for f in factors]  # parameterisation-free fallback
    return scales


def _local_levels(groups: np.ndarray, codes: np.ndarray, n_levels: int,
                  n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's level rank within its group, and each group's number of levels."""
    key = groups.astype(np.int64) * n_levels + codes
    pairs, inverse = np.unique(key, return_inverse=True)
    pair_group = pairs // n_levels
    first = np.searchsorted(pair_group, np.arange(n_groups))
    local = np.arange(len(pairs)) - first[pair_group]
    counts = np.bincount(pair_group, minlength=n_groups)
    return local[inverse.ravel()], counts


def _batches(x: np.ndarray, groups: np.ndarray, factors, lams, zs,
             memory_limit: float) -> list[_Batch]:
    """Split the groups into batches of equal layout and form each group's [Z X]'[Z X]."""
    n, p = x.shape
    n_groups = int(groups.max()) + 1
    local, counts = zip(*(_local_levels(groups, f.codes, f.n_levels, n_groups)
                          for f in factors))
    counts = np.stack(counts, axis=1)  # (G, F)
    signatures, batch_of = np.unique(counts, axis=0, return_inverse=True)
    batch_of = batch_of.ravel()
    qf = np.array([f.q for f in factors])
    widths = signatures @ qf + p
    needed = (float((np.bincount(batch_of) * widths.astype(float) ** 2).sum()) * _BYTES_PER_CELL
              + float(n) * (qf.sum() + p) * _BYTES_PER_ENTRY)
    if needed > memory_limit:
        raise DesignTooLargeError(
            f"Kenward-Roger needs dense blocks of up to {int(widths.max()):,} random and "
            f"fixed columns, about {needed / 1e9:.1f} GB (limit {memory_limit / 1e9:.1f} GB); "
            "use Satterthwaite df (the default) for this design")
    rows_per_group = np.bincount(groups, minlength=n_groups)
    out = []
    for bi, sig in enumerate(signatures):
        members = np.flatnonzero(batch_of == bi)
        pos = np.full(n_groups, -1)
        pos[members] = np.arange(len(members))
        rows = np.flatnonzero(pos[groups] >= 0)
        offsets = np.r_[0, np.cumsum(sig * qf)]
        cols = [offsets[j] + np.arange(sig[j] * qf[j]).reshape(sig[j], qf[j])
                for j in range(len(factors))]
        gram = _gram(x[rows], [z[rows] for z in zs], [loc[rows] for loc in local], qf,
                     offsets, pos[groups[rows]], len(members), int(widths[bi]))
        lam = linalg.block_diag(*(np.kron(np.eye(n_lev), lam_f)
                                  for n_lev, lam_f in zip(sig, lams)))
        out.append(_Batch(gram, rows_per_group[members], lam, cols))
    return out


def _gram(x, zs, local, qf, offsets, gpos, n_members, s) -> np.ndarray:
    """(G, s, s) stack of [Z_g X_g]'[Z_g X_g] from one sparse product."""
    n, p = x.shape
    vals, cols = [], []
    for z, loc, q, off in zip(zs, local, qf, offsets):
        vals.append(z)
        cols.append(off + loc[:, None] * q + np.arange(q))
    vals.append(x)
    cols.append(np.broadcast_to(offsets[-1] + np.arange(p), (n, p)))
    vals = np.concatenate(vals, axis=1)
    cols = np.concatenate(cols, axis=1) + (gpos * s)[:, None]
    w = sparse.csr_array((vals.ravel(), (np.repeat(np.arange(n), vals.shape[1]),
                                         cols.ravel())), shape=(n, n_members * s))
    prod = (w.T @ w).tocoo()
    gram = np.zeros((n_members, s, s))
    gram[prod.row // s, prod.row % s, prod.col % s] = prod.data
    return gram


# --------------------------------------------------------------------- the sums
@dataclass
class _Sums:
    """Sums over groups of the p x p and trace terms (parameters: random, then residual)."""

    xvx: np.ndarray
    p_mats: np.ndarray
    q_mats: np.ndarray  # (k, k, p, p); Q_ji = Q_ij'
    ktrace: np.ndarray


def _powers(batch: _Batch, sigma2: float):
    """W'V^-1 W, W'V^-2 W, X'V^-3 X and tr(V^-2) per group of the batch (W = [Z X])."""
    q, gram = batch.q, batch.gram
    lam = batch.lam
    gzz = gram[:, :q, :q]
    m = lam.T @ gzz @ lam + np.eye(q)
    r = lam @ np.linalg.solve(m, np.broadcast_to(lam.T, m.shape))  # Lambda M^-1 Lambda'
    r = (r + np.swapaxes(r, 1, 2)) / 2
    t = -np.concatenate([r @ gram[:, :q, :], np.zeros((len(gram), gram.shape[1] - q,
                                                          gram.shape[2]))], axis=1)
    t += np.eye(gram.shape[1])
    t /= sigma2
    k1 = gram @ t
    k2 = k1 @ t
    k3xx = k2[:, q:, :] @ t[:, :, q:]
    rg = r @ gzz
    tr_v2 = (batch.n_rows - 2 * np.trace(rg, axis1=1, axis2=2)
             + np.einsum("gab,gba->g", rg, rg)) / sigma2**2
    return _sym(k1), _sym(k2), _sym(k3xx), tr_v2


def _sym(a: np.ndarray) -> np.ndarray:
    return (a + np.swapaxes(a, -1, -2)) / 2


def _index(batch: _Batch, par: _Param) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) columns with F = sum_m e_left[m] e_right[m]' for G = Z F Z'."""
    cols = batch.cols[par.f]
    a, b = cols[:, par.a], cols[:, par.b]
    return (a, a) if par.a == par.b else (np.r_[a, b], np.r_[b, a])


def _accumulate(batches: list[_Batch], params: list[_Param], sigma2: float, p: int) -> _Sums:
    k = len(params) + 1
    sums = _Sums(np.zeros((p, p)), np.zeros((k, p, p)), np.zeros((k, k, p, p)),
                 np.zeros((k, k)))
    for batch in batches:
        q = batch.q
        k1, k2, k3xx, tr_v2 = _powers(batch, sigma2)
        b, c = k1[:, :q, :q], k1[:, q:, :q]  # Z'V^-1 Z, X'V^-1 Z
        k2zz, k2zx = k2[:, :q, :q], k2[:, :q, q:]
        sums.xvx += k1[:, q:, q:].sum(0)
        idx = [_index(batch, par) for par in params]
        for i, (li, ri) in enumerate(idx):
            cl = c[:, :, li]
            sums.p_mats[i] -= np.einsum("gam,gbm->ab", cl, c[:, :, ri])
            sums.q_mats[i, -1] += np.einsum("gam,gmb->ab", cl, k2zx[:, ri, :])
            sums.ktrace[i, -1] += k2zz[:, ri, li].sum()
            for j in range(i, len(params)):
                lj, rj = idx[j]
                bij = b[:, ri][:, :, lj]
                sums.q_mats[i, j] += np.einsum("gam,gmn,gbn->ab", cl, bij, c[:, :, rj],
                                               optimize=True)
                sums.ktrace[i, j] += np.einsum("gmn,gnm->", bij, b[:, rj][:, :, li])
        sums.p_mats[-1] -= k2[:, q:, q:].sum(0)
        sums.q_mats[-1, -1] += k3xx.sum(0)
        sums.ktrace[-1, -1] += tr_v2.sum()
    for i in range(k):  # fill the lower triangles: Q_ji = Q_ij', tr symmetric
        for j in range(i + 1, k):
            sums.q_mats[j, i] = sums.q_mats[i, j].T
            sums.ktrace[j, i] = sums.ktrace[i, j]
    return sums


def _adjust(sums: _Sums) -> KenwardRoger:
    """pbkrtest's ``vcovAdj_internal`` from the sums."""
    phi = np.linalg.inv(sums.xvx)
    phi = (phi + phi.T) / 2
    pm, qm = sums.p_mats, sums.q_mats
    phi_p = phi @ pm  # (k, p, p)
    info = (sums.ktrace - 2 * np.einsum("ab,ijba->ij", phi, qm)
            + np.einsum("iab,jba->ij", phi_p, phi_p))
    info = (info + info.T) / 2
    condition = np.min(np.abs(np.linalg.eigvalsh(info)))
    w = 2 * (np.linalg.inv(info) if condition > _EIGEN_TOL
             else np.linalg.pinv(info, rcond=_GINV_TOL))
    w = (w + w.T) / 2
    u = np.einsum("ij,ijab->ab", w, qm) - np.einsum("ij,iac,jcb->ab", w, pm @ phi, pm)
    vcov = phi + 2 * phi @ u @ phi
    return KenwardRoger(vcov=(vcov + vcov.T) / 2, vcov_unadjusted=phi, p_mats=pm, w=w,
                        information=info)


# -------------------------------------------------------------------------- entry
def kenward_roger(state: FitState, memory_limit: float | None = None) -> KenwardRoger:
    """Kenward-Roger adjusted covariance and df machinery of a REML fit.

    Parameters
    ----------
    state : FitState
        A fit's state (``fit.state``), fitted by REML.
    memory_limit : float, optional
        Bytes the dense per-group blocks may use; default 40% of physical memory.

    Returns
    -------
    KenwardRoger

    Raises
    ------
    InputValueError
        The fit is ML (Kenward-Roger is defined for REML fits, as in lmerTest).
    DesignTooLargeError
        The dense blocks (random columns of one group, all of them for crossed
        factors, plus the fixed columns) would exceed ``memory_limit``.
    """
    check_df_method("kenward-roger", reml=state.reml)
    design = state.design
    # with prior weights, the engine's rows (X, Z) are already times sqrt(w): the model
    # with residual covariance sigma^2 I that the weighted one is (same F statistic and df)
    factors = design.engine.factors
    x = design.engine.weighted(design.exog.to_numpy(float))
    if memory_limit is None:
        memory_limit = 0.4 * physical_memory()
    scales = _data_scales(design, factors)
    # Data units (as lme4's Z): Z_data = Z * scale, Lambda_data = Lambda / scale (rows).
    zs = [f.z * s for f, s in zip(factors, scales)]
    lams = [f.lam(state.theta) / s[:, None] for f, s in zip(factors, scales)]
    groups = np.asarray(design.groups, dtype=np.intp)
    batches = _batches(x, groups, factors, lams, zs, memory_limit)
    with blas_threads():
        sums = _accumulate(batches, _params(factors), float(state.sigma2), x.shape[1])
        return _adjust(sums)
