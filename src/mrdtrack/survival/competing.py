"""Competing risks: Aalen-Johansen cumulative incidence, Gray's test, Fine-Gray regression.

Status coding throughout: 0 = censored, 1..k = the competing causes (cmprsk's ``cencode = 0``;
R ``Surv(time, factor(status))`` with the first level meaning censored).

References
----------
1. Aalen OO, Johansen S (1978). An empirical transition matrix for non-homogeneous Markov
   chains based on censored observations. Scand J Stat 5:141-150.
2. Gray RJ (1988). A class of K-sample tests for comparing the cumulative incidence of a
   competing risk. Ann Stat 16:1141-1154.
3. Fine JP, Gray RJ (1999). A proportional hazards model for the subdistribution of a
   competing risk. JASA 94:496-509.
4. Therneau T, Crowson C, Atkinson E (2024). Multi-state models and competing risks
   (vignette of the R package survival).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from scipy import stats

from mrdtrack._frames import to_polars
from mrdtrack.errors import EstimationError
from mrdtrack.survival._checks import (
    bad_rows,
    check_conf_type,
    check_time,
    column,
    numeric,
    probability_limits,
    require_columns,
    z_value,
)
from mrdtrack.survival._control import CoxTest, chisq_test
from mrdtrack.survival._design import design_matrix

__all__ = [
    "CumulativeIncidence",
    "FineGrayFit",
    "GrayTest",
    "cumulative_incidence",
    "fine_gray",
    "gray_test",
]

_VARIANCES = ("ij", "gray")


# --------------------------------------------------------------------------------------------
# input checks shared by the three entry points
# --------------------------------------------------------------------------------------------


def _time_status(
    df: pl.DataFrame, time: str, status: str, causes: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Validated times (finite, >= 0) and integer status codes; the declared causes."""
    require_columns(df, {"time": time, "status": status})
    t = check_time(df, time)
    s_raw = numeric(df, status, "status")
    s = np.rint(s_raw)
    bad = int(np.sum((s != s_raw) | (s < 0)))
    if bad:
        raise bad_rows(
            status,
            bad,
            "a status that is not 0 (censored) or a positive integer cause code",
            "status",
        )
    s = s.astype(np.int64)
    if causes is None:
        declared = tuple(int(c) for c in np.unique(s[s > 0]))
    else:
        declared = tuple(sorted(int(c) for c in causes))
        if any(c <= 0 for c in declared):
            raise ValueError("causes must be positive integers (0 is reserved for censored)")
        outside = int(np.sum((s > 0) & ~np.isin(s, declared)))
        if outside:
            raise bad_rows(
                status,
                outside,
                f"a cause code outside the declared causes {list(declared)}",
                "status",
                "declare every cause or recode the rows (0 = censored)",
            )
    if len(t) == 0:
        raise EstimationError("no rows: a competing-risks analysis needs data")
    return t, s, declared


def _check_cause(
    s: np.ndarray, status: str, cause: int, declared: tuple[int, ...], causes: Any
) -> None:
    """The requested cause must be declared (when causes are given) and have events."""
    if causes is not None and cause not in declared:
        raise ValueError(f"cause {cause} is not among the declared causes {list(declared)}")
    if not np.any(s == cause):
        raise EstimationError(
            f"column {status!r} has no events of cause {cause} (causes observed: "
            f"{list(declared) if causes is None else sorted(set(s[s > 0].tolist()))})"
        )


def _labels(df: pl.DataFrame, col: str, role: str) -> tuple[np.ndarray, list[Any]]:
    """Integer codes 0..g-1 for the distinct (sorted) values of a grouping column."""
    series = column(df, col, role)
    values = series.to_list()
    levels = sorted(set(values), key=lambda v: (str(type(v)), v))
    index = {v: i for i, v in enumerate(levels)}
    return np.array([index[v] for v in values], dtype=np.int64), levels


# --------------------------------------------------------------------------------------------
# Aalen-Johansen cumulative incidence
# --------------------------------------------------------------------------------------------


def _group_counts(
    t: np.ndarray, s: np.ndarray, causes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times, at-risk counts, events per cause (m, K) and censorings at each time."""
    ut, inv = np.unique(t, return_inverse=True)
    m = len(ut)
    n_event = np.zeros((m, len(causes)))
    for c, code in enumerate(causes):
        n_event[:, c] = np.bincount(inv, weights=(s == code).astype(float), minlength=m)
    n_censor = np.bincount(inv, weights=(s == 0).astype(float), minlength=m)
    n_at = np.bincount(inv, minlength=m).astype(float)
    n_risk = np.cumsum(n_at[::-1])[::-1]
    return ut, n_risk, n_event, n_censor


def _gray_cif_variance(
    n_risk: np.ndarray, n_event: np.ndarray, km_left: np.ndarray, cif: np.ndarray
) -> np.ndarray:
    """Gray's variance of one cause's CIF at each distinct time (cmprsk ``cuminc``'s ``var``).

    ``n_event`` (m, 2): events of the cause, events of all other causes. The variance is
    updated at every event time and reported at the cause's own event times, carried forward
    in between (cuminc's step function), 0 before the first event of the cause.
    """
    d1, d2 = n_event[:, 0], n_event[:, 1]
    rs = n_risk
    km_right = km_left * (rs - d1 - d2) / rs
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_right = np.where(km_right > 0, 1.0 / km_right, 0.0)

        def tie(d: np.ndarray) -> np.ndarray:
            return np.where(d > 1, 1.0 - (d - 1.0) / (rs - 1.0), 1.0)

        # other causes: only when the all-cause KM stays positive
        use2 = (d2 > 0) & (km_right > 0)
        t6 = np.where(use2, km_left**2 * tie(d2) * d2 / rs**2, 0.0)
        t3, t4 = inv_right, cif * inv_right
        v1 = t4 * t4 * t6
        v2 = t3 * t4 * t6
        v3 = t3 * t3 * t6
        use1 = d1 > 0
        t6 = np.where(use1, km_left**2 * tie(d1) * d1 / rs**2, 0.0)
        t4 = 1.0 + inv_right * cif
        v1 = v1 + t4 * t4 * t6
        v2 = v2 + inv_right * t4 * t6
        v3 = v3 + inv_right * inv_right * t6
    v1, v2, v3 = np.cumsum(v1), np.cumsum(v2), np.cumsum(v3)
    at_event = v1 + cif**2 * v3 - 2.0 * cif * v2
    idx = np.where(use1, np.arange(len(rs)), -1)
    idx = np.maximum.accumulate(idx)
    return np.where(idx >= 0, at_event[np.maximum(idx, 0)], 0.0)


@dataclass(frozen=True)
class GrayTest:
    """Gray's K-sample test that one cause's cumulative incidence is equal across groups."""

    cause: int
    statistic: float
    df: int
    p_value: float
    groups: tuple[Any, ...]
    scores: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    rho: float = 0.0
    strata: str | None = None

    def table(self) -> pl.DataFrame:
        """One row: cause, statistic, df, p_value, rho, stratified."""
        return pl.DataFrame(
            {
                "cause": [self.cause],
                "statistic": [self.statistic],
                "df": [self.df],
                "p_value": [self.p_value],
                "rho": [self.rho],
                "strata": [self.strata],
            }
        )

    def summary(self) -> str:
        strat = f", stratified by {self.strata}" if self.strata else ""
        return (
            f"Gray's test, cause {self.cause} (rho = {self.rho:g}{strat}): "
            f"chi-square = {self.statistic:.4f} on {self.df} df, p = {self.p_value:.4g} "
            f"[groups: {', '.join(str(g) for g in self.groups)}; as cmprsk::cuminc]"
        )


@dataclass(frozen=True)
class CumulativeIncidence:
    """Aalen-Johansen cumulative incidence curves, one per group and cause.

    ``curves`` is a tidy frame: group, cause, time, n_risk, n_event, n_censor, estimate,
    std_err, lower, upper (one row per distinct time of the group, event or censoring, as R
    ``survfit``). ``tests`` holds Gray's test for each cause when there are >= 2 groups.
    """

    curves: pl.DataFrame
    causes: tuple[int, ...]
    groups: tuple[Any, ...]
    by: str | None
    conf_level: float
    conf_type: str
    variance: str
    tests: tuple[GrayTest, ...] = ()

    def table(self) -> pl.DataFrame:
        """The curves as a tidy polars DataFrame."""
        return self.curves

    def at(self, times: Sequence[float]) -> pl.DataFrame:
        """The step functions evaluated at ``times`` (value at the last time <= t)."""
        rows = []
        grid = np.asarray(times, dtype=float)
        for (g, c), part in self.curves.group_by(["group", "cause"], maintain_order=True):
            tt = part.get_column("time").to_numpy()
            idx = np.searchsorted(tt, grid, side="right") - 1
            for t_req, i in zip(grid, idx, strict=True):
                if i < 0:
                    rows.append((g, c, t_req, 0.0, 0.0, np.nan, np.nan))
                else:
                    r = part.row(int(i), named=True)
                    rows.append((g, c, t_req, r["estimate"], r["std_err"], r["lower"], r["upper"]))
        return pl.DataFrame(
            rows,
            schema=["group", "cause", "time", "estimate", "std_err", "lower", "upper"],
            orient="row",
        )

    def summary(self) -> str:
        var = "infinitesimal jackknife (R survfit)" if self.variance == "ij" else "Gray (cmprsk)"
        lines = [
            "Cumulative incidence (Aalen-Johansen; 0 = censored, causes "
            f"{', '.join(map(str, self.causes))})",
            f"variance: {var}; {self.conf_level:.0%} CI, transform {self.conf_type!r}",
        ]
        last = self.curves.group_by(["group", "cause"], maintain_order=True).last()
        for r in last.iter_rows(named=True):
            lines.append(
                f"  group {r['group']}, cause {r['cause']}: CIF({r['time']:g}) = "
                f"{r['estimate']:.4f} ({r['lower']:.4f}, {r['upper']:.4f})"
            )
        lines += ["  " + t.summary() for t in self.tests]
        return "\n".join(lines)


def _cif_curves(
    t: np.ndarray,
    s: np.ndarray,
    declared: tuple[int, ...],
    label: str,
    variance: str,
    z: float,
    conf_type: str,
) -> pl.DataFrame:
    """Aalen-Johansen curves of every declared cause in one group, with SE and CI."""
    # numba kernel module (imports numba): loaded on first use, as the package docstring says
    from mrdtrack.survival._kernels_cr import aj_ij_variance

    ut, n_risk, n_event, n_censor = _group_counts(t, s, declared)
    p, var = aj_ij_variance(n_risk, n_event, n_censor, len(declared))
    km_left = np.concatenate(([1.0], p[:-1, 0]))
    frames = []
    for c, code in enumerate(declared):
        est = p[:, c + 1]
        if variance == "ij":
            # a CIF of 0 or 1 (to rounding) does not move with any case weight: its variance
            # is 0 (the pooled sums leave rounding noise of order 1e-17 there)
            v = np.where((est == 0.0) | (np.abs(est - 1.0) < 1e-12), 0.0, var[:, c + 1])
        else:
            other = n_event.sum(axis=1) - n_event[:, c]
            v = _gray_cif_variance(n_risk, np.column_stack([n_event[:, c], other]), km_left, est)
        se = np.sqrt(np.maximum(v, 0.0))
        lo, hi = probability_limits(est, se, z, conf_type)
        frames.append(
            pl.DataFrame(
                {
                    "group": pl.Series([label] * len(ut), dtype=pl.Utf8),
                    "cause": np.full(len(ut), code, dtype=np.int64),
                    "time": ut,
                    "n_risk": n_risk.astype(np.int64),
                    "n_event": n_event[:, c].astype(np.int64),
                    "n_censor": n_censor.astype(np.int64),
                    "estimate": est,
                    "std_err": se,
                    "lower": lo,
                    "upper": hi,
                }
            )
        )
    return pl.concat(frames)


def cumulative_incidence(
    data: Any,
    time: str,
    status: str,
    by: str | None = None,
    conf_level: float = 0.95,
    conf_type: str = "log",
    variance: str = "ij",
    causes: Sequence[int] | None = None,
) -> CumulativeIncidence:
    """Aalen-Johansen cumulative incidence of each cause, with pointwise CIs.

    The cumulative incidence of cause k is F_k(t) = sum_{s <= t} S(s-) d_k(s) / n(s), with S
    the all-cause Kaplan-Meier (Aalen & Johansen 1978). Events of every cause at a time
    precede censorings at that time; subjects censored at t are at risk at t.

    Parameters
    ----------
    data : polars or pandas DataFrame
    time, status : str
        Follow-up time (>= 0) and status: 0 censored, 1..k cause codes.
    by : str, optional
        Grouping column: one set of curves per distinct value (R ``~ by``).
    conf_level : float
        Confidence level of the pointwise intervals.
    conf_type : {"log", "log-log", "plain"}
        CI transform of the probability, as R ``survfit(conf.type=)``; "log" is R's default.
    variance : {"ij", "gray"}
        "ij": the infinitesimal-jackknife variance R ``survfit(Surv(t, factor(status)) ~ by)``
        reports for multi-state curves (the sum over subjects of the squared derivative of
        F_k(t) with respect to the subject's case weight). "gray": the variance of
        ``cmprsk::cuminc`` (Gray's delta-method formula, with its correction for ties).
    causes : sequence of int, optional
        The declared cause codes; a status outside {0} and these is an error.

    Returns
    -------
    CumulativeIncidence
        Tidy curves at every distinct time of each group, and Gray's test per cause when
        ``by`` has two or more groups.

    Notes
    -----
    R equivalent: ``survfit(Surv(time, factor(status, 0:k)) ~ by)`` (``pstate``, ``std.err``,
    ``lower``, ``upper``); with ``variance="gray"``, ``cmprsk::cuminc(time, status, by)``'s
    ``est`` and ``var``. SAS: PROC LIFETEST with EVENTCODE= (Gray's variance by default).
    """
    df = to_polars(data)
    require_columns(df, {"time": time, "status": status, "by": by})
    if variance not in _VARIANCES:
        raise ValueError(f"variance must be one of {_VARIANCES}, got {variance!r}")
    check_conf_type(conf_type)
    z = z_value(conf_level)
    t, s, declared = _time_status(df, time, status, causes)
    if not declared:
        raise EstimationError(f"column {status!r} has no events of any cause (all censored)")
    if by is None:
        gcode, levels = np.zeros(len(t), dtype=np.int64), ["all"]
    else:
        gcode, levels = _labels(df, by, "by")
    frames = [
        _cif_curves(t[gcode == gi], s[gcode == gi], declared, str(lev), variance, z, conf_type)
        for gi, lev in enumerate(levels)
    ]
    curves = pl.concat(frames)
    tests: tuple[GrayTest, ...] = ()
    if by is not None and len(levels) >= 2:
        tests = tuple(
            _gray(t, s, gcode, levels, code, None, None, 0.0)
            for code in declared
            if np.any(s == code)
        )
    return CumulativeIncidence(
        curves=curves,
        causes=declared,
        groups=tuple(levels),
        by=by,
        conf_level=conf_level,
        conf_type=conf_type,
        variance=variance,
        tests=tests,
    )


# --------------------------------------------------------------------------------------------
# Gray's test
# --------------------------------------------------------------------------------------------


def _gray(
    t: np.ndarray,
    s: np.ndarray,
    gcode: np.ndarray,
    levels: list[Any],
    cause: int,
    scode: np.ndarray | None,
    strata: str | None,
    rho: float,
) -> GrayTest:
    # numba kernel module (imports numba): loaded on first use
    from mrdtrack.survival._kernels_cr import gray_stratum

    ng = len(levels)
    if ng < 2:
        raise EstimationError("Gray's test needs at least two groups")
    cind = np.where(s == cause, 1, np.where(s > 0, 2, 0)).astype(np.int64)
    if scode is None:
        scode = np.zeros(len(t), dtype=np.int64)
    score = np.zeros(ng - 1)
    cov = np.zeros((ng - 1, ng - 1))
    for st in np.unique(scode):
        sel = scode == st
        order = np.argsort(t[sel], kind="stable")
        sc, cv = gray_stratum(t[sel][order], cind[sel][order], gcode[sel][order], ng, float(rho))
        score += sc
        cov += cv
    if np.linalg.matrix_rank(cov) < ng - 1:
        # cmprsk reports -1 for a singular covariance; we refuse to give a number
        raise EstimationError(
            f"Gray's test for cause {cause}: the score covariance is singular "
            "(a group with no one at risk at the cause's event times?)"
        )
    stat = float(score @ np.linalg.solve(cov, score))
    df = ng - 1
    return GrayTest(
        cause=int(cause),
        statistic=stat,
        df=df,
        p_value=float(stats.chi2.sf(stat, df)),
        groups=tuple(levels),
        scores=score,
        covariance=cov,
        rho=float(rho),
        strata=strata,
    )


def gray_test(
    data: Any,
    time: str,
    status: str,
    group: str,
    cause: int,
    strata: str | None = None,
    rho: float = 0.0,
    causes: Sequence[int] | None = None,
) -> GrayTest:
    """Gray's test that the cumulative incidence of ``cause`` is equal across groups.

    Gray (1988): a weighted comparison of each group's subdistribution hazard with the pooled
    one, weight (1 - F(t-))^rho (rho = 0 default); chi-square on (groups - 1) df. With
    ``strata`` the scores and covariances are summed over strata.

    Parameters
    ----------
    data : polars or pandas DataFrame
    time, status : str
        Follow-up time and status (0 censored, 1..k causes).
    group : str
        Column defining the groups compared.
    cause : int
        The cause whose cumulative incidence is compared.
    strata : str, optional
        Stratification column.
    rho : float
        Power of the weight function.
    causes : sequence of int, optional
        Declared cause codes; a status outside {0} and these is an error.

    Returns
    -------
    GrayTest
        statistic, df, p_value, and the scores and covariance of the first groups - 1 groups.

    Notes
    -----
    R equivalent: ``cmprsk::cuminc(time, status, group, strata, rho)$Tests`` (row ``cause``).
    Groups are ordered as sorted distinct values (as R's factor levels); the statistic does
    not depend on which group is left out.
    """
    df = to_polars(data)
    require_columns(df, {"time": time, "status": status, "group": group, "strata": strata})
    t, s, declared = _time_status(df, time, status, causes)
    _check_cause(s, status, cause, declared, causes)
    gcode, levels = _labels(df, group, "group")
    scode = None if strata is None else _labels(df, strata, "strata")[0]
    return _gray(t, s, gcode, levels, cause, scode, strata, rho)


# --------------------------------------------------------------------------------------------
# Fine-Gray subdistribution hazards
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FineGrayFit:
    """Fine-Gray proportional subdistribution hazards fit (as ``cmprsk::crr``).

    The surface of ``CoxFit``: ``coef``, ``se``, ``hazard_ratio``, ``z`` and ``p_value`` are
    mappings term -> float (``coef_array`` the coefficient vector in term order), ``lr_test``
    a :class:`~mrdtrack.survival.cox.CoxTest`. ``variance`` is the robust sandwich variance of
    Fine & Gray (1999), which accounts for the estimated censoring weights; ``information`` is
    the observed information of the weighted partial likelihood (crr's ``inf``).
    """

    names: tuple[str, ...]
    coef_array: np.ndarray
    variance: np.ndarray = field(repr=False)
    information: np.ndarray = field(repr=False)
    loglik: float
    loglik_null: float
    n: int
    n_events: int
    n_competing: int
    cause: int
    conf_level: float
    converged: bool
    iterations: int

    def _named(self, values: np.ndarray) -> dict[str, float]:
        return {t: float(v) for t, v in zip(self.names, values, strict=True)}

    @property
    def _se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.variance))

    @property
    def coef(self) -> dict[str, float]:
        return self._named(self.coef_array)

    @property
    def se(self) -> dict[str, float]:
        """Robust (sandwich) standard errors, as crr."""
        return self._named(self._se)

    @property
    def hazard_ratio(self) -> dict[str, float]:
        return self._named(np.exp(self.coef_array))

    @property
    def z(self) -> dict[str, float]:
        return self._named(self.coef_array / self._se)

    @property
    def p_value(self) -> dict[str, float]:
        return self._named(2.0 * stats.norm.sf(np.abs(self.coef_array / self._se)))

    @property
    def lr_test(self) -> CoxTest:
        """Pseudo likelihood-ratio test 2 (l(b) - l(0)) on p df (crr's ``logtest``)."""
        return chisq_test(2.0 * (self.loglik - self.loglik_null), len(self.names))

    def conf_int(self, conf_level: float | None = None) -> pl.DataFrame:
        """Wald CIs of the subdistribution hazard ratios (crr's ``summary`` conf.int); the
        fit's ``conf_level`` unless given."""
        z = z_value(self.conf_level if conf_level is None else conf_level)
        se = self._se
        return pl.DataFrame(
            {
                "term": list(self.names),
                "hazard_ratio": np.exp(self.coef_array),
                "lower": np.exp(self.coef_array - z * se),
                "upper": np.exp(self.coef_array + z * se),
            }
        )

    def table(self, conf_level: float | None = None) -> pl.DataFrame:
        """term, coef, se, z, p_value, hazard_ratio, lower, upper."""
        ci = self.conf_int(conf_level)
        se = self._se
        z = self.coef_array / se
        return pl.DataFrame(
            {
                "term": list(self.names),
                "coef": self.coef_array,
                "se": se,
                "z": z,
                "p_value": 2.0 * stats.norm.sf(np.abs(z)),
                "hazard_ratio": np.exp(self.coef_array),
                "lower": ci.get_column("lower"),
                "upper": ci.get_column("upper"),
            }
        )

    def summary(self, conf_level: float | None = None) -> str:
        lr = self.lr_test
        lines = [
            f"Fine-Gray subdistribution hazards for cause {self.cause} (as cmprsk::crr; "
            "censoring weights: Kaplan-Meier of censoring at t-, Breslow ties; robust variance)",
            f"n = {self.n}, events of cause {self.cause} = {self.n_events}, "
            f"competing events = {self.n_competing}",
            f"{'term':<16}{'coef':>10}{'sHR':>10}{'se':>10}{'z':>9}{'p':>11}"
            f"{'lower':>10}{'upper':>10}",
        ]
        for r in self.table(conf_level).iter_rows(named=True):
            lines.append(
                f"{r['term']:<16}{r['coef']:>10.4f}{r['hazard_ratio']:>10.4f}{r['se']:>10.4f}"
                f"{r['z']:>9.3f}{r['p_value']:>11.3g}{r['lower']:>10.4f}{r['upper']:>10.4f}"
            )
        lines.append(
            f"pseudo log-likelihood = {self.loglik:.4f} (null {self.loglik_null:.4f}); "
            f"LR = {lr.statistic:.3f} on {lr.df} df, p = {lr.p_value:.3g}"
        )
        if not self.converged:
            lines.append("WARNING: not converged")
        return "\n".join(lines)


@dataclass(frozen=True)
class _FGData:
    time: np.ndarray  # sorted ascending
    x: np.ndarray  # (n, p)
    is1: np.ndarray  # failure of the cause of interest
    is2: np.ndarray  # failure of a competing cause
    is0: np.ndarray  # censored
    g_left: np.ndarray  # censoring KM at t_i-, per subject
    ut: np.ndarray  # distinct failure times of the cause
    d: np.ndarray  # number of failures of the cause at each
    g_ut: np.ndarray  # censoring KM at ut-
    first_at: np.ndarray  # index of the first subject with time >= ut
    n2_before: np.ndarray  # number of competing failures with time < ut


def _censoring_km_left(t: np.ndarray, cens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct times and KM of the censoring distribution just before each (G(t-)).

    Censorings are the 'events'; failures at the same time stay at risk for them (R
    ``survfit(Surv(t, status == 0) ~ 1)``), and crr evaluates G just before t.
    """
    ut, inv = np.unique(t, return_inverse=True)
    m = len(ut)
    c = np.bincount(inv, weights=cens.astype(float), minlength=m)
    n_at = np.bincount(inv, minlength=m).astype(float)
    n_risk = np.cumsum(n_at[::-1])[::-1]
    g = np.cumprod(1.0 - c / n_risk)
    return ut, np.concatenate(([1.0], g[:-1]))


def _prepare_fg(t: np.ndarray, s: np.ndarray, x: np.ndarray, cause: int) -> _FGData:
    order = np.argsort(t, kind="stable")
    t, s, x = t[order], s[order], x[order]
    is1 = s == cause
    is0 = s == 0
    is2 = ~is1 & ~is0
    gt, gl = _censoring_km_left(t, is0)
    g_left = gl[np.searchsorted(gt, t)]
    ut, d = np.unique(t[is1], return_counts=True)
    g_ut = gl[np.searchsorted(gt, ut)]
    first_at = np.searchsorted(t, ut, side="left")
    n2_before = np.searchsorted(t[is2], ut, side="left")
    return _FGData(t, x, is1, is2, is0, g_left, ut, d.astype(float), g_ut, first_at, n2_before)


def _fg_sums(fd: _FGData, beta: np.ndarray, second: bool = True):
    """S0, S1 (D, p) and S2 (D, p, p) over the Fine-Gray weighted risk sets.

    Subject j is in the risk set at a failure time u with weight 1 if t_j >= u, and with
    weight G(u-)/G(t_j-) if it failed from a competing cause before u (Fine & Gray 1999, eq. 2).
    """
    x = fd.x
    eta = x @ beta
    shift = float(np.max(eta)) if len(eta) else 0.0
    e = np.exp(eta - shift)

    def tail(v: np.ndarray) -> np.ndarray:
        # sum over subjects with time >= u: reversed cumulative sums with a trailing zero
        rc = np.concatenate((np.cumsum(v[::-1], axis=0)[::-1], np.zeros((1, *v.shape[1:]))))
        return rc[fd.first_at]

    def competing(v: np.ndarray) -> np.ndarray:
        w = v[fd.is2] / fd.g_left[fd.is2].reshape((-1,) + (1,) * (v.ndim - 1))
        cs = np.concatenate((np.zeros((1, *v.shape[1:])), np.cumsum(w, axis=0)))
        return cs[fd.n2_before] * fd.g_ut.reshape((-1,) + (1,) * (v.ndim - 1))

    s0 = tail(e) + competing(e)
    ex = e[:, None] * x
    s1 = tail(ex) + competing(ex)
    s2 = None
    if second:
        exx = ex[:, :, None] * x[:, None, :]
        s2 = tail(exx) + competing(exx)
    return s0, s1, s2, shift, e


def _fg_loglik(fd: _FGData, beta: np.ndarray):
    s0, s1, s2, shift, _ = _fg_sums(fd, beta)
    x1 = fd.x[fd.is1]
    ll = float(np.sum(x1 @ beta) - np.sum(fd.d * (np.log(s0) + shift)))
    xbar = s1 / s0[:, None]
    score = x1.sum(axis=0) - (fd.d[:, None] * xbar).sum(axis=0)
    info = np.einsum("d,dij->ij", fd.d, s2 / s0[:, None, None] - xbar[:, :, None] * xbar[:, None])
    return ll, score, info


def _fg_robust_variance(fd: _FGData, beta: np.ndarray, info: np.ndarray) -> np.ndarray:
    """Fine & Gray (1999, section 3) sandwich variance, with crr's discretisation.

    eta_i: the weighted score residual; psi_i: the correction for estimating G, an integral of
    q(u)/pi(u) against the censoring martingale of subject i (pi = number at risk).
    """
    s0, s1, _, _, e = _fg_sums(fd, beta, second=False)
    x, t = fd.x, fd.time
    n, p = x.shape
    xbar = s1 / s0[:, None]
    dl = fd.d / s0  # increments of the baseline subdistribution hazard (per unit of e)
    # eta: dN part for failures of the cause, minus the compensator over the weighted risk set
    k_at = np.searchsorted(fd.ut, t, side="right")  # failure times u <= t_i: indices < k_at
    cum0 = np.concatenate(([0.0], np.cumsum(dl)))
    cum1 = np.concatenate((np.zeros((1, p)), np.cumsum(dl[:, None] * xbar, axis=0)))
    eta = -e[:, None] * (x * cum0[k_at][:, None] - cum1[k_at])
    gw0 = fd.g_ut * dl
    gw1 = gw0[:, None] * xbar
    r0 = np.concatenate((np.cumsum(gw0[::-1])[::-1], [0.0]))
    r1 = np.concatenate((np.cumsum(gw1[::-1], axis=0)[::-1], np.zeros((1, p))))
    after = r0[k_at][:, None] * x - r1[k_at]  # failure times u > t_i
    w2 = np.where(fd.is2, e / fd.g_left, 0.0)
    eta -= w2[:, None] * after
    i1 = np.flatnonzero(fd.is1)
    eta[i1] += x[i1] - xbar[np.searchsorted(fd.ut, t[i1])]
    # psi: q(t) at each censoring time t, q(t) = sum_{u >= t} dl G(u-) [C1(t) - xbar(u) C0(t)],
    # C the sums over competing failures before t of e x / G(t_j-)
    ct = np.unique(t[fd.is0])
    psi = np.zeros((n, p))
    if len(ct):
        t2 = t[fd.is2]
        before = np.searchsorted(t2, ct, side="left")
        w = (e / fd.g_left)[fd.is2]
        c0 = np.concatenate(([0.0], np.cumsum(w)))[before]
        c1 = np.concatenate((np.zeros((1, p)), np.cumsum(w[:, None] * x[fd.is2], axis=0)))[before]
        k_ge = np.searchsorted(fd.ut, ct, side="left")  # u >= t
        q = c1 * r0[k_ge][:, None] - c0[:, None] * r1[k_ge]
        n_risk = (n - np.searchsorted(t, ct, side="left")).astype(float)
        n_cens = np.bincount(np.searchsorted(ct, t[fd.is0]), minlength=len(ct)).astype(float)
        cum_comp = np.cumsum(n_cens[:, None] * q / n_risk[:, None] ** 2, axis=0)
        k_ct = np.searchsorted(ct, t, side="right")  # censoring times <= t_i
        psi = -np.concatenate((np.zeros((1, p)), cum_comp))[k_ct]
        i0 = np.flatnonzero(fd.is0)
        j0 = np.searchsorted(ct, t[i0])
        psi[i0] += q[j0] / n_risk[j0][:, None]
    u = eta + psi
    meat = u.T @ u
    inv = np.linalg.inv(info)
    return inv @ meat @ inv


class _FGNewton(NamedTuple):
    beta: np.ndarray
    loglik: float
    loglik_null: float
    score: np.ndarray
    info: np.ndarray
    converged: bool
    iterations: int


def _fg_newton(fd: _FGData, max_iter: int, tol: float) -> _FGNewton:
    """Newton-Raphson with step halving from beta = 0, as crr.

    Converged when max |score| * max(|beta|, 1) < tol * max(|l|, 1); a step is accepted by
    crr's Armijo-type rule on the log pseudo-likelihood.
    """
    beta = np.zeros(fd.x.shape[1])
    ll0, score, info = _fg_loglik(fd, beta)
    ll = ll0
    converged = False
    it = 0
    for it in range(max_iter + 1):
        if np.max(np.abs(score) * np.maximum(np.abs(beta), 1.0)) < max(abs(ll), 1.0) * tol:
            converged = True
            break
        if it == max_iter:
            break
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError as exc:
            raise EstimationError(
                "Fine-Gray information matrix is singular: collinear or constant covariates"
            ) from exc
        for _ in range(30):
            new = beta + step
            ll_new, sc_new, inf_new = _fg_loglik(fd, new)
            # crr's Armijo-type acceptance on the (negative) log-likelihood
            if np.isfinite(ll_new) and ll_new >= ll + 1e-4 * float(step @ score):
                break
            step = step / 2.0
        else:
            # no step increases the likelihood: at its maximum to rounding if the Newton step
            # was already negligible, otherwise a genuine failure (reported, not hidden)
            converged = bool(np.max(np.abs(step)) * 2.0**30 < 1e-8 * max(1.0, np.max(np.abs(beta))))
            break
        beta, ll, score, info = new, ll_new, sc_new, inf_new
    return _FGNewton(beta, ll, ll0, score, info, converged, it)


def fine_gray(
    data: Any,
    time: str,
    status: str,
    cause: int,
    covariates: str | Sequence[str],
    conf_level: float = 0.95,
    max_iter: int = 50,
    tol: float = 1e-10,
    causes: Sequence[int] | None = None,
    reference: Mapping[str, Any] | None = None,
) -> FineGrayFit:
    """Fine-Gray proportional subdistribution hazards regression for one cause.

    Fine & Gray (1999): a Cox-type model for the subdistribution hazard of ``cause``; subjects
    who failed from a competing cause stay in the risk set with weight G(u-)/G(t_j-), G the
    Kaplan-Meier estimate of the censoring distribution (censorings are the events; failures
    at the same time stay at risk), evaluated just before each time as crr does. Tied failures
    share one risk set (Breslow). Newton-Raphson with step halving from beta = 0.

    Parameters
    ----------
    data : polars or pandas DataFrame
    time, status : str
        Follow-up time and status (0 censored, 1..k causes).
    cause : int
        The cause modelled (crr's ``failcode``).
    covariates : str or sequence of str
        Numeric, boolean or categorical columns, expanded exactly as :func:`cox_ph` expands
        them (one shared builder, ``survival/_design.py``): a text/Categorical column becomes
        treatment-coded dummies named ``f"{column}{level}"`` with the first sorted level as
        reference, a boolean column one term ``f"{column}TRUE"``. R's ``crr`` takes a numeric
        matrix only: the R equivalent of a factor here is
        ``cov1 = model.matrix(~ factor, data)[, -1]``.
    conf_level : float
        Level of the Wald CIs of the subdistribution hazard ratios.
    max_iter, tol : int, float
        Newton iterations; convergence when max |score| * max(|beta|, 1) < tol * max(|l|, 1)
        (crr's criterion with a tighter default than its gtol = 1e-6).
    causes : sequence of int, optional
        Declared cause codes; a status outside {0} and these is an error.
    reference : dict, optional
        Reference level per categorical covariate (as :func:`cox_ph`).

    Returns
    -------
    FineGrayFit
        coef, se (robust sandwich), hazard_ratio, z, p_value (mappings term -> float),
        conf_int(), table(), lr_test (a CoxTest), loglik, loglik_null.

    Notes
    -----
    R equivalent: ``cmprsk::crr(time, status, cov1 = X, failcode = cause, cencode = 0)``. One
    censoring group (crr's ``cengroup`` is not offered) and no time-varying ``cov2``.
    SAS: PROC PHREG with EVENTCODE= (Breslow ties).
    """
    z_value(conf_level)  # a bad level fails before the fit
    df = to_polars(data)
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    require_columns(
        df, [("time", time), ("status", status), *[("covariate", c) for c in covariates]]
    )
    t, s, declared = _time_status(df, time, status, causes)
    _check_cause(s, status, cause, declared, causes)
    n_ev = int(np.sum(s == cause))
    if not covariates:
        raise ValueError("fine_gray needs at least one covariate")
    design = design_matrix(df, covariates, reference)
    x = np.column_stack(design.columns)
    fd = _prepare_fg(t, s, x, cause)
    nr = _fg_newton(fd, max_iter, tol)
    if not nr.converged:
        warnings.warn(
            f"Fine-Gray fit did not converge in {nr.iterations} iterations "
            f"(max |score| = {np.max(np.abs(nr.score)):.3g})",
            RuntimeWarning,
            stacklevel=2,
        )
    beta, info = nr.beta, nr.info
    var = _fg_robust_variance(fd, beta, info)
    return FineGrayFit(
        names=tuple(design.names),
        coef_array=beta,
        variance=var,
        information=info,
        loglik=nr.loglik,
        loglik_null=nr.loglik_null,
        n=len(t),
        n_events=n_ev,
        n_competing=int(np.sum((s > 0) & (s != cause))),
        cause=int(cause),
        conf_level=conf_level,
        converged=nr.converged,
        iterations=nr.iterations,
    )
