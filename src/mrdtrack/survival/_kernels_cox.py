"""numba kernels of the Cox partial likelihood, with pure-numpy references used in tests.

Every kernel takes the rows of a :class:`~mrdtrack.survival._coxdata.CoxData`, i.e. sorted by
stratum (ascending) then stop time (descending), plus ``order_start``: the row positions sorted
by stratum then start time (descending). One backward sweep over the distinct stop times adds the
rows whose stop time is reached and removes the rows whose start time is not before the current
time, so a risk set is ``{i : start_i < t <= stop_i}`` (R ``agreg``) at O(n p^2) cost per pass.
Right-censored data have ``start = -inf`` and nothing is ever removed (R ``coxph.fit``).

Ties: Efron (1977) when ``efron`` is true, otherwise Breslow (1974), both with case weights as R
``survival`` (Therneau & Grambsch 2000, sec. 3.3): the deaths at a tied time share their mean
weight, and the Efron denominators are ``denom - (k / d) * denom_deaths`` for k = 0..d-1.

The kernels are compiled on first call and cached on disk (``cache=True``), never at import.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit


@njit(cache=True)
def _advance_stratum(order_start, strata, j, s):
    n = order_start.shape[0]
    while j < n and strata[order_start[j]] < s:
        j += 1
    return j


@njit(cache=True, inline="always")
def _risk_of(X, w, k, beta, p):
    """w_k exp(x_k' beta) and x_k' beta for one row (formed in the sweep: the design is read
    once per evaluation and no n-long temporaries are allocated)."""
    eta = 0.0
    for q in range(p):
        eta += X[k, q] * beta[q]
    return w[k] * math.exp(eta), eta


@njit(cache=True)
def loglik_derivs(
    start, stop, event, X, w, strata, s_start, s_strata, Xs, ws, beta, efron, want_imat, counting
):
    """Log partial likelihood, score and information at ``beta`` (one sweep).

    ``s_start``, ``s_strata``, ``Xs``, ``ws`` are the entry times, strata, covariates and
    weights in entry order (stratum ascending, entry descending): copies, so that removing rows
    from the risk set reads memory sequentially. Unused (pass the row-order arrays) when
    ``counting`` is False. Each row's risk score w exp(x' beta) is formed when the sweep
    reaches it.
    """
    n, p = X.shape
    loglik = 0.0
    u = np.zeros(p)
    imat = np.zeros((p, p))
    a = np.zeros(p)
    a2 = np.zeros(p)
    mv = np.zeros(p)
    cmat = np.zeros((p, p))
    cmat2 = np.zeros((p, p))
    denom = 0.0
    nrisk = 0
    i = 0
    j = 0
    cur = -1
    while i < n:
        s = strata[i]
        if s != cur:
            cur = s
            denom = 0.0
            nrisk = 0
            a[:] = 0.0
            cmat[:, :] = 0.0
            while j < n and s_strata[j] < s:
                j += 1
        t = stop[i]
        # add every row whose stop time is t; collect the deaths at t
        ndead = 0
        wdead = 0.0
        k = i
        while k < n and strata[k] == s and stop[k] == t:
            r, eta = _risk_of(X, w, k, beta, p)
            denom += r
            nrisk += 1
            for q in range(p):
                a[q] += r * X[k, q]
            if want_imat:
                for q in range(p):
                    rx = r * X[k, q]
                    for m in range(q + 1):
                        cmat[q, m] += rx * X[k, m]
            if event[k] > 0:
                ndead += 1
                wdead += w[k]
                loglik += w[k] * eta
                for q in range(p):
                    u[q] += w[k] * X[k, q]
            k += 1
        # drop the rows that entered at or after t: they are not at risk at t (start < t needed)
        if counting:
            while j < n and s_strata[j] == s and s_start[j] >= t:
                r, _ = _risk_of(Xs, ws, j, beta, p)
                denom -= r
                nrisk -= 1
                for q in range(p):
                    a[q] -= r * Xs[j, q]
                if want_imat:
                    for q in range(p):
                        rx = r * Xs[j, q]
                        for m in range(q + 1):
                            cmat[q, m] -= rx * Xs[j, m]
                j += 1
            if nrisk == 0:
                # an empty risk set: clear the running sums so round-off does not accumulate
                denom = 0.0
                a[:] = 0.0
                cmat[:, :] = 0.0
        if ndead > 0:
            nterm = ndead if efron else 1
            meanwt = wdead / nterm
            denom2 = 0.0
            if nterm > 1:
                # the deaths' own sums, needed only for Efron's shares of tied deaths
                a2[:] = 0.0
                cmat2[:, :] = 0.0
                for kk in range(i, k):
                    if event[kk] > 0:
                        r, _ = _risk_of(X, w, kk, beta, p)
                        denom2 += r
                        for q in range(p):
                            rx = r * X[kk, q]
                            a2[q] += rx
                            if want_imat:
                                for m in range(q + 1):
                                    cmat2[q, m] += rx * X[kk, m]
            for kk in range(nterm):
                frac = kk / ndead if nterm > 1 else 0.0
                d2 = denom - frac * denom2
                inv = 1.0 / d2
                loglik -= meanwt * np.log(d2)
                for q in range(p):
                    mv[q] = (a[q] - frac * a2[q]) * inv
                    u[q] -= meanwt * mv[q]
                if want_imat:
                    for q in range(p):
                        for m in range(q + 1):
                            imat[q, m] += meanwt * (
                                (cmat[q, m] - frac * cmat2[q, m]) * inv - mv[q] * mv[m]
                            )
        i = k
    for q in range(p):
        for m in range(q):
            imat[m, q] = imat[q, m]
    return loglik, u, imat


def reference_loglik_derivs(start, stop, event, X, w, strata, beta, efron):
    """Direct O(n^2) evaluation of the same quantities, one death time at a time (for tests)."""
    _n, p = X.shape
    eta = X @ beta
    risk = w * np.exp(eta)
    loglik = 0.0
    u = np.zeros(p)
    imat = np.zeros((p, p))
    for s in np.unique(strata):
        ins = strata == s
        for t in np.unique(stop[ins & (event > 0)]):
            at_risk = ins & (start < t) & (stop >= t)
            dead = ins & (stop == t) & (event > 0)
            d = int(dead.sum())
            wd = w[dead]
            loglik += float(np.sum(wd * eta[dead]))
            u += wd @ X[dead]
            fracs = np.arange(d) / d if (efron and d > 1) else np.zeros(1)
            meanwt = wd.sum() / len(fracs)
            for f in fracs:
                r = risk * (at_risk - f * dead)
                den = r.sum()
                mean = r @ X / den
                loglik -= meanwt * np.log(den)
                u -= meanwt * mean
                imat += meanwt * ((X * r[:, None]).T @ X / den - np.outer(mean, mean))
    return loglik, u, imat


class DeathTerms(NamedTuple):
    """Per distinct death time (stratum ascending, time descending): see :func:`death_terms`."""

    time: np.ndarray
    stratum: np.ndarray
    n_risk: np.ndarray  # rows at risk
    w_risk: np.ndarray  # weight at risk
    n_event: np.ndarray  # dying rows
    w_event: np.ndarray  # dying weight
    haz: np.ndarray  # hazard increment of a subject at risk with risk score 1
    haz_dead: np.ndarray  # the same for a subject dying at that time (Efron shares)
    xhaz: np.ndarray  # (m, p) haz times the risk-set means
    xhaz_dead: np.ndarray  # (m, p) haz_dead times the risk-set means
    xbar: np.ndarray  # (m, p) mean of the Efron means
    wx_dead: np.ndarray  # (m, p) weighted covariate sums of the deaths
    dinfo: np.ndarray  # (m, p, p) information increment
    hvar: np.ndarray  # variance increment of the cumulative hazard


@njit(cache=True)
def death_terms(start, stop, event, X, w, strata, order_start, beta, efron):
    """Per distinct death time (stratum ascending, time descending) the pieces that residuals,
    the baseline hazard and the cox.zph test need, at ``beta``.

    Returns a :class:`DeathTerms`. ``haz`` is the hazard increment of a subject at risk with
    risk score 1 (Breslow: w_event / denom; Efron: sum_k mean_w / denom_k); ``haz_dead`` the
    same for a subject dying at that time (Efron weights (1 - k/d)); ``xhaz`` and
    ``xhaz_dead`` carry the risk-set means; ``xbar`` is the mean of the Efron means, ``dinfo``
    the information increment, ``hvar`` the variance increment of the cumulative hazard
    (sum_k mean_w / denom_k^2).
    """
    n, p = X.shape
    eta = X @ beta
    risk = w * np.exp(eta)
    m_max = 0
    for i in range(n):
        if event[i] > 0:
            m_max += 1
    t_out = np.empty(m_max)
    s_out = np.empty(m_max, dtype=np.int64)
    nr_out = np.empty(m_max)
    wr_out = np.empty(m_max)
    nd_out = np.empty(m_max)
    wd_out = np.empty(m_max)
    haz = np.empty(m_max)
    haz2 = np.empty(m_max)
    hvar = np.empty(m_max)
    xhaz = np.zeros((m_max, p))
    xhaz2 = np.zeros((m_max, p))
    xbar = np.zeros((m_max, p))
    wxd = np.zeros((m_max, p))
    dinfo = np.zeros((m_max, p, p))
    a = np.zeros(p)
    a2 = np.zeros(p)
    cmat = np.zeros((p, p))
    cmat2 = np.zeros((p, p))
    denom = 0.0
    wrisk = 0.0
    nrisk = 0
    i = 0
    j = 0
    m = 0
    cur = -1
    while i < n:
        s = strata[i]
        if s != cur:
            cur = s
            denom = 0.0
            wrisk = 0.0
            nrisk = 0
            a[:] = 0.0
            cmat[:, :] = 0.0
            j = _advance_stratum(order_start, strata, j, s)
        t = stop[i]
        denom2 = 0.0
        a2[:] = 0.0
        cmat2[:, :] = 0.0
        ndead = 0
        wdead = 0.0
        k = i
        while k < n and strata[k] == s and stop[k] == t:
            r = risk[k]
            denom += r
            wrisk += w[k]
            nrisk += 1
            for q in range(p):
                a[q] += r * X[k, q]
                for mm in range(q + 1):
                    cmat[q, mm] += r * X[k, q] * X[k, mm]
            if event[k] > 0:
                ndead += 1
                wdead += w[k]
                denom2 += r
                for q in range(p):
                    a2[q] += r * X[k, q]
                    wxd[m, q] += w[k] * X[k, q]
                    for mm in range(q + 1):
                        cmat2[q, mm] += r * X[k, q] * X[k, mm]
            k += 1
        while j < n and strata[order_start[j]] == s and start[order_start[j]] >= t:
            r_idx = order_start[j]
            r = risk[r_idx]
            denom -= r
            wrisk -= w[r_idx]
            nrisk -= 1
            for q in range(p):
                a[q] -= r * X[r_idx, q]
                for mm in range(q + 1):
                    cmat[q, mm] -= r * X[r_idx, q] * X[r_idx, mm]
            j += 1
        if nrisk == 0:
            denom = 0.0
            wrisk = 0.0
            a[:] = 0.0
            cmat[:, :] = 0.0
        if ndead > 0:
            t_out[m] = t
            s_out[m] = s
            nr_out[m] = nrisk
            wr_out[m] = wrisk
            nd_out[m] = ndead
            wd_out[m] = wdead
            h = 0.0
            h2 = 0.0
            hv = 0.0
            nterm = ndead if efron else 1
            meanwt = wdead / nterm
            for kk in range(nterm):
                frac = kk / ndead if efron else 0.0
                d2 = denom - frac * denom2
                inc = meanwt / d2
                h += inc
                h2 += (1.0 - frac) * inc
                hv += meanwt / (d2 * d2)
                for q in range(p):
                    mq = (a[q] - frac * a2[q]) / d2
                    xhaz[m, q] += inc * mq
                    xhaz2[m, q] += (1.0 - frac) * inc * mq
                    xbar[m, q] += mq / nterm
                    for mm in range(q + 1):
                        dinfo[m, q, mm] += meanwt * (
                            (cmat[q, mm] - frac * cmat2[q, mm]) / d2
                            - mq * (a[mm] - frac * a2[mm]) / d2
                        )
            for q in range(p):
                for mm in range(q):
                    dinfo[m, mm, q] = dinfo[m, q, mm]
            haz[m] = h
            haz2[m] = h2
            hvar[m] = hv
            m += 1
        i = k
    return DeathTerms(
        t_out[:m],
        s_out[:m],
        nr_out[:m],
        wr_out[:m],
        nd_out[:m],
        wd_out[:m],
        haz[:m],
        haz2[:m],
        xhaz[:m],
        xhaz2[:m],
        xbar[:m],
        wxd[:m],
        dinfo[:m],
        hvar[:m],
    )


@njit(cache=True)
def score_residuals(
    start, stop, event, X, strata, eta, dt_time, dt_strat, haz, haz2, xhaz, xhaz2, xbar
):
    """Unweighted score residuals of every (sorted) row from the death-time terms.

    For row i: event_i * (x_i - xbar(t_i)) - exp(eta_i) * sum over death times t in
    (start_i, stop_i] of (x_i * dH(t) - dG(t)), with the Efron share for a row dying at t.
    The death-time arrays come from :func:`death_terms` (stratum ascending, time descending).
    """
    n, p = X.shape
    m = dt_time.shape[0]
    # cumulative sums in ascending time within each stratum
    cum_h = np.zeros(m + 1)
    cum_x = np.zeros((m + 1, p))
    # position arrays: reorder death times ascending within stratum
    order = np.empty(m, dtype=np.int64)
    lo = 0
    while lo < m:
        hi = lo
        while hi < m and dt_strat[hi] == dt_strat[lo]:
            hi += 1
        for kk in range(hi - lo):
            order[lo + kk] = hi - 1 - kk
        lo = hi
    t_asc = np.empty(m)
    s_asc = np.empty(m, dtype=np.int64)
    for kk in range(m):
        o = order[kk]
        t_asc[kk] = dt_time[o]
        s_asc[kk] = dt_strat[o]
        cum_h[kk + 1] = cum_h[kk] + haz[o]
        for q in range(p):
            cum_x[kk + 1, q] = cum_x[kk, q] + xhaz[o, q]
    # stratum boundaries in the ascending arrays
    n_strat = 0
    for i in range(n):
        if strata[i] + 1 > n_strat:
            n_strat = strata[i] + 1
    s_lo = np.zeros(n_strat, dtype=np.int64)
    s_hi = np.zeros(n_strat, dtype=np.int64)
    kk = 0
    while kk < m:
        s = s_asc[kk]
        s_lo[s] = kk
        while kk < m and s_asc[kk] == s:
            kk += 1
        s_hi[s] = kk
    resid = np.zeros((n, p))
    for i in range(n):
        s = strata[i]
        lo = s_lo[s]
        hi = s_hi[s]
        if hi <= lo:
            continue
        # number of death times <= stop and <= start in the stratum
        ia = lo + np.searchsorted(t_asc[lo:hi], stop[i], side="right")
        ib = lo + np.searchsorted(t_asc[lo:hi], start[i], side="right")
        r = np.exp(eta[i])
        dh = cum_h[ia] - cum_h[ib]
        for q in range(p):
            resid[i, q] = -r * (X[i, q] * dh - (cum_x[ia, q] - cum_x[ib, q]))
        if event[i] > 0:
            o = order[ia - 1]
            # replace the at-risk share at the own death time by the dying share, add the jump
            for q in range(p):
                resid[i, q] += r * (X[i, q] * haz[o] - xhaz[o, q])
                resid[i, q] -= r * (X[i, q] * haz2[o] - xhaz2[o, q])
                resid[i, q] += X[i, q] - xbar[o, q]
    return resid


@njit(cache=True)
def _fen_add(tree, i, v):
    n = tree.shape[0]
    i += 1
    while i <= n:
        tree[i - 1] += v
        i += i & (-i)


@njit(cache=True)
def _fen_zero(tree, i):
    n = tree.shape[0]
    i += 1
    while i <= n:
        tree[i - 1] = 0.0
        i += i & (-i)


@njit(cache=True)
def _fen_sum(tree, i):
    # sum of positions 0..i-1
    s = 0.0
    while i > 0:
        s += tree[i - 1]
        i -= i & (-i)
    return s


@njit(cache=True)
def _fen_split(tree, rk, lo, hi):
    below = _fen_sum(tree, rk) - _fen_sum(tree, lo)
    tied = _fen_sum(tree, rk + 1) - _fen_sum(tree, rk)
    above = _fen_sum(tree, hi) - _fen_sum(tree, rk + 1)
    return below, above, tied


@njit(cache=True)
def concordance_counts(start, stop, event, w, strata, order_start, rank, rank_lo, rank_hi, n_rank):
    """Harrell's concordance of a risk score (higher score, earlier event) with its per-row
    influence, as R ``concordancefit(reverse=TRUE, timewt="n")``.

    Pairs are formed at each event time t between a row dying at t and every row at risk at t
    (start < t <= stop) that does not die at t (deaths at the same time are tied in y). ``rank``
    is the rank of the score, offset so that each stratum has its own range [rank_lo, rank_hi).
    One descending sweep keeps two Fenwick trees over the ranks: the weights at risk (for the
    dying row's side of its pairs) and the weights of the deaths seen so far (for the at-risk
    row's side, as a difference between its entry and its exit). Returns (counts[concordant,
    discordant, tied.x, tied.y (all pairs of deaths at one time), tied.xy], influence (n, 3):
    concordant, discordant, tied.x per row).
    """
    n = stop.shape[0]
    risk_tree = np.zeros(n_rank)
    dead_tree = np.zeros(n_rank)
    tie_tree = np.zeros(n_rank)
    infl = np.zeros((n, 3))
    counts = np.zeros(5)
    i = 0
    j = 0
    cur = -1
    while i < n:
        s = strata[i]
        if s != cur:
            cur = s
            j = _advance_stratum(order_start, strata, j, s)
        t = stop[i]
        lo = rank_lo[i]
        hi = rank_hi[i]
        k = i
        while k < n and strata[k] == s and stop[k] == t:
            k += 1
        # rows that entered at or after t leave; their pairs with later deaths are complete
        while j < n and strata[order_start[j]] == s and start[order_start[j]] >= t:
            r = order_start[j]
            _fen_add(risk_tree, rank[r], -w[r])
            b, a, tx = _fen_split(dead_tree, rank[r], lo, hi)
            infl[r, 0] += a
            infl[r, 1] += b
            infl[r, 2] += tx
            j += 1
        for kk in range(i, k):
            if event[kk] == 0:
                b, a, tx = _fen_split(dead_tree, rank[kk], lo, hi)
                infl[kk, 0] -= a
                infl[kk, 1] -= b
                infl[kk, 2] -= tx
                _fen_add(risk_tree, rank[kk], w[kk])
        wd = 0.0
        wd2 = 0.0
        for kk in range(i, k):
            if event[kk] > 0:
                b, a, tx = _fen_split(risk_tree, rank[kk], lo, hi)
                infl[kk, 0] += b
                infl[kk, 1] += a
                infl[kk, 2] += tx
                counts[0] += w[kk] * b
                counts[1] += w[kk] * a
                counts[2] += w[kk] * tx
                wd += w[kk]
                wd2 += w[kk] * w[kk]
        counts[3] += (wd * wd - wd2) / 2.0
        # pairs of deaths at t that are also tied in the score (R reports them as tied.xy)
        for kk in range(i, k):
            if event[kk] > 0:
                rk = rank[kk]
                counts[4] += w[kk] * (_fen_sum(tie_tree, rk + 1) - _fen_sum(tie_tree, rk))
                _fen_add(tie_tree, rk, w[kk])
        for kk in range(i, k):
            if event[kk] > 0:
                _fen_zero(tie_tree, rank[kk])  # exact reset: no round-off residue
        for kk in range(i, k):
            if event[kk] > 0:
                _fen_add(dead_tree, rank[kk], w[kk])
        for kk in range(i, k):
            if event[kk] > 0:
                b, a, tx = _fen_split(dead_tree, rank[kk], lo, hi)
                infl[kk, 0] -= a
                infl[kk, 1] -= b
                infl[kk, 2] -= tx
                _fen_add(risk_tree, rank[kk], w[kk])
        i = k
        if i >= n or strata[i] != s:
            # rows still at risk at the first time of the stratum: their entry is before it
            while j < n and strata[order_start[j]] == s:
                r = order_start[j]
                b, a, tx = _fen_split(dead_tree, rank[r], lo, hi)
                infl[r, 0] += a
                infl[r, 1] += b
                infl[r, 2] += tx
                j += 1
    return counts, infl


# ---- Newton-Raphson with R's step-halving: the one rule of every Cox fitter -----------------
#
# Reverse communication: the caller evaluates the log partial likelihood with its own kernel
# (rows, one scalar covariate, or two-group counts) and hands the result to `newton_update`,
# which decides where to evaluate next. The rule (R coxph.fit: coxfit6 / agfit4) therefore
# exists once, and each evaluator stays specialised.

NEWTON_CONTINUE = 0  # evaluate at ``trial`` and call newton_update again
NEWTON_CONVERGED = 1  # ``beta`` (= the last trial) is the estimate
NEWTON_EXHAUSTED = 2  # out of iterations: ``beta`` is the last good iterate, evaluate there
NEWTON_SINGULAR = 3  # the information is not positive definite (R cholesky2's pivot test)


class NewtonFit(NamedTuple):
    """Result of :func:`newton_fit` (arrays of length p, p x p)."""

    beta: np.ndarray
    loglik0: float
    loglik: float
    score0: np.ndarray
    info0: np.ndarray
    score: np.ndarray
    info: np.ndarray
    sctest: float  # score test at the start: U0' I0^-1 U0
    iterations: int  # as R: iter.max + 1 (coxfit6) or iter.max (agfit4) when out of iterations
    converged: bool
    status: int  # 0, or NEWTON_SINGULAR with ``iterations`` 0: singular at the start


class BatchedCox(NamedTuple):
    """Result of :func:`batched_fit`: one row per replicate."""

    coef: np.ndarray  # (nrep, p)
    se: np.ndarray  # (nrep, p)
    loglik0: np.ndarray
    loglik: np.ndarray
    n_events: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    monotone: np.ndarray  # (nrep, p)


@njit(cache=True)
def solve_pd(a, b, out, toler_chol):
    """``out = a^-1 b`` for a symmetric positive-definite ``a``; False when ``a`` is not.

    Cholesky decomposition of ``a`` scaled to unit diagonal with R ``cholesky2``'s pivot test
    (a pivot below ``toler_chol`` means not identifiable): R's coxfit6/agfit4 rescale the
    covariates before fitting, so the test does not depend on a covariate's units; the
    unit-diagonal scaling gives the same invariance.
    """
    p = a.shape[0]
    if p == 1:
        d = a[0, 0]
        if not (d > 0.0 and d < np.inf):
            return False
        out[0] = b[0] / d
        return True
    sc = np.empty(p)
    for i in range(p):
        d = a[i, i]
        if not (d > 0.0 and d < np.inf):
            return False
        sc[i] = math.sqrt(d)
    low = np.zeros((p, p))
    for j in range(p):
        piv = a[j, j] / (sc[j] * sc[j])
        for k in range(j):
            piv -= low[j, k] * low[j, k]
        if not piv >= toler_chol:
            return False
        ljj = math.sqrt(piv)
        low[j, j] = ljj
        for i in range(j + 1, p):
            v = a[i, j] / (sc[i] * sc[j])
            if not np.isfinite(v):
                return False
            for k in range(j):
                v -= low[i, k] * low[j, k]
            low[i, j] = v / ljj
    for i in range(p):  # forward: low y = b / sc
        v = b[i] / sc[i]
        for k in range(i):
            v -= low[i, k] * out[k]
        out[i] = v / low[i, i]
    for i in range(p - 1, -1, -1):  # backward: low' z = y
        v = out[i]
        for k in range(i + 1, p):
            v -= low[k, i] * out[k]
        out[i] = v / low[i, i]
    for i in range(p):
        out[i] /= sc[i]
    return True


@njit(cache=True)
def newton_start(beta, ll, u, imat, trial, state, iter_max, toler_chol):
    """Start Newton-Raphson at ``beta`` from the evaluation (ll, u, imat) there: set ``trial``
    to the first Newton point and ``state`` = [best loglik, halvings, iterations, score test].
    Returns NEWTON_CONTINUE, NEWTON_CONVERGED (iter_max 0) or NEWTON_SINGULAR."""
    if not solve_pd(imat, u, trial, toler_chol):
        return NEWTON_SINGULAR
    sct = 0.0
    for q in range(beta.shape[0]):
        sct += u[q] * trial[q]
        trial[q] += beta[q]
    state[0] = ll
    state[1] = 0.0
    state[2] = 0.0
    state[3] = sct
    return NEWTON_CONVERGED if iter_max == 0 else NEWTON_CONTINUE


@njit(cache=True)
def newton_update(beta, trial, ll, u, imat, state, step, eps, iter_max, counting, toler_chol):
    """One step of R ``coxfit6`` / ``agfit4`` given the evaluation (ll, u, imat) at ``trial``.

    Converged when |1 - loglik_best / loglik_trial| <= eps (for (start, stop] data, R agfit4 also
    requires that the last step was not a halving): ``beta`` becomes ``trial``. A trial that
    lowers the log likelihood (or is not finite) is pulled back towards the last good beta,
    trial = (trial + h beta) / (h + 1) for h = 1, 2, ... consecutive halvings; otherwise it is
    accepted and the next trial is a Newton step from it. After ``iter_max`` evaluations:
    NEWTON_EXHAUSTED, ``state[2]`` set to the iteration count R reports (iter.max + 1 for
    right-censored data, iter.max for (start, stop] data).
    """
    p = beta.shape[0]
    it = state[2] + 1.0
    state[2] = it
    finite = np.isfinite(ll)
    for q in range(p):
        if not np.isfinite(u[q]):
            finite = False
        for m in range(p):
            if not np.isfinite(imat[q, m]):
                finite = False
    best = state[0]
    halving = state[1]
    # R's relative criterion; at loglik exactly 0 it divides by 0 (NaN in R: not converged)
    if finite and ll != 0.0 and abs(1.0 - best / ll) <= eps and (halving == 0.0 or not counting):
        for q in range(p):
            beta[q] = trial[q]
        return NEWTON_CONVERGED
    if (not finite) or ll < best:
        halving += 1.0
        state[1] = halving
        for q in range(p):
            trial[q] = (trial[q] + halving * beta[q]) / (halving + 1.0)
    else:
        state[0] = ll
        state[1] = 0.0
        if not solve_pd(imat, u, step, toler_chol):
            return NEWTON_SINGULAR
        for q in range(p):
            beta[q] = trial[q]
            trial[q] += step[q]
    if it >= iter_max:
        state[2] = iter_max + (0 if counting else 1)
        return NEWTON_EXHAUSTED
    return NEWTON_CONTINUE


@njit(cache=True, inline="always")
def monotone_rule(beta_q, step_q, u_q, span_q, converged, loglik, eps, toler_inf, span_inf):
    """R's monotone-likelihood rule (coxph.fit) for one coefficient with Newton step
    ``step_q`` = (u' var)_q: after the log likelihood converged, a step still larger than both
    ``eps`` and ``toler_inf |beta|`` (or a score that is not finite). Out of iterations (R only
    warns), the coefficient counts as diverging when its hazard ratio over the covariate's
    observed range ``span_q`` exceeds exp(span_inf) and either Newton still moves it or the log
    partial likelihood is 0 to rounding (every death certain given its risk set: the supremum,
    where R's relative criterion divides by 0 and never converges)."""
    s = abs(step_q)
    b = abs(beta_q)
    if converged:
        return (not np.isfinite(u_q)) or (s > eps and s > toler_inf * b)
    return (s > toler_inf * b or loglik == 0.0) and b * span_q > span_inf


@njit(cache=True)
def monotone_flags(beta, u, var, span, converged, loglik, eps, toler_inf, span_inf):
    """:func:`monotone_rule` for every coefficient (Newton step u' var)."""
    p = beta.shape[0]
    out = np.zeros(p, dtype=np.bool_)
    for q in range(p):
        s = 0.0
        for m in range(p):
            s += u[m] * var[m, q]
        out[q] = monotone_rule(
            beta[q], s, u[q], span[q], converged, loglik, eps, toler_inf, span_inf
        )
    return out


@njit(cache=True)
def newton_fit(
    start, stop, event, X, w, strata, s_start, s_strata, Xs, ws, beta0, efron, counting, eps,
    iter_max, toler_chol,
):  # fmt: skip
    """Maximum partial likelihood by :func:`newton_update` over :func:`loglik_derivs` (the
    arguments of which are the first ten): the fitter of ``cox_ph`` and of each replicate of
    ``cox_ph_batched``."""
    p = X.shape[1]
    beta = beta0.copy()
    trial = np.empty(p)
    step = np.empty(p)
    state = np.zeros(4)
    ll0, u0, i0 = loglik_derivs(
        start, stop, event, X, w, strata, s_start, s_strata, Xs, ws, beta, efron, True, counting
    )
    code = newton_start(beta, ll0, u0, i0, trial, state, iter_max, toler_chol)
    if code == NEWTON_SINGULAR:
        return NewtonFit(beta, ll0, ll0, u0, i0, u0, i0, np.nan, 0, False, NEWTON_SINGULAR)
    ll, u, imat = ll0, u0, i0
    while code == NEWTON_CONTINUE:
        ll, u, imat = loglik_derivs(
            start, stop, event, X, w, strata, s_start, s_strata, Xs, ws, trial, efron, True,
            counting,
        )  # fmt: skip
        code = newton_update(
            beta, trial, ll, u, imat, state, step, eps, iter_max, counting, toler_chol
        )
    if code == NEWTON_EXHAUSTED:
        ll, u, imat = loglik_derivs(
            start, stop, event, X, w, strata, s_start, s_strata, Xs, ws, beta, efron, True,
            counting,
        )  # fmt: skip
    status = NEWTON_SINGULAR if code == NEWTON_SINGULAR else 0
    return NewtonFit(
        beta, ll0, ll, u0, i0, u, imat, state[3], int(state[2]), code == NEWTON_CONVERGED, status
    )


@njit(cache=True)
def _derivs_1(tt, ee, xx, lo, hi, beta, efron):
    """One-covariate right-censored log likelihood, score and information for rows lo..hi-1
    (sorted by time descending): the scalar form of :func:`loglik_derivs`, for batches."""
    loglik = 0.0
    u = 0.0
    imat = 0.0
    denom = 0.0
    a = 0.0
    c = 0.0
    i = lo
    while i < hi:
        t = tt[i]
        denom2 = 0.0
        a2 = 0.0
        c2 = 0.0
        ndead = 0
        k = i
        while k < hi and tt[k] == t:
            x = xx[k]
            r = math.exp(beta * x)
            denom += r
            a += r * x
            c += r * x * x
            if ee[k] > 0:
                ndead += 1
                loglik += beta * x
                u += x
                denom2 += r
                a2 += r * x
                c2 += r * x * x
            k += 1
        if ndead > 0:
            if ndead == 1 or not efron:
                mq = a / denom
                loglik -= ndead * math.log(denom)
                u -= ndead * mq
                imat += ndead * (c / denom - mq * mq)
            else:
                for kk in range(ndead):
                    frac = kk / ndead
                    d2 = denom - frac * denom2
                    mq = (a - frac * a2) / d2
                    loglik -= math.log(d2)
                    u -= mq
                    imat += (c - frac * c2) / d2 - mq * mq
        i = k
    return loglik, u, imat


@njit(cache=True)
def _new_batch(nrep, p):
    return BatchedCox(
        np.full((nrep, p), np.nan),
        np.full((nrep, p), np.nan),
        np.full(nrep, np.nan),
        np.full(nrep, np.nan),
        np.zeros(nrep, dtype=np.int64),
        np.zeros(nrep, dtype=np.int64),
        np.zeros(nrep, dtype=np.int64),
        np.zeros((nrep, p), dtype=np.int64),
    )


@njit(cache=True)
def _store(res, r, beta, ll, u, imat, it, converged, span, eps, toler_inf, span_inf, toler_chol):
    """Write replicate r of a batch from the final evaluation (coef, se, monotone flags)."""
    p = beta.shape[0]
    var = np.empty((p, p))
    col = np.zeros(p)
    for q in range(p):  # var = imat^-1, column by column (imat was accepted by solve_pd)
        col[:] = 0.0
        col[q] = 1.0
        if not solve_pd(imat, col.copy(), col, toler_chol):
            return
        var[:, q] = col
    mono = monotone_flags(beta, u, var, span, converged, ll, eps, toler_inf, span_inf)
    for q in range(p):
        res.coef[r, q] = beta[q]
        res.se[r, q] = math.sqrt(var[q, q])
        res.monotone[r, q] = 1 if mono[q] else 0
    res.loglik[r] = ll
    res.iterations[r] = it
    res.converged[r] = 1 if converged else 0


@njit(cache=True)
def _batched_fit_1(t, e, X, bounds, efron, eps, iter_max, toler_inf, span_inf, toler_chol):
    """:func:`batched_fit` for one covariate: the scalar evaluator :func:`_derivs_1`."""
    nrep = bounds.shape[0] - 1
    res = _new_batch(nrep, 1)
    xx = np.empty(t.shape[0])
    ts = np.empty(t.shape[0])
    es = np.empty(t.shape[0])
    beta = np.zeros(1)
    trial = np.empty(1)
    step = np.empty(1)
    state = np.zeros(4)
    u = np.empty(1)
    imat = np.empty((1, 1))
    span = np.empty(1)
    for r in range(nrep):
        lo = bounds[r]
        hi = bounds[r + 1]
        if hi == lo:
            continue
        mean = 0.0
        ne = 0
        for i in range(lo, hi):
            mean += X[i, 0]
            if e[i] > 0:
                ne += 1
        mean /= hi - lo
        # this block sorted by time, descending
        idx = np.argsort(-t[lo:hi])
        for k in range(hi - lo):
            ts[lo + k] = t[lo + idx[k]]
            es[lo + k] = e[lo + idx[k]]
            xx[lo + k] = X[lo + idx[k], 0] - mean
        res.n_events[r] = ne
        if ne == 0:
            continue
        beta[0] = 0.0
        ll0, u0, i0 = _derivs_1(ts, es, xx, lo, hi, 0.0, efron)
        u[0] = u0
        imat[0, 0] = i0
        res.loglik0[r] = ll0
        code = newton_start(beta, ll0, u, imat, trial, state, iter_max, toler_chol)
        if code == NEWTON_SINGULAR:
            continue
        ll = ll0
        while code == NEWTON_CONTINUE:
            ll, u1, i1 = _derivs_1(ts, es, xx, lo, hi, trial[0], efron)
            u[0] = u1
            imat[0, 0] = i1
            code = newton_update(
                beta, trial, ll, u, imat, state, step, eps, iter_max, False, toler_chol
            )
        if code == NEWTON_SINGULAR:
            continue
        if code == NEWTON_EXHAUSTED:
            ll, u1, i1 = _derivs_1(ts, es, xx, lo, hi, beta[0], efron)
            u[0] = u1
            imat[0, 0] = i1
        converged = code == NEWTON_CONVERGED
        span[0] = 0.0
        if not converged:
            span[0] = xx[lo:hi].max() - xx[lo:hi].min()
        _store(
            res, r, beta, ll, u, imat, int(state[2]), converged, span, eps, toler_inf,
            span_inf, toler_chol,
        )  # fmt: skip
    return res


@njit(cache=True)
def batched_fit(t, e, X, bounds, efron, eps, iter_max, toler_inf, span_inf, toler_chol):
    """Cox fits of the row blocks [bounds[r], bounds[r + 1]) (any row order within a block),
    one after the other in compiled code, each by :func:`newton_fit` (the fitter of a single
    ``cox_ph``; :func:`_batched_fit_1` with the scalar evaluator for one covariate). Each block
    is centred at its column means as R does (this changes nothing but the round-off). A block
    whose information is singular is left NaN. Returns a :class:`BatchedCox`."""
    if X.shape[1] == 1:
        return _batched_fit_1(
            t, e, X, bounds, efron, eps, iter_max, toler_inf, span_inf, toler_chol
        )
    nrep = bounds.shape[0] - 1
    p = X.shape[1]
    res = _new_batch(nrep, p)
    for r in range(nrep):
        lo = bounds[r]
        hi = bounds[r + 1]
        m = hi - lo
        if m == 0:
            continue
        idx = lo + np.argsort(-t[lo:hi])
        tt = t[idx]
        ee = e[idx]
        xx = X[idx]
        for q in range(p):
            xx[:, q] -= xx[:, q].mean()
        ww = np.ones(m)
        ss = np.zeros(m, dtype=np.int64)
        st = np.full(m, -np.inf)
        ne = 0
        for i in range(m):
            if ee[i] > 0:
                ne += 1
        res.n_events[r] = ne
        if ne == 0:
            continue
        fit = newton_fit(
            st, tt, ee, xx, ww, ss, st, ss, xx, ww, np.zeros(p), efron, False, eps, iter_max,
            toler_chol,
        )  # fmt: skip
        res.loglik0[r] = fit.loglik0
        if fit.status != 0:
            continue
        span = np.zeros(p)
        if not fit.converged:
            for q in range(p):
                span[q] = xx[:, q].max() - xx[:, q].min()
        _store(
            res, r, fit.beta, fit.loglik, fit.score, fit.info, fit.iterations, fit.converged,
            span, eps, toler_inf, span_inf, toler_chol,
        )  # fmt: skip
    return res


@njit(cache=True)
def union_sorted_unique(a, b):
    """The sorted distinct values of two ascending arrays (a linear merge)."""
    out = np.empty(a.shape[0] + b.shape[0])
    i = 0
    j = 0
    m = 0
    while i < a.shape[0] or j < b.shape[0]:
        if j >= b.shape[0] or (i < a.shape[0] and a[i] <= b[j]):
            v = a[i]
            i += 1
        else:
            v = b[j]
            j += 1
        if m == 0 or v != out[m - 1]:
            out[m] = v
            m += 1
    return out[:m]


@njit(cache=True)
def counting_order_desc(values, codes, n_codes, max_range):
    """Stable row order by ``codes`` ascending then ``values`` descending, by a counting sort,
    when every value is a whole number and n_codes * (max - min + 1) <= ``max_range`` (study
    days: O(n) instead of a comparison sort). Returns an empty array when not applicable (the
    caller then sorts by comparison). Rows tied on both keys keep their input order."""
    n = values.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    lo = values[0]
    hi = values[0]
    for i in range(n):
        v = values[i]
        if v != math.floor(v) or abs(v) >= 4503599627370496.0:
            return np.empty(0, dtype=np.int64)
        if v < lo:
            lo = v
        if v > hi:
            hi = v
    span = int(hi - lo) + 1
    nkey = n_codes * span
    if nkey > max_range:
        return np.empty(0, dtype=np.int64)
    count = np.zeros(nkey + 1, dtype=np.int64)
    for i in range(n):
        count[codes[i] * span + int(hi - values[i]) + 1] += 1
    for k in range(nkey):
        count[k + 1] += count[k]
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        key = codes[i] * span + int(hi - values[i])
        order[count[key]] = i
        count[key] += 1
    return order


@njit(cache=True)
def gather_rows_centred(X, order, means):
    """``X[order] - means`` for a C-contiguous (n, p) design, in one pass."""
    n = order.shape[0]
    p = X.shape[1]
    out = np.empty((n, p))
    for i in range(n):
        r = order[i]
        for q in range(p):
            out[i, q] = X[r, q] - means[q]
    return out
