"""Kaplan-Meier survival curves with R ``survival::survfit`` conventions.

Everything here reproduces R (survival 3.5) to floating-point precision: the product-limit
estimate, Greenwood's variance, the three confidence-interval transforms, the quantile rule of
``quantile.survfit`` (including the midpoint of a flat segment) and ``summary(fit, times=)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.survival import _kernels_km
from mrdtrack.survival._checks import (
    check_conf_type,
    check_entry,
    check_event,
    check_time,
    check_weights,
    group_codes,
    require_columns,
    survival_limits,
    z_value,
)

__all__ = ["KaplanMeier", "KaplanMeierBatch", "kaplan_meier", "kaplan_meier_batched"]

# R quantile.survfit: tolerance = sqrt(.Machine$double.eps)
QUANTILE_TOL = float(np.sqrt(np.finfo(np.float64).eps))


def counts_at(ut: np.ndarray, values: np.ndarray) -> np.ndarray:
    """How many of ``values`` equal each of the sorted distinct times ``ut`` (all must occur)."""
    out = np.zeros(ut.shape[0])
    if values.size:
        v = np.sort(values)
        first = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
        out[np.searchsorted(ut, v[first])] = np.diff(np.r_[first, v.shape[0]])
    return out


# integer times spanning at most this many days per row (or this many in all) are counted on a
# day grid instead of sorted
_GRID_PER_ROW = 4
_GRID_MIN = 1 << 16


def day_grid(time: np.ndarray, cells: int = 1) -> tuple[int, int] | None:
    """``(lo, span)`` when every time is a whole number and ``cells`` x span stays modest
    (<= max(4 n, 65536)); else None (use the sorting path).

    Day-rounded follow-up (the usual case in trial data) qualifies: a Kaplan-Meier curve or a
    log-rank test is then a counting pass per day, O(n + span) with no sort.
    """
    n = time.shape[0]
    ok, lo, hi = _kernels_km.integer_range(time)
    if not ok or hi >= 2.0**52 or cells * (hi - lo + 1.0) > max(_GRID_PER_ROW * n, _GRID_MIN):
        return None
    return int(lo), int(hi) - int(lo) + 1


def entry_not_entered(
    start: np.ndarray, ilo: int, span: int, weight: np.ndarray | None = None
) -> np.ndarray:
    """Per day lo + j of the grid: number (weight) of rows with start >= that day (not entered).

    For a whole day u, start >= u exactly when floor(start) >= u; starts before the first day
    never count (every distinct time is >= lo), and floor(start) <= the row's time <= hi.
    """
    ce = np.floor(start).astype(np.int64) - ilo
    keep = ce >= 0
    cnt = np.bincount(ce[keep], weights=None if weight is None else weight[keep], minlength=span)
    return np.cumsum(cnt[::-1])[::-1].astype(np.float64)


def _km_points(
    time: np.ndarray,
    event: np.ndarray,
    weight: np.ndarray | None,
    entry: np.ndarray | None,
    grid: bool = True,
) -> dict[str, np.ndarray]:
    """Distinct exit times with risk-set counts and the product-limit estimate (one curve).

    Two ways to the same numbers: whole-number times with a modest range are counted per day
    (``bincount``, no sort); other times are sorted. Both sum weights in the original row
    order within a time (``bincount`` over a stable order), so their results are identical to
    the last bit (``grid=False`` forces the sorting path; the tests compare the two).
    """
    dg = day_grid(time) if grid and (weight is None or entry is None) else None
    not_entered = None
    if dg is not None:
        ilo, span = dg
        if weight is None:
            tot, d = _kernels_km.day_counts(time, event, None, ilo, span, 1)
            tot, d = tot[0], d[0]
            days = np.flatnonzero(tot)
        else:
            off = time.astype(np.int64) - ilo
            # a day with only zero-weight rows is still a distinct time (as when sorting)
            days = np.flatnonzero(np.bincount(off, minlength=span))
            tot = np.bincount(off, weights=weight, minlength=span)
            d = np.bincount(off, weights=weight * event, minlength=span)
        ut = (days + ilo).astype(np.float64)
        tot, d = tot[days], d[days]
        if entry is not None:
            not_entered = entry_not_entered(entry, ilo, span)[days]
    elif weight is None:
        # one plain sort of packed (time, event) keys: no argsort, no gathers
        keys, _ = _kernels_km.sort_keys(_kernels_km.time_keys(time, event))
        if entry is None:
            # everything in one pass over the sorted keys (same arithmetic as below)
            tbits, n_risk, d, tot, surv, green = _kernels_km.km_sorted(keys)
            # the kernel's own arrays are reused in place (no new arrays of the data's size)
            return {
                "time": _kernels_km.key_times(tbits),
                "n_risk": n_risk,
                "n_event": d,
                "n_censor": np.subtract(tot, d, out=tot),
                "surv": surv,
                "std_err": np.sqrt(green, out=green),
            }
        tbits, tot, d = _kernels_km.counts_from_keys(keys)
        ut = _kernels_km.key_times(tbits)
    else:
        # a stable order keeps the rounding of weighted sums independent of the row order
        order = np.argsort(time, kind="stable")
        t = time[order]
        change = np.r_[True, t[1:] != t[:-1]]
        ut = t[change]
        pos = np.cumsum(change) - 1
        tot = np.bincount(pos, weights=weight[order], minlength=ut.shape[0])
        d = np.bincount(pos, weights=(weight * event)[order], minlength=ut.shape[0])
    # risk set at t: time >= t (tied censorings stay at risk), accumulated from the end as R
    n_risk = np.cumsum(tot[::-1])[::-1]
    if entry is not None:
        # (entry, time] intervals: remove those not yet entered, i.e. entry >= t
        if not_entered is None:
            if weight is None:
                se = np.sort(entry)
                not_entered = se.shape[0] - np.searchsorted(se, ut, side="left")
            else:
                eo = np.argsort(entry, kind="stable")
                se = entry[eo]
                cw = np.r_[0.0, np.cumsum(weight[eo])]
                not_entered = cw[-1] - cw[np.searchsorted(se, ut, side="left")]
        n_risk = n_risk - not_entered
    # S = prod (n - d) / n over times with deaths (a time with only zero-weight subjects has
    # n_risk = 0 and no deaths: factor 1, as R); Greenwood sum d / (n (n - d)); one loop
    surv, green = _kernels_km.km_segments(np.array([0, ut.shape[0]]), n_risk, d)
    return {
        "time": ut,
        "n_risk": n_risk,
        "n_event": d,
        "n_censor": tot - d,
        "surv": surv,
        "std_err": np.sqrt(green),
    }


def findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = QUANTILE_TOL) -> float:
    """Where a horizontal line at ``p`` meets the step curve ``y`` (R ``findq``, one curve).

    ``x`` and ``y`` start with the origin (0, 0); ``y`` is 1 - S (or 1 - a confidence limit)
    and may contain NaN. Rules of R ``quantile.survfit``: repeated y values are dropped (the
    first time a level is reached counts); the answer is the mean of the first x where
    y + tol >= p and the first x where y - tol >= p, so a flat segment lying at p within tol
    gives its midpoint; a flat piece at p at the end of the curve gives the midpoint between
    its start and the last time; NaN when the curve never reaches p.
    """
    valid = ~np.isnan(y)
    if p == 0:
        return float(x[0])
    if not valid.any() or np.max(y[valid]) < p:
        return float("nan")
    xmax = x[-1]
    # drop repeats of an earlier value (NaN counts as one value), keeping first occurrences
    _, first = np.unique(np.where(valid, y, np.inf), return_index=True)
    keep = np.zeros(y.shape[0], dtype=bool)
    keep[first] = True
    xk, yk = x[keep], y[keep]
    ok = ~np.isnan(yk)

    def index(v: np.ndarray) -> int | None:
        # approx(v, seq_along(v), p, method="constant", f=1): the smallest v >= p, else NA
        cand = ok & (v >= p)
        if not cand.any() or p < np.min(v[ok]):
            return None
        vv = np.where(cand, v, np.inf)
        return int(np.argmin(vv))

    i1 = index(yk + tol)
    i2 = index(yk - tol)
    q = (xk[i1] + xk[i2]) / 2.0 if (i1 is not None and i2 is not None) else float("nan")
    if not np.isnan(yk[-1]) and abs(p - yk[-1]) < tol:
        q = (xk[i1] + xmax) / 2.0 if i1 is not None else float("nan")
    return float(q)


def findq_segments(
    seg_ptr: np.ndarray, x: np.ndarray, y: np.ndarray, p: float, tol: float = QUANTILE_TOL
) -> np.ndarray:
    """``findq`` for many curves at once (each segment must begin with its (0, 0) origin).

    The numpy reference of the compiled ``_kernels_km.findq_segs`` (tests compare the two and
    both with R). Vectorised with segment reductions: the smallest ``y + tol`` (and
    ``y - tol``) that reaches ``p`` per segment, first position on ties; repeated values cannot
    change that minimum.
    Only segments with a value within ``tol`` of ``p`` (where R's end-of-curve rule may apply)
    go through the one-curve ``findq``.
    """
    nseg = seg_ptr.shape[0] - 1
    starts = seg_ptr[:-1]
    m = x.shape[0]
    seg = np.repeat(np.arange(nseg), np.diff(seg_ptr))
    pos = np.arange(m)
    valid = ~np.isnan(y)
    big = np.iinfo(np.int64).max
    ymax = np.maximum.reduceat(np.where(valid, y, -np.inf), starts)

    def first_min(v: np.ndarray) -> np.ndarray:
        cand = valid & (v >= p)
        vv = np.where(cand, v, np.inf)
        vmin = np.minimum.reduceat(vv, starts)
        hit = cand & (vv == vmin[seg])
        idx = np.minimum.reduceat(np.where(hit, pos, big), starts)
        return idx

    i1 = first_min(y + tol)
    i2 = first_min(y - tol)
    has1, has2 = i1 != big, i2 != big
    q = np.full(nseg, np.nan)
    both = has1 & has2
    q[both] = (x[i1[both]] + x[i2[both]]) / 2.0
    q[~(ymax >= p)] = np.nan
    near = np.maximum.reduceat(
        (np.abs(p - np.where(valid, y, np.inf)) < tol).astype(np.int8), starts
    )
    for s in np.flatnonzero(near):
        lo, hi = seg_ptr[s], seg_ptr[s + 1]
        q[s] = findq(x[lo:hi], y[lo:hi], p, tol)
    if p == 0:
        q = x[starts].astype(np.float64)
    return q


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class _Curve:
    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n: float


def _curve(
    time: np.ndarray,
    event: np.ndarray,
    weight: np.ndarray | None,
    entry: np.ndarray | None,
    conf_type: str,
    z: float,
) -> _Curve:
    pts = _km_points(time, event, weight, entry)
    lower, upper = survival_limits(pts["surv"], pts["std_err"], conf_type, z)
    n = float(time.shape[0] if weight is None else weight.sum())
    return _Curve(lower=lower, upper=upper, n=n, **pts)


def _as_times(times: Iterable[float] | float) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise ValueError("times must be a non-empty sequence of numbers")
    if not np.isfinite(t).all() or (t < 0).any():
        bad = int((~np.isfinite(t) | (t < 0)).sum())
        raise ValueError(f"times: {bad} values are negative or not finite")
    return np.sort(t)


def _at_times(c: _Curve, times: np.ndarray) -> dict[str, np.ndarray]:
    """R ``summary(fit, times=)`` for one curve (times sorted), NaN estimates past the end."""
    # survfit0: the curve starts at time 0 with S = 1 and the first row's number at risk
    if c.time[0] != 0:
        t0 = np.r_[0.0, c.time]
        cols = {
            "n_risk": np.r_[c.n_risk[0], c.n_risk],
            "n_event": np.r_[0.0, c.n_event],
            "n_censor": np.r_[0.0, c.n_censor],
            "surv": np.r_[1.0, c.surv],
            "std_err": np.r_[0.0, c.std_err],
            "lower": np.r_[1.0, c.lower],
            "upper": np.r_[1.0, c.upper],
        }
    else:
        t0 = c.time
        cols = {k: getattr(c, k) for k in ("n_risk", "n_event", "n_censor", "surv", "std_err")}
        cols |= {"lower": c.lower, "upper": c.upper}
    index1 = np.searchsorted(t0, times, side="right")  # rows with time <= t
    index2 = np.searchsorted(t0, times, side="left")  # first row with time >= t
    row = np.maximum(index1, 1) - 1
    beyond = times > t0[-1]
    out: dict[str, np.ndarray] = {"time": times}
    out["n_risk"] = np.r_[cols["n_risk"], 0.0][index2]
    for k in ("n_event", "n_censor"):
        cum = np.r_[0.0, np.cumsum(cols[k])][index1]
        out[k] = np.diff(np.r_[0.0, cum])
    surv = cols["surv"][row]
    with np.errstate(invalid="ignore"):
        # R summary reports the standard error of S itself: std.err * surv
        se = cols["std_err"][row] * surv
    for k, v in (("surv", surv), ("std_err", se), ("lower", cols["lower"][row])):
        out[k] = np.where(beyond, np.nan, v)
    out["upper"] = np.where(beyond, np.nan, cols["upper"][row])
    return out


def _nan_to_null(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col(pl.Float64).fill_nan(None))


@dataclass(frozen=True)
class KaplanMeier:
    """A fitted Kaplan-Meier estimate, one curve per group (see :func:`kaplan_meier`).

    Attributes
    ----------
    groups : tuple of str
        Group labels in R factor order (sorted); ``("all",)`` without ``by``.
    by, conf_type, conf_level, has_entry, weighted :
        The settings used.
    """

    groups: tuple[str, ...]
    by: str | None
    conf_type: str
    conf_level: float
    has_entry: bool
    weighted: bool
    _curves: tuple[_Curve, ...] = field(repr=False)

    def _group_frame(self, label: str, cols: dict[str, np.ndarray]) -> pl.DataFrame:
        n = len(next(iter(cols.values())))
        data: dict[str, Any] = {}
        if self.by is not None:
            data["group"] = [label] * n
        data |= {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
        return pl.DataFrame(data)

    def table(self) -> pl.DataFrame:
        """The survfit table: one row per distinct time (events and censorings).

        Columns ``time, n_risk, n_event, n_censor, surv, std_err, lower, upper`` (and
        ``group`` first when ``by`` is given). ``std_err`` is R's ``fit$std.err``: the standard
        error of the cumulative hazard -log S (Greenwood), not of S. NA limits are null.
        """
        names = ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper")
        frames = [
            self._group_frame(g, {k: getattr(c, k) for k in names})
            for g, c in zip(self.groups, self._curves, strict=True)
        ]
        return _nan_to_null(pl.concat(frames))

    def quantile(self, p: float | Sequence[float] = (0.25, 0.5, 0.75)) -> pl.DataFrame:
        """Survival-time quantiles with confidence limits, as R ``quantile(fit, probs)``.

        The p-quantile is the first time S(t) <= 1 - p (midpoint of a flat segment lying at
        1 - p within sqrt(machine eps)); the lower limit is the same quantity read off the lower
        confidence curve and the upper limit off the upper curve (Brookmeyer & Crowley, 1982).
        NA (null) where a curve never reaches 1 - p.
        """
        probs = np.atleast_1d(np.asarray(p, dtype=np.float64))
        if ((probs < 0) | (probs > 1)).any() or np.isnan(probs).any():
            raise ValueError("quantile probabilities must lie in [0, 1]")
        rows = []
        for g, c in zip(self.groups, self._curves, strict=True):
            ptr = np.array([0, c.time.shape[0]])
            for pr in probs:
                # one O(m) pass per curve (R's findq; ``findq`` above is the readable reference)
                est, lo, hi = (
                    _kernels_km.findq_segs(ptr, c.time, 1.0 - y, float(pr), QUANTILE_TOL)[0]
                    for y in (c.surv, c.lower, c.upper)
                )
                rows.append((g, float(pr), *(None if np.isnan(v) else v for v in (est, lo, hi))))
        schema = {"group": pl.String, "p": pl.Float64}
        schema |= {"estimate": pl.Float64, "lower": pl.Float64, "upper": pl.Float64}
        df = pl.DataFrame(rows, schema=schema, orient="row")
        return df if self.by is not None else df.drop("group")

    def median(self) -> pl.DataFrame:
        """Median survival with its confidence interval per group (R ``quantile.survfit``).

        Equal to R ``print.survfit`` / ``summary(fit)$table`` except when the curve stays
        exactly at 0.5 until its last time: ``quantile.survfit`` (and we) then give the midpoint
        of the flat segment's ends, ``print.survfit`` the time the curve reached 0.5 (e.g. a
        death at 1 and a censoring at 5: 3 here, 1 in ``print.survfit``).
        """
        return self.quantile([0.5]).drop("p")

    def survival_at(self, times: Iterable[float] | float) -> pl.DataFrame:
        """Survival and confidence limits at fixed times, as R ``summary(fit, times=)``.

        Times are sorted. At t the estimate is the curve's value at the last distinct time <= t
        (1 before the first). ``std_err`` here is the standard error of S(t) (Greenwood), as
        R's summary prints it. Times after a group's last observed time get null estimates
        (R, with ``extend=FALSE``, drops those rows instead); counts are as in
        :meth:`risk_table`.
        """
        t = _as_times(times)
        frames = [
            self._group_frame(g, _at_times(c, t))
            for g, c in zip(self.groups, self._curves, strict=True)
        ]
        return _nan_to_null(pl.concat(frames))

    def risk_table(self, times: Iterable[float] | float) -> pl.DataFrame:
        """Number at risk at t, events and censorings in (previous t, t], as R ``summary(times=)``.

        ``n_risk`` is R's: the number at risk at the first observed time >= t, that is the
        subjects with time >= t (for right-censored data), and 0 after the last time. With
        delayed entry R's rule still applies: those with entry < t' <= time where t' is the
        first observed time >= t. ``n_event``/``n_censor`` count (t_{j-1}, t_j], the first
        interval starting at the origin.
        """
        cols = ("time", "n_risk", "n_event", "n_censor")
        if self.by is not None:
            cols = ("group", *cols)
        return self.survival_at(times).select(cols)

    def summary(self) -> str:
        """R ``print.survfit``-like text: n, events, median and its CI per group."""
        med = self.median()
        lvl = f"{self.conf_level:g}"
        data_kind = "(entry, time] risk sets" if self.has_entry else "right-censored"
        lines = [
            f"Kaplan-Meier estimate ({data_kind}"
            f"{', weighted' if self.weighted else ''}); CI: {self.conf_type} transform, "
            f"level {lvl}; Greenwood variance",
            f"{'group':<16}{'n':>8}{'events':>9}{'median':>10}{lvl + 'LCL':>10}{lvl + 'UCL':>10}",
        ]

        def fmt(v: Any) -> str:
            return "NA" if v is None else f"{v:.4g}"

        for i, (g, c) in enumerate(zip(self.groups, self._curves, strict=True)):
            r = med.row(i, named=True)
            lines.append(
                f"{g:<16}{c.n:>8.4g}{c.n_event.sum():>9.4g}{fmt(r['estimate']):>10}"
                f"{fmt(r['lower']):>10}{fmt(r['upper']):>10}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def kaplan_meier(
    data: Any,
    time: str,
    event: str,
    by: str | None = None,
    start: str | None = None,
    conf_type: str = "log",
    conf_level: float = 0.95,
    weights: str | None = None,
) -> KaplanMeier:
    """Kaplan-Meier (product-limit) survival estimate, one curve per group.

    Method: Kaplan & Meier (1958); variance by Greenwood's formula (Greenwood, 1926),
    Var(-log S(t)) = sum_{t_i <= t} d_i / (n_i (n_i - d_i)). R equivalent:
    ``survfit(Surv(time, event) ~ by, data, conf.type=)`` or, with ``start``,
    ``survfit(Surv(start, time, event) ~ by)``; SAS: ``PROC LIFETEST``.

    Conventions (all as R survival 3.5):

    - risk set at t: subjects with time >= t; censorings tied with events at t are at risk at t;
    - delayed entry: a subject is at risk on (start, time], so not at its start time;
    - one row per distinct time (event or censoring times);
    - ``conf_type``: "log" (R default), "log-log" (SAS default), "plain" (clipped to [0, 1]);
      limits are NA (null) where S = 0 ("log", "log-log") or S = 1 ("log-log");
    - weights are case weights; the variance is Greenwood with weighted counts, which is R's
      ``robust=FALSE`` (R's default for non-integer weights is an infinitesimal-jackknife
      variance instead); integer weights equal replicated rows;
    - R's ``timefix`` merging of nearly-equal times is not done: times are used as given.

    Parameters
    ----------
    data : polars or pandas DataFrame
    time, event : str
        Follow-up time (>= 0, finite) and event indicator (1 event, 0 censored).
    by : str, optional
        Grouping column; levels kept as strings, ordered as R orders factor levels (sorted).
    start : str, optional
        Left-truncation (delayed entry) time, strictly less than ``time``: the row is at risk
        on (start, time], as ``cox_ph(start=)`` (R ``Surv(start, time, event)``).
    conf_type : {"log", "log-log", "plain"}
    conf_level : float
    weights : str, optional
        Non-negative case weights.

    Returns
    -------
    KaplanMeier
        With ``table()``, ``median()``, ``quantile()``, ``survival_at()``, ``risk_table()``,
        ``summary()``.

    References
    ----------
    1. Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete observations.
       JASA 53:457-481.
    2. Greenwood M (1926). The natural duration of cancer. Reports on Public Health and
       Medical Subjects 33.
    3. Brookmeyer R, Crowley J (1982). A confidence interval for the median survival time.
       Biometrics 38:29-41.
    4. Therneau TM (2023). A package for survival analysis in R (survival 3.5).

    Examples
    --------
    >>> import polars as pl
    >>> d = pl.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1, 1, 1, 1, 1, 1]})
    >>> kaplan_meier(d, "t", "e").median()["estimate"][0]  # S = 0.5 on [3, 4): midpoint
    3.5
    """
    check_conf_type(conf_type)
    z = z_value(conf_level)
    df = to_polars(data)
    if df.height == 0:
        raise ValueError("no rows: the data are empty")
    require_columns(
        df, {"time": time, "event": event, "start": start, "weights": weights, "by": by}
    )
    t = check_time(df, time)
    e = check_event(df, event)
    a = check_entry(df, start, t, role="start") if start is not None else None
    w = check_weights(df, weights) if weights is not None else None
    if by is None:
        codes, labels = np.zeros(t.shape[0], dtype=np.int64), ["all"]
    else:
        codes, labels = group_codes(df, by, "by")
    curves = []
    for k in range(len(labels)):
        m = codes == k
        if by is None:
            curves.append(_curve(t, e, w, a, conf_type, z))
            break
        curves.append(
            _curve(
                t[m],
                e[m],
                None if w is None else w[m],
                None if a is None else a[m],
                conf_type,
                z,
            )
        )
    return KaplanMeier(
        groups=tuple(labels),
        by=by,
        conf_type=conf_type,
        conf_level=conf_level,
        has_entry=start is not None,
        weighted=weights is not None,
        _curves=tuple(curves),
    )


# --------------------------------------------------------------------------- batched
@dataclass(frozen=True)
class KaplanMeierBatch:
    """Kaplan-Meier summaries for many independent data sets (see :func:`kaplan_meier_batched`).

    Attributes
    ----------
    replicate : ndarray
        Replicate identifiers, sorted.
    median, median_lower, median_upper : ndarray
        Median survival and its CI per replicate (R ``quantile.survfit``; NaN if not reached).
    times : ndarray
        The requested fixed times (sorted).
    surv_at, lower_at, upper_at, n_risk_at : ndarray, shape (n_replicates, n_times)
        As :meth:`KaplanMeier.survival_at` (NaN after a replicate's last time).
    n, n_event : ndarray
        Rows and events per replicate.
    """

    replicate: np.ndarray
    n: np.ndarray
    n_event: np.ndarray
    median: np.ndarray
    median_lower: np.ndarray
    median_upper: np.ndarray
    times: np.ndarray
    surv_at: np.ndarray
    lower_at: np.ndarray
    upper_at: np.ndarray
    n_risk_at: np.ndarray
    conf_type: str
    conf_level: float

    def table(self) -> pl.DataFrame:
        """One row per replicate: n, events, median with CI, and surv at each time."""
        data: dict[str, Any] = {
            "replicate": self.replicate,
            "n": self.n,
            "n_event": self.n_event,
            "median": self.median,
            "median_lower": self.median_lower,
            "median_upper": self.median_upper,
        }
        for j, t in enumerate(self.times):
            data[f"surv_{t:g}"] = self.surv_at[:, j]
        return _nan_to_null(pl.DataFrame(data))

    def summary(self) -> str:
        med = self.median[~np.isnan(self.median)]
        q = np.quantile(med, [0.25, 0.5, 0.75]) if med.size else [np.nan] * 3
        return (
            f"Kaplan-Meier over {self.replicate.shape[0]} replicates ({self.conf_type} CI, "
            f"level {self.conf_level:g}); median reached in {med.size}; "
            f"median of medians {q[1]:.4g} (IQR {q[0]:.4g} to {q[2]:.4g})"
        )


def segment_sort(
    time: np.ndarray, replicate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replicate ids (sorted), codes, and a permutation sorting rows by (replicate, time).

    One unstable (SIMD) sort of the times, then a stable O(n) counting sort by replicate: far
    faster than a lexicographic sort; the order of tied times is irrelevant to every count.
    Input already sorted by (replicate, time) is detected in O(n) and not sorted again.
    """
    n = replicate.shape[0]
    if replicate.dtype.kind in "iub" and n and int(replicate.max()) - int(replicate.min()) <= 4 * n:
        lo = int(replicate.min())
        raw = replicate.astype(np.int64) - lo
        present = np.bincount(raw) > 0
        remap = np.cumsum(present) - 1
        codes = remap[raw]
        reps = (np.flatnonzero(present) + lo).astype(replicate.dtype)
    else:
        reps, codes = np.unique(replicate, return_inverse=True)
        codes = codes.astype(np.int64).reshape(-1)
    if _kernels_km.is_sorted_by(codes, time):
        # already sorted by (replicate, time), as simulation output often is: no sort needed
        return reps, codes, np.arange(n)
    by_time = np.argsort(time)
    order = by_time[_kernels_km.counting_order(codes[by_time], reps.shape[0])]
    return reps, codes, order


def _batched_points(
    time: np.ndarray, event: np.ndarray, codes_sorted: np.ndarray, nrep: int
) -> dict[str, np.ndarray]:
    """Distinct (replicate, time) points: n_risk, n_event, n_censor, segment pointers.

    The numpy reference of the compiled ``_kernels_km.points_segs`` (compared in the tests).
    """
    m = time.shape[0]
    change = np.r_[True, (time[1:] != time[:-1]) | (codes_sorted[1:] != codes_sorted[:-1])]
    starts = np.flatnonzero(change)
    pt_time = time[starts]
    pt_seg = codes_sorted[starts]
    tot = np.diff(np.r_[starts, m]).astype(np.float64)
    d = np.add.reduceat(event, starts)
    seg_ptr = np.searchsorted(pt_seg, np.arange(nrep + 1), side="left")
    # reverse cumulative sums within each replicate (exact: integer-valued floats)
    rc = np.r_[np.cumsum(tot[::-1])[::-1], 0.0]
    n_risk = rc[:-1] - rc[seg_ptr[1:]][pt_seg]
    return {
        "time": pt_time,
        "seg": pt_seg,
        "seg_ptr": seg_ptr,
        "n_risk": n_risk,
        "n_event": d,
        "n_censor": tot - d,
    }


def kaplan_meier_batched(
    time: np.ndarray,
    event: np.ndarray,
    replicate: np.ndarray,
    times: Sequence[float] | None = None,
    conf_type: str = "log",
    conf_level: float = 0.95,
) -> KaplanMeierBatch:
    """Kaplan-Meier median and survival at fixed times for many data sets at once.

    The same estimator and conventions as :func:`kaplan_meier` (right-censored data), run over
    every ``replicate`` in one vectorised pass (one sort, segment reductions and a compiled
    segmented product) instead of a Python loop per data set. Results equal
    ``kaplan_meier`` on each replicate separately. R equivalent: ``survfit`` in a loop.

    Parameters
    ----------
    time, event, replicate : array-like, same length
        Times (>= 0), 0/1 events, and the data-set identifier of each row.
    times : sequence of float, optional
        Fixed times for ``surv_at`` (R ``summary(fit, times=)`` semantics).
    conf_type, conf_level : as :func:`kaplan_meier`.
    """
    check_conf_type(conf_type)
    z = z_value(conf_level)
    df = pl.DataFrame(
        {
            "time": np.asarray(time, dtype=np.float64),
            "event": np.asarray(event, dtype=np.float64),
        }
    )
    t = check_time(df, "time")
    e = check_event(df, "event")
    rep = np.asarray(replicate)
    if rep.shape != t.shape:
        raise ValueError("time, event and replicate must have the same length")
    if t.size == 0:
        raise ValueError("no rows: the data are empty")
    reps, codes, order = segment_sort(t, rep)
    nrep = reps.shape[0]
    row_ptr = np.r_[0, np.cumsum(np.bincount(codes, minlength=nrep))]
    pt_time, n_risk, n_ev, _, seg_ptr = _kernels_km.points_segs(row_ptr, t[order], e[order])
    pts = {"time": pt_time, "n_risk": n_risk, "n_event": n_ev}
    surv, green = _kernels_km.km_segments(seg_ptr, pts["n_risk"], pts["n_event"])
    se = np.sqrt(green)
    lower, upper = survival_limits(surv, se, conf_type, z)
    m = surv.shape[0]
    med = _kernels_km.findq_segs(seg_ptr, pts["time"], 1.0 - surv, 0.5, QUANTILE_TOL)
    med_lo = _kernels_km.findq_segs(seg_ptr, pts["time"], 1.0 - lower, 0.5, QUANTILE_TOL)
    med_hi = _kernels_km.findq_segs(seg_ptr, pts["time"], 1.0 - upper, 0.5, QUANTILE_TOL)
    n = np.bincount(codes, minlength=nrep).astype(np.float64)
    n_event = np.bincount(codes, weights=e, minlength=nrep)
    q = np.zeros(0) if times is None else _as_times(times)
    le, lt = _kernels_km.locate(seg_ptr, pts["time"], q)
    base = seg_ptr[:-1, None]
    nseg_pts = np.diff(seg_ptr)[:, None]
    idx = base + np.maximum(le, 1) - 1
    before = le == 0
    beyond = lt >= nseg_pts  # no point >= t: past the last time (R extend=FALSE)
    idx = np.minimum(idx, m - 1)

    def pick(v: np.ndarray, at_origin: float) -> np.ndarray:
        out = np.where(before, at_origin, v[idx])
        return np.where(beyond & ~before, np.nan, out)

    surv_at = pick(surv, 1.0)
    lower_at = pick(lower, 1.0)
    upper_at = pick(upper, 1.0)
    n_risk_at = np.where(beyond, 0.0, pts["n_risk"][np.minimum(base + lt, m - 1)])
    return KaplanMeierBatch(
        replicate=reps,
        n=n,
        n_event=n_event,
        median=med,
        median_lower=med_lo,
        median_upper=med_hi,
        times=q,
        surv_at=surv_at,
        lower_at=lower_at,
        upper_at=upper_at,
        n_risk_at=n_risk_at,
        conf_type=conf_type,
        conf_level=conf_level,
    )
