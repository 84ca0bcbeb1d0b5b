"""One compiled pass per virtual trial: Kaplan-Meier medians, log-rank and a 1-covariate Cox.

Each replicate's rows are sorted by time once; one forward sweep reduces them to the distinct
times with, per arm, the number at risk (time >= t, tied censorings stay at risk) and the number
of deaths. Everything else runs on those few counts:

* Kaplan-Meier of the pooled data and of each arm (product of ``(n - d) / n`` in time order,
  as ``km.py``) with R's ``quantile.survfit`` median rule evaluated while sweeping;
* the log-rank statistic of R ``survdiff`` (rho = 0) for two groups;
* Newton-Raphson for the Cox model on the arm indicator, centred at its replicate mean as R:
  with a binary covariate every risk-set sum is ``n0 r0 + n1 r1``, so an iteration costs two
  ``exp`` and one pass over the distinct times. Efron (1977) or Breslow ties; the iterations
  follow the one Newton rule of every Cox fitter, ``_kernels_cox.newton_update`` (R's
  step-halving, convergence rule ``|1 - loglik_old / loglik_new| <= eps``) and
  ``_kernels_cox.monotone_flags`` (R's monotone-likelihood rule).

The reference implementations are the one-data-set functions ``kaplan_meier``,
``logrank_test`` and ``cox_ph`` (the tests compare against them replicate by replicate). The
numba functions are compiled on first call (``cache=True``), never at import; ``batch.py``
imports this module only when called.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from mrdtrack.survival._control import (
    COX_MAX_ITER,
    COX_TOL,
    COX_TOLER_CHOL,
    COX_TOLER_INF,
    SPAN_INF,
)
from mrdtrack.survival._kernels_cox import (
    NEWTON_CONTINUE,
    NEWTON_CONVERGED,
    NEWTON_EXHAUSTED,
    NEWTON_SINGULAR,
    monotone_rule,
    newton_start,
    newton_update,
)

# per-replicate float outputs (columns of the ``out`` matrix)
COLS = (
    "n",
    "n_event",
    "n_0",
    "n_1",
    "n_event_0",
    "n_event_1",
    "median",
    "median_0",
    "median_1",
    "logrank_observed_1",
    "logrank_expected_1",
    "logrank_variance",
    "logrank_chisq",
    "logrank_df",
    "coef",
    "se",
    "loglik_null",
    "loglik",
    "iterations",
    "converged",
    "monotone",
)
_C = {name: k for k, name in enumerate(COLS)}


i_n, i_ne, i_n0, i_n1 = _C["n"], _C["n_event"], _C["n_0"], _C["n_1"]
i_ne0, i_ne1 = _C["n_event_0"], _C["n_event_1"]
i_med, i_med0, i_med1 = _C["median"], _C["median_0"], _C["median_1"]
i_o1, i_e1, i_v, i_chi, i_df = (
    _C["logrank_observed_1"],
    _C["logrank_expected_1"],
    _C["logrank_variance"],
    _C["logrank_chisq"],
    _C["logrank_df"],
)
i_coef, i_se, i_ll0, i_ll = _C["coef"], _C["se"], _C["loglik_null"], _C["loglik"]
i_it, i_conv, i_mono = _C["iterations"], _C["converged"], _C["monotone"]
ncol = len(COLS)


_LN2 = math.log(2.0)
_BIG = 2.0**500
_SMALL = 2.0**-500


@njit(cache=True)
def cox_terms(m, n0, n1, d0, d1, x0, x1, beta, efron):
    """Log partial likelihood, score, information of the centred arm indicator.

    The sum of d log(denominator) over death times is taken as the log of one running product
    (renormalised by its binary exponent when it leaves [2^-500, 2^500]): one ``log`` per
    evaluation instead of one per death time; equal to the sum of logs up to round-off.
    """
    r0 = math.exp(beta * x0)
    r1 = math.exp(beta * x1)
    loglik = 0.0
    u = 0.0
    imat = 0.0
    prod = 1.0
    expo = 0
    for j in range(m):
        d = d0[j] + d1[j]
        if d == 0:
            continue
        sx = d0[j] * x0 + d1[j] * x1
        loglik += beta * sx
        u += sx
        w0 = n0[j] * r0
        w1 = n1[j] * r1
        denom = w0 + w1
        a = w0 * x0 + w1 * x1
        c = w0 * x0 * x0 + w1 * x1 * x1
        if d == 1 or not efron:
            mq = a / denom
            for _ in range(d):
                prod *= denom
            u -= d * mq
            imat += d * (c / denom - mq * mq)
        else:
            v0 = d0[j] * r0
            v1 = d1[j] * r1
            denom2 = v0 + v1
            a2 = v0 * x0 + v1 * x1
            c2 = v0 * x0 * x0 + v1 * x1 * x1
            for kk in range(d):
                frac = kk / d
                dd = denom - frac * denom2
                mq = (a - frac * a2) / dd
                prod *= dd
                u -= mq
                imat += (c - frac * c2) / dd - mq * mq
        if prod > _BIG or prod < _SMALL:
            mant, ex = math.frexp(prod)
            prod = mant
            expo += ex
    loglik -= math.log(prod) + expo * _LN2
    return loglik, u, imat


class TwoGroupCox(NamedTuple):
    """Cox model on a two-group indicator (see :func:`cox_two_group`)."""

    coef: float
    se: float
    loglik0: float
    loglik: float
    iterations: int
    converged: bool
    monotone: bool


class TwoGroupLogrank(NamedTuple):
    """Two-group log-rank (R ``survdiff``, rho = 0): see :func:`logrank_two_group`."""

    observed_1: float
    expected_0: float
    expected_1: float
    variance: float
    chisq: float
    df: int  # 0 when a group has expected 0 (R drops it: no test)


@njit(cache=True)
def cox_work(p):
    """Work arrays of :func:`cox_two_group` (beta, trial, step, score, state (4,), info),
    allocated once per chunk of replicates."""
    return np.zeros(p), np.zeros(p), np.zeros(p), np.zeros(p), np.zeros(4), np.zeros((p, p))


@njit(cache=True)
def cox_two_group(m, n0, n1, d0, d1, mean, efron, eps, iter_max, ctl, work):
    """Cox model on a 0/1 group indicator, centred at ``mean`` (its mean, as R), from the
    per-time counts (n at risk and deaths per group at the ``m`` distinct times): Newton-Raphson
    by the shared rule :func:`~mrdtrack.survival._kernels_cox.newton_update` (R coxph.fit's
    convergence, step-halving and monotone-likelihood rules) over :func:`cox_terms`.
    ``ctl`` = (eps unused here, toler_inf, span_inf, quantile tol, toler_chol)."""
    toler_inf, span_inf, toler_chol = ctl[1], ctl[2], ctl[4]
    beta, trial, step, u, state, imat = work
    x0 = 0.0 - mean
    x1 = 1.0 - mean
    beta[0] = 0.0
    ll0, u0, i0 = cox_terms(m, n0, n1, d0, d1, x0, x1, 0.0, efron)
    u[0] = u0
    imat[0, 0] = i0
    # no death time with both groups at risk: the likelihood is flat in beta (its information
    # is 0, or round-off), the coefficient is not identifiable (cox_ph raises): NaN
    informative = False
    for j in range(m):
        if d0[j] + d1[j] > 0 and n0[j] > 0 and n1[j] > 0:
            informative = True
            break
    code = NEWTON_SINGULAR
    if informative:
        code = newton_start(beta, ll0, u, imat, trial, state, iter_max, toler_chol)
    if code == NEWTON_SINGULAR:
        return TwoGroupCox(np.nan, np.nan, ll0, np.nan, 0, False, False)
    ll = ll0
    while code == NEWTON_CONTINUE:
        ll, u1, i1 = cox_terms(m, n0, n1, d0, d1, x0, x1, trial[0], efron)
        u[0] = u1
        imat[0, 0] = i1
        code = newton_update(
            beta, trial, ll, u, imat, state, step, eps, iter_max, False, toler_chol
        )
    if code == NEWTON_SINGULAR:
        return TwoGroupCox(np.nan, np.nan, ll0, np.nan, int(state[2]), False, False)
    if code == NEWTON_EXHAUSTED:
        ll, u1, i1 = cox_terms(m, n0, n1, d0, d1, x0, x1, beta[0], efron)
        u[0] = u1
        imat[0, 0] = i1
    converged = code == NEWTON_CONVERGED
    # the covariance is 1 / imat; the covariate's range is x1 - x0 = 1. Far out on a monotone
    # likelihood the information underflows to 0: the Newton step is then infinite
    var = 1.0 / imat[0, 0] if imat[0, 0] > 0.0 else np.inf
    step_ = u[0] * var if u[0] != 0.0 else 0.0
    mono = monotone_rule(beta[0], step_, u[0], 1.0, converged, ll, eps, toler_inf, span_inf)
    return TwoGroupCox(beta[0], math.sqrt(var), ll0, ll, int(state[2]), converged, mono)


@njit(cache=True)
def risk_table(tb, cb, m_rows, ut, n0, n1, d0, d1, rows0, rows1):
    """Reduce rows sorted by time (ascending; ``cb`` = 2 * group + event) to the distinct times
    ``ut``: at risk (time >= t; tied censorings stay at risk), deaths and rows per group.
    Returns the number of distinct times."""
    rem0 = 0
    rem1 = 0
    for k in range(m_rows):
        if cb[k] >= 2:
            rem1 += 1
        else:
            rem0 += 1
    m = 0
    k = 0
    while k < m_rows:
        t = tb[k]
        a0 = 0
        a1 = 0
        e0 = 0
        e1 = 0
        while k < m_rows and tb[k] == t:
            c = cb[k]
            if c >= 2:
                a1 += 1
                e1 += c - 2
            else:
                a0 += 1
                e0 += c
            k += 1
        ut[m] = t
        n0[m] = rem0
        n1[m] = rem1
        d0[m] = e0
        d1[m] = e1
        rows0[m] = a0  # rows of each group at t: the group's own curve has a point there
        rows1[m] = a1
        rem0 -= a0
        rem1 -= a1
        m += 1
    return m


@njit(cache=True)
def logrank_two_group(m, n0, n1, d0, d1):
    """The log-rank test of R ``survdiff`` (rho = 0) for two groups from the per-time counts,
    accumulated from the last time backwards."""
    obs1 = 0.0
    exp0 = 0.0
    exp1 = 0.0
    var11 = 0.0
    for jj in range(m - 1, -1, -1):
        d = float(d0[jj] + d1[jj])
        if d > 0:
            nr = float(n0[jj] + n1[jj])
            exp0 += d * n0[jj] / nr
            exp1 += d * n1[jj] / nr
            if nr > 1:
                tmp = d * n1[jj] * (nr - d) / (nr * (nr - 1))
                var11 += tmp
                var11 -= tmp * n1[jj] / nr
        obs1 += d1[jj]
    if exp0 > 0 and exp1 > 0:
        oe = obs1 - exp1
        return TwoGroupLogrank(obs1, exp0, exp1, var11, (oe / var11) * oe if var11 > 0 else 0.0, 1)
    # a group with expected 0 is dropped (R survdiff): no test
    return TwoGroupLogrank(obs1, exp0, exp1, var11, 0.0, 0)


class TwoGroupTests(NamedTuple):
    """Log-rank and Cox of one two-group data set (see :func:`two_group_tests`)."""

    n_0: int
    n_1: int
    n_event_0: int
    n_event_1: int
    logrank: TwoGroupLogrank
    cox: TwoGroupCox


@njit(cache=True)
def two_group_tests(tb, cb, m_rows, efron):
    """R ``survdiff`` log-rank and R ``coxph`` (default control) on a 0/1 group indicator for
    rows sorted by time ascending (``cb`` = 2 * group + event): the kernels
    :func:`risk_table`, :func:`logrank_two_group` and :func:`cox_two_group` that
    ``analyse_trials`` runs per replicate, for callers that analyse one data set at a time in
    compiled code (the simulator's landmark comparisons). The Cox fit is NaN when there is no
    event or only one group."""
    ut = np.empty(m_rows)
    cnt = np.zeros((6, m_rows), dtype=np.int64)
    m = risk_table(tb, cb, m_rows, ut, cnt[0], cnt[1], cnt[2], cnt[3], cnt[4], cnt[5])
    tot0 = cnt[0, 0] if m > 0 else 0
    tot1 = cnt[1, 0] if m > 0 else 0
    ev0 = 0
    ev1 = 0
    for j in range(m):
        ev0 += cnt[2, j]
        ev1 += cnt[3, j]
    lr = logrank_two_group(m, cnt[0], cnt[1], cnt[2], cnt[3])
    if ev0 + ev1 == 0 or tot0 == 0 or tot1 == 0:
        fit = TwoGroupCox(np.nan, np.nan, np.nan, np.nan, 0, False, False)
    else:
        ctl = np.array([COX_TOL, COX_TOLER_INF, SPAN_INF, 0.0, COX_TOLER_CHOL])
        fit = cox_two_group(
            m, cnt[0], cnt[1], cnt[2], cnt[3], tot1 / m_rows, efron, COX_TOL, COX_MAX_ITER, ctl,
            cox_work(1),
        )  # fmt: skip
    return TwoGroupTests(tot0, tot1, ev0, ev1, lr, fit)


@njit(cache=True)
def km_median_update(state, j, t, n, d, p, tol):
    """Feed one distinct time of a Kaplan-Meier curve into R's median search.

    state: [surv, x1 (first x with y + tol >= p, NaN if none), x2 (same for y - tol),
    y_last, x_last]. Since 1 - S only increases, the smallest qualifying value is at the
    first time it qualifies (R findq's 'first smallest')."""
    if n <= 0:
        return
    if d > 0:
        state[0] = state[0] * ((n - d) / n)
    y = 1.0 - state[0]
    if np.isnan(state[1]) and y + tol >= p:
        state[1] = t
    if np.isnan(state[2]) and y - tol >= p:
        state[2] = t
    state[3] = y
    state[4] = t


@njit(cache=True)
def km_median_finish(state, p, tol):
    y = state[3]
    if y < p:
        return np.nan
    if abs(p - y) < tol:
        # a flat piece at p up to the end of the curve: midpoint to the last time
        return (state[1] + state[4]) / 2.0
    return (state[1] + state[2]) / 2.0


@njit(cache=True)
def one_trial(
    idx, grouped, lo, hi, time, event, arm, times, efron, whole, iter_max, ctl, out, surv_at, fw,
    iw, cw,
):  # fmt: skip
    """All analyses of rows idx[lo:hi] (rows lo:hi themselves when ``grouped``);
    ctl = (eps, toler_inf, span_inf, quantile tol, toler_chol); fw, iw, cw: float, integer and
    Cox work arrays (reused across replicates)."""
    eps, tol = ctl[0], ctl[3]
    tb, ut, sv, sv0, sv1 = fw[0], fw[1], fw[2], fw[3], fw[4]
    cb, n0, n1, d0, d1, rows0, rows1 = iw[0], iw[1], iw[2], iw[3], iw[4], iw[5], iw[6]
    m_rows = hi - lo
    kb = iw[7]
    if whole:
        # whole-number times: sort packed keys time * 4 + code (no argsort, no gathers)
        for k in range(m_rows):
            r = lo + k if grouped else idx[lo + k]
            kb[k] = np.int64(time[r]) * 4 + 2 * arm[r] + (1 if event[r] > 0 else 0)
        kb[:m_rows].sort()
        for k in range(m_rows):
            tb[k] = float(kb[k] >> 2)
            cb[k] = kb[k] & 3
    else:
        for k in range(m_rows):
            r = lo + k if grouped else idx[lo + k]
            kb[k] = 2 * arm[r] + (1 if event[r] > 0 else 0)
            fw[5][k] = time[r]
        order = np.argsort(fw[5][:m_rows])
        for k in range(m_rows):
            tb[k] = fw[5][order[k]]
            cb[k] = kb[order[k]]
    m = risk_table(tb, cb, m_rows, ut, n0, n1, d0, d1, rows0, rows1)
    tot0 = n0[0] if m > 0 else 0
    tot1 = n1[0] if m > 0 else 0
    ev0 = 0
    ev1 = 0
    for j in range(m):
        ev0 += d0[j]
        ev1 += d1[j]
    out[i_n] = m_rows
    out[i_ne] = ev0 + ev1
    out[i_n0] = tot0
    out[i_n1] = tot1
    out[i_ne0] = ev0
    out[i_ne1] = ev1

    # ---- Kaplan-Meier: pooled and per arm, with the median and S at the fixed times
    p = 0.5
    sp, s0, s1 = fw[5], fw[6], fw[7]
    for st_ in (sp, s0, s1):
        st_[0] = 1.0
        st_[1] = np.nan
        st_[2] = np.nan
        st_[3] = 0.0
        st_[4] = 0.0
    nq = times.shape[0]
    q = 0
    for j in range(m):
        km_median_update(sp, j, ut[j], n0[j] + n1[j], d0[j] + d1[j], p, tol)
        if rows0[j] > 0:
            km_median_update(s0, j, ut[j], n0[j], d0[j], p, tol)
        if rows1[j] > 0:
            km_median_update(s1, j, ut[j], n1[j], d1[j], p, tol)
        sv[j] = sp[0]
        sv0[j] = s0[0]
        sv1[j] = s1[0]
    out[i_med] = km_median_finish(sp, p, tol) if m > 0 else np.nan
    out[i_med0] = km_median_finish(s0, p, tol) if tot0 > 0 else np.nan
    out[i_med1] = km_median_finish(s1, p, tol) if tot1 > 0 else np.nan
    # S(t) at the fixed times (R summary(times=), extend=FALSE: NaN after the last time)
    j = -1
    for q in range(nq):
        tq = times[q]
        while j + 1 < m and ut[j + 1] <= tq:
            j += 1
        for g in range(3):
            last = sp[4] if g == 0 else (s0[4] if g == 1 else s1[4])
            ng = m_rows if g == 0 else (tot0 if g == 1 else tot1)
            if ng == 0 or tq > last:
                surv_at[g, q] = np.nan
            elif j < 0:
                surv_at[g, q] = 1.0
            else:
                surv_at[g, q] = sv[j] if g == 0 else (sv0[j] if g == 1 else sv1[j])

    # ---- log-rank (R survdiff, rho = 0)
    lr = logrank_two_group(m, n0, n1, d0, d1)
    out[i_o1] = lr.observed_1
    out[i_e1] = lr.expected_1
    out[i_v] = lr.variance
    out[i_chi] = lr.chisq
    out[i_df] = lr.df

    # ---- Cox model on the arm indicator, centred at its mean (R coxph)
    out[i_coef] = np.nan
    out[i_se] = np.nan
    out[i_ll0] = np.nan
    out[i_ll] = np.nan
    out[i_it] = 0.0
    out[i_conv] = 0.0
    out[i_mono] = 0.0
    if ev0 + ev1 == 0:
        return
    fit = cox_two_group(m, n0, n1, d0, d1, tot1 / m_rows, efron, eps, iter_max, ctl, cw)
    out[i_ll0] = fit.loglik0
    if np.isnan(fit.loglik):
        return
    out[i_coef] = fit.coef
    out[i_se] = fit.se
    out[i_ll] = fit.loglik
    out[i_it] = fit.iterations
    out[i_conv] = 1.0 if fit.converged else 0.0
    out[i_mono] = 1.0 if fit.monotone else 0.0


@njit(cache=True)
def run_chunk(
    c0, c1, idx, grouped, bounds, time, event, arm, times, efron, whole, iter_max, ctl, out, surv_at
):
    maxrows = 5  # the last three work rows hold the median-search states (5 values)
    for r in range(c0, c1):
        maxrows = max(maxrows, bounds[r + 1] - bounds[r])
    fw = np.empty((8, maxrows))
    iw = np.empty((8, maxrows), dtype=np.int64)
    cw = cox_work(1)
    for r in range(c0, c1):
        b0 = bounds[r]
        b1 = bounds[r + 1]
        o = out[r]
        sa = surv_at[r]
        one_trial(
            idx, grouped, b0, b1, time, event, arm, times, efron, whole, iter_max, ctl, o, sa, fw,
            iw, cw,
        )  # fmt: skip


@njit(cache=True, parallel=True)
def analyse_parallel(
    idx, grouped, bounds, time, event, arm, times, efron, whole, iter_max, ctl, nchunk
):
    nrep = bounds.shape[0] - 1
    out = np.empty((nrep, ncol))
    surv_at = np.empty((nrep, 3, times.shape[0]))
    for c in prange(nchunk):
        c0 = (nrep * c) // nchunk
        c1 = (nrep * (c + 1)) // nchunk
        run_chunk(
            c0, c1, idx, grouped, bounds, time, event, arm, times, efron, whole, iter_max, ctl, out,
            surv_at,
        )  # fmt: skip
    return out, surv_at


@njit(cache=True)
def analyse_serial(idx, grouped, bounds, time, event, arm, times, efron, whole, iter_max, ctl):
    nrep = bounds.shape[0] - 1
    out = np.empty((nrep, ncol))
    surv_at = np.empty((nrep, 3, times.shape[0]))
    run_chunk(
        0, nrep, idx, grouped, bounds, time, event, arm, times, efron, whole, iter_max, ctl, out,
        surv_at,
    )  # fmt: skip
    return out, surv_at


@njit(cache=True)
def group_rows_kernel(codes, ncode):
    """Stable counting sort of replicate codes: row permutation and block bounds."""
    n = codes.shape[0]
    bounds = np.zeros(ncode + 1, dtype=np.int64)
    for i in range(n):
        bounds[codes[i] + 1] += 1
    for c in range(ncode):
        bounds[c + 1] += bounds[c]
    pos = bounds[:-1].copy()
    idx = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = codes[i]
        idx[pos[c]] = i
        pos[c] += 1
    return idx, bounds


@njit(cache=True)
def scan_rows(time, event):
    """Counts of non-finite times, negative times and events not 0/1, and whether every time
    is a whole number below 2^52 (then packed integer sort keys are exact)."""
    nonfinite = 0
    negative = 0
    bad_event = 0
    whole = True
    for i in range(time.shape[0]):
        t = time[i]
        if not np.isfinite(t):
            nonfinite += 1
            whole = False
        elif t < 0:
            negative += 1
        elif whole and (t != math.floor(t) or t >= 4503599627370496.0):
            whole = False
        ev = event[i]
        if ev != 0 and ev != 1:
            bad_event += 1
    return nonfinite, negative, bad_event, whole


@njit(cache=True)
def is_grouped(codes):
    """Whether replicate codes are non-decreasing (rows already grouped by replicate)."""
    for i in range(1, codes.shape[0]):  # noqa: SIM110 - a generator does not compile in numba
        if codes[i] < codes[i - 1]:
            return False
    return True


def _numba_kernels():
    return analyse_parallel, analyse_serial, group_rows_kernel


def group_rows(codes: np.ndarray, ncode: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows grouped by replicate code (stable): permutation and block bounds (numba)."""
    return _numba_kernels()[2](np.ascontiguousarray(codes, dtype=np.int64), int(ncode))


def analyse(
    idx: np.ndarray | None,
    bounds: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    arm: np.ndarray,
    times: np.ndarray,
    efron: bool,
    whole: bool,
    eps: float,
    iter_max: int,
    toler_inf: float,
    span_inf: float,
    tol: float,
    parallel: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-replicate results (nrep x len(COLS)) and S at ``times`` (nrep x 3 x ntimes: pooled,
    arm 0, arm 1) for the row blocks ``idx[bounds[r]:bounds[r + 1]]``, or the rows
    ``bounds[r]:bounds[r + 1]`` themselves when ``idx`` is None (rows grouped by replicate:
    no permutation array) (numba)."""
    kern = _numba_kernels()
    args = (
        np.zeros(0, dtype=np.int64) if idx is None else np.ascontiguousarray(idx, dtype=np.int64),
        idx is None,
        np.ascontiguousarray(bounds, dtype=np.int64),
        np.ascontiguousarray(time, dtype=np.float64),
        np.ascontiguousarray(event, dtype=np.float64),
        np.ascontiguousarray(arm, dtype=np.int64),
        np.ascontiguousarray(times, dtype=np.float64),
        bool(efron),
        bool(whole),
        int(iter_max),
        np.array([eps, toler_inf, span_inf, tol, COX_TOLER_CHOL], dtype=np.float64),
    )
    if parallel:
        from numba import get_num_threads

        return kern[0](*args, 4 * get_num_threads())
    return kern[1](*args)
