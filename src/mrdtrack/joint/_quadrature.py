"""Quadrature rules: Gauss-Hermite product grids (random effects) and Gauss-Legendre (hazard).

Adaptive Gauss-Hermite (Pinheiro and Bates 1995; Rizopoulos 2012, sec. 4.3; JM's "aGH"):
for patient i with posterior mode b_i and curvature covariance Sigma_i = C_i C_i',

    integral f(b) db  ~=  2^(q/2) |C_i| sum_k w_k exp(|z_k|^2) f(b_i + sqrt(2) C_i z_k),

where (z_k, w_k) is the product Gauss-Hermite rule for the weight exp(-|z|^2). The rule is exact
when f is a Gaussian density times a polynomial of degree < 2k in each coordinate; for the
linear mixed model without censoring and association the integrand is Gaussian, so the
marginal likelihood is exact at the mode.
"""

from __future__ import annotations

import itertools

import numpy as np


def hermite_grid(n_per_dim: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Product Gauss-Hermite rule: nodes ``z`` (K, q) and log weights ``log w_k + |z_k|^2``."""
    x, w = np.polynomial.hermite.hermgauss(n_per_dim)
    z = np.array(list(itertools.product(x, repeat=q)), dtype=float).reshape(-1, q)
    logw = np.array(
        [np.log(w[list(ix)]).sum() for ix in itertools.product(range(n_per_dim), repeat=q)]
    )
    return z, logw + (z**2).sum(axis=1)


def legendre_pieces(
    lower: np.ndarray, upper: np.ndarray, edges: np.ndarray, n_points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss-Legendre points for integrals over [lower_i, upper_i], split at ``edges``.

    ``edges`` are the inner knots of the piecewise-constant baseline (pieces
    (-inf, e_1], (e_1, e_2], ..., (e_last, inf)). Returns points ``s`` (N, Q*n_points), weights
    ``omega`` (N, Q*n_points; zero where a piece lies outside [lower, upper]) and the piece index
    of each column (Q*n_points,). Exact for polynomials of degree < 2 n_points on each piece.
    """
    x, w = np.polynomial.legendre.leggauss(n_points)
    lo_edges = np.concatenate([[-np.inf], edges])
    hi_edges = np.concatenate([edges, [np.inf]])
    a = np.maximum(lower[:, None], lo_edges[None, :])
    b = np.minimum(upper[:, None], hi_edges[None, :])
    length = np.maximum(b - a, 0.0)
    mid = np.where(length > 0, (a + b) / 2, 0.0)
    half = length / 2
    s = (mid[:, :, None] + half[:, :, None] * x[None, None, :]).reshape(len(lower), -1)
    omega = (half[:, :, None] * w[None, None, :]).reshape(len(lower), -1)
    piece = np.repeat(np.arange(len(edges) + 1), n_points)
    return s, omega, piece
