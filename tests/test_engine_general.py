"""The engine on every shape of lme4's model class, against a dense reference.

Each factor has a q x q block of Lambda per level (q >= 1), crossed, nested or partially
crossed with the others.  The reference builds Z and Lambda as dense matrices and
evaluates the profiled likelihood from V = I + Z Lambda Lambda' Z' directly (Bates et al.
2015, eqs. 34-42); its gradient is a central finite difference.
"""

import numpy as np
import pytest

from mixedkit.model import engine as engine_module
from mixedkit.model.engine import Engine, RandomFactor


@pytest.fixture(params=["as built", "lower triangles"])
def storage(request, monkeypatch):
    """Components of S kept whole (below ``_LOWER_ONLY`` columns, as these small designs
    are), or every component as its lower triangle only, as large ones are."""
    if request.param == "lower triangles":
        monkeypatch.setattr(engine_module, "_LOWER_ONLY", 1)
    return request.param


def _factor(name, codes, z, start, correlated=True):
    q = z.shape[1]
    if correlated:
        rows, cols = np.tril_indices(q)
    else:
        rows = cols = np.arange(q)
    pos = tuple((start + i, int(r), int(c)) for i, (r, c) in enumerate(zip(rows, cols)))
    return RandomFactor(name, np.asarray(codes), int(codes.max()) + 1, z, pos), start + len(pos)


def _dense_z(factors, n):
    blocks = []
    for f in factors:
        zf = np.zeros((n, f.n_levels * f.q))
        for c in range(f.q):
            zf[np.arange(n), f.codes * f.q + c] = f.z[:, c]
        blocks.append(zf)
    return np.hstack(blocks)


def _dense_lambda(factors, theta):
    return _block_diag([np.kron(np.eye(f.n_levels), f.lam(theta)) for f in factors])


def _block_diag(mats):
    size = sum(m.shape[0] for m in mats)
    out = np.zeros((size, size))
    at = 0
    for m in mats:
        k = m.shape[0]
        out[at:at + k, at:at + k] = m
        at += k
    return out


def dense_loglik(x, y, factors, theta, reml, weights=None):
    """The profiled log-likelihood from dense V = W^-1 + Z Lambda Lambda' Z' (the textbook
    formula; W the prior weights, I without them)."""
    n, p = x.shape
    z = _dense_z(factors, n) @ _dense_lambda(factors, theta)
    w = np.ones(n) if weights is None else weights
    v = np.diag(1 / w) + z @ z.T
    vinv = np.linalg.inv(v)
    xtvx = x.T @ vinv @ x
    beta = np.linalg.solve(xtvx, x.T @ vinv @ y)
    r = y - x @ beta
    r2 = float(r @ vinv @ r)
    m = n - p if reml else n
    dev = np.linalg.slogdet(v)[1] + m * (1 + np.log(2 * np.pi * r2 / m))
    if reml:
        dev += np.linalg.slogdet(xtvx)[1]
    return -dev / 2, beta, r2 / m, z, vinv


def _design(kind, rng):
    """x, y and the random factors of one design shape."""
    if kind == "crossed 2x2 and 3x3":
        subj, item = np.meshgrid(np.arange(9), np.arange(7), indexing="ij")
        subj, item = subj.ravel(), item.ravel()
        n = len(subj)
        a, b = rng.choice([-0.5, 0.5], n), rng.normal(size=n)
        f1, k = _factor("subject", subj, np.column_stack([np.ones(n), a]), 0)
        f2, k = _factor("item", item, np.column_stack([np.ones(n), a, b]), k)
        factors = [f1, f2]
    elif kind == "nested slopes":
        school = np.repeat(np.arange(5), 18)
        child = np.repeat(np.arange(30), 3)  # 6 children per school, 3 occasions each
        n = len(school)
        t = np.tile(np.arange(3.0), 30)
        f1, k = _factor("school", school, np.column_stack([np.ones(n), t]), 0)
        f2, k = _factor("school:child", child, np.column_stack([np.ones(n), t]), k)
        factors = [f2, f1]
    elif kind == "partially crossed":
        n = 120
        a = rng.integers(0, 15, n)
        b = (a // 3 + rng.integers(0, 3, n)) % 8  # each a meets only some b
        x1 = rng.normal(size=n)
        f1, k = _factor("a", a, np.column_stack([np.ones(n), x1]), 0)
        f2, k = _factor("b", b, np.ones((n, 1)), k)
        factors = [f1, f2]
    elif kind == "three crossed, mixed widths":
        n = 150
        g1, g2, g3 = rng.integers(0, 10, n), rng.integers(0, 6, n), rng.integers(0, 4, n)
        x1 = rng.normal(size=n)
        f1, k = _factor("g1", g1, np.ones((n, 1)), 0)
        f2, k = _factor("g2", g2, np.column_stack([np.ones(n), x1]), k)
        f3, k = _factor("g3", g3, np.column_stack([np.ones(n), x1, x1**2]), k,
                        correlated=False)
        factors = [f1, f2, f3]
    elif kind == "three crossed intercepts":  # every factor one column: scalar triples
        n = 160
        g1, g2, g3 = rng.integers(0, 14, n), rng.integers(0, 9, n), rng.integers(0, 6, n)
        f1, k = _factor("g1", g1, np.ones((n, 1)), 0)
        f2, k = _factor("g2", g2, np.ones((n, 1)), k)
        f3, k = _factor("g3", g3, np.ones((n, 1)), k)
        factors = [f1, f2, f3]
    elif kind == "two terms on one factor, crossed":
        n = 100
        g, h = rng.integers(0, 12, n), rng.integers(0, 5, n)
        x1 = rng.normal(size=n)
        f1, k = _factor("g", g, np.ones((n, 1)), 0)
        f2, k = _factor("g.1", g, x1[:, None], k)
        f3, k = _factor("h", h, np.column_stack([np.ones(n), x1]), k)
        factors = [f1, f2, f3]
    else:  # a slope that is zero in some rows of a level (structural zeros in Z'Z)
        n = 96
        g, h = np.repeat(np.arange(12), 8), np.tile(np.arange(8), 12)
        x1 = np.where(rng.random(n) < 0.4, 0.0, rng.normal(size=n))
        f1, k = _factor("g", g, np.column_stack([np.ones(n), x1]), 0)
        f2, k = _factor("h", h, np.column_stack([np.ones(n), x1]), k)
        factors = [f1, f2]
    n = len(factors[0].codes)
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = x @ [1.0, 0.5] + rng.normal(size=n)
    for f in factors:
        u = rng.normal(size=(f.n_levels, f.q))
        y += np.einsum("ij,ij->i", f.z, u[f.codes])
    return x, y, factors, k


KINDS = ["crossed 2x2 and 3x3", "nested slopes", "partially crossed",
         "three crossed, mixed widths", "three crossed intercepts", "two terms on one factor, crossed", "structural zeros"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reml", [True, False])
def test_likelihood_gradient_and_modes_equal_the_dense_reference(kind, reml, storage):
    rng = np.random.default_rng(7)
    x, y, factors, n_theta = _design(kind, rng)
    engine = Engine(x, y, factors, n_theta)
    for theta in (rng.uniform(0.2, 1.5, n_theta), rng.normal(size=n_theta),
                  np.where(np.arange(n_theta) % 2, 0.0, 0.7)):
        ll, grad = engine.loglik_and_gradient(theta, reml)
        ref, beta, sigma2, zl, vinv = dense_loglik(x, y, factors, theta, reml)
        assert ll == pytest.approx(ref, rel=1e-10, abs=1e-9)
        step = 1e-6
        numeric = np.array([(dense_loglik(x, y, factors, theta + step * e, reml)[0]
                             - dense_loglik(x, y, factors, theta - step * e, reml)[0]) / (2 * step)
                            for e in np.eye(n_theta)])
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)
        sol = engine.solve(theta, reml)
        np.testing.assert_allclose(sol.beta, beta, rtol=1e-8, atol=1e-10)
        assert sol.sigma2 == pytest.approx(sigma2, rel=1e-9)
        # conditional modes b = Lambda Lambda' Z' V^-1 (y - X beta); their covariance
        # / sigma^2 = Lambda (Lambda' Z'Z Lambda + I)^-1 Lambda'
        lam = _dense_lambda(factors, theta)
        modes = lam @ zl.T @ vinv @ (y - x @ beta)
        cov = lam @ np.linalg.inv(zl.T @ zl + np.eye(zl.shape[1])) @ lam.T
        at = 0
        for f, b, b_cov in zip(factors, sol.b, sol.b_cov):
            size = f.n_levels * f.q
            np.testing.assert_allclose(b.ravel(), modes[at:at + size], rtol=1e-7, atol=1e-9)
            block = cov[at:at + size, at:at + size]
            diag = np.stack([block[i * f.q:(i + 1) * f.q, i * f.q:(i + 1) * f.q]
                             for i in range(f.n_levels)])
            np.testing.assert_allclose(b_cov, diag, rtol=1e-7, atol=1e-10)
            at += size


def test_primary_is_the_factor_with_most_columns():
    rng = np.random.default_rng(1)
    x, y, factors, n_theta = _design("crossed 2x2 and 3x3", rng)
    engine = Engine(x, y, factors, n_theta)
    assert engine.factors[engine.primary].name == "item"  # 7 x 3 = 21 > 9 x 2 = 18
    assert engine.largest_block == 18  # every subject column in one crossed block


@pytest.mark.parametrize("kind", ["crossed 2x2 and 3x3", "nested slopes"])
@pytest.mark.parametrize("reml", [True, False])
def test_prior_weights_equal_the_dense_reference(kind, reml):
    """Residual covariance sigma^2 W^-1: the engine's sqrt(w) transform and its Jacobian."""
    rng = np.random.default_rng(11)
    x, y, factors, n_theta = _design(kind, rng)
    w = rng.uniform(0.2, 3.0, len(y))
    engine = Engine(x, y, factors, n_theta, weights=w)
    theta = rng.uniform(0.2, 1.5, n_theta)
    ll, grad = engine.loglik_and_gradient(theta, reml)
    ref, beta, sigma2, _, _ = dense_loglik(x, y, factors, theta, reml, w)
    assert ll == pytest.approx(ref, rel=1e-10)
    step = 1e-6
    numeric = np.array([(dense_loglik(x, y, factors, theta + step * e, reml, w)[0]
                         - dense_loglik(x, y, factors, theta - step * e, reml, w)[0]) / (2 * step)
                        for e in np.eye(n_theta)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)
    sol = engine.solve(theta, reml)
    np.testing.assert_allclose(sol.beta, beta, rtol=1e-8)
    assert sol.sigma2 == pytest.approx(sigma2, rel=1e-9)
    # another response through with_response is weighted the same way
    y2 = y + rng.normal(size=len(y))
    assert engine.with_response(y2).loglik(theta, reml) == pytest.approx(
        dense_loglik(x, y2, factors, theta, reml, w)[0], rel=1e-10)


@pytest.mark.parametrize("kind", ["crossed 2x2 and 3x3", "three crossed, mixed widths",
                                  "three crossed intercepts", "structural zeros"])
def test_dense_and_scattered_schur_updates_agree(kind, storage):
    """Crossed factors may take the dense product for B' A^-1 B (``_dense_schur``); it must
    equal the scattered pair products (and both the dense reference)."""
    rng = np.random.default_rng(3)
    x, y, factors, n_theta = _design(kind, rng)
    engine = Engine(x, y, factors, n_theta)
    assert engine._dense_order is not None  # one dense component: both paths apply
    theta = rng.uniform(0.2, 1.5, n_theta)
    results = {}
    for dense in (True, False):
        engine._dense_schur = dense
        ll, grad = engine.loglik_and_gradient(theta, True)
        sol = engine.solve(theta, True)
        results[dense] = (ll, grad, sol)
    (ll1, g1, s1), (ll0, g0, s0) = results[True], results[False]
    assert ll1 == pytest.approx(ll0, rel=1e-12)
    assert ll1 == pytest.approx(dense_loglik(x, y, factors, theta, True)[0], rel=1e-10)
    np.testing.assert_allclose(g1, g0, rtol=1e-9, atol=1e-10)
    for a, b in zip(s1.b_cov, s0.b_cov):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_a_large_crossed_component_equals_the_dense_reference():
    """40 subjects (intercept and slope: 80 columns, primary) crossed with 70 items, most
    cells empty: the items meet in one component of 70 columns, kept as its lower triangle
    (>= ``_LOWER_ONLY``), by both Schur updates."""
    rng = np.random.default_rng(11)
    n = 900
    subj, item = rng.integers(0, 40, n), rng.integers(0, 70, n)
    x1 = rng.normal(size=n)
    f1, k = _factor("subject", subj, np.column_stack([np.ones(n), x1]), 0)
    f2, k = _factor("item", item, np.ones((n, 1)), k)
    x = np.column_stack([np.ones(n), x1])
    y = x @ [1.0, 0.5] + rng.normal(size=40)[subj] + rng.normal(size=70)[item] + \
        rng.normal(size=n)
    engine = Engine(x, y, [f1, f2], k)
    assert engine.largest_block == 70 >= engine_module._LOWER_ONLY
    theta = np.array([0.8, 0.1, 0.3, 0.6])
    ref = dense_loglik(x, y, [f1, f2], theta, True)
    step = 1e-6
    numeric = [(dense_loglik(x, y, [f1, f2], theta + step * e, True)[0]
                - dense_loglik(x, y, [f1, f2], theta - step * e, True)[0]) / (2 * step)
               for e in np.eye(k)]
    for dense in (True, False):
        engine._dense_schur = dense
        ll, grad = engine.loglik_and_gradient(theta, True)
        assert ll == pytest.approx(ref[0], rel=1e-10)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(engine.solve(theta, True).beta, ref[1], rtol=1e-8)


def test_solve_reuses_the_optimisers_last_evaluation_only_at_its_point():
    """``solve`` takes the state of the last ``loglik_and_gradient`` when theta and the
    method are the same (the optimum), evaluates otherwise, and keeps nothing after."""
    rng = np.random.default_rng(5)
    x, y, factors, n_theta = _design("crossed 2x2 and 3x3", rng)
    engine = Engine(x, y, factors, n_theta)
    theta = rng.uniform(0.2, 1.5, n_theta)
    fresh = Engine(x, y, factors, n_theta).solve(theta, True)
    engine.loglik_and_gradient(theta, True)
    reused = engine.solve(theta, True)
    assert engine._last is None
    np.testing.assert_array_equal(reused.beta, fresh.beta)
    for a, b in zip(reused.b_cov, fresh.b_cov):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    engine.loglik_and_gradient(theta, True)
    ml = engine.solve(theta, False)  # another method: evaluated anew
    assert ml.sigma2 == pytest.approx(Engine(x, y, factors, n_theta).solve(theta, False).sigma2,
                                      rel=1e-12)
    engine.loglik_and_gradient(theta, True)
    other = engine.with_response(y + 1.0)  # a copy for another response starts clean
    assert other._last is None
