"""Matrix exponential and its derivatives (mrdtrack.multistate.expm)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.multistate.expm import (
    eigen_decompose,
    frechet_block,
    phi,
    phi_from_exp,
    pmatrix_eigen,
)


def generator(rates: dict[tuple[int, int], float], k: int) -> np.ndarray:
    q = np.zeros((k, k))
    for (a, b), v in rates.items():
        q[a, b] = v
    np.fill_diagonal(q, -q.sum(axis=1))
    return q


Q4 = generator(
    {
        (0, 1): 0.13,
        (0, 3): 0.04,
        (1, 0): 0.22,
        (1, 2): 0.34,
        (1, 3): 0.04,
        (2, 1): 0.13,
        (2, 3): 0.31,
    },
    4,
)


def eigen_frechet(q, e, t):
    lam, v, vinv, ok = eigen_decompose(q[None])
    assert ok[0]
    ph = phi(lam, np.array([t]))[0]
    g = vinv[0] @ e @ v[0]
    return (v[0] @ (g * ph) @ vinv[0]).real


def test_pmatrix_eigen_matches_scipy():
    lam, v, vinv, _ = eigen_decompose(Q4[None])
    p = pmatrix_eigen(lam, v, vinv, np.array([2.5]))[0]
    np.testing.assert_allclose(p, scipy.linalg.expm(Q4 * 2.5), atol=1e-14)


def test_eigen_derivative_matches_expm_frechet():
    e = np.zeros((4, 4))
    e[1, 2], e[1, 1] = 0.34, -0.34  # d Q / d log q_23
    ref = scipy.linalg.expm_frechet(Q4 * 3.0, e * 3.0, compute_expm=False)
    np.testing.assert_allclose(eigen_frechet(Q4, e, 3.0), ref, atol=1e-13)


def test_defective_generator_uses_block_route():
    # progressive 1 -> 2 -> 3 with equal exit rates: Q is defective (a Jordan block)
    q = generator({(0, 1): 0.2, (1, 2): 0.2}, 3)
    _, _, _, ok = eigen_decompose(q[None])
    assert not ok[0]
    e = np.zeros((1, 1, 3, 3))
    e[0, 0, 0, 1], e[0, 0, 0, 0] = 0.2, -0.2
    p, dp = frechet_block(q[None], e, np.array([4.0]))
    np.testing.assert_allclose(p[0], scipy.linalg.expm(q * 4.0), atol=1e-14)
    ref = scipy.linalg.expm_frechet(q * 4.0, e[0, 0] * 4.0, compute_expm=False)
    np.testing.assert_allclose(dp[0, 0], ref, atol=1e-14)


def test_divided_differences_close_eigenvalues():
    lam = np.array([[-0.3, -0.3 + 1e-9, -1.0]])
    t = np.array([2.0])
    e = np.exp(lam * t[:, None])
    a = phi(lam, t)
    b = phi_from_exp(e, lam, np.array([0]), t)
    np.testing.assert_allclose(a, b, rtol=1e-10)
    assert np.isclose(a[0, 0, 1], t[0] * np.exp(-0.3 * 2.0), rtol=1e-8)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.01, 3.0), min_size=6, max_size=6),
    st.floats(0.01, 10.0),
    st.floats(0.01, 10.0),
)
def test_transition_matrix_properties(rates, s, t):
    q = generator(
        {
            (0, 1): rates[0],
            (0, 2): rates[1],
            (1, 0): rates[2],
            (1, 2): rates[3],
            (2, 0): rates[4],
            (2, 1): rates[5],
        },
        3,
    )
    lam, v, vinv, ok = eigen_decompose(np.stack([q, q, q]))
    if not ok[0]:
        return
    p = pmatrix_eigen(lam, v, vinv, np.array([s, t, s + t]))
    np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-10)
    assert np.all(p > -1e-12) and np.all(p < 1 + 1e-12)
    np.testing.assert_allclose(p[0] @ p[1], p[2], atol=1e-10)  # Chapman-Kolmogorov
