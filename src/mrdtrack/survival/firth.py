"""Firth-penalised Cox regression, with (start, stop] data and strata.

Heinze & Schemper (2001) penalise the log partial likelihood by half the log determinant of the
information, l*(b) = l(b) + 1/2 log|I(b)| (Firth 1993: Jeffreys' prior). The maximiser is finite
even when the likelihood is monotone (e.g. no events in one group), where the ordinary maximum
likelihood estimate is infinite. Inference follows coxphf: profile penalised-likelihood
confidence intervals and penalised likelihood-ratio tests.

R's ``coxphf`` and Python's ``firthmodels`` fit right-censored data without strata; this module
uses the same likelihood on the (start, stop] risk sets {start < t <= stop} within strata, with
Breslow or Efron ties and case weights.

Computation: each likelihood evaluation is one compiled sweep giving l, U, I and dI/db
(:mod:`mrdtrack.survival._kernels_firth`; for right-censored data the risk-set sums only grow,
so the sweep runs over precomputed death blocks with one exponent shift). A profile bound is
found by Newton steps on all coefficients at once (Venzon & Moolgavkar 1988) starting from the
Wald bound, with the signed root of the profile deviance as the equation for the fixed
coefficient: usually two or three evaluations per bound.

References
----------
1. Firth D (1993). Bias reduction of maximum likelihood estimates. Biometrika 80:27-38.
2. Heinze G, Schemper M (2001). A solution to the problem of monotone likelihood in Cox
   regression. Biometrics 57:114-119.
3. Venzon DJ, Moolgavkar SH (1988). A method for computing profile-likelihood-based confidence
   intervals. Applied Statistics 37:87-94.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import polars as pl
from scipy import special

from mrdtrack.errors import ConvergenceError, EstimationError
from mrdtrack.survival._checks import check_ties
from mrdtrack.survival._control import CoxTest, tests_table
from mrdtrack.survival._coxdata import CoxData
from mrdtrack.survival._kernels_firth import (
    DeathBlocks,
    death_blocks,
    firth_derivs_eta,
    firth_derivs_sorted,
    newton_direction,
    packed_design,
    penalise,
    profile_step,
    secant_update,
)

__all__ = ["FirthCoxFit", "fit_firth", "penalised_loglik"]

_MAX_ITER = 100
_MAX_STEP = 5.0  # firthmodels' default; coxphf uses 0.5 (only the path differs, not the optimum)
_MAX_HALFSTEP = 30
_GTOL = 1e-12  # absolute max |U*|; the step criterion _TOL is the one that usually acts
_TOL = 1e-9
_PROFILE_SPAN = 40.0  # profile search stops when |b - b_hat| * sd(x) exceeds this (HR/SD e^40)


@dataclass(frozen=True)
class _Eval:
    pll: float  # penalised log partial likelihood
    ll: float  # ordinary log partial likelihood
    score: np.ndarray  # modified (penalised) score U*
    info: np.ndarray  # information of the ordinary partial likelihood
    converged: bool = True  # False: a profile point whose inner maximisation stalled
    dinfo: np.ndarray | None = None  # dI/db (dinfo[r, s, t] = dI[s, t]/db[r]) when scored


class _Sweep(NamedTuple):
    """What one likelihood evaluation needs besides beta (all beta-free, built once per fit)."""

    cd: CoxData
    z: np.ndarray  # packed products of the design (packed_design)
    blocks: DeathBlocks | None  # right-censored data: the death blocks (firth_derivs_sorted)


def _sweep(cd: CoxData) -> _Sweep:
    z = packed_design(cd.X)
    blocks = None
    if not cd.counting and z.ndim == 2:
        blocks = death_blocks(cd.stop, cd.event, cd.weights, cd.strata, cd.X)
    return _Sweep(cd, z, blocks)


def _evaluate(sw: _Sweep, beta: np.ndarray, efron: bool, score: bool = True) -> _Eval:
    """l*, l, U* and I at beta (the block kernel for right-censored data, else the general
    (start, stop] kernel)."""
    cd = sw.cd
    b = np.ascontiguousarray(beta, dtype=np.float64)
    out = None
    if sw.blocks is not None:
        out = firth_derivs_sorted(sw.z, cd.X, cd.event, cd.weights, sw.blocks, b, efron, score)
    if out is None:
        out = firth_derivs_eta(
            cd.start,
            cd.stop,
            cd.event,
            cd.X,
            sw.z,
            cd.weights,
            cd.strata,
            cd.order_start,
            b,
            efron,
            score,
        )
    ll, u, imat, dimat = out
    if not np.isfinite(ll):
        return _Eval(-math.inf, ll, np.full(cd.p, np.nan), imat)
    # U*_r = U_r + 1/2 tr(I^{-1} dI/db_r)  (Heinze & Schemper 2001, eq. 2)
    pll, ustar, ok = penalise(ll, u, imat, dimat, score)
    if not ok:
        return _Eval(-math.inf, ll, np.full(cd.p, np.nan), imat)
    return _Eval(float(pll), float(ll), ustar, imat, True, dimat if score else None)


def penalised_loglik(cd: CoxData, beta: Sequence[float], ties: str = "efron") -> float:
    """The Firth-penalised log partial likelihood l(b) + 1/2 log|I(b)| at ``beta``."""
    efron = check_ties(ties) == "efron"
    return _evaluate(_sweep(cd), np.asarray(beta, dtype=float), efron, score=False).pll


@dataclass(frozen=True)
class _Max:
    beta: np.ndarray
    ev: _Eval
    iterations: int
    converged: bool
    start: _Eval | None = None  # the evaluation at the starting values
    curvature: np.ndarray | None = None  # the secant estimate of the penalty's curvature


def _maximise(
    sw: _Sweep,
    efron: bool,
    beta0: np.ndarray,
    free: np.ndarray,
    max_iter: int,
    max_step: float,
    max_halfstep: int,
    gtol: float,
    xtol: float,
    ev_start: _Eval | None = None,
) -> _Max:
    """Maximise l* over the free coefficients (the others held at beta0), as coxphf.

    Newton-type steps with the information of the unpenalised likelihood as the curvature and
    the modified score as the gradient (Heinze & Schemper 2001, section 2), each coefficient's
    step capped at ``max_step``, step-halving while l* does not increase. A symmetric rank-one
    secant correction for the curvature of the penalty is added to the information (dropped if
    the sum is not positive definite): fast convergence where the penalty dominates, at no
    extra evaluation. Converged when the next Newton step is at most ``xtol`` in every
    coefficient (or max |U*| <= ``gtol``).
    """
    beta = beta0.astype(float).copy()
    # ev_start: an evaluation already made at beta0 (a profile point revisited more precisely)
    ev = ev0 = _evaluate(sw, beta, efron) if ev_start is None else ev_start
    if not np.isfinite(ev.pll):
        raise EstimationError(
            f"the information matrix is singular at the starting values: with "
            f"{sw.cd.n_events} event(s) the {sw.cd.p} coefficient(s) are not identifiable (a "
            "covariate constant within every risk set, or fewer events than covariates)"
        )
    idx = np.flatnonzero(free).astype(np.int64)
    if idx.size == 0:
        return _Max(beta, ev, 0, True)
    corr = np.zeros((idx.size, idx.size))  # secant estimate of the penalty's curvature
    for it in range(max_iter + 1):
        g = ev.score[idx]
        delta, ok = newton_direction(ev.info, corr, ev.score, idx)
        if not ok:
            raise EstimationError("the information matrix is singular during Firth fitting")
        big = np.max(np.abs(delta))
        if big <= xtol or np.max(np.abs(g)) <= gtol:
            return _Max(beta, ev, it, True, ev0, corr)
        if it == max_iter:
            break
        gain = float(g @ delta)  # increase of l* predicted by the full step
        if big > max_step:
            delta *= max_step / big
        for _ in range(max_halfstep + 1):
            trial = beta.copy()
            trial[idx] += delta
            ev_new = _evaluate(sw, trial, efron)
            if np.isfinite(ev_new.pll) and ev_new.pll >= ev.pll - 1e-12 * max(1.0, abs(ev.pll)):
                break
            delta = delta / 2.0
        else:
            # no step increases l*: at its maximum to rounding if even the full Newton step
            # promised no more than rounding (flat profiles far out in a monotone direction)
            flat = gain <= 1e-10 * max(1.0, abs(ev.pll))
            return _Max(beta, ev, it, flat, ev0)
        beta, ev_old, ev = trial, ev, ev_new
        # symmetric rank-one secant update so that (I + corr) delta = -(U*_new - U*_old): the
        # information ignores the curvature of the penalty, which matters in small samples and
        # under monotone likelihood; the secant term restores fast convergence at no extra cost
        corr = secant_update(corr, ev.info, ev.score, ev_old.score, idx, delta)
    return _Max(beta, ev, max_iter, False)


_JOINT_ITER = 30


def _g_tol(lmax: float) -> float:
    """Tolerance of a profile bound on g = 2 (l*max - profile) - chi2: rounding level of l*."""
    return max(1e-9, 64.0 * np.finfo(float).eps * abs(lmax))


def _bound_start(fit: FirthCoxFit, k: int, crit: float, direction: int) -> np.ndarray:
    """First point of :func:`_joint_bound`, from a cubic model of the profile deviance along the
    profile path b_hat + d t + d^2 / 2 c (tangent t, curvature c from dI/db).

    D(d) = d^2 / V - T d^3 / 3 = chi2, with V the k-th diagonal element of the inverse of l*'s
    curvature at the estimate (I plus the fit's secant estimate for the penalty) and T the
    third derivative of the log partial likelihood along the tangent (from dI/db; the
    penalty's is O(1) against O(n)). The Wald distance sqrt(V chi2) when the cubic term would
    move it by more than 20% (a profile far from quadratic: the iteration then starts
    conservatively).
    """
    if "penalised_var" not in fit._cache:
        v = fit.var
        if fit.curvature is not None:
            with contextlib.suppress(np.linalg.LinAlgError):
                h = np.linalg.inv(fit.var) + fit.curvature
                if np.all(np.linalg.eigvalsh(h) > 0):
                    v = np.linalg.inv(h)
        fit._cache["penalised_var"] = (v, np.linalg.inv(v))
    v, h = fit._cache["penalised_var"]
    tangent = v[:, k] / v[k, k]
    wald = math.sqrt(v[k, k] * crit)
    if fit.dinfo is None:
        return fit.coef_array + direction * wald * tangent
    # path curvature: d/dd U*_o = 0 twice gives c_o = -H_oo^-1 sum_rs dI_or/db_s t_r t_s
    bend = np.zeros_like(tangent)
    others = np.arange(tangent.shape[0]) != k
    if others.any():
        w = np.einsum("rst,r,t->s", fit.dinfo, tangent, tangent)
        h_oo = h[np.ix_(others, others)]
        bend[others] = -np.linalg.solve(h_oo, w[others])
    third = -direction * float(np.einsum("rst,r,s,t->", fit.dinfo, tangent, tangent, tangent))
    dist = wald
    for _ in range(4):  # Newton on the cubic
        slope = 2.0 * dist / v[k, k] - third * dist * dist
        if not slope > 0.0:
            dist = wald
            break
        dist -= (dist * dist / v[k, k] - third * dist**3 / 3.0 - crit) / slope
    if not 0.8 * wald < dist < 1.25 * wald:
        dist = wald
    return fit.coef_array + direction * dist * tangent + 0.5 * dist * dist * bend


def _joint_bound(
    sw: _Sweep,
    efron: bool,
    fit: FirthCoxFit,
    k: int,
    crit: float,
    direction: int,
    span: float,
) -> float | None:
    """One profile bound by a joint Newton iteration on all coefficients, one evaluation each.

    Venzon & Moolgavkar (1988) solve {profile(b_k) = l*max - chi2/2, U*_others = 0} jointly;
    here, at each point, the other coefficients take their Newton step H_oo^-1 U*_o (H: the
    information plus the fit's secant estimate of the penalty's curvature), the profile's
    value and slope at b_k are predicted to second order for that step (:func:`profile_step`),
    b_k takes a Newton step on the signed root r(b) = sqrt(2 (l*max - profile(b))) =
    sqrt(chi2) (linear in b for a quadratic profile), and the others follow the path's
    tangent; the first point is :func:`_bound_start`'s. Accepted with the criteria
    of :meth:`FirthCoxFit._profile_bound`: |g| within :func:`_g_tol` and an inner step of at
    most ``tol``. None when the iteration leaves the region where its model holds (a profile
    not decreasing outwards, an inner step above 1, the span, a singular information): the
    caller then uses the safeguarded search.
    """
    xtol = fit.options["tol"]
    tol_g = _g_tol(fit.loglik[1])
    lmax = fit.loglik[1]
    target = math.sqrt(crit)
    bhat = float(fit.coef_array[k])
    beta = _bound_start(fit, k, crit, direction)
    dist = direction * (float(beta[k]) - bhat)
    inside, outside = 0.0, math.inf  # bracket of the distance from b_hat
    curv = fit.curvature  # the penalty's curvature at the estimate: I + curv is l*'s
    for _ in range(_JOINT_ITER):
        if not 0.0 < dist <= span:
            return None
        ev = _evaluate(sw, beta, efron)
        if not np.isfinite(ev.pll):
            return None
        st = profile_step(ev.info if curv is None else ev.info + curv, ev.score, k)
        if not st.ok and curv is not None:
            curv = None
            st = profile_step(ev.info, ev.score, k)
        big = float(np.max(np.abs(st.step)))
        if not st.ok or big > 1.0:
            return None
        dev = 2.0 * (lmax - ev.pll - st.gain)  # profile deviance, to second order
        if big <= xtol and abs(dev - crit) <= tol_g:
            return float(beta[k])
        slope = direction * st.slope  # d profile / d distance, negative outwards
        if not (dev > 0.0 and slope < 0.0):
            return None
        if dev < crit:
            inside = dist
        else:
            outside = dist
        root = math.sqrt(dev)
        new = dist + (target - root) * root / -slope  # Newton on r: dr/d dist = -slope / r
        if not inside < new < outside:
            new = 2.0 * inside if math.isinf(outside) else 0.5 * (inside + outside)
        beta = beta + st.step + direction * (new - dist) * st.tangent
        beta[k] = bhat + direction * new
        dist = new
    return None


@dataclass(frozen=True)
class FirthCoxFit:
    """A Firth-penalised Cox fit (see :func:`fit_firth`); the surface of ``CoxFit``.

    Attributes
    ----------
    coef, se, hazard_ratio : dict[str, float]
        Penalised estimates; ``se`` from the inverse information at the estimate (coxphf).
    loglik : (null, fitted)
        Penalised log partial likelihood at beta = 0 and at the estimate.
    loglik_unpenalised : (null, fitted)
        The ordinary log partial likelihood at the same two points.
    tests : dict of CoxTest
        ``likelihood_ratio`` (penalised: 2 [l*(b) - l*(0)], coxphf's model test), ``wald``
        (b' I(b) b) and ``score`` (U*(0)' I(0)^-1 U*(0), the modified score at 0).
    """

    names: tuple[str, ...]
    coef_array: np.ndarray
    var: np.ndarray
    loglik: tuple[float, float]
    loglik_unpenalised: tuple[float, float]
    tests: dict
    n: int
    n_events: int
    iterations: int
    converged: bool
    ties: str
    conf_level: float
    data: CoxData = field(repr=False)
    sweep: _Sweep = field(repr=False, compare=False)  # beta-free parts of the evaluations
    options: dict = field(repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)
    # -(Hessian of the penalty) at the estimate, as estimated by the fit's secant updates
    curvature: np.ndarray | None = field(default=None, repr=False, compare=False)
    dinfo: np.ndarray | None = field(default=None, repr=False, compare=False)  # dI/db there

    firth: bool = True
    monotone: dict = field(default_factory=dict)  # Firth estimates are finite

    @property
    def coef(self) -> dict[str, float]:
        return {t: float(b) for t, b in zip(self.names, self.coef_array, strict=True)}

    @property
    def se(self) -> dict[str, float]:
        s = np.sqrt(np.diag(self.var))
        return {t: float(v) for t, v in zip(self.names, s, strict=True)}

    @property
    def hazard_ratio(self) -> dict[str, float]:
        return {t: math.exp(b) for t, b in self.coef.items()}

    @property
    def robust(self) -> bool:
        """Always False: no robust variance with Firth's penalty (CoxFit compatibility)."""
        return False

    @property
    def robust_se(self) -> None:
        return None

    @property
    def means(self) -> dict[str, float]:
        """The covariate centring (as CoxFit.means)."""
        return {t: float(m) for t, m in zip(self.names, self.data.means, strict=True)}

    # ---- profile penalised likelihood -------------------------------------------------------
    def _profile(
        self,
        k: int,
        b: float,
        start: np.ndarray | None = None,
        xtol: float | None = None,
        strict: bool = True,
        ev_start: _Eval | None = None,
    ) -> tuple[float, np.ndarray, _Eval | None]:
        """max over the other coefficients of l* with coefficient k fixed at b.

        Returns the maximum, the maximiser and its evaluation (None when l* is -inf there).
        ``xtol`` overrides the step tolerance of the inner maximisation. With ``strict=False``
        an inner maximisation stopped by rounding is returned (its evaluation marked
        ``converged=False``) instead of raising.
        """
        efron = self.ties == "efron"
        beta0 = self.coef_array.copy() if start is None else start.copy()
        beta0[k] = b
        free = np.ones(len(self.names), dtype=bool)
        free[k] = False
        o = self.options
        try:
            res = _maximise(
                self.sweep,
                efron,
                beta0,
                free,
                o["max_iter"],
                o["max_step"],
                o["max_halfstep"],
                o["gtol"],
                o["tol"] if xtol is None else xtol,
                ev_start,
            )
        except EstimationError:
            return -math.inf, beta0, None
        if not res.converged and strict:
            raise ConvergenceError(
                f"profile penalised likelihood for {self.names[k]!r} did not converge at "
                f"coefficient {b:.6g}"
            )
        return (
            res.ev.pll,
            res.beta,
            res.ev
            if res.converged or strict
            else _Eval(res.ev.pll, res.ev.ll, res.ev.score, res.ev.info, converged=False),
        )

    def term_test(self, term: str | int) -> CoxTest:
        """Penalised likelihood-ratio test of one coefficient = 0 (coxphf's per-term p)."""
        k = term if isinstance(term, int) else self.names.index(term)
        key = ("lrt", k)
        if key not in self._cache:
            prof, _, _ = self._profile(k, 0.0)
            stat = max(2.0 * (self.loglik[1] - prof), 0.0)
            self._cache[key] = CoxTest(stat, 1, float(special.chdtrc(1, stat)))
        return self._cache[key]

    def _term_p(self, k: int) -> float:
        try:
            return self.term_test(k).p_value
        except ConvergenceError as exc:
            warnings.warn(f"penalised LR test not available: {exc}", RuntimeWarning, stacklevel=3)
            return math.nan

    def penalised_lrt(self, terms: Sequence[str]) -> CoxTest:
        """Penalised likelihood-ratio test that the coefficients of ``terms`` are all 0.

        2 [l*(b) - max_{b_S = 0} l*], chi-square on |S| df (R ``coxphf::coxphftest``).
        """
        unknown = [t for t in terms if t not in self.names]
        if unknown:
            raise ValueError(f"unknown term(s) {unknown}; the model's terms are {list(self.names)}")
        idx = [self.names.index(t) for t in terms]
        if not idx:
            raise ValueError("name at least one term")
        beta0 = self.coef_array.copy()
        beta0[idx] = 0.0
        free = np.ones(len(self.names), dtype=bool)
        free[idx] = False
        o = self.options
        res = _maximise(
            self.sweep,
            self.ties == "efron",
            beta0,
            free,
            o["max_iter"],
            o["max_step"],
            o["max_halfstep"],
            o["gtol"],
            o["tol"],
        )
        if not res.converged:
            raise ConvergenceError(f"the constrained fit with {list(terms)} = 0 did not converge")
        stat = max(2.0 * (self.loglik[1] - res.ev.pll), 0.0)
        return CoxTest(stat, len(idx), float(special.chdtrc(len(idx), stat)))

    def _profile_bound(self, k: int, level: float, direction: int) -> float:
        """Solve g(b) = 2 [l*(b_hat) - profile(b)] - chi2_{1, level} = 0 on one side of b_hat.

        First by the joint Newton iteration of :func:`_joint_bound` (one likelihood evaluation
        per step, from the Wald bound); where that leaves the region its quadratic model holds,
        by the search below, which maximises the profile at every trial point.
        g'(b) = -2 U*_k at the constrained maximum (envelope theorem), so a safeguarded Newton
        iteration is used: Newton steps inside the current bracket, bisection otherwise, and,
        before a bracket exists, Newton steps capped at doubling the distance from b_hat. The other
        coefficients are warm-started along the tangent -H_oo^-1 H_ok (b - b_prev). A bound is
        +-inf when g stays negative out to a coefficient change of _PROFILE_SPAN per standard
        deviation of the covariate (a hazard ratio per SD beyond e^40): it does not exist in any
        usable sense, and is never reported as a number.
        """
        crit = float(special.chdtri(1, 1.0 - level))
        bhat = float(self.coef_array[k])
        lmax = self.loglik[1]
        if ("sd", k) not in self._cache:
            self._cache[("sd", k)] = float(np.std(self.data.X[:, k]))
        sd = self._cache[("sd", k)]
        span = _PROFILE_SPAN / sd if sd > 0 else _PROFILE_SPAN
        fast = _joint_bound(self.sweep, self.ties == "efron", self, k, crit, direction, span)
        if fast is not None:
            return fast
        limit = bhat + direction * span
        others = np.array([j for j in range(len(self.names)) if j != k], dtype=np.int64)
        inside, outside = bhat, None
        beta_prev, b_prev = self.coef_array.copy(), bhat
        info_prev = np.linalg.inv(self.var)
        se = math.sqrt(self.var[k, k])
        b = bhat + direction * min(max(se * math.sqrt(crit), 1e-8), span)
        precise = len(self.names) == 1  # nothing to maximise over with a single coefficient
        last = None  # (b, maximiser, its evaluation) of the previous profile point
        for _ in range(200):
            start = beta_prev.copy()
            if others.size:
                h_oo = info_prev[np.ix_(others, others)]
                h_ok = info_prev[others, k]
                with contextlib.suppress(np.linalg.LinAlgError):
                    start[others] -= np.linalg.solve(h_oo, h_ok) * (b - b_prev)
            # far from the root the inner maximum is needed only roughly (its error enters g
            # squared); the accepted bound is always computed at full precision
            # (far out in a monotone direction the inner maximum can stall at rounding level:
            # such a point still classifies b as inside or outside, but is never returned)
            # a point revisited at full precision (same b, same start) reuses its evaluation
            again = last is not None and last[0] == b and np.array_equal(last[1], start)
            val, beta, ev = self._profile(
                k, b, start, None if precise else 1e-6, False, last[2] if again else None
            )
            last = (b, beta, ev) if ev is not None else None
            if ev is None or not np.isfinite(val):
                g, dg = math.inf, math.nan
            else:
                g = 2.0 * (lmax - val) - crit
                dg = -2.0 * float(ev.score[k])
                beta_prev, b_prev, info_prev = beta, b, ev.info
            # g is a difference of log-likelihoods of size |lmax|: solve it to rounding level
            if abs(g) <= _g_tol(lmax):
                if precise and ev is not None and ev.converged:
                    return b
                if precise:
                    raise ConvergenceError(
                        f"profile CI bound for {self.names[k]!r}: the constrained maximum at "
                        f"coefficient {b:.6g} cannot be computed to the needed precision"
                    )
                precise = True
                continue
            precise = precise or abs(g) < 1e-4
            if g < 0:
                inside = b
            else:
                outside = b
            if outside is not None and abs(outside - inside) <= 1e-11 * max(1.0, abs(b)):
                return 0.5 * (inside + outside)
            newton = b - g / dg if np.isfinite(g) and np.isfinite(dg) and dg != 0 else math.nan
            if outside is None:
                if abs(inside - bhat) >= span * (1.0 - 1e-12):
                    return direction * math.inf
                # Newton when it moves outwards, but at most doubling the distance from b_hat
                far = inside + direction * max(abs(inside - bhat), 1e-8)
                outward = np.isfinite(newton) and direction * (newton - inside) > 0
                b = newton if outward and direction * (far - newton) > 0 else far
                if direction * (b - limit) > 0:
                    b = limit
            else:
                lo, hi = sorted((inside, outside))
                b = newton if np.isfinite(newton) and lo < newton < hi else 0.5 * (lo + hi)
        raise ConvergenceError(f"profile CI bound for {self.names[k]!r} did not converge")

    def conf_int(self, conf_level: float | None = None, method: str = "profile") -> pl.DataFrame:
        """Confidence intervals of the hazard ratios.

        ``method="profile"`` (default, coxphf's): the set of b with 2 [l*(b_hat) - max l*(b_k =
        b)] <= chi2_{1, level}; a bound that does not exist is +inf (upper) or 0 (lower) with
        ``lower_unbounded``/``upper_unbounded`` set; a bound that cannot be computed to
        precision (a profile flat to rounding far out) is NaN, with a RuntimeWarning.
        ``method="wald"``: exp(b -/+ z se).
        """
        level = self.conf_level if conf_level is None else conf_level
        if not 0.0 < level < 1.0:
            raise ValueError(f"conf_level must be in (0, 1), got {level}")
        if method not in ("profile", "wald"):
            raise ValueError(f"method must be 'profile' or 'wald', got {method!r}")
        key = ("ci", method, level)
        if key not in self._cache:
            lo = np.empty(len(self.names))
            hi = np.empty(len(self.names))
            if method == "wald":
                z = special.ndtri(0.5 + level / 2.0)
                se = np.sqrt(np.diag(self.var))
                lo, hi = self.coef_array - z * se, self.coef_array + z * se
            else:
                for k in range(len(self.names)):
                    for arr, direction in ((lo, -1), (hi, +1)):
                        try:
                            arr[k] = self._profile_bound(k, level, direction)
                        except ConvergenceError as exc:
                            # a bound we cannot compute is NaN, said aloud, never a guess
                            warnings.warn(str(exc), RuntimeWarning, stacklevel=2)
                            arr[k] = math.nan
            self._cache[key] = pl.DataFrame(
                {
                    "term": list(self.names),
                    "estimate": np.exp(self.coef_array),
                    "lower": np.exp(lo),
                    "upper": np.exp(hi),
                    "lower_unbounded": np.isinf(lo),
                    "upper_unbounded": np.isinf(hi),
                    "method": [method] * len(self.names),
                }
            )
        return self._cache[key]

    def table(self, conf_level: float | None = None, method: str = "profile") -> pl.DataFrame:
        """One row per term: coef, hazard_ratio, se, z, p_wald, p_value (penalised LRT, as
        coxphf), lower, upper (profile by default), and the unbounded flags."""
        se = np.sqrt(np.diag(self.var))
        z = self.coef_array / se
        ci = self.conf_int(conf_level, method)
        return pl.DataFrame(
            {
                "term": list(self.names),
                "coef": self.coef_array,
                "hazard_ratio": np.exp(self.coef_array),
                "se": se,
                "z": z,
                "p_wald": 2.0 * special.ndtr(-np.abs(z)),
                "p_value": [self._term_p(k) for k in range(len(self.names))],
                "lower": ci["lower"],
                "upper": ci["upper"],
                "lower_unbounded": ci["lower_unbounded"],
                "upper_unbounded": ci["upper_unbounded"],
            }
        )

    def tests_table(self) -> pl.DataFrame:
        """The global tests as a tidy frame: test, statistic, df, p_value."""
        return tests_table(self.tests)

    def summary(self, conf_level: float | None = None) -> str:
        """Human-readable summary in the layout of R ``summary(coxphf(...))``."""
        level = self.conf_level if conf_level is None else conf_level
        cd = self.data
        lines = [
            "Cox model with Firth's penalised likelihood (Heinze & Schemper 2001; "
            f"ties={self.ties}{', strata' if cd.strata_levels else ''}"
            f"{', (start, stop] data' if cd.counting else ''})",
            f"  n = {self.n}, number of events = {self.n_events}, iterations = "
            f"{self.iterations}{'' if self.converged else ' (NOT converged)'}",
            "",
        ]
        pct = f"{100 * level:g}%"
        lines.append(
            f"{'term':<22}{'coef':>10}{'HR':>10}{'se(coef)':>10}{'p (PLR)':>11}"
            f"{'lower ' + pct:>13}{'upper ' + pct:>13}"
        )
        for r in self.table(level).iter_rows(named=True):
            lo = "0 (unbounded)" if r["lower_unbounded"] else f"{r['lower']:.4f}"
            hi = "inf (unbounded)" if r["upper_unbounded"] else f"{r['upper']:.4f}"
            lines.append(
                f"{r['term']:<22}{r['coef']:>10.4f}{r['hazard_ratio']:>10.4f}{r['se']:>10.4f}"
                f"{r['p_value']:>11.4g}{lo:>13}{hi:>13}"
            )
        lines.append(f"  (profile penalised-likelihood {pct} CIs; p from penalised LR tests)")
        names = {
            "likelihood_ratio": "Penalised likelihood ratio test",
            "wald": "Wald test",
            "score": "Penalised score test",
        }
        lines.append("")
        for k, t in self.tests.items():
            lines.append(f"{names[k]:<36}= {t.statistic:.4f} on {t.df} df, p = {t.p_value:.4g}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _global_tests(b: np.ndarray, fitted: _Eval, null: _Eval) -> dict[str, CoxTest]:
    """coxphf's global tests: penalised LR 2 [l*(b) - l*(0)], Wald b' I(b) b and the score
    test U*(0)' I(0)^-1 U*(0)."""
    p = b.shape[0]
    lr = max(2.0 * (fitted.pll - null.pll), 0.0)
    wald = float(b @ fitted.info @ b)
    score = float(null.score @ np.linalg.solve(null.info, null.score))
    return {
        "likelihood_ratio": CoxTest(lr, p, float(special.chdtrc(p, lr))),
        "wald": CoxTest(wald, p, float(special.chdtrc(p, wald))),
        "score": CoxTest(score, p, float(special.chdtrc(p, score))),
    }


def fit_firth(
    cd: CoxData,
    ties: str = "efron",
    conf_level: float = 0.95,
    max_iter: int = _MAX_ITER,
    max_step: float = _MAX_STEP,
    max_halfstep: int = _MAX_HALFSTEP,
    gtol: float = _GTOL,
    tol: float = _TOL,
    init: Sequence[float] | None = None,
) -> FirthCoxFit:
    """Fit a Cox model by Firth's penalised partial likelihood (Heinze & Schemper 2001).

    Maximises l*(b) = l(b) + 1/2 log|I(b)| with the modified score U*_r = U_r + 1/2
    tr(I^{-1} dI/db_r); Newton-type steps with the unpenalised information as curvature, each
    step capped at ``max_step`` per coefficient and halved while l* does not increase (coxphf's
    scheme); converged when the next step is <= ``tol`` in every coefficient (or max |U*| <=
    ``gtol``). A symmetric rank-one secant term for the penalty's curvature speeds this up.

    Parameters
    ----------
    cd : CoxData
        Prepared design (:func:`mrdtrack.survival._coxdata.prepare_cox_data`): right-censored
        or (start, stop] rows (risk set start < t <= stop), strata, case weights.
    ties : {"efron", "breslow"}
        Efron (R's default) or Breslow (SAS PHREG's, coxphf's and firthmodels' only choice).
    conf_level : float
        Default level of :meth:`FirthCoxFit.conf_int`.
    max_iter, max_step, max_halfstep, gtol, tol
        Iteration controls (see above): coxphf's ``maxit``, ``maxstep``, ``maxhs``, ``gconv``
        and ``epsilon`` (step criterion).
    init : sequence of float, optional
        Starting values (default 0).

    Returns
    -------
    FirthCoxFit
        Estimates, variance I(b)^-1, penalised log-likelihoods, global tests; profile CIs and
        per-term penalised LR tests on demand (``conf_int``, ``table``, ``term_test``).

    Notes
    -----
    R equivalent: ``coxphf::coxphf(Surv(time, event) ~ x, data, pl = TRUE)`` (Breslow ties, no
    strata, right-censored only); SAS: ``PROC PHREG; MODEL ... / FIRTH RISKLIMITS=PL``
    (Breslow). ``firthmodels.FirthCoxPH`` (Breslow). Here Efron ties, strata and (start, stop]
    data use the same penalty on the corresponding partial likelihood. A cluster (robust
    variance) is not supported with Firth's penalty.
    """
    efron = check_ties(ties) == "efron"
    if cd.cluster is not None:
        raise ValueError("a robust (cluster) variance is not available with firth=True")
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level}")
    p = cd.p
    if p == 0:
        raise ValueError("Firth's penalty needs at least one covariate")
    beta0 = np.zeros(p) if init is None else np.asarray(init, dtype=float).reshape(p)
    free = np.ones(p, dtype=bool)
    sw = _sweep(cd)
    res = _maximise(sw, efron, beta0, free, max_iter, max_step, max_halfstep, gtol, tol)
    if not res.converged:
        warnings.warn(
            f"Firth fit did not converge in {res.iterations} iterations "
            f"(max |U*| = {np.max(np.abs(res.ev.score)):.3g})",
            RuntimeWarning,
            stacklevel=2,
        )
    null = (
        res.start if init is None and res.start is not None else _evaluate(sw, np.zeros(p), efron)
    )
    try:
        var = np.linalg.inv(res.ev.info)
    except np.linalg.LinAlgError as exc:
        raise EstimationError("the information matrix is singular at the Firth estimate") from exc
    return FirthCoxFit(
        names=cd.names,
        coef_array=res.beta,
        var=var,
        loglik=(null.pll, res.ev.pll),
        loglik_unpenalised=(null.ll, res.ev.ll),
        tests=_global_tests(res.beta, res.ev, null),
        n=cd.n,
        n_events=cd.n_events,
        iterations=res.iterations,
        converged=res.converged,
        ties="efron" if efron else "breslow",
        conf_level=conf_level,
        data=cd,
        sweep=sw,
        curvature=res.curvature,
        dinfo=res.ev.dinfo,
        options={
            "max_iter": max_iter,
            "max_step": max_step,
            "max_halfstep": max_halfstep,
            "gtol": gtol,
            "tol": tol,
        },
    )
