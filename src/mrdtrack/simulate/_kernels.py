"""Two-group survival comparisons for many simulated trials at once (numba), with a reference.

For each replicate row: the log-rank test (Mantel-Haenszel variance with the ``(n - d)/(n - 1)``
tie correction, as R ``survival::survdiff``) and the Cox hazard ratio of group 1 vs group 0 for a
single binary covariate with Efron's tie handling (R ``coxph`` default). Both come from
`mrdtrack.survival.batch.two_group_tests`, the compiled kernels of
`mrdtrack.survival.analyse_trials`: Newton-Raphson from beta = 0 with R coxph.fit's convergence
rule (|1 - loglik_old / loglik_new| <= 1e-9, at most 20 iterations), step-halving and
monotone-likelihood rule. A monotone likelihood (e.g. all events in one group) is reported as a
hazard ratio of ``inf`` (or 0) with no standard error, where R warns and prints a large
coefficient; Firth's correction (`mrdtrack.survival`) is the estimator to use then.

``landmark_tests_reference`` is the plain-numpy version used in tests. Compilation is lazy and
cached.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mrdtrack.mrd.trajectory_codes import (
    LOSS_OF_NEGATIVITY,
    PERSISTENT_POSITIVE,
    SUSTAINED_NEGATIVE,
    trajectory_code,
)
from mrdtrack.mrd.trajectory_codes import (
    NOT_EVALUABLE as NOT_EVALUABLE_CALL,
)
from mrdtrack.simulate._classify import status_code
from mrdtrack.survival.batch import two_group_tests


@njit(cache=True, error_model="numpy")
def _one(time, event, group, out):
    """Log-rank and Cox of one trial (rows with ``group`` -1 left out) into ``out`` (`FIELDS`)."""
    idx = np.argsort(time, kind="mergesort")
    tb = np.empty(time.size)
    cb = np.empty(time.size, dtype=np.int64)
    m = 0
    for i in idx:
        if group[i] >= 0:
            tb[m] = time[i]
            cb[m] = 2 * group[i] + (1 if event[i] > 0 else 0)
            m += 1
    _fill(two_group_tests(tb, cb, m, True), out)


@njit(cache=True, error_model="numpy")
def _fill(res, out):
    """`FIELDS` of one comparison from `two_group_tests`'s result."""
    out[0] = res.n_0
    out[1] = res.n_1
    out[2] = res.n_event_0
    out[3] = res.n_event_1
    # a zero variance (every event with one group alone at risk) gives 0, as survdiff's
    # generalised inverse; no event at all gives nan
    out[4] = res.logrank.chisq if res.n_event_0 + res.n_event_1 > 0 else np.nan
    out[5] = res.logrank.observed_1
    out[6] = res.logrank.expected_1
    fit = res.cox
    if fit.monotone:
        out[7] = np.inf if fit.coef > 0 else 0.0
        out[8] = np.nan
    else:
        out[7] = np.exp(fit.coef)
        out[8] = fit.se


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
    both_at_risk = [((t >= s) & (g == 0)).any() and ((t >= s) & (g == 1)).any() for s in times]
    if not any(both_at_risk):  # no event, one group, or a flat likelihood: not estimable
        return out
    x = g - g.mean()  # centred as R coxph

    def loglik_score_info(beta):
        w = np.exp(beta * x)
        u = info = ll = 0.0
        for s in times:
            risk = t >= s
            tied = (t == s) & (e == 1)
            d = tied.sum()
            u += x[tied].sum()
            ll += beta * x[tied].sum()
            s0, s1, s2 = w[risk].sum(), (w * x)[risk].sum(), (w * x * x)[risk].sum()
            d0, d1, d2 = w[tied].sum(), (w * x)[tied].sum(), (w * x * x)[tied].sum()
            for k in range(d):
                a, b, c = s0 - k / d * d0, s1 - k / d * d1, s2 - k / d * d2
                ll -= np.log(a)
                u -= b / a
                info += c / a - (b / a) ** 2
        return ll, u, info

    # R coxph.fit: Newton from 0, converged when |1 - ll_best / ll_new| <= 1e-9 (20 iterations),
    # a step that lowers the log likelihood is pulled back by halving
    eps, toler_inf = 1e-9, math.sqrt(1e-9)
    beta = 0.0
    best, u, info = loglik_score_info(beta)
    new, halving, converged = beta + u / info, 0, False
    for _ in range(20):
        ll, u_new, info_new = loglik_score_info(new)
        if abs(1 - best / ll) <= eps:
            beta, u, info, converged = new, u_new, info_new, True
            break
        if ll < best:
            halving += 1
            new = (new + halving * beta) / (halving + 1)
        else:
            halving, best, beta, u, info = 0, ll, new, u_new, info_new
            new = beta + u / info
    if not converged:
        ll, u, info = loglik_score_info(beta)
    step = abs(u / info)
    if converged:
        monotone = step > eps and step > toler_inf * abs(beta)
    else:
        monotone = (step > toler_inf * abs(beta) or ll == 0.0) and abs(beta) > 20
    if monotone:
        out[7] = np.inf if beta > 0 else 0.0
        return out
    out[7] = np.exp(beta)
    out[8] = 1 / np.sqrt(info)
    return out


# --- the whole landmark analysis of many trials in one compiled pass -------------------------


# the landmark classes that enter a comparison (loss of negativity vs either reference)
COMPARED = (LOSS_OF_NEGATIVITY, PERSISTENT_POSITIVE, SUSTAINED_NEGATIVE)


@njit(cache=True)
def analysis_work(n, n_visits):
    """Scratch of `analyse_rows` for trials of ``n`` patients (reused from trial to trial)."""
    return (
        np.empty(n_visits, dtype=np.int8),
        np.empty(n),
        np.empty(n, dtype=np.int64),
        np.empty(n),
        np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int64),
    )


@njit(cache=True, error_model="numpy")
def analyse_rows(
    r0, r1, vday, vres, vsens, prog, death, last, cutoff, cycles, min_cycles, landmark,
    threshold, need, work, cls_o, lcls_o, time_o, event_o, per_o, sus_o,
):  # fmt: skip
    """Classes (whole follow-up and landmark), PFS and both landmark comparisons of replicate
    rows ``r0 .. r1 - 1`` (the kernel of `analyse_landmark`; `mrdtrack.simulate.model`'s
    fused simulate-and-analyse loop calls it too), with the scratch ``work``
    (`analysis_work`). Classes by `mrdtrack.mrd.trajectory_codes` on the visits' status codes
    (`_classify.status_code`). The patients of either comparison are sorted by time once
    (whole days: packed integer keys ``day * n + position``, a stable order without an index
    sort); each comparison takes its own in that order (the rows of sorting each alone)."""
    n = vday.shape[1]
    status, lt, code, tb, cb, key = work
    for r in range(r0, r1):
        m = 0  # patients at risk at the landmark in a class of either comparison
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
            last_call = -np.inf  # day of the last evaluable call
            for v in range(status.size):
                status[v] = status_code(vres[r, i, v], vsens[r, i, v], threshold)
                if status[v] != NOT_EVALUABLE_CALL:
                    last_call = vday[r, i, v]
            lc = trajectory_code(vday[r, i], status, np.inf, need, False)
            cls_o[r, i] = lc
            if last_call > landmark:  # else the landmark sees every call: the same class
                lc = trajectory_code(vday[r, i], status, landmark, need, False)
            lcls_o[r, i] = lc
            if cycles[r, i] >= min_cycles and t > landmark and lc in COMPARED:
                lt[m] = t - landmark
                code[m] = 2 * lc + e
                key[m] = np.int64(t) * n + m  # t: whole days (from integer arrays)
                m += 1
        order = key[:m]
        order.sort()
        for j in range(m):
            order[j] = order[j] % n
        _compare(lt, code, order, PERSISTENT_POSITIVE, tb, cb, per_o[r])
        _compare(lt, code, order, SUSTAINED_NEGATIVE, tb, cb, sus_o[r])


@njit(cache=True, error_model="numpy", inline="always")
def _compare(lt, code, order, reference, tb, cb, out):
    """Loss of negativity (group 1) vs the ``reference`` class (group 0), rows in ``order``."""
    k = 0
    for i in order:
        c = code[i] >> 1
        if c in (LOSS_OF_NEGATIVITY, reference):
            tb[k] = lt[i]
            cb[k] = (2 if c == LOSS_OF_NEGATIVITY else 0) + (code[i] & 1)
            k += 1
    _fill(two_group_tests(tb, cb, k, True), out)


@njit(cache=True)
def _analyse_many(vday, vres, *args):
    work = analysis_work(vday.shape[1], vday.shape[2])
    analyse_rows(0, vday.shape[0], vday, vres, *args[:10], work, *args[10:])


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
