"""Two-group survival comparisons for many simulated trials at once (numba), with a reference.

For each replicate row: the log-rank test (Mantel-Haenszel variance with the ``(n - d)/(n - 1)``
tie correction, as R ``survival::survdiff``) and the Cox hazard ratio of group 1 vs group 0 for a
single binary covariate with Efron's tie handling (R ``coxph`` default), fitted by Newton-Raphson
from beta = 0 with step halving when the log partial likelihood would decrease (as R).
When all events fall in one group the partial likelihood is monotone and the
hazard ratio is reported as ``inf`` (or 0), as R does with a warning; Firth's correction
(`mrdtrack.survival`) is the estimator to use then.

A loop over sorted event times is the honest algorithm, hence numba; ``landmark_tests_reference``
is the plain-numpy version used in tests. Compilation is lazy and cached.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mrdtrack.mrd.trajectory_codes import (
    LOSS_OF_NEGATIVITY,
    PERSISTENT_POSITIVE,
    SUSTAINED_NEGATIVE,
    trajectory_code,
)
from mrdtrack.simulate._classify import status_code


@njit(cache=True, error_model="numpy")
def _one(time, event, group, out):
    m = time.size
    idx = np.argsort(time, kind="mergesort")
    t = time[idx]
    e = event[idx]
    g = group[idx]
    n_tot = 0
    n1_tot = 0
    d0_tot = 0
    d1_tot = 0
    for i in range(m):
        if g[i] >= 0:
            n_tot += 1
            if g[i] == 1:
                n1_tot += 1
                d1_tot += e[i]
            else:
                d0_tot += e[i]
    out[0] = n_tot - n1_tot
    out[1] = n1_tot
    out[2] = d0_tot
    out[3] = d1_tot
    # log-rank
    n = n_tot
    n1 = n1_tot
    o1 = 0.0
    e1 = 0.0
    var = 0.0
    i = 0
    while i < m:
        j = i
        d = 0
        d1 = 0
        c = 0
        c1 = 0
        while j < m and t[j] == t[i]:
            if g[j] >= 0:
                c += 1
                if g[j] == 1:
                    c1 += 1
                    d1 += e[j]
                d += e[j]
            j += 1
        if d > 0 and n > 0:
            e1 += d * n1 / n
            o1 += d1
            if n > 1:
                var += d * (n1 / n) * (1.0 - n1 / n) * (n - d) / (n - 1.0)
        n -= c
        n1 -= c1
        i = j
    # a zero variance (every event with one group alone at risk) gives 0, as survdiff's
    # generalised inverse; no event at all gives nan
    if var > 0:
        out[4] = (o1 - e1) ** 2 / var
    elif d0_tot + d1_tot > 0:
        out[4] = 0.0
    else:
        out[4] = np.nan
    out[5] = o1
    out[6] = e1
    # Cox, Efron ties, one binary covariate
    if d0_tot + d1_tot == 0 or n1_tot == 0 or n1_tot == n_tot:
        out[7] = np.nan
        return
    if d1_tot == 0:
        out[7] = 0.0
        return
    if d0_tot == 0:
        out[7] = np.inf
        return
    beta = 0.0
    ll, u, info = _efron(t, e, g, m, n_tot, n1_tot, beta)
    for _it in range(100):
        if not info > 0:
            break
        step = u / info
        if abs(step) < 1e-9 * (1.0 + abs(beta)):
            beta += step  # converged: the last Newton step is below rounding of the likelihood
            break
        new_beta = beta + step
        new_ll, new_u, new_info = _efron(t, e, g, m, n_tot, n1_tot, new_beta)
        halvings = 0
        # step halving, as R coxph.fit: the Efron log partial likelihood must not decrease
        while not new_ll >= ll - 1e-10 * abs(ll) and halvings < 30:
            step /= 2.0
            new_beta = beta + step
            new_ll, new_u, new_info = _efron(t, e, g, m, n_tot, n1_tot, new_beta)
            halvings += 1
        beta, ll, u, info = new_beta, new_ll, new_u, new_info
    out[7] = np.exp(beta)
    out[8] = 1.0 / np.sqrt(info) if info > 0 else np.nan


@njit(cache=True, error_model="numpy")
def _efron(t, e, g, m, n_tot, n1_tot, beta):
    """Efron log partial likelihood, score and information at ``beta`` (sorted data)."""
    r = np.exp(beta)
    s0 = (n_tot - n1_tot) + n1_tot * r
    s1 = n1_tot * r
    ll = 0.0
    u = 0.0
    info = 0.0
    i = 0
    while i < m:
        j = i
        d = 0
        d1 = 0
        c0 = 0
        c1 = 0
        while j < m and t[j] == t[i]:
            if g[j] >= 0:
                if g[j] == 1:
                    c1 += 1
                    d1 += e[j]
                else:
                    c0 += 1
                d += e[j]
            j += 1
        if d > 0:
            big_d0 = (d - d1) + d1 * r
            big_d1 = d1 * r
            u += d1
            ll += d1 * beta
            for k in range(d):
                f = k / d
                a = s0 - f * big_d0
                b = s1 - f * big_d1
                ll -= np.log(a)
                u -= b / a
                info += b / a - (b / a) ** 2
        s0 -= c0 + c1 * r
        s1 -= c1 * r
        i = j
    return ll, u, info


@njit(cache=True, error_model="numpy")
def _many(time, event, group, out):
    for r in range(time.shape[0]):
        _one(time[r], event[r], group[r], out[r])


FIELDS = (
    "n0",
    "n1",
    "events0",
    "events1",
    "logrank_chisq",
    "observed1",
    "expected1",
    "hazard_ratio",
    "se_log_hr",
)


def landmark_tests(time: np.ndarray, event: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Log-rank and Cox (Efron) for each row of ``(R, n)`` arrays; ``group`` -1 = excluded.

    Returns ``(R, 9)`` with columns `FIELDS` (``se_log_hr`` = inverse square root of the
    information at the estimate, as R ``coxph``).
    """
    time = np.ascontiguousarray(time, dtype=np.float64)
    event = np.ascontiguousarray(event, dtype=np.int64)
    group = np.ascontiguousarray(group, dtype=np.int64)
    out = np.full((time.shape[0], len(FIELDS)), np.nan)
    _many(time, event, group, out)
    return out


def landmark_tests_reference(time, event, group) -> np.ndarray:
    """Plain-numpy reference of `landmark_tests` for one trial (1-d arrays); used in tests."""
    keep = group >= 0
    t, e, g = time[keep], event[keep].astype(int), group[keep]
    out = np.full(len(FIELDS), np.nan)
    out[:4] = [(g == 0).sum(), (g == 1).sum(), e[g == 0].sum(), e[g == 1].sum()]
    times = np.unique(t[e == 1])
    o1 = e1 = var = 0.0
    for s in times:
        at = t >= s
        n, n1 = at.sum(), (at & (g == 1)).sum()
        d, d1 = ((t == s) & (e == 1)).sum(), ((t == s) & (e == 1) & (g == 1)).sum()
        e1 += d * n1 / n
        o1 += d1
        if n > 1:
            var += d * (n1 / n) * (1 - n1 / n) * (n - d) / (n - 1)
    chisq = (o1 - e1) ** 2 / var if var > 0 else (0.0 if e.sum() > 0 else np.nan)
    out[4:7] = [chisq, o1, e1]
    if out[2] == 0 and out[3] > 0:
        out[7] = np.inf
        return out
    if out[3] == 0 or out[2] + out[3] == 0:
        out[7] = 0.0 if out[3] == 0 and out[2] > 0 else np.nan
        return out

    def score_info(beta):
        w = np.exp(beta * g)
        u = info = ll = 0.0
        for s in times:
            risk = t >= s
            tied = (t == s) & (e == 1)
            d = tied.sum()
            u += g[tied].sum()
            s0, s1 = w[risk].sum(), (w * g)[risk].sum()
            d0, d1 = w[tied].sum(), (w * g)[tied].sum()
            ll += beta * g[tied].sum()
            for k in range(d):
                a, b = s0 - k / d * d0, s1 - k / d * d1
                ll -= np.log(a)
                u -= b / a
                info += b / a - (b / a) ** 2
        return ll, u, info

    beta = 0.0
    ll, u, info = score_info(beta)
    for _ in range(100):
        step = u / info
        if abs(step) < 1e-9 * (1 + abs(beta)):
            beta += step
            break
        new = score_info(beta + step)
        while not new[0] >= ll - 1e-10 * abs(ll):
            step /= 2
            new = score_info(beta + step)
        beta += step
        ll, u, info = new
    out[7] = np.exp(beta)
    out[8] = 1 / np.sqrt(score_info(beta)[2])
    return out


# --- the whole landmark analysis of many trials in one compiled pass -------------------------


@njit(cache=True, error_model="numpy")
def analyse_rows(
    r0, r1, vday, vres, vsens, prog, death, last, cutoff, cycles, min_cycles, landmark,
    threshold, need, cls_o, lcls_o, time_o, event_o, per_o, sus_o,
):  # fmt: skip
    """Classes (whole follow-up and landmark), PFS and both landmark comparisons of replicate
    rows ``r0 .. r1 - 1`` (the kernel of `analyse_landmark`; `mrdtrack.simulate.model`'s
    fused simulate-and-analyse loop calls it too). Classes by `mrdtrack.mrd.trajectory_codes`
    on the visits' status codes (`_classify.status_code`)."""
    n = vday.shape[1]
    status = np.empty(vday.shape[2], dtype=np.int8)
    lt = np.empty(n)
    g_per = np.empty(n, dtype=np.int64)
    g_sus = np.empty(n, dtype=np.int64)
    ev = np.empty(n, dtype=np.int64)
    ct = np.empty(n)
    ce = np.empty(n, dtype=np.int64)
    cg = np.empty(n, dtype=np.int64)
    for r in range(r0, r1):
        for i in range(n):
            first = np.inf
            if prog[r, i] >= 0:
                first = float(prog[r, i])
            if death[r, i] >= 0 and death[r, i] < first:
                first = float(death[r, i])
            if first < np.inf:
                t = first
                e = 1
            else:
                t = float(min(last[r, i], cutoff[r, i]))
                e = 0
            time_o[r, i] = t
            event_o[r, i] = e
            ev[i] = e
            for v in range(status.size):
                status[v] = status_code(vres[r, i, v], vsens[r, i, v], threshold)
            cls_o[r, i] = trajectory_code(vday[r, i], status, np.inf, need, False)
            lc = trajectory_code(vday[r, i], status, landmark, need, False)
            lcls_o[r, i] = lc
            at_risk = cycles[r, i] >= min_cycles and t > landmark
            lt[i] = t - landmark
            g_per[i] = -1
            g_sus[i] = -1
            if at_risk:
                if lc == LOSS_OF_NEGATIVITY:
                    g_per[i] = 1
                    g_sus[i] = 1
                elif lc == PERSISTENT_POSITIVE:
                    g_per[i] = 0
                elif lc == SUSTAINED_NEGATIVE:
                    g_sus[i] = 0
        # only the patients of each comparison enter its sort and its Newton iterations
        m = 0
        for i in range(n):
            if g_per[i] >= 0:
                ct[m], ce[m], cg[m] = lt[i], ev[i], g_per[i]
                m += 1
        _one(ct[:m], ce[:m], cg[:m], per_o[r])
        m = 0
        for i in range(n):
            if g_sus[i] >= 0:
                ct[m], ce[m], cg[m] = lt[i], ev[i], g_sus[i]
                m += 1
        _one(ct[:m], ce[:m], cg[:m], sus_o[r])


@njit(cache=True)
def _analyse_many(vday, *args):
    analyse_rows(0, vday.shape[0], vday, *args)


def analyse_landmark(
    tr, *, landmark_day: float = 730.0, min_cycles: int = 4, threshold: float = 1e-5,
    tolerance_days: float = 0.0,
) -> dict[str, np.ndarray]:  # fmt: skip
    """Classes, PFS and the landmark comparisons of every replicate of ``tr`` in one pass.

    The same numbers as `_classify.classify` (whole follow-up and ``until=landmark_day``;
    codes of `mrdtrack.mrd.trajectory_codes.CLASSES`),
    `summaries.pfs_arrays`, `summaries.landmark_groups` and `landmark_tests` (tested), fused in
    one compiled loop over trials and patients.

    Returns
    -------
    dict
        ``classes`` and ``landmark_classes`` ``(R, n)`` int8 codes; ``time`` (days) and
        ``event`` ``(R, n)`` PFS; ``lost_vs_persistent`` and ``lost_vs_sustained`` ``(R, 9)``
        with columns `FIELDS`.
    """
    r, n = tr.visit_day.shape[:2]
    out = {
        "classes": np.zeros((r, n), np.int8),
        "landmark_classes": np.zeros((r, n), np.int8),
        "time": np.zeros((r, n)),
        "event": np.zeros((r, n), np.int64),
        "lost_vs_persistent": np.full((r, len(FIELDS)), np.nan),
        "lost_vs_sustained": np.full((r, len(FIELDS)), np.nan),
    }
    c = np.ascontiguousarray
    _analyse_many(
        c(tr.visit_day), c(tr.visit_result), c(tr.visit_sensitivity), c(tr.progression_day),
        c(tr.death_day), c(tr.last_contact_day), c(tr.cutoff_day), c(tr.cycles_completed),
        int(min_cycles), float(landmark_day), float(threshold), 365.0 - float(tolerance_days),
        *out.values(),
    )  # fmt: skip
    return out
