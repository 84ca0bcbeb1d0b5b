"""numba kernel for the pair likelihood: one loop over records, no temporaries.

The pure-numpy reference is the vectorised branch of
:func:`mrdtrack.multistate._likelihood.pairs_minus2loglik` (``use_numba=False``); the tests
check that both agree.  Compiled lazily on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def pair_terms(lam, v, vinv, pidx, r, w, dt, a, b, q_pat, grad):  # pragma: no cover - numba
    """For each record: L = P(dt)[r, :] . w, dL / d log q_t, and the row P(dt)[r, :].

    ``lam, v, vinv`` are real eigen-decompositions per covariate pattern; the derivative uses
    the divided differences of exp(lam dt) (Kalbfleisch & Lawless, 1985, eq. 3.4).
    """
    n = dt.shape[0]
    k = lam.shape[1]
    nt = a.shape[0]
    lik = np.empty(n)
    dlik = np.zeros((n, nt))
    prow = np.empty((n, k))
    e = np.empty(k)
    u = np.empty(k)
    y = np.empty(k)
    ph = np.empty((k, k))
    for i in range(n):
        p = pidx[i]
        t = dt[i]
        for j in range(k):
            e[j] = np.exp(lam[p, j] * t)
            y[j] = v[p, r[i], j]
            acc = 0.0
            for m in range(k):
                acc += vinv[p, j, m] * w[i, m]
            u[j] = acc
        total = 0.0
        for j in range(k):
            total += y[j] * e[j] * u[j]
        lik[i] = total
        for m in range(k):
            acc = 0.0
            for j in range(k):
                acc += y[j] * e[j] * vinv[p, j, m]
            prow[i, m] = acc
        if not grad:
            continue
        for j in range(k):
            for m in range(k):
                d = lam[p, j] - lam[p, m]
                dtt = d * t
                if abs(dtt) < 1e-4:
                    ph[j, m] = e[m] * t * (1.0 + dtt / 2.0 + dtt * dtt / 6.0)
                else:
                    ph[j, m] = (e[j] - e[m]) / d
        for s in range(nt):
            aa = a[s]
            bb = b[s]
            acc = 0.0
            for j in range(k):
                left = y[j] * vinv[p, j, aa]
                if left == 0.0:
                    continue
                inner = 0.0
                for m in range(k):
                    inner += ph[j, m] * (v[p, bb, m] - v[p, aa, m]) * u[m]
                acc += left * inner
            dlik[i, s] = acc * q_pat[p, s]
    return lik, dlik, prow
