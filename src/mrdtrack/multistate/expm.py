"""Transition probabilities P(t) = expm(Q t) of a Markov generator, with analytic derivatives.

Two routes, chosen per generator:

* **Eigen-decomposition** (Kalbfleisch & Lawless, 1985, section 3): when ``Q = V diag(l) V^-1``
  with a well-conditioned ``V``, ``P(t) = V diag(exp(l t)) V^-1`` and the derivative of ``P(t)``
  in the direction ``E`` is ``V ((V^-1 E V) o Phi(t)) V^-1`` with
  ``Phi_jk(t) = (exp(l_j t) - exp(l_k t)) / (l_j - l_k)`` (``t exp(l_j t)`` when ``l_j = l_k``).
* **Block-triangular exponential** (Van Loan, 1978; Najfeld & Havel, 1995) when ``Q`` is defective
  or nearly so (e.g. equal exit rates in a progressive model): the upper-right blocks of
  ``expm([[Q, E_1, ..., E_m], [0, Q, 0...], ...] t)`` are the Fréchet derivatives of ``expm`` in
  the directions ``E_i``.  scipy's scaling-and-squaring ``expm`` (Al-Mohy & Higham, 2009) does
  the work.

R equivalent: msm's ``MatrixExp`` and ``DPmat`` (Jackson, 2011).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg

# Eigenvectors whose condition number exceeds this are treated as defective (Moler & Van Loan,
# 2003, "Nineteen dubious ways", method 14): the block-triangular route is used instead.  The
# eigen route loses about cond(V) * 1e-16 in P(t), so 1e6 keeps P accurate to ~1e-10.
COND_LIMIT = 1e6


class Eigen(NamedTuple):
    """Eigen-decompositions of a stack of generators: ``Q = V diag(lam) V^-1``."""

    lam: np.ndarray  # (n, K) eigenvalues
    v: np.ndarray  # (n, K, K)
    vinv: np.ndarray  # (n, K, K)
    ok: np.ndarray  # (n,) bool: well conditioned (else use the block-triangular exponential)


def eigen_decompose(q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched eigen-decomposition of generators ``q`` with shape ``(..., K, K)``.

    Returns ``lam, V, Vinv, ok`` where ``ok`` flags the generators whose eigenvectors are
    well-conditioned (``cond(V) < COND_LIMIT``).  Real arrays are returned when every eigenvalue
    is real (the usual case: birth-death-like generators have real spectra).
    """
    lam, v = np.linalg.eig(q)
    if np.all(np.abs(lam.imag) <= 1e-12 * (1.0 + np.abs(lam.real))) and np.all(
        np.abs(v.imag) <= 1e-12
    ):
        lam, v = lam.real.copy(), v.real.copy()
    with np.errstate(all="ignore"):
        cond = np.linalg.cond(v)
    ok = np.isfinite(cond) & (cond < COND_LIMIT)
    vinv = np.empty_like(v)
    if np.any(ok):
        vinv[ok] = np.linalg.inv(v[ok])
    if np.any(~ok):
        vinv[~ok] = np.nan
    return Eigen(lam, v, vinv, ok)


def phi(lam: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Divided differences ``Phi_jk = (e^{l_j t} - e^{l_k t}) / (l_j - l_k)``, shape (n, K, K).

    Reference form used by the tests; the likelihoods use `phi_from_exp`, which cannot overflow
    when eigenvalues are far apart.

    ``lam`` has shape (n, K), ``t`` shape (n,).  Written as ``e^{l_k t} t expm1(d t) / (d t)``
    with ``d = l_j - l_k`` so that close eigenvalues lose no accuracy.
    """
    lt = lam * t[:, None]
    d = (lam[:, :, None] - lam[:, None, :]) * t[:, None, None]
    small = np.abs(d) < 1e-8
    safe = np.where(small, 1.0, d)
    ratio = np.where(small, 1.0 + d / 2.0, np.expm1(safe) / safe)
    return np.exp(lt)[:, None, :] * t[:, None, None] * ratio


def phi_from_exp(e: np.ndarray, lam_pat: np.ndarray, pidx: np.ndarray, t: np.ndarray):
    """Divided differences from ``e = exp(lam t)`` (n, K) when eigenvalues come in patterns.

    ``(e_j - e_k) / (l_j - l_k)`` loses relative accuracy ``eps / (|l_j - l_k| t)``; pairs with
    ``|l_j - l_k| t < 1e-4`` use the series ``e_k t (1 + d t / 2 + (d t)^2 / 6)`` instead
    (truncation error below 1e-13), so every entry is accurate to ~1e-12.
    """
    dl = lam_pat[:, :, None] - lam_pat[:, None, :]  # per pattern
    d = dl[pidx]
    dtt = d * t[:, None, None]
    close = np.abs(dtt) < 1e-4
    safe = np.where(close, 1.0, d)
    diff = (e[:, :, None] - e[:, None, :]) / safe
    series = e[:, None, :] * t[:, None, None] * (1.0 + dtt / 2.0 + dtt * dtt / 6.0)
    return np.where(close, series, diff)


def pmatrix_eigen(lam: np.ndarray, v: np.ndarray, vinv: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``P(t)`` from an eigen-decomposition; arrays broadcast over a leading record axis."""
    p = np.einsum("nij,nj,njk->nik", v, np.exp(lam * t[:, None]), vinv)
    return p.real if np.iscomplexobj(p) else p


def frechet_block(q: np.ndarray, directions: np.ndarray, t: np.ndarray):
    """``P(t)`` and its Fréchet derivatives by the block-triangular matrix exponential.

    Parameters
    ----------
    q : (n, K, K) generators; directions : (n, m, K, K); t : (n,) interval lengths.

    Returns
    -------
    p : (n, K, K); dp : (n, m, K, K), ``dp[:, i]`` the derivative of ``expm(Q t)`` when ``Q``
    moves in direction ``directions[:, i]``.
    """
    n, m, k, _ = directions.shape
    size = k * (m + 1)
    big = np.zeros((n, size, size))
    for b in range(m + 1):
        big[:, b * k : (b + 1) * k, b * k : (b + 1) * k] = q * t[:, None, None]
    for i in range(m):
        big[:, :k, (i + 1) * k : (i + 2) * k] = directions[:, i] * t[:, None, None]
    e = scipy.linalg.expm(big) if n else big
    p = e[:, :k, :k]
    dp = np.stack([e[:, :k, (i + 1) * k : (i + 2) * k] for i in range(m)], axis=1)
    return p, dp


def expm_frechet_reference(q: np.ndarray, direction: np.ndarray, t: float):
    """Single-matrix reference (scipy ``expm_frechet``), used by the tests."""
    return scipy.linalg.expm_frechet(q * t, direction * t)


def pmatrix_by_pattern(qpat: np.ndarray, dt: np.ndarray, pat: np.ndarray) -> np.ndarray:
    """P(dt) per record from the eigen-decomposition of each covariate pattern's generator
    (scaling and squaring for ill-conditioned ones), once per distinct (dt, pattern)."""
    key = np.column_stack([dt, pat])
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    up = uniq[:, 1].astype(int)
    lam, v, vinv, ok = eigen_decompose(qpat)
    pm = np.empty((len(uniq), *qpat.shape[1:]))
    good = ok[up]
    if np.any(good):
        i = np.flatnonzero(good)
        pm[i] = pmatrix_eigen(lam[up[i]], v[up[i]], vinv[up[i]], uniq[i, 0])
    if not np.all(good):
        i = np.flatnonzero(~good)
        pm[i] = scipy.linalg.expm(qpat[up[i]] * uniq[i, 0][:, None, None])
    return pm[inv]
