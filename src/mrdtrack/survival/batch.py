"""Many virtual two-arm trials analysed at once: KM medians, log-rank and Cox on the arm.

For simulation studies (operating characteristics of a trial design): every replicate gets
exactly the analyses :func:`~mrdtrack.survival.kaplan_meier`, :func:`~mrdtrack.survival.
logrank_test` and :func:`~mrdtrack.survival.cox_ph` would give it alone, in one compiled pass
per replicate (see ``_kernels_batch``), with no Python call per data set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.special import erfc

from mrdtrack.survival import _kernels_batch
from mrdtrack.survival._control import COX_MAX_ITER, COX_TOL, COX_TOLER_INF, SPAN_INF
from mrdtrack.survival._kernels_batch import TwoGroupTests, two_group_tests
from mrdtrack.survival.km import QUANTILE_TOL

# ``two_group_tests`` (numba) is public for compiled callers that analyse one two-group data
# set at a time (the simulator's landmark comparisons): the kernels analyse_trials runs
__all__ = ["TrialAnalyses", "TwoGroupTests", "analyse_trials", "two_group_tests"]


@dataclass(frozen=True)
class TrialAnalyses:
    """Per-replicate results of :func:`analyse_trials` (arrays of length ``n_replicates``).

    Attributes
    ----------
    replicate : ndarray
        Replicate identifiers, sorted.
    groups : (str, str)
        The two arm labels; ``groups[1]`` is the arm coded 1 in the Cox model.
    n, n_event : ndarray
        Rows and events per replicate; ``n_by_group``, ``n_event_by_group`` are (nrep, 2).
    median : ndarray
        Kaplan-Meier median survival of the pooled replicate (R ``quantile.survfit``; NaN if not
        reached); ``median_by_group`` is (nrep, 2), NaN for an arm without rows.
    times, surv_at, surv_at_by_group : ndarray
        Fixed times; S(t) pooled (nrep, ntimes) and per arm (nrep, 2, ntimes), R
        ``summary(fit, times=)`` semantics (NaN after the curve's last time).
    logrank_chisq, logrank_df, logrank_p : ndarray
        R ``survdiff`` statistic; df 0, chisq 0 and p NaN when an arm has expected 0.
    coef, se, hazard_ratio, lrt, lrt_p : ndarray
        Cox model on the indicator of ``groups[1]`` (model-based SE; likelihood-ratio test,
        1 df). NaN when the replicate has no events, only one arm, or no death time with both
        arms at risk (a flat likelihood: :func:`cox_ph` reports it singular). For a ``monotone``
        replicate, ``coef`` is +/-inf and ``se`` NaN, as :func:`cox_ph` reports it.
    loglik_null, loglik, iterations, converged, monotone : ndarray
    ties : str
    """

    replicate: np.ndarray
    groups: tuple[str, str]
    n: np.ndarray
    n_event: np.ndarray
    n_by_group: np.ndarray
    n_event_by_group: np.ndarray
    median: np.ndarray
    median_by_group: np.ndarray
    times: np.ndarray
    surv_at: np.ndarray
    surv_at_by_group: np.ndarray
    logrank_chisq: np.ndarray
    logrank_df: np.ndarray
    logrank_p: np.ndarray
    coef: np.ndarray
    se: np.ndarray
    hazard_ratio: np.ndarray
    lrt: np.ndarray
    lrt_p: np.ndarray
    loglik_null: np.ndarray
    loglik: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    monotone: np.ndarray
    ties: str

    def table(self) -> pl.DataFrame:
        """One row per replicate (NaN shown as null)."""
        g0, g1 = self.groups
        data: dict[str, Any] = {
            "replicate": self.replicate,
            "n": self.n,
            "n_event": self.n_event,
            f"n_event_{g0}": self.n_event_by_group[:, 0],
            f"n_event_{g1}": self.n_event_by_group[:, 1],
            "median": self.median,
            f"median_{g0}": self.median_by_group[:, 0],
            f"median_{g1}": self.median_by_group[:, 1],
        }
        for j, t in enumerate(self.times):
            data[f"surv_{t:g}"] = self.surv_at[:, j]
            data[f"surv_{t:g}_{g0}"] = self.surv_at_by_group[:, 0, j]
            data[f"surv_{t:g}_{g1}"] = self.surv_at_by_group[:, 1, j]
        data.update(
            {
                "logrank_chisq": self.logrank_chisq,
                "logrank_p": self.logrank_p,
                "coef": self.coef,
                "se": self.se,
                "hazard_ratio": self.hazard_ratio,
                "lrt": self.lrt,
                "lrt_p": self.lrt_p,
                "converged": self.converged,
                "monotone": self.monotone,
            }
        )
        df = pl.DataFrame(data)
        return df.with_columns(
            [pl.col(c).fill_nan(None) for c, d in df.schema.items() if d == pl.Float64]
        )

    def summary(self, alpha: float = 0.05) -> str:
        """Operating characteristics: rejection rates at ``alpha`` and the spread of estimates."""
        nrep = self.replicate.shape[0]
        lr_ok = ~np.isnan(self.logrank_p)
        cx_ok = ~np.isnan(self.lrt_p)
        fin = np.isfinite(self.coef)
        hr = np.exp(self.coef[fin])
        q = np.quantile(hr, [0.25, 0.5, 0.75]) if hr.size else [math.nan] * 3
        med = self.median[~np.isnan(self.median)]
        g0, g1 = self.groups
        lines = [
            f"{nrep} trials analysed (Cox ties: {self.ties}); arms {g0!r} (reference), {g1!r}",
            f"log-rank p < {alpha:g}: {np.mean(self.logrank_p[lr_ok] < alpha):.4f} "
            f"of {int(lr_ok.sum())} testable",
            f"Cox LRT p < {alpha:g}: {np.mean(self.lrt_p[cx_ok] < alpha):.4f} "
            f"of {int(cx_ok.sum())} fitted; monotone likelihood in {int(self.monotone.sum())}",
            f"hazard ratio: median {q[1]:.4g} (IQR {q[0]:.4g} to {q[2]:.4g})",
            f"pooled KM median reached in {med.size} of {nrep} trials",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _chisq1_sf(x: np.ndarray) -> np.ndarray:
    """Upper tail of the chi-square distribution on 1 df: erfc(sqrt(x / 2)) (NaN stays NaN)."""
    with np.errstate(invalid="ignore"):
        return erfc(np.sqrt(np.maximum(x, 0.0) * 0.5))


def _replicate_codes(rep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct replicate ids and the 0-based code of each row (O(n) for small ints)."""
    n = rep.shape[0]
    lo, hi = (int(rep.min()), int(rep.max())) if rep.dtype.kind in "iub" else (0, -1)
    if hi >= lo and hi - lo <= 4 * n:
        # ids that already start at 0 are the codes themselves (no copy)
        raw = rep.astype(np.int64, copy=False)
        if lo != 0:
            raw = raw - lo
        present = np.bincount(raw) > 0
        codes = raw if present.all() else (np.cumsum(present) - 1)[raw]
        return (np.flatnonzero(present) + lo).astype(rep.dtype), codes
    reps, codes = np.unique(rep, return_inverse=True)
    return reps, codes.astype(np.int64).reshape(-1)


def _arm_codes(grp: np.ndarray) -> tuple[tuple[str, str], np.ndarray]:
    if grp.dtype.kind in "iub" and grp.size:
        lo, hi = int(grp.min()), int(grp.max())
        if hi - lo <= 1:
            levels = np.array([lo, hi]) if hi > lo else np.array([lo])
            # 0/1 arms are their own codes (no copy)
            codes = grp.astype(np.int64, copy=False) if lo == 0 else grp.astype(np.int64) - lo
        else:
            levels, codes = np.unique(grp, return_inverse=True)
    else:
        levels, codes = np.unique(grp, return_inverse=True)
    if levels.shape[0] != 2:
        raise ValueError(
            f"group: needs exactly 2 arms over all replicates, found {levels.shape[0]}"
        )
    return (str(levels[0].item()), str(levels[1].item())), np.asarray(codes).reshape(-1)


def analyse_trials(
    time: Any,
    event: Any,
    group: Any,
    replicate: Any,
    *,
    times: Sequence[float] | float | None = None,
    ties: str = "efron",
    parallel: bool = True,
) -> TrialAnalyses:
    """Kaplan-Meier medians, log-rank test and Cox model of many two-arm trials at once.

    For each ``replicate`` (a virtual trial): the Kaplan-Meier median of the pooled data and of
    each arm (Kaplan & Meier 1958; R ``quantile.survfit`` rule: the midpoint of a flat piece at
    S = 0.5, NaN when not reached), S(t) at fixed ``times``; the log-rank test (Mantel 1966;
    R ``survdiff``, rho = 0); and the Cox model (Cox 1972) on the indicator of the second
    sorted arm, Efron (1977) or Breslow ties, Newton-Raphson from 0 with R's step-halving and
    convergence rule |1 - loglik_old / loglik_new| <= 1e-9, at most 20 iterations, R's
    monotone-likelihood rule (R ``coxph``). Right-censored data, risk set {time >= t}
    (tied censorings at risk). Results equal :func:`kaplan_meier`, :func:`logrank_test` and
    :func:`cox_ph` on each replicate alone (to round-off: risk-set sums are formed per arm).
    R equivalent: a loop of ``survfit``, ``survdiff`` and ``coxph`` over replicates.

    Parameters
    ----------
    time, event, group, replicate : array-like, same length
        Times (finite, >= 0), 0/1 events, arm labels (exactly 2 distinct values over all
        replicates), replicate identifiers. Rows need not be sorted in any way.
    times : float or sequence of float, optional
        Fixed times at which to report S(t).
    ties : {"efron", "breslow"}
    parallel : bool
        Spread replicates over numba's threads.

    Returns
    -------
    TrialAnalyses
    """
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    t = np.asarray(time, dtype=np.float64).reshape(-1)
    e = np.asarray(event, dtype=np.float64).reshape(-1)
    grp = np.asarray(group).reshape(-1)
    rep = np.asarray(replicate).reshape(-1)
    n = t.shape[0]
    if not (e.shape[0] == n and grp.shape[0] == n and rep.shape[0] == n):
        raise ValueError("time, event, group and replicate must have the same length")
    if n == 0:
        raise ValueError("no rows: the data are empty")
    # one compiled pass: bad times and events, and whether times are whole numbers
    n_nonfinite, n_negative, n_bad_event, whole = _kernels_batch.scan_rows(t, e)
    problems = []
    if n_nonfinite:
        problems.append(f"time: {n_nonfinite} row(s) not finite")
    if n_negative:
        problems.append(f"time: {n_negative} row(s) negative")
    if n_bad_event:
        problems.append(f"event: {n_bad_event} row(s) not 0/1")
    if problems:
        raise ValueError("; ".join(problems))
    if rep.dtype.kind == "f":
        bad = int(np.count_nonzero(np.isnan(rep)))
        if bad:
            raise ValueError(f"replicate: {bad} row(s) missing")
    q = np.zeros(0) if times is None else np.sort(np.atleast_1d(np.asarray(times, float)))
    if q.size and not np.all(np.isfinite(q)):
        raise ValueError("times: must be finite")
    groups, arm = _arm_codes(grp)
    reps, codes = _replicate_codes(rep)
    nrep = reps.shape[0]
    if n < 2 or _kernels_batch.is_grouped(codes):
        # already grouped by replicate (simulation output usually is): no permutation array
        idx = None
        bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=nrep))].astype(np.int64)
    else:
        idx, bounds = _kernels_batch.group_rows(codes, nrep)
    out, surv = _kernels_batch.analyse(
        idx,
        bounds,
        t,
        e,
        arm,
        q,
        ties == "efron",
        whole,  # whole-number times: sorted per trial as packed integer keys
        COX_TOL,
        COX_MAX_ITER,
        COX_TOLER_INF,
        SPAN_INF,
        QUANTILE_TOL,
        parallel,
    )
    c = {name: out[:, k] for k, name in enumerate(_kernels_batch.COLS)}
    mono = c["monotone"] > 0
    coef = np.where(mono, np.copysign(np.inf, c["coef"]), c["coef"])
    se = np.where(mono, np.nan, c["se"])
    lrt = 2.0 * (c["loglik"] - c["loglik_null"])
    df = c["logrank_df"].astype(np.int64)
    with np.errstate(invalid="ignore"):
        # both tests have 1 df (or 0: no test); P(chi2_1 > x) = erfc(sqrt(x / 2)), a hundred
        # times faster than the general chi-square tail and equal to it to ~1e-14 relative
        lr_p = np.where(df > 0, _chisq1_sf(c["logrank_chisq"]), np.nan)
    return TrialAnalyses(
        replicate=reps,
        groups=groups,
        n=c["n"].astype(np.int64),
        n_event=c["n_event"].astype(np.int64),
        n_by_group=np.column_stack([c["n_0"], c["n_1"]]).astype(np.int64),
        n_event_by_group=np.column_stack([c["n_event_0"], c["n_event_1"]]).astype(np.int64),
        median=c["median"],
        median_by_group=np.column_stack([c["median_0"], c["median_1"]]),
        times=q,
        surv_at=surv[:, 0, :],
        surv_at_by_group=surv[:, 1:, :],
        logrank_chisq=c["logrank_chisq"],
        logrank_df=df,
        logrank_p=lr_p,
        coef=coef,
        se=se,
        hazard_ratio=np.exp(coef),
        lrt=lrt,
        lrt_p=_chisq1_sf(lrt),
        loglik_null=c["loglik_null"],
        loglik=c["loglik"],
        iterations=c["iterations"].astype(np.int64),
        converged=c["converged"] > 0,
        monotone=mono,
        ties=ties,
    )
