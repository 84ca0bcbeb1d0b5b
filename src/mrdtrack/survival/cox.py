"""Cox proportional hazards regression with R ``survival`` conventions.

Front-end :func:`cox_ph` (frame and column names) over a fitter that works on a prepared
:class:`~mrdtrack.survival._coxdata.CoxData` (plain sorted arrays), as R separates ``coxph()``
from ``coxph.fit``/``agreg.fit``. Everything a trial statistician compares with R is here:
coefficients, model-based and robust (sandwich) standard errors, the three global tests,
Harrell's concordance, the ``cox.zph`` proportional-hazards test and the baseline survival.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl
from scipy import special

from mrdtrack._frames import to_polars
from mrdtrack.errors import EstimationError
from mrdtrack.survival._checks import (
    bad_rows,
    check_event,
    check_ties,
    check_time,
    numeric,
    require_columns,
)
from mrdtrack.survival._control import (
    COX_MAX_ITER,
    COX_TOL,
    COX_TOLER_CHOL,
    COX_TOLER_INF,
    SPAN_INF,
    CoxTest,
    chisq_test,
    tests_table,
)
from mrdtrack.survival._coxdata import CoxData, prepare_cox_data
from mrdtrack.survival._kernels_cox import (
    DeathTerms,
    NewtonFit,
    batched_fit,
    concordance_counts,
    death_terms,
    monotone_flags,
    newton_fit,
)
from mrdtrack.survival._kernels_cox import score_residuals as _score_residuals_kernel
from mrdtrack.survival.firth import FirthCoxFit, fit_firth

__all__ = ["CoxFit", "CoxTest", "cox_ph", "cox_ph_batched", "fit_cox_data"]


@dataclass(frozen=True)
class Concordance:
    """Harrell's C as R ``concordance(fit)``, with its infinitesimal-jackknife standard error."""

    concordance: float
    std_err: float
    concordant: float
    discordant: float
    tied_x: float
    tied_y: float
    tied_xy: float

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "concordance": [self.concordance],
                "std_err": [self.std_err],
                "concordant": [self.concordant],
                "discordant": [self.discordant],
                "tied_x": [self.tied_x],
                "tied_y": [self.tied_y],
                "tied_xy": [self.tied_xy],
            }
        )

    def summary(self) -> str:
        return (
            f"Concordance = {self.concordance:.4f} (se = {self.std_err:.4f}); pairs: "
            f"{self.concordant:g} concordant, {self.discordant:g} discordant, {self.tied_x:g} "
            f"tied in the risk score (R concordance(), timewt 'n')"
        )


@dataclass(frozen=True)
class PHTest:
    """The proportional-hazards score test of R ``cox.zph`` (one row per term and GLOBAL)."""

    transform: str
    terms: tuple[str, ...]
    chisq: np.ndarray
    df: np.ndarray
    p_value: np.ndarray

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "term": list(self.terms),
                "chisq": self.chisq,
                "df": self.df.astype(np.int64),
                "p_value": self.p_value,
            }
        )

    def summary(self) -> str:
        lines = [f"Test of proportional hazards (R cox.zph, transform={self.transform!r})"]
        lines.append(f"{'term':<20}{'chisq':>12}{'df':>5}{'p':>12}")
        for t, c, d, p in zip(self.terms, self.chisq, self.df, self.p_value, strict=True):
            lines.append(f"{t:<20}{c:>12.4f}{int(d):>5d}{p:>12.4g}")
        return "\n".join(lines)


def _chi2_sf(x: Any, df: Any) -> Any:
    return special.chdtrc(df, x)


def _singular(what: str) -> EstimationError:
    return EstimationError(
        f"the {what} is singular or not finite: a covariate is not identifiable "
        "(constant within every stratum, collinear, or with no events in one of its groups)"
    )


def _solve_pd(a: np.ndarray, b: np.ndarray, what: str) -> np.ndarray:
    """Solve ``a x = b`` for a positive-definite ``a``, or raise `EstimationError`.

    The pivot test of R's cholesky2 (pivot below ``toler.chol`` times the largest diagonal:
    non-identifiable) is applied to ``a`` scaled to unit diagonal. R's coxfit6/agfit4 rescale
    the covariates before fitting, so its test does not depend on a covariate's units (age in
    years or in 1e-7 years); the unit-diagonal scaling gives the same invariance here.
    """
    try:
        if not np.all(np.isfinite(a)):
            raise np.linalg.LinAlgError("not finite")
        diag = np.diag(a)
        if np.any(~(diag > 0)):
            raise np.linalg.LinAlgError("zero diagonal")
        d = np.sqrt(diag)
        c = np.linalg.cholesky(a / np.outer(d, d))
        if np.any(np.diag(c) ** 2 < COX_TOLER_CHOL):
            raise np.linalg.LinAlgError("rank deficient")
    except np.linalg.LinAlgError as exc:
        raise _singular(what) from exc
    dd = d if np.ndim(b) == 1 else d[:, None]
    y = np.linalg.solve(c, b / dd)
    return np.linalg.solve(c.T, y) / dd


def _newton(cd: CoxData, ties: str, tol: float, max_iter: int, init: np.ndarray) -> NewtonFit:
    """Newton-Raphson with step-halving exactly as R ``coxfit6`` / ``agfit4``: the compiled
    :func:`~mrdtrack.survival._kernels_cox.newton_fit`, the same routine every replicate of
    :func:`cox_ph_batched` runs (the rule is :func:`~mrdtrack.survival._kernels_cox.newton_update`).

    Start at ``init`` (0). Converged when |1 - loglik_best / loglik_new| <= tol (relative change
    of the log partial likelihood; for (start, stop] data R ``agfit4`` also requires that the
    last step was not a halving). A step that lowers the log likelihood is pulled back towards
    the last good beta: new = (new + h * old) / (h + 1), h = 1, 2, ... consecutive halvings.
    Out of iterations: the last good beta and its information, as R does (and its iteration
    count: coxfit6 reports iter.max + 1, agfit4 iter.max).
    """
    nr = newton_fit(
        *cd.sweep_args(),
        np.ascontiguousarray(init, dtype=np.float64),
        ties == "efron",
        cd.counting,
        float(tol),
        int(max_iter),
        COX_TOLER_CHOL,
    )
    if nr.status != 0:
        raise _singular(
            "information matrix" + (" at the initial values" if nr.iterations == 0 else "")
        )
    return nr


def _death_terms(cd: CoxData, beta: np.ndarray, ties: str) -> DeathTerms:
    return death_terms(
        cd.start,
        cd.stop,
        cd.event,
        cd.X,
        cd.weights,
        cd.strata,
        cd.order_start,
        np.ascontiguousarray(beta, dtype=np.float64),
        ties == "efron",
    )


def score_residuals(cd: CoxData, beta: np.ndarray, ties: str) -> np.ndarray:
    """Unweighted score residuals (n, p) in the sorted row order of ``cd``, as R
    ``residuals(fit, type="score")`` (Efron shares for tied deaths; Therneau & Grambsch 2000)."""
    dt = _death_terms(cd, beta, ties)
    eta = cd.X @ beta
    return _score_residuals_kernel(
        cd.start,
        cd.stop,
        cd.event,
        cd.X,
        cd.strata,
        eta,
        dt.time,
        dt.stratum,
        dt.haz,
        dt.haz_dead,
        dt.xhaz,
        dt.xhaz_dead,
        dt.xbar,
    )


def _collapse(values: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    if cluster is None:
        return values
    m = int(cluster.max()) + 1
    return np.column_stack(
        [np.bincount(cluster, weights=values[:, k], minlength=m) for k in range(values.shape[1])]
    )


def fit_cox_data(
    cd: CoxData,
    ties: str = "efron",
    robust: bool | None = None,
    tol: float = COX_TOL,
    max_iter: int = COX_MAX_ITER,
    init: Sequence[float] | None = None,
) -> CoxFit:
    """Fit a Cox model to a prepared :class:`CoxData` (see :func:`cox_ph` for the conventions;
    ``tol``, ``max_iter``: R ``coxph.control(eps, iter.max)``)."""
    ties = check_ties(ties)
    p = cd.p
    init_arr = np.zeros(p) if init is None else np.asarray(init, dtype=np.float64)
    nr = _newton(cd, ties, tol, max_iter, init_arr)
    beta = nr.beta
    var = _solve_pd(nr.info, np.eye(p), "information matrix at the estimate")
    var = (var + var.T) / 2.0

    # R's monotone-likelihood rule (coxph.fit): the loglik converged while a Newton step of the
    # coefficient is still large relative to the coefficient
    span = (
        np.zeros(p) if nr.converged else np.ascontiguousarray(cd.X.max(axis=0) - cd.X.min(axis=0))
    )
    diverging = monotone_flags(
        beta, nr.score, var, span, nr.converged, nr.loglik, tol, COX_TOLER_INF, SPAN_INF
    )
    monotone = {cd.names[k]: math.copysign(math.inf, beta[k]) for k in np.flatnonzero(diverging)}
    if monotone:
        warnings.warn(
            "monotone likelihood: the log partial likelihood converged while "
            + ", ".join(f"{t} -> {'+' if v > 0 else '-'}inf" for t, v in monotone.items())
            + " diverges; the hazard ratio is not estimable by maximum likelihood "
            "(use firth=True)",
            RuntimeWarning,
            stacklevel=3,
        )
    elif not nr.converged and max_iter > 1:
        warnings.warn(
            f"Cox model did not converge in {max_iter} iterations (R: 'Ran out of iterations')",
            RuntimeWarning,
            stacklevel=3,
        )

    if robust is None:
        robust = cd.cluster is not None or bool(np.any(cd.weights != np.floor(cd.weights)))
    robust_var = None
    rscore = None
    if robust:
        # R coxph: dfbeta residuals (weighted score residuals times the model variance), summed
        # within cluster; the robust score test uses the score residuals at the initial beta
        cl = cd.cluster
        w = cd.weights[:, None]
        d = _collapse(w * score_residuals(cd, beta, ties), cl) @ var
        robust_var = d.T @ d
        d0 = _collapse(w * score_residuals(cd, init_arr, ties), cl)
        u0 = d0.sum(axis=0)
        try:
            rscore = float(u0 @ _solve_pd(d0.T @ d0, u0, "robust score variance"))
        except EstimationError:
            # R's coxph.wtest does not stop the fit over the robust score test either: a
            # singular D0'D0 (e.g. a term with no events in a cluster pattern) leaves only this
            # test undefined, reported as NaN.
            rscore = math.nan

    use_var = robust_var if robust_var is not None else var
    wald_stat = float((beta - init_arr) @ _solve_pd(use_var, beta - init_arr, "variance"))
    tests = {
        "likelihood_ratio": chisq_test(2.0 * (nr.loglik - nr.loglik0), p),
        "wald": chisq_test(wald_stat, p),
        "score": chisq_test(nr.sctest, p),
    }
    if rscore is not None:
        tests["robust_score"] = chisq_test(rscore, p)

    return CoxFit(
        names=cd.names,
        coef_array=beta,
        var=var,
        robust_var=robust_var,
        loglik=(float(nr.loglik0), float(nr.loglik)),
        tests=tests,
        n=cd.n,
        n_events=int(np.sum(cd.event > 0)),
        iterations=int(nr.iterations),
        converged=bool(nr.converged),
        monotone=monotone,
        ties=ties,
        means=dict(zip(cd.names, cd.means.tolist(), strict=True)),
        data=cd,
    )


def cox_ph(
    data: Any,
    time: str,
    event: str,
    covariates: str | Sequence[str],
    start: str | None = None,
    strata: str | Sequence[str] | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    ties: str = "efron",
    firth: bool = False,
    robust: bool | None = None,
    reference: Mapping[str, Any] | None = None,
    tol: float | None = None,
    max_iter: int | None = None,
    timefix: bool = True,
    **firth_options: Any,
) -> CoxFit | FirthCoxFit:
    """Cox proportional hazards model by maximum partial likelihood, as R ``survival::coxph``.

    Method: Cox (1972) partial likelihood; ties by Efron (1977) (R's default) or Breslow (1974)
    (SAS PHREG's and statsmodels' default); Newton-Raphson from beta = 0 with step-halving and
    R's convergence rule |1 - loglik_old / loglik_new| <= ``tol`` (1e-9), at most ``max_iter``
    (20) iterations (R ``coxph.control(eps, iter.max)``). Counting-process data: a row
    ``(start, stop]`` is at risk at t when start < t <= stop (R ``Surv(start, stop, event)``);
    so a row starting at the time another row of the same subject stops is at risk only after
    that time.

    Parameters
    ----------
    data : polars or pandas DataFrame
    time, event : str
        Event/censoring (stop) time and the 0/1 event indicator.
    covariates : str or list of str
        Numeric, boolean or categorical columns; categorical ones are treatment coded with the
        first sorted level as reference (override with ``reference={column: level}``), terms
        named like R (``"armB"``).
    start : str, optional
        Entry time of ``(start, stop]`` rows (time-dependent covariates, delayed entry).
    strata : str or list of str, optional
        Separate baseline hazard per stratum (R ``strata()``).
    cluster : str, optional
        Cluster identifier: robust sandwich variance as R ``cluster()`` (Lin & Wei 1989): the
        dfbeta residuals (weighted score residuals times the model variance) summed within a
        cluster, V = D'D; the Wald test then uses V and a robust score test is added.
    weights : str, optional
        Case weights as R ``weights=``. As R, non-integer weights switch on the robust variance
        (each row its own cluster) unless ``robust=False``.
    ties : {"efron", "breslow"}
    firth : bool
        Firth's penalised likelihood (Heinze & Schemper 2001), computed by
        :func:`mrdtrack.survival.firth.fit_firth`; ``tol`` and ``max_iter`` then go to Firth's
        maximiser (its step criterion and iteration limit, defaults 1e-9 and 100), and its other
        controls (``conf_level``, ``max_step``, ``max_halfstep``, ``gtol``, ``init``) are passed
        as keyword arguments.
    robust : bool, optional
        Force the robust variance on or off (default as R: on with a cluster or non-integer
        weights). Not available with ``firth=True`` (a TypeError).
    reference : dict, optional
        Reference level per categorical covariate (a TypeError for a column that is not a
        categorical covariate).
    tol, max_iter : float, int, optional
        Convergence tolerance and iteration limit (R ``coxph.control(eps, iter.max)``: 1e-9,
        20; see ``firth`` for the Firth fit).
    timefix : bool
        Merge times equal up to floating-point noise first, as R (default True).

    Returns
    -------
    CoxFit, or FirthCoxFit with ``firth=True``

    Raises
    ------
    TypeError
        An option the chosen path does not use: ``robust`` with ``firth=True``; Firth's
        controls without ``firth=True``; a ``reference`` for a non-categorical column.

    Notes
    -----
    - As R's ``coxph`` (``timefix = TRUE``, ``aeqSurv``), times that differ by less than
      sqrt(machine eps) (absolutely or relative to the mean time) are merged first, so that
      floating-point noise does not break ties; ``timefix=False`` uses the times as given.
    - A constant covariate or exactly collinear covariates raise
      :class:`~mrdtrack.errors.EstimationError` (R would keep going and report NA).
    - Monotone likelihood (a coefficient that diverges, e.g. no events in one group): detected by
      R's rule (the log likelihood has converged while the Newton step of the coefficient is
      still larger than sqrt(eps) times the coefficient); the fit carries
      ``monotone = {term: +inf or -inf}``, a ``RuntimeWarning`` is issued, and tables show the
      hazard ratio as not estimable instead of the last iterate (kept in ``coef_array``). If
      Newton runs out of iterations, a coefficient still moving whose hazard ratio over the
      covariate's range exceeds exp(20) is flagged the same way (R only warns).

    References
    ----------
    .. [1] Cox DR (1972). Regression models and life-tables. JRSS-B 34:187-220.
    .. [2] Efron B (1977). The efficiency of Cox's likelihood function for censored data.
           JASA 72:557-565.
    .. [3] Therneau TM, Grambsch PM (2000). Modeling Survival Data. Springer.
    .. [4] Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards model.
           JASA 84:1074-1078.
    """
    if firth and robust is not None:
        raise TypeError("robust is not used with firth=True (no robust variance for Firth)")
    if firth and cluster is not None:
        raise TypeError("cluster is not used with firth=True (no robust variance for Firth)")
    if firth_options and not firth:
        raise TypeError(f"cox_ph got options used only with firth=True: {sorted(firth_options)}")
    cd = prepare_cox_data(
        data,
        time,
        event,
        covariates,
        start=start,
        strata=strata,
        cluster=cluster,
        weights=weights,
        reference=reference,
        timefix=timefix,
    )
    iteration = {k: v for k, v in (("tol", tol), ("max_iter", max_iter)) if v is not None}
    if firth:
        return fit_firth(cd, ties=ties, **iteration, **firth_options)
    return fit_cox_data(cd, ties=ties, robust=robust, **iteration)


@dataclass(frozen=True)
class CoxFit:
    """A fitted Cox model (see :func:`cox_ph`).

    Attributes
    ----------
    coef, se, robust_se, hazard_ratio : dict[str, float]
        Indexed by term name. ``robust_se`` is None without a robust variance. A term with a
        monotone likelihood has coef ±inf, hazard ratio inf or 0 and se nan.
    loglik : (null, fitted)
    tests : dict of CoxTest
        ``likelihood_ratio``, ``wald`` (robust variance when robust, as R), ``score`` and, when
        robust, ``robust_score``.
    monotone : dict[str, float]
        Terms whose estimate diverges, with the direction (+inf / -inf).
    """

    names: tuple[str, ...]
    coef_array: np.ndarray
    var: np.ndarray
    robust_var: np.ndarray | None
    loglik: tuple[float, float]
    tests: dict
    n: int
    n_events: int
    iterations: int
    converged: bool
    monotone: dict
    ties: str
    means: dict
    data: CoxData = field(repr=False)

    # ---- named per-term attributes -------------------------------------------------------
    @property
    def coef(self) -> dict[str, float]:
        return {
            t: self.monotone.get(t, float(b))
            for t, b in zip(self.names, self.coef_array, strict=True)
        }

    @property
    def se(self) -> dict[str, float]:
        s = np.sqrt(np.diag(self.var))
        return {
            t: (math.nan if t in self.monotone else float(v))
            for t, v in zip(self.names, s, strict=True)
        }

    @property
    def robust_se(self) -> dict[str, float] | None:
        if self.robust_var is None:
            return None
        s = np.sqrt(np.diag(self.robust_var))
        return {
            t: (math.nan if t in self.monotone else float(v))
            for t, v in zip(self.names, s, strict=True)
        }

    @property
    def hazard_ratio(self) -> dict[str, float]:
        return {t: math.exp(b) for t, b in self.coef.items()}

    @property
    def robust(self) -> bool:
        return self.robust_var is not None

    def _used_se(self) -> np.ndarray:
        v = self.robust_var if self.robust_var is not None else self.var
        return np.sqrt(np.diag(v))

    # ---- tables ---------------------------------------------------------------------------
    def conf_int(self, conf_level: float = 0.95) -> pl.DataFrame:
        """Wald confidence intervals of the hazard ratios: exp(coef ± z se), the robust se when
        the fit is robust (as R ``summary.coxph``). Monotone terms get null bounds."""
        if not 0.0 < conf_level < 1.0:
            raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
        z = special.ndtri(0.5 + conf_level / 2.0)
        se = self._used_se()
        rows = []
        for k, t in enumerate(self.names):
            b = float(self.coef_array[k])
            if t in self.monotone:
                rows.append((t, math.exp(self.monotone[t]), None, None))
            else:
                rows.append((t, math.exp(b), math.exp(b - z * se[k]), math.exp(b + z * se[k])))
        return pl.DataFrame(
            rows, schema=["term", "estimate", "lower", "upper"], orient="row"
        ).with_columns(pl.col("estimate", "lower", "upper").cast(pl.Float64))

    def table(self, conf_level: float = 0.95) -> pl.DataFrame:
        """One row per term: coef, hazard_ratio, se, robust_se, z, p_value, lower, upper,
        monotone (the R ``summary.coxph`` coefficient table; z and p use the robust se when
        robust)."""
        se = np.sqrt(np.diag(self.var))
        rse = np.sqrt(np.diag(self.robust_var)) if self.robust_var is not None else None
        used = self._used_se()
        ci = self.conf_int(conf_level)
        out = {
            "term": list(self.names),
            "coef": [],
            "hazard_ratio": [],
            "se": [],
            "robust_se": [],
            "z": [],
            "p_value": [],
        }
        for k, t in enumerate(self.names):
            mono = t in self.monotone
            b = float(self.coef_array[k])
            out["coef"].append(self.monotone[t] if mono else b)
            out["hazard_ratio"].append(math.exp(self.monotone[t]) if mono else math.exp(b))
            out["se"].append(math.nan if mono else float(se[k]))
            out["robust_se"].append(None if rse is None or mono else float(rse[k]))
            zz = math.nan if mono else b / used[k]
            out["z"].append(zz)
            out["p_value"].append(math.nan if mono else float(2 * special.ndtr(-abs(zz))))
        df = pl.DataFrame(out, schema_overrides={"robust_se": pl.Float64})
        return df.with_columns(
            lower=ci["lower"],
            upper=ci["upper"],
            monotone=pl.Series([t in self.monotone for t in self.names]),
        )

    def tests_table(self) -> pl.DataFrame:
        """The global tests as a tidy frame: test, statistic, df, p_value."""
        return tests_table(self.tests)

    def summary(self, conf_level: float = 0.95) -> str:
        """Human-readable summary in the layout of R ``summary.coxph``."""
        cd = self.data
        lines = [
            "Cox proportional hazards model (partial likelihood, "
            f"ties={self.ties} as R coxph{', strata' if cd.strata_levels else ''}"
            f"{', (start, stop] data' if cd.counting else ''})",
            f"  n = {self.n}, number of events = {self.n_events}, iterations = "
            f"{self.iterations}{'' if self.converged else ' (NOT converged)'}",
            "",
        ]
        tab = self.table(conf_level)
        pct = f"{100 * conf_level:g}%"
        head = f"{'term':<22}{'coef':>10}{'HR':>10}{'se(coef)':>10}"
        if self.robust:
            head += f"{'robust se':>10}"
        head += f"{'z':>8}{'p':>11}{'lower ' + pct:>13}{'upper ' + pct:>13}"
        lines.append(head)
        for r in tab.iter_rows(named=True):
            if r["monotone"]:
                sign = "+inf" if r["coef"] > 0 else "-inf"
                hr = "inf" if r["coef"] > 0 else "0"
                lines.append(
                    f"{r['term']:<22}{sign:>10}{hr:>10}  HR not estimable by maximum likelihood "
                    "(monotone likelihood): use firth=True"
                )
                continue
            s = f"{r['term']:<22}{r['coef']:>10.4f}{r['hazard_ratio']:>10.4f}{r['se']:>10.4f}"
            if self.robust:
                s += f"{r['robust_se']:>10.4f}"
            s += f"{r['z']:>8.3f}{r['p_value']:>11.3g}{r['lower']:>13.4f}{r['upper']:>13.4f}"
            lines.append(s)
        c = self.concordance
        lines += ["", f"Concordance = {c.concordance:.4f} (se = {c.std_err:.4f})"]
        names = {
            "likelihood_ratio": "Likelihood ratio test",
            "wald": "Wald test" + (" (robust variance)" if self.robust else ""),
            "score": "Score (logrank) test",
            "robust_score": "Robust score test",
        }
        for k, t in self.tests.items():
            lines.append(f"{names[k]:<36}= {t.statistic:.4f} on {t.df} df, p = {t.p_value:.4g}")
        if self.robust:
            lines.append(
                "  (the likelihood ratio and score tests assume independent rows; the Wald and "
                "robust score tests do not)"
            )
        if self.monotone:
            lines.append(
                "  Monotone likelihood: the Wald test and the concordance use the last iterate of "
                "the diverging coefficient(s) and are not reliable; the likelihood ratio and "
                "score tests are."
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    # ---- concordance, PH test, baseline ---------------------------------------------------
    @cached_property
    def concordance(self) -> Concordance:
        """Harrell's C of the linear predictor as R ``concordance(fit)`` (timewt "n"; pairs
        within strata; a censored row at an event time counts as surviving longer; deaths at the
        same time are tied in y and not used). The standard error is R's infinitesimal
        jackknife, summed within cluster for a clustered fit."""
        cd = self.data
        eta = cd.X @ self.coef_array
        # ranks of the score within stratum, on disjoint ranges so strata never mix
        order = np.lexsort((eta, cd.strata))
        key_s = cd.strata[order]
        key_e = eta[order]
        new = np.ones(cd.n, dtype=bool)
        new[1:] = (key_s[1:] != key_s[:-1]) | (key_e[1:] != key_e[:-1])
        rank_sorted = np.cumsum(new) - 1
        rank = np.empty(cd.n, dtype=np.int64)
        rank[order] = rank_sorted
        n_rank = int(rank_sorted[-1]) + 1
        first = np.ones(cd.n, dtype=bool)
        first[1:] = key_s[1:] != key_s[:-1]
        s_lo = np.zeros(int(cd.strata.max()) + 1, dtype=np.int64)
        s_hi = np.zeros_like(s_lo)
        s_lo[key_s[first]] = rank_sorted[first]
        last = np.ones(cd.n, dtype=bool)
        last[:-1] = key_s[1:] != key_s[:-1]
        s_hi[key_s[last]] = rank_sorted[last] + 1
        counts, infl = concordance_counts(
            cd.start,
            cd.stop,
            cd.event,
            cd.weights,
            cd.strata,
            cd.order_start,
            rank,
            s_lo[cd.strata],
            s_hi[cd.strata],
            n_rank,
        )
        conc, disc, tx, ty_all, txy = (float(v) for v in counts)
        ty = ty_all - txy
        npair = conc + disc + tx
        somer = (conc - disc) / npair
        dfb = cd.weights * ((infl[:, 0] - infl[:, 1]) / npair - (somer / npair) * infl.sum(axis=1))
        if cd.cluster is not None:
            dfb = np.bincount(cd.cluster, weights=dfb)
        var = float(np.sum(dfb**2)) / 4.0
        return Concordance((somer + 1.0) / 2.0, math.sqrt(var), conc, disc, tx, ty, txy)

    def ph_test(self, transform: str = "km") -> PHTest:
        """Test of proportional hazards as R ``cox.zph`` (survival >= 3, Grambsch & Therneau
        1994): for each term the score test of adding x * g(t) at the fitted beta, using the full
        2p x 2p information matrix, and a GLOBAL test of all terms (a categorical covariate is one
        term with df = its number of dummies). ``transform``: "km" (g = 1 - the left-continuous
        unweighted Kaplan-Meier of all rows, as R), "identity", "rank" or "log" of the event
        time; g is centred at its mean over the events."""
        cd = self.data
        ties = self.ties
        beta = self.coef_array
        if transform == "km":

            def gfun(t: np.ndarray) -> np.ndarray:
                return 1.0 - _km_left(cd.start, cd.stop, cd.event, t)
        elif transform == "identity":

            def gfun(t: np.ndarray) -> np.ndarray:
                return t
        elif transform == "log":
            gfun = np.log
        elif transform == "rank":
            ut, first = np.unique(cd.stop, return_index=True)
            from scipy.stats import rankdata

            ranks = rankdata(cd.stop)[first]

            def gfun(t: np.ndarray) -> np.ndarray:
                return ranks[np.searchsorted(ut, t)]
        else:
            raise ValueError("transform must be 'km', 'identity', 'rank' or 'log'")
        center = float(np.mean(gfun(cd.stop[cd.event > 0])))
        dt = _death_terms(cd, beta, ties)
        gt = gfun(dt.time) - center
        dinfo = dt.dinfo
        p = cd.p
        imat = np.zeros((2 * p, 2 * p))
        imat[:p, :p] = dinfo.sum(axis=0)
        imat[:p, p:] = np.einsum("m,mij->ij", gt, dinfo)
        imat[p:, :p] = imat[:p, p:].T
        imat[p:, p:] = np.einsum("m,mij->ij", gt**2, dinfo)
        u2 = gt @ (dt.wx_dead - dt.w_event[:, None] * dt.xbar)
        terms = list(cd.terms.items())
        chisq, df = [], []
        for _, cols in terms:
            jj = [cd.names.index(c) for c in cols]
            kk = list(range(p)) + [p + j for j in jj]
            u = np.concatenate([np.zeros(p), u2[jj]])
            sub = imat[np.ix_(kk, kk)]
            chisq.append(float(u @ np.linalg.solve(sub, u)))
            df.append(len(jj))
        u = np.concatenate([np.zeros(p), u2])
        chisq.append(float(u @ np.linalg.solve(imat, u)))
        df.append(p)
        chisq_a = np.asarray(chisq)
        df_a = np.asarray(df, dtype=np.float64)
        return PHTest(
            transform,
            tuple([t for t, _ in terms] + ["GLOBAL"]),
            chisq_a,
            df_a,
            _chi2_sf(chisq_a, df_a),
        )

    def baseline_survival(self) -> pl.DataFrame:
        """Baseline survival as R ``survfit(fit)``: the curve of a subject with covariates equal
        to R's ``fit$means``: the weighted means of the design columns, except columns whose
        values are all in {-1, 0, 1} (dummies), which R does not centre (``nocenter``) and are
        set to 0. One curve per stratum.

        Cumulative hazard increments at each death time: Breslow w_d / sum(w exp(eta)) for
        ties="breslow"; for ties="efron" the Efron-consistent sum_k (w_d / d) / (denom -
        (k / d) denom_deaths) (R ``ctype = 2``); survival exp(-cumhaz) (R ``stype = 2``). Rows
        at every distinct stop time (censoring times included, as R), with n_risk (rows at risk,
        start < t <= stop; weighted as R), n_event (weighted), cumhaz, surv and std_err (of the
        cumulative hazard, as R's
        ``std.err``; includes the variance of beta)."""
        cd = self.data
        dt = _death_terms(cd, self.coef_array, self.ties)
        t_d, s_d, w_ev, haz, xhaz = dt.time, dt.stratum, dt.w_event, dt.haz, dt.xhaz
        # R survfit.coxph uses fit$var, the robust variance for a robust fit
        var = self.robust_var if self.robust_var is not None else self.var
        frames = []
        n_strata = int(cd.strata.max()) + 1
        for s in range(n_strata):
            ins = cd.strata == s
            tt = np.unique(cd.stop[ins])
            n_risk = _weighted_at_risk(cd.start[ins], cd.stop[ins], cd.weights[ins], tt)
            m = s_d == s
            td = t_d[m][::-1]
            hz = haz[m][::-1]
            xh = xhaz[m][::-1]
            vinc = dt.hvar[m][::-1]
            cum = np.concatenate([[0.0], np.cumsum(hz)])
            cvar = np.concatenate([[0.0], np.cumsum(vinc)])
            cx = np.vstack([np.zeros((1, cd.p)), np.cumsum(xh, axis=0)])
            idx = np.searchsorted(td, tt, side="right")
            nev = np.zeros(len(tt))
            pos = np.searchsorted(tt, td)
            nev[pos] = w_ev[m][::-1]
            ch = cum[idx]
            dvec = cx[idx]
            se = np.sqrt(cvar[idx] + np.einsum("ij,jk,ik->i", dvec, var, dvec))
            cols = {
                "time": tt,
                "n_risk": n_risk.astype(np.float64),
                "n_event": nev,
                "cumhaz": ch,
                "surv": np.exp(-ch),
                "std_err": se,
            }
            if cd.strata_levels:
                cols = {"stratum": [str(cd.strata_levels[s])] * len(tt), **cols}
            frames.append(pl.DataFrame(cols))
        return pl.concat(frames)


def _weighted_at_risk(
    start: np.ndarray, stop: np.ndarray, w: np.ndarray, at: np.ndarray
) -> np.ndarray:
    # sum of weights with start < t <= stop: (stop >= t) minus (start >= t), by cumulative sums
    o1 = np.argsort(stop)
    c1 = np.concatenate([[0.0], np.cumsum(w[o1])])
    o2 = np.argsort(start)
    c2 = np.concatenate([[0.0], np.cumsum(w[o2])])
    n_stop = c1[-1] - c1[np.searchsorted(stop[o1], at, side="left")]
    n_start = c2[-1] - c2[np.searchsorted(start[o2], at, side="left")]
    return n_stop - n_start


def _km_left(start: np.ndarray, stop: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Unweighted Kaplan-Meier of all rows (delayed entry: at risk when start < t <= stop),
    evaluated just before each time in ``at`` (left-continuous), as R ``cox.zph`` uses."""
    ev_t = np.unique(stop[event > 0])
    stop_s = np.sort(stop)
    start_s = np.sort(start)
    n_risk = (len(stop_s) - np.searchsorted(stop_s, ev_t, side="left")) - (
        len(start_s) - np.searchsorted(start_s, ev_t, side="left")
    )
    d_s = np.sort(stop[event > 0])
    n_ev = np.searchsorted(d_s, ev_t, side="right") - np.searchsorted(d_s, ev_t, side="left")
    surv = np.concatenate([[1.0], np.cumprod(1.0 - n_ev / n_risk)])
    return surv[np.searchsorted(ev_t, at, side="left")]


@dataclass(frozen=True)
class CoxBatch:
    """Cox fits of many independent data sets (see :func:`cox_ph_batched`).

    Arrays are indexed by replicate (in the order of ``replicates``) and, for per-term
    quantities, by term (``names``).
    """

    replicates: np.ndarray
    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    loglik_null: np.ndarray
    loglik: np.ndarray
    lrt: np.ndarray
    p_value: np.ndarray
    n_events: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    monotone: np.ndarray
    ties: str

    def summary(self) -> str:
        n = len(self.replicates)
        return (
            f"{n} Cox fits (ties={self.ties}, terms {', '.join(self.names)}): "
            f"{int(self.converged.sum())} converged, {int(self.monotone.any(axis=1).sum())} with "
            f"a monotone likelihood; median coef "
            + ", ".join(
                f"{t} {np.nanmedian(self.coef[:, k]):.4f}" for k, t in enumerate(self.names)
            )
        )

    def table(self) -> pl.DataFrame:
        """Long tidy frame: replicate, term, coef, se, hazard_ratio, lrt, p_value (the
        likelihood-ratio test of all terms), n_events, converged, monotone."""
        r = len(self.replicates)
        p = len(self.names)
        coef = self.coef.reshape(-1)
        return pl.DataFrame(
            {
                "replicate": np.repeat(self.replicates, p),
                "term": np.tile(np.asarray(self.names, dtype=object), r).tolist(),
                "coef": coef,
                "se": self.se.reshape(-1),
                "hazard_ratio": np.exp(coef),
                "lrt": np.repeat(self.lrt, p),
                "p_value": np.repeat(self.p_value, p),
                "n_events": np.repeat(self.n_events, p),
                "converged": np.repeat(self.converged, p),
                "monotone": self.monotone.reshape(-1),
            }
        )


def _batched_inputs(
    time: Any, event: Any, x: Any, replicate: Any, data: Any, names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Validated time, event, x (n, p), replicate arrays and the term names of
    :func:`cox_ph_batched`'s two input forms (column names of ``data``, or arrays); the checks
    and messages of ``survival/_checks.py``."""
    if data is not None:
        if names is not None:
            raise TypeError("names is not used with data: the terms are named by the columns of x")
        df = to_polars(data)
        xs = [x] if isinstance(x, str) else list(x)
        require_columns(
            df,
            [("time", time), ("event", event), ("replicate", replicate)]
            + [("covariate", c) for c in xs],
        )
        t = check_time(df, time)
        e = check_event(df, event)
        xm = np.column_stack([numeric(df, c, "covariate") for c in xs])
        return t, e, xm, df.get_column(replicate).to_numpy(), tuple(xs)
    xm = np.asarray(x, dtype=np.float64)
    xm = xm[:, None] if xm.ndim == 1 else xm
    rep = np.asarray(replicate)
    frame = pl.DataFrame(
        {"time": np.asarray(time, dtype=np.float64), "event": np.asarray(event, dtype=np.float64)}
    )
    n = frame.height
    if not (xm.shape[0] == n and rep.shape[0] == n):
        raise ValueError("time, event, x and replicate must have the same number of rows")
    t = check_time(frame, "time")
    bad = int(np.sum(~np.isfinite(xm).all(axis=1)))
    if bad:
        raise bad_rows("x", bad, "a non-finite value (NaN or infinity)", "covariate")
    e = check_event(frame, "event")
    p = xm.shape[1]
    if names is None:
        names = ("x",) if p == 1 else tuple(f"x{k + 1}" for k in range(p))
    if len(names) != p:
        raise ValueError(f"names has {len(names)} entries for the {p} column(s) of x")
    return t, e, xm, rep, tuple(names)


def cox_ph_batched(
    time: Any,
    event: Any,
    x: Any,
    replicate: Any,
    ties: str = "efron",
    data: Any = None,
    names: Sequence[str] | None = None,
    tol: float = COX_TOL,
    max_iter: int = COX_MAX_ITER,
) -> CoxBatch:
    """Cox models of many independent right-censored data sets at once (simulation studies).

    Each replicate is fitted exactly as :func:`cox_ph` would fit it alone (same likelihood
    kernel, Newton-Raphson with R's step-halving and convergence rule, Efron or Breslow ties),
    in one compiled loop over replicates, without a Python call per data set. No strata,
    weights, entry times or categorical expansion: ``x`` is numeric, (n,) or (n, p).

    Parameters
    ----------
    time, event, x, replicate : arrays, or column names of ``data``
        ``replicate`` labels the data set of each row (any sortable values).
    ties : {"efron", "breslow"}
    data : polars or pandas DataFrame, optional
        When given, ``time``, ``event``, ``x`` and ``replicate`` are its column names and the
        terms are named by the ``x`` columns (``names`` is then a TypeError).
    names : sequence of str, optional
        Term names for array input (default ``x`` or ``x1``, ``x2``, ...).
    tol, max_iter : float, int
        As :func:`cox_ph` (R ``coxph.control(eps, iter.max)``).

    Returns
    -------
    CoxBatch
        coef, se (model-based), loglik_null, loglik, the likelihood-ratio statistic ``lrt``
        (df = p) and its p-value per replicate; ``monotone`` flags diverging coefficients by
        R's rule (their coef is the last iterate, not an estimate).
    """

    efron = check_ties(ties) == "efron"
    t, e, xm, rep, names = _batched_inputs(time, event, x, replicate, data, names)
    n, p = xm.shape
    # group the rows by replicate (the kernel sorts each block by time itself)
    if rep.dtype.kind in "iu" and (n < 2 or bool(np.all(rep[1:] >= rep[:-1]))):
        order = None
        rep_s = rep
    else:
        if rep.dtype.kind in "iuf":
            order = np.argsort(rep, kind="stable")
        else:
            _, codes = np.unique(rep, return_inverse=True)
            order = np.argsort(codes.reshape(-1), kind="stable")
        rep_s = rep[order]
    starts = np.flatnonzero(np.r_[True, rep_s[1:] != rep_s[:-1]]) if n else np.zeros(0, int)
    reps = rep_s[starts]
    bounds = np.r_[starts, n].astype(np.int64)
    if order is not None:
        t, e, xm = t[order], e[order], xm[order]
    res = batched_fit(
        np.ascontiguousarray(t),
        np.ascontiguousarray(e),
        np.ascontiguousarray(xm),
        bounds,
        efron,
        tol,
        max_iter,
        COX_TOLER_INF,
        SPAN_INF,
        COX_TOLER_CHOL,
    )
    lrt = 2.0 * (res.loglik - res.loglik0)
    return CoxBatch(
        replicates=reps,
        names=tuple(names),
        coef=res.coef,
        se=res.se,
        loglik_null=res.loglik0,
        loglik=res.loglik,
        lrt=lrt,
        p_value=_chi2_sf(lrt, p),
        n_events=res.n_events,
        iterations=res.iterations,
        converged=res.converged.astype(bool),
        monotone=res.monotone.astype(bool),
        ties=ties,
    )


def breslow_cumhaz(
    start: np.ndarray, stop: np.ndarray, event: np.ndarray, lp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breslow cumulative baseline hazard at x = 0 for ``(start, stop]`` rows with linear
    predictor ``lp``: H0(t) = sum over event times u <= t of d(u) / sum_{start_i < u <= stop_i}
    exp(lp_i) (Breslow 1972; R ``basehaz(fit, centered = FALSE)`` for a Breslow fit).

    The death-time kernel behind :meth:`CoxFit.baseline_survival` (Breslow increments), for
    models fitted elsewhere (the landmark supermodel). Returns the distinct event times
    (ascending) and H0 at each.
    """
    stop = np.asarray(stop, dtype=np.float64)
    order = np.argsort(-stop, kind="stable")
    n = order.shape[0]
    entry = np.ascontiguousarray(np.asarray(start, dtype=np.float64)[order])
    dt = death_terms(
        entry,
        np.ascontiguousarray(stop[order]),
        np.ascontiguousarray(np.asarray(event, dtype=np.float64)[order]),
        np.ascontiguousarray(np.asarray(lp, dtype=np.float64)[order]).reshape(n, 1),
        np.ones(n),
        np.zeros(n, dtype=np.int64),
        np.argsort(-entry, kind="stable").astype(np.int64),
        np.ones(1),
        False,
    )
    return dt.time[::-1].copy(), np.cumsum(dt.haz[::-1])
