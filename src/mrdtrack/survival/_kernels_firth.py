"""numba kernel for Firth-penalised Cox: partial likelihood up to its third derivatives.

One sweep over rows sorted by stratum then stop time (descending), adding rows to the running
risk-set sums at their stop time and removing them once the current time is at or before their
entry time, so risk sets are {start < t <= stop} as in R ``agreg``. The Firth penalty
1/2 log|I(beta)| needs dI/dbeta, which for the Cox model is the third central moment of the
covariates over the (tilted) risk set. Compiled on first use (``cache=True``).

The pure-numpy O(n^2) reference used in the tests is :func:`reference_derivs` below.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import overload

_LN2 = math.log(2.0)
_LOW = 2.0**-400
_HIGH = 2.0**400
_LOW8 = 2.0**-50
_HIGH8 = 2.0**50
_PACKED_MAX_VALUES = 20_000_000  # 160 MB: beyond this the products are formed row by row


def packed_design(X: np.ndarray) -> np.ndarray:
    """Per-row products 1, x_r, x_r x_s (r >= s), x_r x_s x_t (r >= s >= t), packed in columns.

    These do not depend on beta: computed once per design, so that each likelihood evaluation
    only scales one row of this matrix by w exp(eta) and adds it to the risk-set sums. For a
    design too large to hold them (many covariates and rows) an empty 1-d array is returned and
    the kernel (compiled separately for that type) forms the products row by row instead.
    """
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    ncol = 1 + p + p * (p + 1) // 2 + p * (p + 1) * (p + 2) // 6
    if n * ncol > _PACKED_MAX_VALUES:
        return np.empty(0)
    return _packed(np.ascontiguousarray(X), ncol)


@njit(cache=True)
def _packed(X, ncol):  # pragma: no cover - numba
    n, p = X.shape
    Z = np.empty((n, ncol))
    for i in range(n):
        Z[i, 0] = 1.0
        k = 1
        for r in range(p):
            Z[i, k] = X[i, r]
            k += 1
        for r in range(p):
            for s in range(r + 1):
                Z[i, k] = X[i, r] * X[i, s]
                k += 1
        for r in range(p):
            for s in range(r + 1):
                for t in range(s + 1):
                    Z[i, k] = X[i, r] * X[i, s] * X[i, t]
                    k += 1
    return Z


def _accumulate(acc, wr, Z, X, m, zrow, ncol, p, third):
    """acc += wr * (packed products of row m); compiled per Z type by the overload below."""
    raise NotImplementedError("numba-only helper")


@overload(_accumulate, inline="always")
def _accumulate_impl(acc, wr, Z, X, m, zrow, ncol, p, third):  # pragma: no cover - numba
    # specialised on the type of Z at compile time, so the usual packed path stays a tight loop
    if Z.ndim == 2:

        def from_packed(acc, wr, Z, X, m, zrow, ncol, p, third):
            for q in range(ncol):
                acc[q] += wr * Z[m, q]

        return from_packed

    def row_by_row(acc, wr, Z, X, m, zrow, ncol, p, third):
        zrow[0] = 1.0
        k = 1
        for r in range(p):
            zrow[k] = X[m, r]
            k += 1
        for r in range(p):
            for s in range(r + 1):
                zrow[k] = X[m, r] * X[m, s]
                k += 1
        if third:
            for r in range(p):
                for s in range(r + 1):
                    for t in range(s + 1):
                        zrow[k] = X[m, r] * X[m, s] * X[m, t]
                        k += 1
        for q in range(ncol):
            acc[q] += wr * zrow[q]

    return row_by_row


@njit(cache=True, inline="always")
def _moments(wt, acc, p, third, u, imat, dimat):  # pragma: no cover - numba
    """Add wt times the (negative) mean, covariance and third central moment to u, I, dI.

    ``acc`` holds risk-set sums in the packed layout of :func:`packed_design`; only r >= s >= t
    entries are accumulated (the caller fills the symmetric parts once at the end). One and two
    covariates are written out (the same operations in the same order as the general loops,
    hence the same numbers): at every death time, these loops are most of a sweep's cost.
    """
    if p == 1:
        _moments_1(wt, acc, third, u, imat, dimat)
    elif p == 2:
        _moments_2(wt, acc, third, u, imat, dimat)
    else:
        _moments_p(wt, acc, p, third, u, imat, dimat)


@njit(cache=True, inline="always")
def _moments_1(wt, acc, third, u, imat, dimat):  # pragma: no cover - numba
    inv0 = 1.0 / acc[0]
    m0 = acc[1] * inv0
    u[0] -= wt * m0
    e00 = acc[2] * inv0
    imat[0, 0] += wt * (e00 - m0 * m0)
    if third:
        dimat[0, 0, 0] += wt * (acc[3] * inv0 - m0 * e00 - m0 * e00 - m0 * e00 + 2.0 * m0 * m0 * m0)


@njit(cache=True, inline="always")
def _moments_2(wt, acc, third, u, imat, dimat):  # pragma: no cover - numba
    inv0 = 1.0 / acc[0]
    m0 = acc[1] * inv0
    m1 = acc[2] * inv0
    e00 = acc[3] * inv0
    e10 = acc[4] * inv0
    e11 = acc[5] * inv0
    u[0] -= wt * m0
    imat[0, 0] += wt * (e00 - m0 * m0)
    if third:
        dimat[0, 0, 0] += wt * (acc[6] * inv0 - m0 * e00 - m0 * e00 - m0 * e00 + 2.0 * m0 * m0 * m0)
    u[1] -= wt * m1
    imat[1, 0] += wt * (e10 - m1 * m0)
    if third:
        dimat[1, 0, 0] += wt * (acc[7] * inv0 - m1 * e00 - m0 * e10 - m0 * e10 + 2.0 * m1 * m0 * m0)
    imat[1, 1] += wt * (e11 - m1 * m1)
    if third:
        dimat[1, 1, 0] += wt * (acc[8] * inv0 - m1 * e10 - m1 * e10 - m0 * e11 + 2.0 * m1 * m1 * m0)
        dimat[1, 1, 1] += wt * (acc[9] * inv0 - m1 * e11 - m1 * e11 - m1 * e11 + 2.0 * m1 * m1 * m1)


@njit(cache=True, inline="always")
def _moments_p(wt, acc, p, third, u, imat, dimat):  # pragma: no cover - numba
    inv0 = 1.0 / acc[0]
    base2 = 1 + p
    base3 = base2 + p * (p + 1) // 2
    for r in range(p):
        m_r = acc[1 + r] * inv0
        u[r] -= wt * m_r
        for s in range(r + 1):
            m_s = acc[1 + s] * inv0
            e_rs = acc[base2 + r * (r + 1) // 2 + s] * inv0
            imat[r, s] += wt * (e_rs - m_r * m_s)
            if third:
                off = base3 + r * (r + 1) * (r + 2) // 6 + s * (s + 1) // 2
                for t in range(s + 1):
                    m_t = acc[1 + t] * inv0
                    e_st = acc[base2 + s * (s + 1) // 2 + t] * inv0
                    e_rt = acc[base2 + r * (r + 1) // 2 + t] * inv0
                    dimat[r, s, t] += wt * (
                        acc[off + t] * inv0
                        - m_r * e_st
                        - m_s * e_rt
                        - m_t * e_rs
                        + 2.0 * m_r * m_s * m_t
                    )


@njit(cache=True)
def firth_derivs(
    start, stop, event, X, Z, w, strata, order_start, beta, efron, third
):  # pragma: no cover - numba
    """Log partial likelihood, score, information and dI/dbeta at ``beta`` (see
    :func:`firth_derivs_from`, which this calls with one ``exp`` per row in the sweep)."""
    eta = X @ beta
    return firth_derivs_from(
        start, stop, event, X, Z, w, strata, order_start, eta, eta, 0.0, False, efron, third
    )


def firth_derivs_eta(start, stop, event, X, Z, w, strata, order_start, beta, efron, third):
    """:func:`firth_derivs` with the linear predictor and exp(eta - max eta) formed by numpy
    (vectorised ``exp``) before the sweep; equal to it up to rounding (tests compare)."""
    eta = X @ np.asarray(beta, dtype=np.float64)
    cmax = float(eta.max())
    ex = np.exp(eta - cmax)
    return firth_derivs_from(
        start, stop, event, X, Z, w, strata, order_start, eta, ex, cmax, True, efron, third
    )


@njit(cache=True)
def firth_derivs_from(
    start, stop, event, X, Z, w, strata, order_start, eta, ex, cmax, use_ex, efron, third
):  # pragma: no cover - numba
    """Log partial likelihood, score, information and dI/dbeta at ``beta``.

    Rows sorted by stratum (ascending) then stop (descending); ``order_start`` sorts rows by
    stratum then start (descending); ``Z`` is :func:`packed_design` of ``X`` (2-d), or an
    empty 1-d array to form the products row by row. Ties: Efron
    (1977) or Breslow, with case weights as R ``survival`` (Efron: each of the d tied deaths
    carries the mean death weight). Returns (loglik, u (p,), imat (p, p), dimat (p, p, p));
    ``dimat[r, s, t]`` = dI[s, t]/dbeta[r]. ``eta`` is X beta; with ``use_ex`` the row weights
    are ``ex`` = exp(eta - cmax) (precomputed, vectorised) rescaled to the running shift, while
    that shift is within 600 of cmax (otherwise, and when recomputing, exp per row).
    """
    n, p = X.shape
    n2 = 1 + p + p * (p + 1) // 2
    n3 = n2 + p * (p + 1) * (p + 2) // 6
    ncol = n3 if third else n2
    zrow = np.zeros(n3)
    ll = 0.0
    u = np.zeros(p)
    imat = np.zeros((p, p))
    dimat = np.zeros((p, p, p))
    acc = np.zeros(ncol)
    dacc = np.zeros(ncol)
    tmp = np.zeros(ncol)
    c = -np.inf  # sums hold w exp(eta - c): c follows the largest eta added (no overflow)
    lprod = 1.0  # product of unit-weight denominators, times 2^lexp (kept in [2^-400, 2^400])
    lexp = 0
    c_sc = np.nan  # the shift for which sc = exp(cmax - c_sc) was formed
    fast = False
    sc = 0.0
    peak = 0.0  # largest risk-set total since the last (re)computation, on the current scale
    sbeg = 0
    k = 0
    i = 0
    cur = -1
    while i < n:
        s = strata[i]
        if s != cur:
            cur = s
            sbeg = i
            acc[:] = 0.0
            c = -np.inf
            peak = 0.0
            while k < n and strata[order_start[k]] < s:
                k += 1
        t = stop[i]
        j = i
        emax = c
        while j < n and strata[j] == s and stop[j] == t:
            if eta[j] > emax:
                emax = eta[j]
            j += 1
        if emax > c:
            if c > -np.inf:
                f = np.exp(c - emax)
                for q in range(ncol):
                    acc[q] *= f
                peak *= f
            c = emax
        nd = 0
        wd = 0.0
        if efron:
            dacc[:] = 0.0
        if c != c_sc:
            # the scale of the precomputed weights follows the running shift c
            c_sc = c
            fast = use_ex and cmax - c < 600.0
            sc = np.exp(cmax - c) if fast else 0.0
        for m in range(i, j):
            wr = w[m] * (ex[m] * sc) if fast else w[m] * np.exp(eta[m] - c)
            _accumulate(acc, wr, Z, X, m, zrow, ncol, p, third)
            if event[m] > 0:
                nd += 1
                wd += w[m]
                ll += w[m] * eta[m]
                for r in range(p):
                    u[r] += w[m] * X[m, r]
                if efron:
                    _accumulate(dacc, wr, Z, X, m, zrow, ncol, p, third)
        removed = False
        while k < n and strata[order_start[k]] == s and start[order_start[k]] >= t:
            m = order_start[k]
            wr = w[m] * (ex[m] * sc) if fast else w[m] * np.exp(eta[m] - c)
            _accumulate(acc, -wr, Z, X, m, zrow, ncol, p, third)
            k += 1
            removed = True
        if removed and acc[0] < 1e-6 * peak:
            # most of the weight has left the risk set: the running sums now carry rounding
            # error from the subtractions, so recompute them over the rows at risk (as R's
            # agreg does), on a fresh scale
            cnew = -np.inf
            for m in range(sbeg, j):
                if start[m] < t and eta[m] > cnew:
                    cnew = eta[m]
            acc[:] = 0.0
            for m in range(sbeg, j):
                if start[m] < t:
                    wr = w[m] * np.exp(eta[m] - cnew)
                    _accumulate(acc, wr, Z, X, m, zrow, ncol, p, third)
            if efron:
                f = np.exp(c - cnew)
                for q in range(ncol):
                    dacc[q] *= f
            c = cnew
            peak = acc[0]
        elif acc[0] > peak:
            peak = acc[0]
        if nd > 0:
            if efron and nd > 1:
                mw = wd / nd
                for d in range(nd):
                    f = d / nd
                    for q in range(ncol):
                        tmp[q] = acc[q] - f * dacc[q]
                    if mw == 1.0 and _LOW < tmp[0] < _HIGH:
                        ll -= c
                        lprod *= tmp[0]
                    else:
                        ll -= mw * (np.log(tmp[0]) + c)
                    _moments(mw, tmp, p, third, u, imat, dimat)
            else:
                if wd == 1.0 and _LOW < acc[0] < _HIGH:
                    # unit weight: log(denominator) through one running product (one log per
                    # evaluation instead of one per death time)
                    ll -= c
                    lprod *= acc[0]
                else:
                    ll -= wd * (np.log(acc[0]) + c)
                _moments(wd, acc, p, third, u, imat, dimat)
            if not _LOW < lprod < _HIGH:
                mant, e2 = math.frexp(lprod)
                lprod = mant
                lexp += e2
        i = j
    ll -= math.log(lprod) + lexp * _LN2
    _symmetrise(imat, dimat, p, third)
    return ll, u, imat, dimat


@njit(cache=True, inline="always")
def _symmetrise(imat, dimat, p, third):  # pragma: no cover - numba
    """Fill the symmetric parts of I and dI/db from their r >= s >= t entries."""
    for r in range(p):
        for s in range(r + 1):
            imat[s, r] = imat[r, s]
    if third:
        for r in range(p):
            for s in range(r + 1):
                for t in range(s + 1):
                    v = dimat[r, s, t]
                    dimat[r, t, s] = v
                    dimat[s, r, t] = v
                    dimat[s, t, r] = v
                    dimat[t, r, s] = v
                    dimat[t, s, r] = v


@njit(cache=True)
def penalise(ll, u, imat, dimat, score):  # pragma: no cover - numba
    """l* = l + 1/2 log|I| and U*_r = U_r + 1/2 tr(I^-1 dI/db_r) by a Cholesky factor of I.

    Returns (l*, U*, ok); ok is False (and l* = -inf) when I is not positive definite.
    """
    p = imat.shape[0]
    low = np.zeros((p, p))
    for j in range(p):
        d = imat[j, j]
        for q in range(j):
            d -= low[j, q] * low[j, q]
        # numerically singular (relative pivot below 1e-12): log|I| is not defined
        if not d > 1e-12 * imat[j, j]:
            return -np.inf, u.copy(), False
        low[j, j] = np.sqrt(d)
        for i in range(j + 1, p):
            v = imat[i, j]
            for q in range(j):
                v -= low[i, q] * low[j, q]
            low[i, j] = v / low[j, j]
    logdet = 0.0
    for j in range(p):
        logdet += 2.0 * np.log(low[j, j])
    ustar = u.copy()
    if score:
        inv = np.zeros((p, p))
        for col in range(p):
            y = np.zeros(p)
            for i in range(p):
                v = 1.0 if i == col else 0.0
                for q in range(i):
                    v -= low[i, q] * y[q]
                y[i] = v / low[i, i]
            for i in range(p - 1, -1, -1):
                v = y[i]
                for q in range(i + 1, p):
                    v -= low[q, i] * inv[q, col]
                inv[i, col] = v / low[i, i]
        for r in range(p):
            tr = 0.0
            for s in range(p):
                for t in range(p):
                    tr += dimat[r, s, t] * inv[t, s]
            ustar[r] += 0.5 * tr
    return ll + 0.5 * logdet, ustar, True


class DeathBlocks(NamedTuple):
    """The beta-free structure of right-censored rows for :func:`firth_derivs_blocks`.

    A death block is a run of rows with the same stratum and stop time containing at least one
    death (rows sorted by stratum, then stop descending, as ``CoxData``); its risk set is every
    row of the stratum from the stratum's first row to the block's end.
    """

    first: np.ndarray  # (B,) first row of each death block
    end: np.ndarray  # (B,) one past its last row
    restart: np.ndarray  # (B,) first row of the stratum when the block opens one, else -1
    n_deaths: np.ndarray  # (B,) deaths in the block
    w_deaths: np.ndarray  # (B,) their total case weight
    s_deaths: np.ndarray  # (p,) sum over all deaths of w x (the beta-free part of the score)
    w_total: float  # total case weight of the deaths
    unit_weights: bool  # all case weights are 1


@njit(cache=True)
def _death_blocks(stop, event, w, strata, X):  # pragma: no cover - numba
    n, p = X.shape
    first = np.empty(n, dtype=np.int64)
    end = np.empty(n, dtype=np.int64)
    restart = np.empty(n, dtype=np.int64)
    nd = np.empty(n, dtype=np.int64)
    wd = np.empty(n)
    sd = np.zeros(p)
    nb = 0
    pending = -1
    cur = -1
    i = 0
    while i < n:
        s = strata[i]
        if s != cur:
            cur = s
            pending = i
        t = stop[i]
        j = i
        d = 0
        wsum = 0.0
        while j < n and strata[j] == s and stop[j] == t:
            if event[j] > 0:
                d += 1
                wsum += w[j]
                for r in range(p):
                    sd[r] += w[j] * X[j, r]
            j += 1
        if d > 0:
            first[nb] = i
            end[nb] = j
            restart[nb] = pending
            nd[nb] = d
            wd[nb] = wsum
            nb += 1
            pending = -1
        i = j
    return (
        first[:nb].copy(),
        end[:nb].copy(),
        restart[:nb].copy(),
        nd[:nb].copy(),
        wd[:nb].copy(),
        sd,
    )


def death_blocks(stop, event, w, strata, X) -> DeathBlocks:
    """:class:`DeathBlocks` of sorted right-censored rows (computed once per design)."""
    first, end, restart, nd, wd, sd = _death_blocks(stop, event, w, strata, X)
    return DeathBlocks(first, end, restart, nd, wd, sd, float(wd.sum()), bool(np.all(w == 1.0)))


# exp(eta - max eta) stays above e^-500 when eta spans less than this: no underflow in the sums
_BLOCK_SPAN = 500.0


def firth_derivs_sorted(Z, X, event, w, blocks, beta, efron, third):
    """Log partial likelihood, U, I and dI/db of right-censored rows via the death blocks.

    As :func:`firth_derivs_from` (equal up to rounding; tests compare), for data without late
    entry: one shift max(eta) for all rows and the beta-free death sums of ``blocks``
    (:class:`DeathBlocks`). Returns None when eta spans more than ``_BLOCK_SPAN`` (the general
    kernel's running shift is then needed).
    """
    eta, lo, hi = linear_predictor(X, beta)
    if not hi - lo < _BLOCK_SPAN:
        return None
    wex = np.exp(np.subtract(eta, hi, out=eta), out=eta)  # vectorised exp
    if not blocks.unit_weights:
        wex *= w
    b = blocks
    ll, u, imat, dimat = firth_derivs_blocks(
        Z, wex, event, b.first, b.end, b.restart, b.n_deaths, b.w_deaths, X.shape[1], efron, third
    )
    ll += float(beta @ b.s_deaths) - hi * b.w_total
    u += b.s_deaths
    return ll, u, imat, dimat


@njit(cache=True)
def linear_predictor(X, beta):  # pragma: no cover - numba
    """eta = X beta and its range (no BLAS call: no thread start-up on a busy machine)."""
    n, p = X.shape
    eta = np.empty(n)
    lo = np.inf
    hi = -np.inf
    for i in range(n):
        v = 0.0
        for r in range(p):
            v += X[i, r] * beta[r]
        eta[i] = v
        lo = min(lo, v)
        hi = max(hi, v)
    return eta, lo, hi


@njit(cache=True)
def firth_derivs_blocks(
    Z, wex, event, first, end, restart, n_deaths, w_deaths, p, efron, third
):  # pragma: no cover - numba
    """Log-denominator part of the log partial likelihood and the moment parts of U, I, dI/db.

    Right-censored rows only (nobody leaves a risk set before its stop time, so the risk-set
    sums only grow within a stratum): one pass adding ``wex`` (w exp(eta - shift), one shift
    for all rows) times the packed products ``Z`` (:func:`packed_design`) row by row, and the
    moments at each death block (:class:`DeathBlocks`). Ties: Efron or Breslow, with case
    weights as R ``survival``. Returns (-sum w_d log S0, -sum w_d mean, I, dI/db): the caller
    adds the beta-free death sums and the shift (:func:`firth_derivs_eta`).
    """
    n2 = 1 + p + p * (p + 1) // 2
    ncol = n2 + p * (p + 1) * (p + 2) // 6 if third else n2
    acc = np.zeros(ncol)
    dacc = np.zeros(ncol)
    tmp = np.zeros(ncol)
    ll = 0.0
    u = np.zeros(p)
    imat = np.zeros((p, p))
    dimat = np.zeros((p, p, p))
    lprod = 1.0  # product of unit-weight denominators, times 2^lexp
    lexp = 0
    pos = 0
    for b in range(first.shape[0]):
        if restart[b] >= 0:
            acc[:] = 0.0
            pos = restart[b]
        e = end[b]
        for m in range(pos, e):
            wr = wex[m]
            for q in range(ncol):
                acc[q] += wr * Z[m, q]
        pos = e
        nd = n_deaths[b]
        wd = w_deaths[b]
        if efron and nd > 1:
            dacc[:] = 0.0
            for m in range(first[b], e):
                if event[m] > 0:
                    wr = wex[m]
                    for q in range(ncol):
                        dacc[q] += wr * Z[m, q]
            mw = wd / nd
            for d in range(nd):
                f = d / nd
                for q in range(ncol):
                    tmp[q] = acc[q] - f * dacc[q]
                if mw == 1.0 and _LOW < tmp[0] < _HIGH:
                    lprod *= tmp[0]
                else:
                    ll -= mw * np.log(tmp[0])
                _moments(mw, tmp, p, third, u, imat, dimat)
        else:
            if wd == nd and nd <= 8 and _LOW8 < acc[0] < _HIGH8:
                # unit weights: log(denominator) through one running product (one log per
                # evaluation instead of one per death time); at most 8 factors within
                # 2^+-50 keep the product within 2^+-800 before it is renormalised below
                for _ in range(nd):
                    lprod *= acc[0]
            else:
                ll -= wd * np.log(acc[0])
            _moments(wd, acc, p, third, u, imat, dimat)
        if not _LOW < lprod < _HIGH:
            mant, e2 = math.frexp(lprod)
            lprod = mant
            lexp += e2
    ll -= math.log(lprod) + lexp * _LN2
    _symmetrise(imat, dimat, p, third)
    return ll, u, imat, dimat


def reference_derivs(start, stop, event, X, w, strata, beta, efron):
    """Pure-numpy O(n^2) log partial likelihood and derivatives up to dI/dbeta (for tests).

    Written from the definitions, one distinct event time at a time, with no sorting
    assumptions: risk set {start < t <= stop} within the stratum.
    """
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    eta = X @ beta
    ll = 0.0
    u = np.zeros(p)
    imat = np.zeros((p, p))
    dimat = np.zeros((p, p, p))
    for s in np.unique(strata):
        ins = strata == s
        for t in np.unique(stop[ins & (event > 0)]):
            risk = ins & (start < t) & (stop >= t)
            dead = ins & (stop == t) & (event > 0)
            nd = int(dead.sum())
            wd = float(w[dead].sum())
            ll += float(np.sum(w[dead] * eta[dead]))
            u += (w[dead][:, None] * X[dead]).sum(axis=0)
            fracs = np.arange(nd) / nd if (efron and nd > 1) else np.zeros(1)
            wt = wd / nd if (efron and nd > 1) else wd
            for f in fracs:
                weight = w * np.exp(eta) * (risk.astype(float) - f * dead.astype(float))
                b0 = weight.sum()
                mu = weight @ X / b0
                xc = X - mu
                cov = (weight[:, None] * xc).T @ xc / b0
                m3 = np.einsum("i,ir,is,it->rst", weight, xc, xc, xc) / b0
                ll -= wt * np.log(b0)
                u -= wt * mu
                imat += wt * cov
                dimat += wt * m3
    return ll, u, imat, dimat


@njit(cache=True)
def _cholesky_solve(h, g):  # pragma: no cover - numba
    """Solve h x = g for symmetric h by Cholesky; ok is False if h is not positive definite."""
    k = h.shape[0]
    low = np.zeros((k, k))
    x = np.zeros(k)
    for j in range(k):
        d = h[j, j]
        for q in range(j):
            d -= low[j, q] * low[j, q]
        if not d > 0.0:
            return x, False
        low[j, j] = np.sqrt(d)
        for i in range(j + 1, k):
            v = h[i, j]
            for q in range(j):
                v -= low[i, q] * low[j, q]
            low[i, j] = v / low[j, j]
    y = np.zeros(k)
    for i in range(k):
        v = g[i]
        for q in range(i):
            v -= low[i, q] * y[q]
        y[i] = v / low[i, i]
    for i in range(k - 1, -1, -1):
        v = y[i]
        for q in range(i + 1, k):
            v -= low[q, i] * x[q]
        x[i] = v / low[i, i]
    return x, True


@njit(cache=True)
def newton_direction(info, corr, score, idx):  # pragma: no cover - numba
    """Step (I + corr)^-1 U* over the free coefficients ``idx``; I alone if that is not PD."""
    k = idx.shape[0]
    h = np.empty((k, k))
    g = np.empty(k)
    for a in range(k):
        g[a] = score[idx[a]]
        for b in range(k):
            h[a, b] = info[idx[a], idx[b]] + corr[a, b]
    x, ok = _cholesky_solve(h, g)
    if ok:
        return x, True
    for a in range(k):
        for b in range(k):
            h[a, b] = info[idx[a], idx[b]]
    return _cholesky_solve(h, g)


@njit(cache=True)
def secant_update(corr, info, score_new, score_old, idx, delta):  # pragma: no cover - numba
    """Symmetric rank-one update of corr so that (I_new + corr) delta = -(U*_new - U*_old)."""
    k = idx.shape[0]
    r = np.empty(k)
    for a in range(k):
        v = -(score_new[idx[a]] - score_old[idx[a]])
        for b in range(k):
            v -= (info[idx[a], idx[b]] + corr[a, b]) * delta[b]
        r[a] = v
    denom = 0.0
    nr = 0.0
    nd = 0.0
    for a in range(k):
        denom += r[a] * delta[a]
        nr += r[a] * r[a]
        nd += delta[a] * delta[a]
    out = corr.copy()
    if denom != 0.0 and abs(denom) > 1e-8 * np.sqrt(nr * nd):
        for a in range(k):
            for b in range(k):
                out[a, b] += r[a] * r[b] / denom
    return out


class ProfileStep(NamedTuple):
    """Local quadratic model of the profile of coefficient k at a point (b_k, b_others)."""

    step: np.ndarray  # (p,) Newton step of the other coefficients (0 at k)
    tangent: np.ndarray  # (p,) d b_others / d b_k along the profile path (1 at k)
    gain: float  # 1/2 U*_o' step: l* at the inner maximum minus l* here (second order)
    slope: float  # d profile / d b_k: U*_k - I_ko step
    ok: bool  # False if I_oo is not positive definite


@njit(cache=True)
def _profile_step(info, score, k):  # pragma: no cover - numba
    p = info.shape[0]
    step = np.zeros(p)
    tangent = np.zeros(p)
    tangent[k] = 1.0
    if p == 1:
        return step, tangent, 0.0, score[k], True
    h = np.empty((p - 1, p - 1))
    g = np.empty(p - 1)
    c = np.empty(p - 1)
    a = 0
    for i in range(p):
        if i == k:
            continue
        g[a] = score[i]
        c[a] = -info[i, k]
        b = 0
        for j in range(p):
            if j != k:
                h[a, b] = info[i, j]
                b += 1
        a += 1
    x, ok = _cholesky_solve(h, g)
    t, ok2 = _cholesky_solve(h, c)
    gain = 0.0
    slope = score[k]
    a = 0
    for i in range(p):
        if i == k:
            continue
        step[i] = x[a]
        tangent[i] = t[a]
        gain += 0.5 * g[a] * x[a]
        slope -= info[k, i] * x[a]
        a += 1
    return step, tangent, gain, slope, ok and ok2


def profile_step(info: np.ndarray, score: np.ndarray, k: int) -> ProfileStep:
    """Newton step of the other coefficients with coefficient ``k`` held fixed (``info``, the
    negative Hessian used as curvature, is the caller's: I, or I plus an estimate of the
    penalty's), the profile path's tangent -H_oo^-1 H_ok, and the profile's value gain and
    slope predicted by that quadratic model (Venzon & Moolgavkar 1988)."""
    return ProfileStep(*_profile_step(info, score, k))
