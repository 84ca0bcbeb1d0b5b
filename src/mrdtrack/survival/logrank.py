"""Log-rank and Fleming-Harrington G(rho) tests with R ``survival::survdiff`` conventions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy.special import chdtrc

from mrdtrack._frames import to_polars
from mrdtrack.survival import _kernels_km
from mrdtrack.survival._checks import (
    check_entry,
    check_event,
    check_time,
    group_codes,
    require_columns,
)
from mrdtrack.survival.km import (
    counts_at,
    day_grid,
    entry_not_entered,
    segment_sort,
)

__all__ = ["LogrankBatch", "LogrankResult", "logrank_batched", "logrank_test"]


def _chisq_sf(x: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    return chdtrc(df, x)


def _points_one(
    time: np.ndarray, event: np.ndarray, gcode: np.ndarray, k: int, entry: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct time and group: number at risk n_j(t) and deaths d_j(t) (one stratum)."""
    ut = np.unique(time)
    n_k = np.empty((ut.shape[0], k))
    d_k = np.empty((ut.shape[0], k))
    for j in range(k):
        in_j = gcode == j
        tj = time[in_j]
        # at risk at t: time >= t, less those with entry >= t for (entry, time] data
        n_k[:, j] = np.cumsum(counts_at(ut, tj)[::-1])[::-1]
        if entry is not None:
            ej = np.sort(entry[in_j])
            n_k[:, j] -= ej.shape[0] - np.searchsorted(ej, ut, side="left")
        d_k[:, j] = counts_at(ut, tj[event[in_j] == 1])
    return n_k, d_k


def _points_batched(
    time: np.ndarray, event: np.ndarray, gcode: np.ndarray, k: int, seg: np.ndarray, nseg: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """As :func:`_points_one` for rows sorted by (segment, time); also the segment pointers."""
    change = np.r_[True, (time[1:] != time[:-1]) | (seg[1:] != seg[:-1])]
    starts = np.flatnonzero(change)
    npt = starts.shape[0]
    pt_seg = seg[starts]
    flat = (np.cumsum(change) - 1) * k + gcode
    tot_k = np.bincount(flat, minlength=npt * k).reshape(npt, k).astype(np.float64)
    d_k = np.bincount(flat, weights=event, minlength=npt * k).reshape(npt, k)
    seg_ptr = np.searchsorted(pt_seg, np.arange(nseg + 1), side="left")
    # reverse cumulative sums restarted at every segment (exact: integer-valued floats)
    rc = np.vstack([np.cumsum(tot_k[::-1], axis=0)[::-1], np.zeros((1, k))])
    n_k = rc[:-1] - rc[seg_ptr[1:]][pt_seg]
    return n_k, d_k, seg_ptr


def _survdiff_parts(
    n_k: np.ndarray, d_k: np.ndarray, seg_ptr: np.ndarray, rho: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Observed, expected (nseg x k) and variance (nseg x k x k) per segment.

    At each distinct time t with d deaths among n at risk (n_j in group j), weight
    w = S(t-)^rho with S the pooled Kaplan-Meier of the segment (left-continuous, as
    survdiff): O_j += w d_j, E_j += w d n_j / n,
    V_jl += w^2 d (n - d) / (n - 1) (n_j / n) (delta_jl - n_l / n) (no term when n = 1).
    """
    nseg = seg_ptr.shape[0] - 1
    k = n_k.shape[1]
    n = n_k.sum(axis=1)
    d = d_k.sum(axis=1)
    nonempty = np.diff(seg_ptr) > 0
    red = seg_ptr[:-1][nonempty]
    if rho != 0:
        surv, _ = _kernels_km.km_segments(seg_ptr, n, d)
        s_minus = np.r_[1.0, surv[:-1]]
        s_minus[red] = 1.0
        wt = s_minus**rho
        obs_pt = wt[:, None] * d_k
        wd = wt * d
    else:
        wt = np.ones(n.shape[0])
        obs_pt = d_k
        wd = d
    p = n_k / n[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(n > 1, wt * wt * d * (n - d) / (n - 1), 0.0)

    def seg_sum(a: np.ndarray) -> np.ndarray:
        out = np.zeros((nseg, *a.shape[1:]))
        out[nonempty] = np.add.reduceat(a, red, axis=0)
        return out

    obs = seg_sum(obs_pt)
    exp = seg_sum(wd[:, None] * p)
    var = np.zeros((nseg, k, k))
    fp = f[:, None] * p
    diag = seg_sum(fp)
    for j in range(k):
        for l in range(j, k):
            v = seg_sum(fp[:, j] * p[:, l])
            var[:, j, l] -= v
            if l != j:
                var[:, l, j] -= v
        var[:, j, j] += diag[:, j]
    return obs, exp, var


def _risk_counts(
    time: np.ndarray,
    event: np.ndarray,
    gcode: np.ndarray,
    k: int,
    scode: np.ndarray,
    ns: int,
    entry: np.ndarray | None,
    grid: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per stratum and distinct time: number at risk and deaths per group.

    Returns ``(time, n_k, d_k, seg_ptr)``: distinct times sorted within each stratum,
    (m x k) counts, and the stratum pointers into them. Whole-number times with a modest range
    are counted on a day grid (one ``bincount`` over (stratum, day, group), no sort); other
    times are sorted once per (stratum, group) cell as packed (time, event) keys and the cells
    of a stratum merged. The counts are integers, so both ways give identical numbers
    (``grid=False`` forces the sorting path; the tests compare the two).
    """
    dg = day_grid(time, cells=ns * k) if grid else None
    if dg is not None:
        ilo, span = dg
        cell = scode * k + gcode if ns > 1 else gcode
        tot, dd = _kernels_km.day_counts(time, event, cell, ilo, span, ns * k)
        # (stratum, group, day) -> (stratum, day, group)
        tot = tot.reshape(ns, k, span).transpose(0, 2, 1)
        dd = dd.reshape(ns, k, span).transpose(0, 2, 1).reshape(ns * span, k)
        # at risk at day u: rows with time >= u, within the stratum
        risk = np.cumsum(tot[:, ::-1], axis=1)[:, ::-1].reshape(ns * span, k)
        if entry is not None:
            cflat = scode * k + gcode
            for c in range(ns * k):
                m = cflat == c
                if m.any():
                    ne = entry_not_entered(entry[m], ilo, span)
                    risk[c // k * span : (c // k + 1) * span, c % k] -= ne
        rows = np.flatnonzero(tot.reshape(ns * span, k).sum(axis=1))
        seg_ptr = np.searchsorted(rows // span, np.arange(ns + 1), side="left")
        ut = (rows % span + ilo).astype(np.float64)
        return ut, risk[rows], dd[rows], seg_ptr
    keys = _kernels_km.time_keys(time, event)
    cell = scode * k + gcode
    order = _kernels_km.counting_order(cell, ns * k)
    keys = keys[order]
    cell_ptr = np.r_[0, np.cumsum(np.bincount(cell, minlength=ns * k))]
    for c in range(ns * k):
        lo, hi = cell_ptr[c], cell_ptr[c + 1]
        keys[lo:hi] = _kernels_km.sort_keys(keys[lo:hi])[0]
    tbits, n_k, d_k, seg_ptr = _kernels_km.merge_cells(keys, cell_ptr, ns, k)
    ut = _kernels_km.key_times(tbits)
    if entry is not None:
        ent = entry[order]
        for c in range(ns * k):
            lo, hi = cell_ptr[c], cell_ptr[c + 1]
            if hi > lo:
                se = np.sort(ent[lo:hi])
                a, b = seg_ptr[c // k], seg_ptr[c // k + 1]
                n_k[a:b, c % k] -= se.shape[0] - np.searchsorted(se, ut[a:b], side="left")
    return ut, n_k, d_k, seg_ptr


def _chisq(obs: np.ndarray, exp: np.ndarray, var: np.ndarray) -> tuple[float, int]:
    """R survdiff: drop groups with expected 0, then solve on all but the first remaining."""
    keep = exp > 0
    df = int(keep.sum()) - 1
    if df < 1:
        return 0.0, max(df, 0)
    oe = (obs - exp)[keep][1:]
    vv = var[np.ix_(keep, keep)][1:, 1:]
    try:
        x = np.linalg.solve(vv, oe)
    except np.linalg.LinAlgError:
        # singular (e.g. groups never at risk together): generalized inverse
        x = np.linalg.pinv(vv) @ oe
    return float(x @ oe), df


@dataclass(frozen=True)
class LogrankResult:
    """A log-rank / G(rho) test result (see :func:`logrank_test`).

    Attributes
    ----------
    statistic : float
        Chi-square statistic.
    df : int
        Degrees of freedom: number of groups with expected > 0, minus 1.
    p_value : float
    groups : tuple of str
        Group labels (R factor order, sorted).
    n, observed, expected : ndarray
        Per group, summed over strata; observed and expected are weighted when rho != 0.
    variance : ndarray
        The (k x k) variance matrix of O - E, summed over strata.
    rho : float
    strata : str or None
    n_strata : int
    """

    statistic: float
    df: int
    p_value: float
    groups: tuple[str, ...]
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray = field(repr=False)
    rho: float
    group: str
    strata: str | None
    n_strata: int
    has_entry: bool

    def table(self) -> pl.DataFrame:
        """Per group: n, observed, expected, (O-E)^2/E, (O-E)^2/V as R's print.survdiff."""
        oe2 = (self.observed - self.expected) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return pl.DataFrame(
                {
                    "group": list(self.groups),
                    "n": self.n.astype(np.int64),
                    "observed": self.observed,
                    "expected": self.expected,
                    "oe2_over_e": oe2 / self.expected,
                    "oe2_over_v": oe2 / np.diag(self.variance),
                }
            ).with_columns(pl.col(pl.Float64).fill_nan(None))

    def summary(self) -> str:
        name = "log-rank" if self.rho == 0 else f"Fleming-Harrington G(rho={self.rho:g})"
        strat = f", stratified by {self.strata} ({self.n_strata} strata)" if self.strata else ""
        entry = ", (start, time] risk sets" if self.has_entry else ""
        lines = [f"{name} test of {self.group}{strat}{entry} (R survdiff)"]
        lines.append(
            f"{'group':<16}{'N':>8}{'Observed':>11}{'Expected':>11}{'(O-E)^2/E':>11}"
            f"{'(O-E)^2/V':>11}"
        )
        for r in self.table().iter_rows(named=True):

            def f(v: Any) -> str:
                return "NA" if v is None else f"{v:.4g}"

            lines.append(
                f"{r['group']:<16}{r['n']:>8}{f(r['observed']):>11}{f(r['expected']):>11}"
                f"{f(r['oe2_over_e']):>11}{f(r['oe2_over_v']):>11}"
            )
        lines.append(
            f"Chisq = {self.statistic:.4g} on {self.df} degrees of freedom, p = {self.p_value:.4g}"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def logrank_test(
    data: Any,
    time: str,
    event: str,
    group: str,
    strata: str | None = None,
    rho: float = 0.0,
    start: str | None = None,
) -> LogrankResult:
    """Log-rank test, or the Fleming-Harrington G(rho) test, of equal survival across groups.

    Method: Mantel (1966) log-rank with the hypergeometric variance; G(rho) weights
    S(t-)^rho of Harrington & Fleming (1982), S the pooled Kaplan-Meier of the stratum,
    left-continuous (rho = 1 is the Peto-Peto / Prentice modification of the Gehan-Wilcoxon
    test). Stratified: observed, expected and variance summed over strata. The statistic is
    (O - E)' V^- (O - E) on (number of groups with expected > 0) - 1 degrees of freedom, V^-
    the inverse of V after dropping one group (a generalized inverse of V).

    R equivalent: ``survdiff(Surv(time, event) ~ group + strata(strata), rho=rho)``;
    SAS: ``PROC LIFETEST; STRATA strata / GROUP=group TEST=LOGRANK`` (rho = 0).

    Conventions: risk set at t: time >= t (censorings tied with deaths are at risk); observed
    and expected are weighted when rho != 0, as R reports them. With ``start`` the risk sets are
    (start, time] (R's survdiff refuses counting-process data; this is the same statistic with
    left-truncated risk sets; with untied times it equals R's Breslow Cox score test,
    ``coxph(Surv(start, time, event) ~ group, ties="breslow")``, at beta = 0).

    Parameters
    ----------
    data : polars or pandas DataFrame
    time, event : str
        Follow-up time (>= 0) and event indicator (1 event, 0 censored).
    group : str
        Groups compared (at least two levels), ordered as R factor levels (sorted).
    strata : str, optional
    rho : float
        0 for the log-rank test.
    start : str, optional
        Delayed-entry time, strictly less than ``time`` (as ``cox_ph(start=)``).

    References
    ----------
    1. Mantel N (1966). Evaluation of survival data and two new rank order statistics arising
       in its consideration. Cancer Chemother Rep 50:163-170.
    2. Harrington DP, Fleming TR (1982). A class of rank test procedures for censored survival
       data. Biometrika 69:553-566.
    """
    if not np.isfinite(rho):
        raise ValueError("rho must be finite")
    df_ = to_polars(data)
    if df_.height == 0:
        raise ValueError("no rows: the data are empty")
    require_columns(
        df_, {"time": time, "event": event, "group": group, "strata": strata, "start": start}
    )
    t = check_time(df_, time)
    e = check_event(df_, event)
    a = check_entry(df_, start, t, role="start") if start is not None else None
    g, labels = group_codes(df_, group, "group")
    k = len(labels)
    if k < 2:
        raise ValueError(f"column {group!r}: needs at least 2 groups, found {k}")
    if strata is not None:
        s, slabels = group_codes(df_, strata, "strata")
    else:
        s, slabels = np.zeros(t.shape[0], dtype=np.int64), [""]
    ns = len(slabels)
    if ns == 1 and a is None and rho == 0 and day_grid(t, cells=k) is None:
        # continuous times, one stratum: one sort of (time, event) keys carrying the group,
        # then R's backward loop straight from the sorted rows
        keys, gs = _kernels_km.sort_keys(_kernels_km.time_keys(t, e), g)
        o, x, v = _kernels_km.survdiff_sorted(keys, gs, k)
    else:
        _, n_k, d_k, seg_ptr = _risk_counts(t, e, g, k, s, ns, a)
        o, x, v = _kernels_km.survdiff_risk(seg_ptr, n_k, d_k, float(rho))
    obs, exp, var = o.sum(axis=0), x.sum(axis=0), v.sum(axis=0)
    chisq, dfree = _chisq(obs, exp, var)
    p = float(_chisq_sf(chisq, dfree)) if dfree > 0 else float("nan")
    return LogrankResult(
        statistic=chisq,
        df=dfree,
        p_value=p,
        groups=tuple(labels),
        n=np.bincount(g, minlength=k).astype(np.float64),
        observed=obs,
        expected=exp,
        variance=var,
        rho=float(rho),
        group=group,
        strata=strata,
        n_strata=len(slabels),
        has_entry=start is not None,
    )


@dataclass(frozen=True)
class LogrankBatch:
    """Log-rank / G(rho) tests over many data sets (see :func:`logrank_batched`).

    Attributes
    ----------
    replicate : ndarray
        Replicate identifiers, sorted.
    statistic, df, p_value : ndarray
        Per replicate.
    observed, expected : ndarray, shape (n_replicates, n_groups)
    groups : tuple of str
    rho : float
    """

    replicate: np.ndarray
    statistic: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    groups: tuple[str, ...]
    rho: float

    def table(self) -> pl.DataFrame:
        data: dict[str, Any] = {
            "replicate": self.replicate,
            "statistic": self.statistic,
            "df": self.df,
            "p_value": self.p_value,
        }
        for j, g in enumerate(self.groups):
            data[f"observed_{g}"] = self.observed[:, j]
            data[f"expected_{g}"] = self.expected[:, j]
        return pl.DataFrame(data).with_columns(pl.col(pl.Float64).fill_nan(None))

    def summary(self) -> str:
        return (
            f"{'log-rank' if self.rho == 0 else f'G(rho={self.rho:g})'} tests over "
            f"{self.replicate.shape[0]} replicates; proportion p < 0.05: "
            f"{np.mean(self.p_value < 0.05):.4f}"
        )


def logrank_batched(
    time: np.ndarray,
    event: np.ndarray,
    group: np.ndarray,
    replicate: np.ndarray,
    rho: float = 0.0,
) -> LogrankBatch:
    """Log-rank (G(rho)) tests for many independent data sets in one vectorised pass.

    The statistic of :func:`logrank_test` (R ``survdiff``) computed for every ``replicate``
    without a Python loop per data set (one sort and segment reductions); results equal
    ``logrank_test`` on each replicate. Groups are the sorted distinct values of ``group``
    over all replicates; a replicate where a group has expected 0 drops it as R does.
    """
    df_ = pl.DataFrame(
        {"time": np.asarray(time, dtype=np.float64), "event": np.asarray(event, dtype=np.float64)}
    )
    t = check_time(df_, "time")
    e = check_event(df_, "event")
    grp = np.asarray(group)
    rep = np.asarray(replicate)
    if grp.shape != t.shape or rep.shape != t.shape:
        raise ValueError("time, event, group and replicate must have the same length")
    if t.size == 0:
        raise ValueError("no rows: the data are empty")
    levels, g = np.unique(grp, return_inverse=True)
    k = levels.shape[0]
    if k < 2:
        raise ValueError(f"group: needs at least 2 groups, found {k}")
    reps, codes, order = segment_sort(t, rep)
    nrep = reps.shape[0]
    seg_ptr = np.r_[0, np.cumsum(np.bincount(codes, minlength=nrep))]
    obs, exp, var = _kernels_km.survdiff_segs(
        seg_ptr, t[order], e[order], g.astype(np.int64)[order], k, float(rho)
    )
    full = (exp > 0).all(axis=1)
    stat = np.zeros(nrep)
    dfree = np.full(nrep, k - 1, dtype=np.int64)
    if full.any():
        oe = (obs - exp)[full][:, 1:]
        vv = var[full][:, 1:, 1:]
        try:
            x = np.linalg.solve(vv, oe[..., None])[..., 0]
            stat[full] = np.einsum("ij,ij->i", x, oe)
        except np.linalg.LinAlgError:
            full[:] = False
    for r in np.flatnonzero(~full):
        stat[r], dfree[r] = _chisq(obs[r], exp[r], var[r])
    with np.errstate(invalid="ignore"):
        p = np.where(dfree > 0, _chisq_sf(stat, np.maximum(dfree, 1)), np.nan)
    return LogrankBatch(
        replicate=reps,
        statistic=stat,
        df=dfree,
        p_value=p,
        observed=obs,
        expected=exp,
        groups=tuple(str(x) for x in levels.tolist()),
        rho=float(rho),
    )
