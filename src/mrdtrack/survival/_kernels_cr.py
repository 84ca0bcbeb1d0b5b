"""numba kernels for competing risks: Aalen-Johansen influence variance and Gray's test.

Each kernel is a loop over distinct times because the quantities are recursions in time. They
compile on first call (``cache=True``), never at import. The pure-numpy reference of the
Aalen-Johansen variance (a dense subject-by-time influence recursion) lives in the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def aj_ij_variance(n_risk, n_event, n_censor, n_state_causes):  # pragma: no cover - numba
    """Aalen-Johansen state probabilities and infinitesimal-jackknife variances.

    The states are 0 (event-free) and 1..K (absorbing, one per cause). Inputs are per distinct
    time (ascending): ``n_risk`` (m,), ``n_event`` (m, K) and ``n_censor`` (m,). Returns
    ``p`` (m, K+1) and ``var`` (m, K+1), the sum over subjects of the squared derivative of
    p(t) with respect to the subject's case weight (R ``survfit`` multi-state ``std.err``).

    Why this is O(m K^2) rather than O(n m): subjects still at risk share one influence
    vector (identical histories so far); subjects who have left evolve by a linear map common
    to all of them, so only their summed outer products are needed.
    """
    m = n_risk.shape[0]
    k = n_state_causes
    s = k + 1
    p = np.zeros((m, s))
    var = np.zeros((m, s))
    cur = np.zeros(s)
    cur[0] = 1.0
    rep = np.zeros(s)  # influence of a subject still at risk
    pool = np.zeros((s, s))  # sum of outer products of influences of departed subjects
    new_rep = np.zeros(s)
    ev = np.zeros((k, s))
    dlam = np.zeros(k)
    newpool = np.zeros((s, s))
    for j in range(m):
        n = n_risk[j]
        d = 0.0
        for c in range(k):
            dlam[c] = n_event[j, c] / n
            d += n_event[j, c]
        dl = d / n
        p0m = cur[0]
        a = 1.0 - dl
        # departed subjects: U <- U H(t), H the transition matrix at t
        for r in range(s):
            for q in range(s):
                newpool[r, q] = pool[r, q]
        for r in range(s):
            for q in range(s):
                val = pool[r, q]
                if r == 0 and q == 0:
                    val = a * a * pool[0, 0]
                elif r == 0:
                    val = a * (pool[0, q] + dlam[q - 1] * pool[0, 0])
                elif q == 0:
                    val = a * (pool[r, 0] + dlam[r - 1] * pool[0, 0])
                else:
                    val = (
                        pool[r, q]
                        + dlam[q - 1] * pool[r, 0]
                        + dlam[r - 1] * pool[0, q]
                        + dlam[r - 1] * dlam[q - 1] * pool[0, 0]
                    )
                newpool[r, q] = val
        # subjects at risk without an event at t (survivors and those censored at t)
        new_rep[0] = rep[0] * a + p0m * dl / n
        for c in range(k):
            new_rep[c + 1] = rep[c + 1] + rep[0] * dlam[c] - p0m * dlam[c] / n
        # subjects with an event of cause c at t
        for c in range(k):
            ev[c, 0] = rep[0] * a - p0m * (1.0 - dl) / n
            for q in range(k):
                ind = 1.0 if q == c else 0.0
                ev[c, q + 1] = rep[q + 1] + rep[0] * dlam[q] + p0m * (ind - dlam[q]) / n
        # state probabilities
        cur0 = cur[0]
        for c in range(k):
            cur[c + 1] += cur0 * dlam[c]
        cur[0] = cur0 * a
        n_surv = n - d
        for r in range(s):
            p[j, r] = cur[r]
            tot = newpool[r, r] + n_surv * new_rep[r] * new_rep[r]
            for c in range(k):
                tot += n_event[j, c] * ev[c, r] * ev[c, r]
            var[j, r] = tot
        # move the subjects who leave at t into the pool
        for r in range(s):
            for q in range(s):
                extra = n_censor[j] * new_rep[r] * new_rep[q]
                for c in range(k):
                    extra += n_event[j, c] * ev[c, r] * ev[c, q]
                pool[r, q] = newpool[r, q] + extra
        for r in range(s):
            rep[r] = new_rep[r]
    return p, var


@njit(cache=True)
def gray_stratum(time, cause, group, ng, rho):  # pragma: no cover - numba
    """Gray's (1988) score and variance for one stratum (cmprsk ``crstm``'s quantities).

    ``time`` ascending; ``cause`` 0 censored, 1 the cause tested, 2 any other cause; ``group``
    coded 0..ng-1. Returns the scores of the first ng-1 groups and their (ng-1)x(ng-1)
    covariance. Notation follows Gray (1988, Ann Stat 16:1141), section 2: ``h`` the
    group-wise weighted at-risk terms R_k/S_k, ``c`` the accumulated a_{ik} dF/(1-F) terms.
    """
    n = time.shape[0]
    g1 = ng - 1
    rs = np.zeros(ng)
    for i in range(n):
        rs[group[i]] += 1.0
    s = np.zeros(g1)
    v = np.zeros((g1, g1))
    f1m = np.zeros(ng)
    f1 = np.zeros(ng)
    skmm = np.ones(ng)
    skm = np.ones(ng)
    v3 = np.zeros(ng)
    v2 = np.zeros((g1, ng))
    c = np.zeros((ng, ng))
    a = np.zeros((ng, ng))
    d1 = np.zeros(ng)
    d2 = np.zeros(ng)
    dall = np.zeros(ng)
    fm = 0.0
    lo = 0
    while lo < n:
        hi = lo
        while hi + 1 < n and time[hi + 1] == time[lo]:
            hi += 1
        for g in range(ng):
            d1[g] = 0.0
            d2[g] = 0.0
            dall[g] = 0.0
        for i in range(lo, hi + 1):
            g = group[i]
            dall[g] += 1.0
            if cause[i] == 1:
                d1[g] += 1.0
            elif cause[i] == 2:
                d2[g] += 1.0
        nd1 = 0.0
        nd2 = 0.0
        for g in range(ng):
            nd1 += d1[g]
            nd2 += d2[g]
        f = fm
        if nd1 > 0 or nd2 > 0:
            tr = 0.0
            tq = 0.0
            for g in range(ng):
                if rs[g] > 0:
                    skm[g] = skmm[g] * (rs[g] - d1[g] - d2[g]) / rs[g]
                    f1[g] = f1m[g] + skmm[g] * d1[g] / rs[g]
                    tr += rs[g] / skmm[g]
                    tq += rs[g] * (1.0 - f1m[g]) / skmm[g]
            f = fm + nd1 / tr
            fb = (1.0 - fm) ** rho
            for i in range(ng):
                for j in range(ng):
                    a[i, j] = 0.0
            for i in range(ng):
                if rs[i] <= 0:
                    continue
                t1 = rs[i] / skmm[i]
                a[i, i] = fb * t1 * (1.0 - t1 / tr)
                c[i, i] += a[i, i] * nd1 / (tr * (1.0 - fm))
                for j in range(i + 1, ng):
                    if rs[j] <= 0:
                        continue
                    a[i, j] = -fb * t1 * rs[j] / (skmm[j] * tr)
                    a[j, i] = a[i, j]
                    c[i, j] += a[i, j] * nd1 / (tr * (1.0 - fm))
                    c[j, i] = c[i, j]
            for i in range(g1):
                if rs[i] > 0:
                    s[i] += fb * (d1[i] - nd1 * rs[i] * (1.0 - f1m[i]) / (skmm[i] * tq))
            if nd1 > 0:
                for k in range(ng):
                    if rs[k] <= 0:
                        continue
                    t4 = 1.0
                    if skm[k] > 0:
                        t4 = 1.0 - (1.0 - f) / skm[k]
                    t5 = 1.0
                    if nd1 > 1:
                        t5 = 1.0 - (nd1 - 1.0) / (tr * skmm[k] - 1.0)
                    t3 = t5 * skmm[k] * nd1 / (tr * rs[k])
                    v3[k] += t4 * t4 * t3
                    for i in range(g1):
                        ti = a[i, k] - t4 * c[i, k]
                        v2[i, k] += ti * t4 * t3
                        for j in range(i + 1):
                            v[i, j] += ti * (a[j, k] - t4 * c[j, k]) * t3
            if nd2 > 0:
                for k in range(ng):
                    if skm[k] <= 0 or d2[k] <= 0:
                        continue
                    t4 = (1.0 - f) / skm[k]
                    t5 = 1.0
                    if d2[k] > 1:
                        t5 = 1.0 - (d2[k] - 1.0) / (rs[k] - 1.0)
                    t3 = t5 * skmm[k] * skmm[k] * d2[k] / (rs[k] * rs[k])
                    v3[k] += t4 * t4 * t3
                    for i in range(g1):
                        ti = t4 * c[i, k]
                        v2[i, k] -= ti * t4 * t3
                        for j in range(i + 1):
                            v[i, j] += ti * t4 * c[j, k] * t3
        for g in range(ng):
            rs[g] -= dall[g]
        fm = f
        for g in range(ng):
            f1m[g] = f1[g]
            skmm[g] = skm[g]
        lo = hi + 1
    for i in range(g1):
        for j in range(i + 1):
            for k in range(ng):
                v[i, j] += c[i, k] * c[j, k] * v3[k] + c[i, k] * v2[j, k] + c[j, k] * v2[i, k]
            v[j, i] = v[i, j]
    return s, v
