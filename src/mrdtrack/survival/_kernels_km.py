"""Loop kernels for batched Kaplan-Meier and log-rank, with pure-numpy references.

A product-limit estimate over many independent data sets is a running product that restarts at
every data set; numpy has no segmented ``cumprod``, so the honest algorithm is a loop. The numba
versions are compiled on first use (``cache=True`` keeps the machine code on disk), never at
import. Each kernel has a ``*_reference`` twin in plain numpy, used by the tests to check the
kernel, whose arithmetic (operation order) matches the one-curve code in ``kaplan_meier.py`` so
that batched and one-at-a-time results agree to the last bit.

Arrays of the data's size that the one-curve kernels fill (sort keys, sorted keys, bucket
counts, the Kaplan-Meier columns) are allocated by the numpy wrappers and passed in: numpy asks
for transparent huge pages for large arrays, while memory allocated inside a kernel comes back
from the C allocator in 4 KB pages that are faulted in again on every call (at 10^6 rows that
cost about as much as the sort itself; benchmarks/results/consolidation_before_after.md).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np


def km_segments_reference(
    seg_ptr: np.ndarray, n_risk: np.ndarray, n_event: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Survival and Greenwood sum, restarting at every ``seg_ptr`` boundary (numpy reference)."""
    surv = np.empty_like(n_risk)
    green = np.empty_like(n_risk)
    for s in range(len(seg_ptr) - 1):
        lo, hi = seg_ptr[s], seg_ptr[s + 1]
        n, d = n_risk[lo:hi], n_event[lo:hi]
        with np.errstate(divide="ignore", invalid="ignore"):
            surv[lo:hi] = np.cumprod(np.where(d > 0, (n - d) / n, 1.0))
            green[lo:hi] = np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0))
    return surv, green


def locate_reference(
    seg_ptr: np.ndarray, pt_time: np.ndarray, query: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each segment and each (sorted) query time: #points <= t and #points < t (reference)."""
    nseg, nq = len(seg_ptr) - 1, len(query)
    le = np.empty((nseg, nq), dtype=np.int64)
    lt = np.empty((nseg, nq), dtype=np.int64)
    for s in range(nseg):
        t = pt_time[seg_ptr[s] : seg_ptr[s + 1]]
        le[s] = np.searchsorted(t, query, side="right")
        lt[s] = np.searchsorted(t, query, side="left")
    return le, lt


@cache
def _numba_kernels():
    from numba import njit

    @njit(cache=True)
    def km_segments(seg_ptr, n_risk, n_event):
        m = n_risk.shape[0]
        surv = np.empty(m)
        green = np.empty(m)
        for s in range(seg_ptr.shape[0] - 1):
            km = 1.0
            v = 0.0
            for i in range(seg_ptr[s], seg_ptr[s + 1]):
                n = n_risk[i]
                d = n_event[i]
                if d > 0:
                    km = km * ((n - d) / n)
                    # Greenwood's term is infinite when every subject at risk dies
                    v = v + d / (n * (n - d)) if n - d > 0 else np.inf
                surv[i] = km
                green[i] = v
        return surv, green

    @njit(cache=True)
    def locate(seg_ptr, pt_time, query):
        nseg = seg_ptr.shape[0] - 1
        nq = query.shape[0]
        le = np.empty((nseg, nq), dtype=np.int64)
        lt = np.empty((nseg, nq), dtype=np.int64)
        for s in range(nseg):
            lo = seg_ptr[s]
            hi = seg_ptr[s + 1]
            a = lo
            b = lo
            for j in range(nq):
                q = query[j]
                while a < hi and pt_time[a] <= q:
                    a += 1
                while b < hi and pt_time[b] < q:
                    b += 1
                le[s, j] = a - lo
                lt[s, j] = b - lo
        return le, lt

    @njit(cache=True)
    def counting_order(codes, ncode):
        n = codes.shape[0]
        start = np.zeros(ncode + 1, dtype=np.int64)
        for i in range(n):
            start[codes[i] + 1] += 1
        for c in range(ncode):
            start[c + 1] += start[c]
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            c = codes[i]
            out[start[c]] = i
            start[c] += 1
        return out

    @njit(cache=True)
    def findq_segs(seg_ptr, x, y, p, tol):
        nseg = seg_ptr.shape[0] - 1
        out = np.empty(nseg)
        for s in range(nseg):
            lo = seg_ptr[s]
            hi = seg_ptr[s + 1]
            # the curve starts at the origin (0, 0), implicit here
            ymax = 0.0
            b1 = np.inf
            b2 = np.inf
            x1 = np.nan
            x2 = np.nan
            near = abs(p) < tol
            if tol >= p:
                b1 = tol
                x1 = 0.0
            if -tol >= p:
                b2 = -tol
                x2 = 0.0
            for i in range(lo, hi):
                yi = y[i]
                if np.isnan(yi):
                    continue
                if yi > ymax:
                    ymax = yi
                v1 = yi + tol
                if v1 >= p and v1 < b1:
                    b1 = v1
                    x1 = x[i]
                v2 = yi - tol
                if v2 >= p and v2 < b2:
                    b2 = v2
                    x2 = x[i]
                if abs(p - yi) < tol:
                    near = True
            if ymax < p:
                out[s] = np.nan
                continue
            q = (x1 + x2) / 2.0
            if near:
                # R's end-of-curve rule uses the last value not seen earlier in the curve
                # (origin included); a hash set keeps this one pass
                seen = {0.0}
                seen_nan = False
                last = 0.0
                for i in range(lo, hi):
                    yi = y[i]
                    if np.isnan(yi):
                        if not seen_nan:
                            seen_nan = True
                            last = yi
                    elif yi not in seen:
                        seen.add(yi)
                        last = yi
                if not np.isnan(last) and abs(p - last) < tol:
                    xmax = x[hi - 1] if hi > lo else 0.0
                    q = (x1 + xmax) / 2.0
            out[s] = 0.0 if p == 0 else q
        return out

    @njit(cache=True)
    def survdiff_segs(seg_ptr, time, event, group, k, rho):
        nseg = seg_ptr.shape[0] - 1
        obs = np.zeros((nseg, k))
        exp = np.zeros((nseg, k))
        var = np.zeros((nseg, k, k))
        risk = np.zeros(k)
        wts = np.ones(time.shape[0])
        for s in range(nseg):
            lo = seg_ptr[s]
            hi = seg_ptr[s + 1]
            if rho != 0:
                km = 1.0
                i = lo
                while i < hi:
                    deaths = 0.0
                    j = i
                    while j < hi and time[j] == time[i]:
                        deaths += event[j]
                        j += 1
                    w = km**rho
                    for m in range(i, j):
                        wts[m] = w
                    nrisk = hi - i
                    km = km * (nrisk - deaths) / nrisk
                    i = j
            for g in range(k):
                risk[g] = 0.0
            i = hi - 1
            while i >= lo:
                wt = wts[i] if rho != 0 else 1.0
                deaths = 0.0
                j = i
                while j >= lo and time[j] == time[i]:
                    g = group[j]
                    deaths += event[j]
                    risk[g] += 1.0
                    obs[s, g] += event[j] * wt
                    j -= 1
                nrisk = hi - (j + 1)
                if deaths > 0:
                    for g in range(k):
                        exp[s, g] += wt * deaths * risk[g] / nrisk
                    if nrisk > 1:
                        w2 = wt * wt
                        for a in range(k):
                            tmp = w2 * deaths * risk[a] * (nrisk - deaths) / (nrisk * (nrisk - 1))
                            var[s, a, a] += tmp
                            for b in range(k):
                                var[s, a, b] -= tmp * risk[b] / nrisk
                i = j
        return obs, exp, var

    @njit(cache=True)
    def points_segs(row_ptr, time, event):
        nseg = row_ptr.shape[0] - 1
        m = 0
        for s in range(nseg):
            for i in range(row_ptr[s], row_ptr[s + 1]):
                if i == row_ptr[s] or time[i] != time[i - 1]:
                    m += 1
        pt_time = np.empty(m)
        n_risk = np.empty(m)
        n_event = np.zeros(m)
        n_censor = np.zeros(m)
        seg_ptr = np.empty(nseg + 1, dtype=np.int64)
        j = -1
        for s in range(nseg):
            lo = row_ptr[s]
            hi = row_ptr[s + 1]
            seg_ptr[s] = j + 1
            for i in range(lo, hi):
                if i == lo or time[i] != time[i - 1]:
                    j += 1
                    pt_time[j] = time[i]
                    n_risk[j] = hi - i
                if event[i] == 1:
                    n_event[j] += 1.0
                else:
                    n_censor[j] += 1.0
        seg_ptr[nseg] = j + 1
        return pt_time, n_risk, n_event, n_censor, seg_ptr

    @njit(cache=True)
    def is_sorted_by(codes, time):
        for i in range(1, codes.shape[0]):
            if codes[i] < codes[i - 1] or (codes[i] == codes[i - 1] and time[i] < time[i - 1]):
                return False
        return True

    @njit(cache=True)
    def counts_from_keys(keys):
        # keys sorted: (bits of the time) << 1 | event; equal times are adjacent
        one = np.uint64(1)
        n = keys.shape[0]
        m = 0
        for i in range(n):
            if i == 0 or (keys[i] >> one) != (keys[i - 1] >> one):
                m += 1
        tbits = np.empty(m, dtype=np.uint64)
        tot = np.zeros(m)
        d = np.zeros(m)
        j = -1
        for i in range(n):
            kk = keys[i]
            if i == 0 or (kk >> one) != (keys[i - 1] >> one):
                j += 1
                tbits[j] = kk >> one
            tot[j] += 1.0
            d[j] += kk & one
        return tbits, tot, d

    @njit(cache=True)
    def merge_cells(keys, cell_ptr, nstrata, k):
        # cells s * k + g hold the sorted keys of stratum s, group g; walk the k sorted lists
        # of a stratum together: per distinct time, rows at risk (time >= t) and deaths
        one = np.uint64(1)
        n = keys.shape[0]
        tbits = np.empty(n, dtype=np.uint64)
        n_k = np.zeros((n, k))
        d_k = np.zeros((n, k))
        seg_ptr = np.zeros(nstrata + 1, dtype=np.int64)
        pos = np.empty(k, dtype=np.int64)
        m = 0
        big = np.uint64(0xFFFFFFFFFFFFFFFF)
        for s in range(nstrata):
            seg_ptr[s] = m
            for g in range(k):
                pos[g] = cell_ptr[s * k + g]
            while True:
                tmin = big
                for g in range(k):
                    if pos[g] < cell_ptr[s * k + g + 1]:
                        tk = keys[pos[g]] >> one
                        if tk < tmin:
                            tmin = tk
                if tmin == big:
                    break
                tbits[m] = tmin
                for g in range(k):
                    hi = cell_ptr[s * k + g + 1]
                    i = pos[g]
                    n_k[m, g] = hi - i
                    dd = 0.0
                    while i < hi and (keys[i] >> one) == tmin:
                        dd += keys[i] & one
                        i += 1
                    d_k[m, g] = dd
                    pos[g] = i
                m += 1
        seg_ptr[nstrata] = m
        return tbits[:m].copy(), n_k[:m].copy(), d_k[:m].copy(), seg_ptr

    @njit(cache=True)
    def survdiff_add(obs, exp, var, s, nv, dv, wt, k):
        # one distinct time of R survdiff's backward loop: nv at risk, dv deaths per group
        nrisk = 0.0
        deaths = 0.0
        for g in range(k):
            nrisk += nv[g]
            deaths += dv[g]
            obs[s, g] += dv[g] * wt
        if deaths > 0:
            # E_g += w d n_g / n; V_ab += w^2 d (n - d) / (n (n - 1)) n_a (delta_ab - n_b / n)
            f = wt * deaths / nrisk
            for g in range(k):
                exp[s, g] += f * nv[g]
            if nrisk > 1:
                c = wt * wt * deaths * (nrisk - deaths) / (nrisk * (nrisk - 1))
                for a in range(k):
                    tmp = c * nv[a]
                    var[s, a, a] += tmp
                    tn = tmp / nrisk
                    for b in range(k):
                        var[s, a, b] -= tn * nv[b]

    @njit(cache=True)
    def survdiff_risk(seg_ptr, n_k, d_k, rho):
        # R survdiff's loop on per-time counts: n_k at risk, d_k deaths (time x group)
        nseg = seg_ptr.shape[0] - 1
        m, k = n_k.shape
        obs = np.zeros((nseg, k))
        exp = np.zeros((nseg, k))
        var = np.zeros((nseg, k, k))
        wts = np.ones(m)
        for s in range(nseg):
            lo = seg_ptr[s]
            hi = seg_ptr[s + 1]
            if rho != 0:
                km = 1.0
                for i in range(lo, hi):
                    nrisk = 0.0
                    deaths = 0.0
                    for g in range(k):
                        nrisk += n_k[i, g]
                        deaths += d_k[i, g]
                    wts[i] = km**rho
                    if nrisk > 0:
                        km = km * (nrisk - deaths) / nrisk
            for i in range(hi - 1, lo - 1, -1):
                survdiff_add(obs, exp, var, s, n_k[i], d_k[i], wts[i], k)
        return obs, exp, var

    @njit(cache=True)
    def survdiff_sorted(keys, grp, k):
        # log-rank (rho = 0) of one stratum from time-sorted keys with the group of each row:
        # the backward loop of survdiff_risk without materialising the per-time counts
        one = np.uint64(1)
        obs = np.zeros((1, k))
        exp = np.zeros((1, k))
        var = np.zeros((1, k, k))
        nv = np.zeros(k)
        dv = np.zeros(k)
        i = keys.shape[0] - 1
        while i >= 0:
            t = keys[i] >> one
            for g in range(k):
                dv[g] = 0.0
            while i >= 0 and (keys[i] >> one) == t:
                g = grp[i]
                nv[g] += 1.0
                dv[g] += keys[i] & one
                i -= 1
            survdiff_add(obs, exp, var, 0, nv, dv, 1.0, k)
        return obs, exp, var

    @njit(cache=True)
    def survdiff_sorted2(keys, grp):
        # survdiff_sorted for two groups with scalar accumulators: the same operations in the
        # same order as survdiff_add (so the same numbers), without array traffic per time
        one = np.uint64(1)
        n0 = 0.0
        n1 = 0.0
        o0 = 0.0
        o1 = 0.0
        e0 = 0.0
        e1 = 0.0
        v00 = 0.0
        v01 = 0.0
        v10 = 0.0
        v11 = 0.0
        i = keys.shape[0] - 1
        while i >= 0:
            t = keys[i] >> one
            d0 = 0.0
            d1 = 0.0
            while i >= 0 and (keys[i] >> one) == t:
                if grp[i] == 0:
                    n0 += 1.0
                    d0 += keys[i] & one
                else:
                    n1 += 1.0
                    d1 += keys[i] & one
                i -= 1
            nrisk = 0.0 + n0 + n1
            deaths = 0.0 + d0 + d1
            o0 += d0 * 1.0
            o1 += d1 * 1.0
            if deaths > 0:
                f = 1.0 * deaths / nrisk
                e0 += f * n0
                e1 += f * n1
                if nrisk > 1:
                    c = 1.0 * 1.0 * deaths * (nrisk - deaths) / (nrisk * (nrisk - 1))
                    tmp = c * n0
                    v00 += tmp
                    tn = tmp / nrisk
                    v00 -= tn * n0
                    v01 -= tn * n1
                    tmp = c * n1
                    v11 += tmp
                    tn = tmp / nrisk
                    v10 -= tn * n0
                    v11 -= tn * n1
        obs = np.empty((1, 2))
        exp = np.empty((1, 2))
        var = np.empty((1, 2, 2))
        obs[0, 0] = o0
        obs[0, 1] = o1
        exp[0, 0] = e0
        exp[0, 1] = e1
        var[0, 0, 0] = v00
        var[0, 0, 1] = v01
        var[0, 1, 0] = v10
        var[0, 1, 1] = v11
        return obs, exp, var

    @njit(cache=True)
    def km_sorted(keys, tbits, n_risk, d, tot, surv, green):
        # Kaplan-Meier from sorted keys in one pass: distinct times (as bits), n at risk
        # (rows with time >= t, exact), deaths, rows; S and the Greenwood sum exactly as
        # km_segments computes them, written to the first j entries of the outputs; returns j
        one = np.uint64(1)
        n = keys.shape[0]
        km = 1.0
        v = 0.0
        j = 0
        i = 0
        while i < n:
            t = keys[i] >> one
            start = i
            dd = 0.0
            while i < n and (keys[i] >> one) == t:
                dd += keys[i] & one
                i += 1
            nr = float(n - start)
            tbits[j] = t
            n_risk[j] = nr
            d[j] = dd
            tot[j] = float(i - start)
            if dd > 0:
                km = km * ((nr - dd) / nr)
                v = v + dd / (nr * (nr - dd)) if nr - dd > 0 else np.inf
            surv[j] = km
            green[j] = v
            j += 1
        return j

    @njit(cache=True)
    def bucket_sort(keys, pay, has_pay, out_k, out_p, cnt):
        # sort uint64 keys (and a payload along) into out_k (out_p): counting sort on the
        # leading bits of key - min into nb = len(cnt) - 1 buckets (a power of 2 >= n; cnt
        # zeroed), then insertion sort within buckets (a sort for large ones)
        n = keys.shape[0]
        if n == 0:
            return out_k, out_p
        kmin = keys[0]
        kmax = keys[0]
        for i in range(n):
            v = keys[i]
            if v < kmin:
                kmin = v
            if v > kmax:
                kmax = v
        nb = cnt.shape[0] - 1
        span = kmax - kmin
        shift = np.uint64(0)
        while (span >> shift) >= np.uint64(nb):
            shift += np.uint64(1)
        for i in range(n):
            cnt[np.int64((keys[i] - kmin) >> shift) + 1] += 1
        for b in range(nb):
            cnt[b + 1] += cnt[b]
        # scatter with cnt[b] as bucket b's next free slot: afterwards cnt[b] is the end of
        # bucket b (= the start of b + 1), so no second array of positions is needed
        for i in range(n):
            b = np.int64((keys[i] - kmin) >> shift)
            j = cnt[b]
            out_k[j] = keys[i]
            if has_pay:
                out_p[j] = pay[i]
            cnt[b] = j + 1
        lo = 0
        for b in range(nb):
            hi = cnt[b]
            if hi - lo <= 1:
                lo = hi
                continue
            if hi - lo <= 48:
                for i in range(lo + 1, hi):
                    kk = out_k[i]
                    pp = out_p[i] if has_pay else pay[0]
                    j = i - 1
                    while j >= lo and out_k[j] > kk:
                        out_k[j + 1] = out_k[j]
                        if has_pay:
                            out_p[j + 1] = out_p[j]
                        j -= 1
                    out_k[j + 1] = kk
                    if has_pay:
                        out_p[j + 1] = pp
            else:
                o = np.argsort(out_k[lo:hi])
                sk = out_k[lo:hi][o]
                out_k[lo:hi] = sk
                if has_pay:
                    sp = out_p[lo:hi][o]
                    out_p[lo:hi] = sp
            lo = hi
        return out_k, out_p

    @njit(cache=True)
    def scan_values(x):
        # one pass: values not finite; finite values < 0; finite values other than 0 and 1
        nonfinite = 0
        negative = 0
        not01 = 0
        for i in range(x.shape[0]):
            v = x[i]
            if not np.isfinite(v):
                nonfinite += 1
            else:
                if v < 0:
                    negative += 1
                if v != 0 and v != 1:
                    not01 += 1
        return nonfinite, negative, not01

    @njit(cache=True)
    def pack_keys(time, event, keys):
        # bits(time) << 1 | (event != 0) in one pass (-0.0 packed as +0.0)
        bits = time.view(np.uint64)
        one = np.uint64(1)
        zero = np.uint64(0)
        for i in range(time.shape[0]):
            b = zero if time[i] == 0.0 else bits[i]
            keys[i] = (b << one) | (one if event[i] != 0 else zero)
        return keys

    @njit(cache=True)
    def integer_range(time):
        # (True, min, max) when every time is a whole number; stops at the first that is not
        n = time.shape[0]
        lo = np.inf
        hi = -np.inf
        for i in range(n):
            v = time[i]
            if v != math.floor(v):
                return False, 0.0, 0.0
            if v < lo:
                lo = v
            if v > hi:
                hi = v
        return n > 0, lo, hi

    @njit(cache=True)
    def day_counts(time, event, cell, lo, span, ncell):
        # rows and events per (cell, day): tot[c, t - lo], as integer-valued floats
        tot = np.zeros((ncell, span))
        d = np.zeros((ncell, span))
        for i in range(time.shape[0]):
            c = cell[i]
            j = np.int64(time[i] - lo)
            tot[c, j] += 1.0
            d[c, j] += event[i]
        return tot, d

    return (
        km_segments,
        locate,
        counting_order,
        findq_segs,
        survdiff_segs,
        points_segs,
        is_sorted_by,
        counts_from_keys,
        merge_cells,
        survdiff_risk,
        integer_range,
        day_counts,
        survdiff_sorted,
        bucket_sort,
        survdiff_sorted2,
        km_sorted,
        pack_keys,
        scan_values,
    )


def counting_order_reference(codes: np.ndarray, ncode: int) -> np.ndarray:
    """Stable permutation sorting integer ``codes`` in [0, ncode) (numpy reference)."""
    return np.argsort(codes, kind="stable")


def counting_order(codes: np.ndarray, ncode: int) -> np.ndarray:
    """Stable counting sort of integer codes in [0, ncode): O(n), the permutation (numba)."""
    return _numba_kernels()[2](np.ascontiguousarray(codes, dtype=np.int64), int(ncode))


def km_segments(
    seg_ptr: np.ndarray, n_risk: np.ndarray, n_event: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Segmented product-limit survival and Greenwood sum (numba)."""
    return _numba_kernels()[0](
        np.ascontiguousarray(seg_ptr, dtype=np.int64),
        np.ascontiguousarray(n_risk, dtype=np.float64),
        np.ascontiguousarray(n_event, dtype=np.float64),
    )


def locate(
    seg_ptr: np.ndarray, pt_time: np.ndarray, query: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment, counts of points ``<= t`` and ``< t`` for sorted query times (numba)."""
    return _numba_kernels()[1](
        np.ascontiguousarray(seg_ptr, dtype=np.int64),
        np.ascontiguousarray(pt_time, dtype=np.float64),
        np.ascontiguousarray(query, dtype=np.float64),
    )


def findq_segs(
    seg_ptr: np.ndarray, x: np.ndarray, y: np.ndarray, p: float, tol: float
) -> np.ndarray:
    """R ``findq`` for many curves, each with an implicit (0, 0) origin (numba).

    Reference: ``kaplan_meier.findq_segments`` / ``kaplan_meier.findq``.
    """
    return _numba_kernels()[3](
        np.ascontiguousarray(seg_ptr, dtype=np.int64),
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        float(p),
        float(tol),
    )


def survdiff_segs(
    seg_ptr: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    group: np.ndarray,
    k: int,
    rho: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected, variance of the G(rho) test per segment of time-sorted rows (numba).

    The loop of R's survdiff: a forward pass for the left-continuous pooled Kaplan-Meier
    weight, a backward pass accumulating the risk sets. Reference: ``logrank._survdiff_parts``.
    """
    return _numba_kernels()[4](
        np.ascontiguousarray(seg_ptr, dtype=np.int64),
        np.ascontiguousarray(time, dtype=np.float64),
        np.ascontiguousarray(event, dtype=np.float64),
        np.ascontiguousarray(group, dtype=np.int64),
        int(k),
        float(rho),
    )


def points_segs(
    row_ptr: np.ndarray, time: np.ndarray, event: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times per segment of (segment, time)-sorted rows: time, n_risk, n_event,
    n_censor and the segment pointers into them (numba). Reference: ``_batched_points``."""
    return _numba_kernels()[5](
        np.ascontiguousarray(row_ptr, dtype=np.int64),
        np.ascontiguousarray(time, dtype=np.float64),
        np.ascontiguousarray(event, dtype=np.float64),
    )


def is_sorted_by_reference(codes: np.ndarray, time: np.ndarray) -> bool:
    """Whether rows are sorted by (code, time) (numpy reference)."""
    same = codes[1:] == codes[:-1]
    return bool(np.all((codes[1:] > codes[:-1]) | (same & (time[1:] >= time[:-1]))))


def is_sorted_by(codes: np.ndarray, time: np.ndarray) -> bool:
    """Whether rows are sorted by (code, time), in one pass (numba)."""
    return bool(
        _numba_kernels()[6](
            np.ascontiguousarray(codes, dtype=np.int64),
            np.ascontiguousarray(time, dtype=np.float64),
        )
    )


def time_keys(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Sortable uint64 keys ``bits(time) << 1 | event`` of non-negative finite times.

    The IEEE-754 bit pattern of a non-negative double, read as an unsigned integer, orders as
    the number does (-0.0 is mapped to +0.0 first), so one plain sort of the keys orders the
    rows by time and carries the event bit along: no argsort and no gathers. One compiled pass
    writing only the keys (numba). Reference: :func:`time_keys_reference`.
    """
    t = np.ascontiguousarray(time, dtype=np.float64)
    return _numba_kernels()[16](t, np.ascontiguousarray(event), np.empty(t.shape[0], np.uint64))


def scan_values(x: np.ndarray) -> tuple[int, int, int]:
    """Counts of values that are not finite, finite and negative, finite and neither 0 nor 1:
    the checks of a time or event column in one pass with no temporaries (numba).
    Reference: :func:`scan_values_reference`."""
    nonfinite, negative, not01 = _numba_kernels()[17](np.ascontiguousarray(x, dtype=np.float64))
    return int(nonfinite), int(negative), int(not01)


def scan_values_reference(x: np.ndarray) -> tuple[int, int, int]:
    """:func:`scan_values` in numpy."""
    fin = np.isfinite(x)
    return int((~fin).sum()), int((fin & (x < 0)).sum()), int((fin & (x != 0) & (x != 1)).sum())


def time_keys_reference(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """:func:`time_keys` in numpy (four temporaries of the size of the data)."""
    bits = np.ascontiguousarray(time + 0.0, dtype=np.float64).view(np.uint64)
    return (bits << np.uint64(1)) | (event != 0).astype(np.uint64)


def key_times(tbits: np.ndarray) -> np.ndarray:
    """The float times of ``bits(time)`` values (the inverse of the packing in ``time_keys``)."""
    return np.ascontiguousarray(tbits, dtype=np.uint64).view(np.float64)


def counts_from_keys_reference(
    keys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times (as bits), rows and events at each, from sorted keys (numpy reference)."""
    tb = keys >> np.uint64(1)
    starts = np.flatnonzero(np.r_[True, tb[1:] != tb[:-1]])
    tot = np.diff(np.r_[starts, keys.shape[0]]).astype(np.float64)
    d = np.add.reduceat((keys & np.uint64(1)).astype(np.float64), starts)
    return tb[starts], tot, d


def counts_from_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times (as bits), rows and events at each, from sorted keys (numba)."""
    return _numba_kernels()[7](np.ascontiguousarray(keys, dtype=np.uint64))


def merge_cells(
    keys: np.ndarray, cell_ptr: np.ndarray, nstrata: int, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per stratum, the union of its groups' sorted key lists: distinct times (as bits), number
    at risk (time >= t) and deaths per group (m x k), and stratum pointers (numba)."""
    return _numba_kernels()[8](
        np.ascontiguousarray(keys, dtype=np.uint64),
        np.ascontiguousarray(cell_ptr, dtype=np.int64),
        int(nstrata),
        int(k),
    )


def survdiff_risk(
    seg_ptr: np.ndarray, n_k: np.ndarray, d_k: np.ndarray, rho: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected and variance of the G(rho) test per segment from per-time counts.

    ``n_k`` (number at risk) and ``d_k`` (deaths) are (distinct time x group), time-sorted
    within each segment. R survdiff's loop: a forward pass for the left-continuous pooled
    Kaplan-Meier weight S(t-)^rho, a backward pass summing O, E and V (numba).
    Reference: ``logrank._survdiff_parts``.
    """
    return _numba_kernels()[9](
        np.ascontiguousarray(seg_ptr, dtype=np.int64),
        np.ascontiguousarray(n_k, dtype=np.float64),
        np.ascontiguousarray(d_k, dtype=np.float64),
        float(rho),
    )


def integer_range(time: np.ndarray) -> tuple[bool, float, float]:
    """Whether every time is a whole number, with the minimum and maximum (numba, one pass that
    stops at the first non-integer, so continuous times cost almost nothing)."""
    ok, lo, hi = _numba_kernels()[10](np.ascontiguousarray(time, dtype=np.float64))
    return bool(ok), float(lo), float(hi)


def day_counts(
    time: np.ndarray, event: np.ndarray, cell: np.ndarray | None, lo: float, span: int, ncell: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and events per (cell, day ``time - lo``), shape (ncell, span), for whole-number
    times (numba). Reference: ``np.bincount`` over ``cell * span + time - lo``."""
    n = time.shape[0]
    c = np.zeros(n, dtype=np.int64) if cell is None else cell
    return _numba_kernels()[11](
        np.ascontiguousarray(time, dtype=np.float64),
        np.ascontiguousarray(event, dtype=np.float64),
        np.ascontiguousarray(c, dtype=np.int64),
        float(lo),
        int(span),
        int(ncell),
    )


def survdiff_sorted(
    keys: np.ndarray, grp: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-rank observed, expected, variance (shapes (1, k), (1, k), (1, k, k)) of one stratum
    from time-sorted keys and the group of each row: the arithmetic of ``survdiff_risk``
    (the same per-time function, in the same order) without per-time arrays (numba)."""
    if k == 2:
        return _numba_kernels()[14](
            np.ascontiguousarray(keys, dtype=np.uint64), np.ascontiguousarray(grp)
        )
    return _numba_kernels()[12](
        np.ascontiguousarray(keys, dtype=np.uint64),
        np.ascontiguousarray(grp, dtype=np.int64),
        int(k),
    )


def km_sorted(
    keys: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """From sorted keys: distinct times (as bits), n at risk, deaths, rows, S, Greenwood sum;
    one pass (numba). Reference: ``counts_from_keys`` then ``km_segments``."""
    k = np.ascontiguousarray(keys, dtype=np.uint64)
    n = k.shape[0]
    out = (np.empty(n, np.uint64), *(np.empty(n) for _ in range(5)))
    j = _numba_kernels()[15](k, *out)
    return tuple(a[:j] for a in out)


def sort_keys(
    keys: np.ndarray, payload: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Sorted uint64 keys (and the payload permuted alike; the order of equal keys is
    arbitrary): a bucket sort on the leading bits, about twice as fast as ``np.sort`` on
    survival times (numba). Reference: ``np.sort``."""
    k = np.ascontiguousarray(keys, dtype=np.uint64)
    n = k.shape[0]
    nb = 1 << max(n - 1, 0).bit_length()  # buckets: the smallest power of 2 >= n
    out_k = np.empty(n, np.uint64)
    cnt = np.zeros(nb + 1, np.int64)
    if payload is None:
        none = np.zeros(1, dtype=np.int64)
        _numba_kernels()[13](k, none, False, out_k, none, cnt)
        return out_k, None
    # a small payload (group codes) travels as int8: less memory to move
    small = payload.size == 0 or (payload.min() >= 0 and payload.max() < 127)
    pay = np.ascontiguousarray(payload, dtype=np.int8 if small else np.int64)
    out_p = np.empty_like(pay)
    _numba_kernels()[13](k, pay, True, out_k, out_p, cnt)
    return out_k, out_p
