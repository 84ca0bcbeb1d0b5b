"""Quantities derived from a fitted panel Markov model: first passage times and intensity ratios.

* :func:`first_passage_time` — expected first passage time into a state (R ``msm::efpt.msm``):
  for the states F from which the target is reached with probability one, the mean hitting
  times solve ``-Q_FF m = 1`` (Norris, 1997, thm 3.3.3); the target itself has 0, and states
  from which another absorbing state can be reached first have infinity (msm's convention).
* :func:`intensity_ratio` — ratio of two intensities ``q_rs / q_uv`` (R ``msm::qratio.msm``),
  where a diagonal entry ``q_rr`` is minus the total exit rate; delta-method CI on the log scale.

Both offer msm's ``ci`` options: ``"normal"`` (percentiles over parameter vectors drawn from
the asymptotic normal distribution, msm ``normboot.msm``) and ``"bootstrap"`` (percentiles over
refits to nonparametric bootstrap resamples, msm ``boot.msm``; R ``quantile`` type 7 at
``(1 - conf_level) / 2`` and its complement; the SE of a ratio is the SD of the replicates, as
msm).  Random numbers are numpy's: limits agree with msm's within Monte-Carlo error.

References
----------
Norris JR (1997). Markov Chains. Cambridge University Press.
Jackson CH (2011). Multi-state models for panel data: the msm package for R. J Stat Softw 38(8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.stats

from mrdtrack.errors import EstimationError

from ._data import reachable
from .bootstrap import bootstrap_fits


def parameter_draws(fit, n_draws: int, seed: int | None) -> np.ndarray:
    """Working-parameter vectors drawn from their asymptotic normal distribution (msm
    ``normboot.msm``); needs the covariance matrix of the fit."""
    if fit.covariance is None:
        raise EstimationError(
            "no simulation-based limits: the Hessian was not positive definite (see the fit "
            "warning); use bootstrap_fits() for intervals instead"
        )
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(fit.params, fit.covariance, size=n_draws, method="cholesky")


def _check_options(ci: str, allowed: tuple[str, ...], n_draws, n_boot, boot_fits, client):
    """Raise for an unknown ``ci`` or an option that this ``ci`` does not use (TypeError)."""
    if ci not in allowed:
        raise ValueError(f"ci must be one of {list(allowed)}, got {ci!r}")
    unused = []
    if n_draws is not None and ci != "normal":
        unused.append("n_draws")
    if ci != "bootstrap":
        unused += [n for n, v in (("n_boot", n_boot), ("boot_fits", boot_fits), ("client", client))
                   if v is not None]  # fmt: skip
    if unused:
        raise TypeError(f"ci={ci!r} does not use {unused}")


def replicate_fits(fit, n_boot, seed, client, boot_fits) -> list:
    """Bootstrap refits for ``ci="bootstrap"``: ``boot_fits`` if given (e.g. shared by several
    quantities), else :func:`bootstrap_fits` with ``n_boot`` (default 1000, msm's ``B``)."""
    if boot_fits is not None:
        return list(boot_fits)
    return bootstrap_fits(fit, n_boot=1000 if n_boot is None else n_boot, seed=seed, client=client)


def percentile_limits(sims: np.ndarray, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """msm's percentile limits: R ``quantile`` type 7 at ``(1 - cl) / 2`` and ``(1 + cl) / 2``."""
    a = (1 - conf_level) / 2
    return np.quantile(sims, a, axis=0), np.quantile(sims, 1 - a, axis=0)


def _qmatrix_at(fit, params: np.ndarray, z: np.ndarray) -> np.ndarray:
    q = fit._spec.intensities(params, z[None, :])
    return fit._spec.generators(q)[0]


def _efpt_from_q(qm: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Expected first passage times into the set ``target`` (bool (K,)) from every state."""
    k = qm.shape[0]
    est = np.full(k, np.nan)
    est[target] = 0.0
    absorbing = np.all(qm == 0, axis=1)
    other_abs = absorbing & ~target
    est[other_abs] = np.inf
    # Q with the target made absorbing: can another absorbing state be reached first?
    qred = qm.copy()
    qred[target, :] = 0.0
    reach = reachable((qred > 0) & ~np.eye(k, dtype=bool))
    elsewhere = reach[:, other_abs].any(axis=1) & ~target & ~other_abs
    est[elsewhere] = np.inf
    # states from which the target cannot be reached at all (e.g. no transition into it)
    qmask = (qm > 0) & ~np.eye(k, dtype=bool)
    never = ~reachable(qmask)[:, target].any(axis=1) & np.isnan(est)
    est[never] = np.inf
    free = np.isnan(est)
    if np.any(free):
        est[free] = np.linalg.solve(-qm[np.ix_(free, free)], np.ones(int(free.sum())))
    return est


@dataclass(frozen=True)
class FirstPassageResult:
    """Expected first passage times into ``to_states`` from each state (or a start mix)."""

    to_states: tuple[int, ...]
    estimate: np.ndarray  # (K,) or (1,) when a start distribution was given
    lower: np.ndarray | None
    upper: np.ndarray | None
    ci_method: str
    from_labels: tuple[str, ...]

    def table(self) -> pl.DataFrame:
        out = {"from": list(self.from_labels), "estimate": self.estimate}
        if self.lower is not None:
            out["lower"] = self.lower
            out["upper"] = self.upper
        return pl.DataFrame(out)

    def summary(self) -> str:
        lines = [f"Expected first passage time into state(s) {list(self.to_states)}"]
        for i, lab in enumerate(self.from_labels):
            ci = ""
            if self.lower is not None:
                ci = f" ({self.lower[i]:.4g}, {self.upper[i]:.4g})"
            lines.append(f"  from {lab}: {self.estimate[i]:.4g}{ci}")
        lines.append(f"  [CI: {self.ci_method}]")
        return "\n".join(lines)


def first_passage_time(
    fit,
    to_state: int | Sequence[int],
    *,
    start: Sequence[float] | None = None,
    covariates: Mapping[str, float] | None = None,
    ci: str = "none",
    n_draws: int | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
    client=None,
    boot_fits: Sequence | None = None,
) -> FirstPassageResult:
    """Expected first passage time into ``to_state`` (R ``msm::efpt.msm``).

    Parameters
    ----------
    fit : PanelMarkovFit.
    to_state : target state(s), 1-based; several states are one target set.
    start : optional initial state distribution; the result is then its weighted mean (msm
        ``start``), over the states with a finite time.
    covariates : covariate values (default: the covariate means, msm ``covariates = "mean"``).
    ci : "none"; "normal" (msm: percentiles over ``n_draws`` (default 1000) parameter vectors
        drawn from the asymptotic normal distribution of the estimates, seeded by ``seed``);
        "bootstrap" (msm: percentiles over ``n_boot`` (default 1000) refits to bootstrap
        resamples, or over ``boot_fits`` from :func:`bootstrap_fits`; ``client``: Dask); or
        "delta" (ours: delta method on the log scale with the analytic derivative
        ``d m = (-Q_FF)^-1 dQ_FF m``).  An option the chosen ``ci`` does not use is a
        TypeError.

    Conventions shared with msm: target 0, infinite from other absorbing states and from states
    that can reach another absorbing state first (msm tests ``P(1) > 1e-16`` in the reduced
    model; we test reachability in the transition graph, the same set for any positive
    intensities).  Time unit: that of the fit.
    """
    _check_options(ci, ("none", "normal", "bootstrap", "delta"), n_draws, n_boot, boot_fits, client)
    k = fit.n_states
    targets = np.atleast_1d(np.asarray(to_state, dtype=int))
    if np.any((targets < 1) | (targets > k)):
        raise ValueError(f"to_state must be in 1..{k}")
    tmask = np.zeros(k, dtype=bool)
    tmask[targets - 1] = True
    z = fit._zvec(covariates)
    qm = _qmatrix_at(fit, fit.params, z)
    est = _efpt_from_q(qm, tmask)
    w = None
    if start is not None:
        w = np.asarray(start, dtype=float)
        if w.shape != (k,) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"start must be {k} non-negative numbers")
        w = w / w.sum()

    def collapse(e):
        if w is None:
            return e
        keep = w > 0
        return np.array([float(np.sum(w[keep] * e[keep]))])

    labels = tuple(str(i) for i in range(1, k + 1)) if w is None else ("start",)
    value = collapse(est)
    if ci == "none":
        return FirstPassageResult(tuple(int(t) for t in targets), value, None, None, "none", labels)
    level = fit.conf_level
    if ci == "normal":
        n_draws = 1000 if n_draws is None else n_draws
        draws = parameter_draws(fit, n_draws, seed)
        sims = np.array([collapse(_efpt_from_q(_qmatrix_at(fit, p, z), tmask)) for p in draws])
        lo, hi = percentile_limits(sims, level)
        return FirstPassageResult(
            tuple(int(t) for t in targets), value, lo, hi, f"normal draws ({n_draws})", labels
        )
    if ci == "bootstrap":
        fits = replicate_fits(fit, n_boot, seed, client, boot_fits)
        sims = np.array([collapse(_efpt_from_q(f.qmatrix(covariates), tmask)) for f in fits])
        lo, hi = percentile_limits(sims, level)
        return FirstPassageResult(
            tuple(int(t) for t in targets), value, lo, hi, f"bootstrap ({len(fits)})", labels
        )
    lo, hi = _efpt_delta_limits(fit, z, qm, est, tmask, w, value, level)
    return FirstPassageResult(
        tuple(int(t) for t in targets), value, lo, hi, "delta (log scale)", labels
    )


def _efpt_delta_limits(fit, z, qm, est, tmask, w, value, level):
    """Delta-method limits of first passage times on the log scale, from the analytic
    derivative ``d m = (-Q_FF)^-1 dQ_FF m``; ``w``: start distribution or None."""
    if fit.covariance is None:
        raise EstimationError(
            "no confidence limits: the Hessian was not positive definite (see the fit warning)"
        )
    free = np.isfinite(est) & ~tmask
    qf = qm[np.ix_(free, free)]
    m = est[free]
    qvec = fit._spec.intensities(fit.params, z[None, :])[0]
    g = fit._loglin_grad(z)  # (T, npar)
    dirs = fit._spec.directions(qvec[None, :])[0]  # (T, K, K): dQ / d log q_t
    dm_dlogq = np.stack(
        [np.linalg.solve(-qf, d[np.ix_(free, free)] @ m) for d in dirs], axis=1
    )  # (F, T)
    dm = np.zeros((fit.n_states, len(fit.params)))
    dm[free] = dm_dlogq @ g
    if w is not None:
        keep = (w > 0) & np.isfinite(est)
        dm = (w[keep] @ dm[keep])[None, :]
    var = np.einsum("ip,pq,iq->i", dm, fit.covariance, dm)
    zc = float(scipy.stats.norm.ppf(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        lse = np.sqrt(var) / value
        lo = np.where(np.isfinite(value) & (value > 0), value * np.exp(-zc * lse), value)
        hi = np.where(np.isfinite(value) & (value > 0), value * np.exp(zc * lse), value)
    return lo, hi


@dataclass(frozen=True)
class IntensityRatioResult:
    """Ratio of two transition intensities with a delta-method CI (msm ``qratio.msm``)."""

    numerator: tuple[int, int]
    denominator: tuple[int, int]
    estimate: float
    se: float
    lower: float
    upper: float

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "numerator": [f"{self.numerator[0]}->{self.numerator[1]}"],
                "denominator": [f"{self.denominator[0]}->{self.denominator[1]}"],
                "estimate": [self.estimate],
                "se": [self.se],
                "lower": [self.lower],
                "upper": [self.upper],
            }
        )

    def summary(self) -> str:
        (a, b), (c, d) = self.numerator, self.denominator
        return (
            f"q{a}{b} / q{c}{d} = {self.estimate:.4g} (SE {self.se:.3g}; "
            f"{self.lower:.4g}, {self.upper:.4g})"
        )


def intensity_ratio(
    fit,
    numerator: tuple[int, int],
    denominator: tuple[int, int],
    covariates: Mapping[str, float] | None = None,
    *,
    ci: str = "delta",
    n_draws: int | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
    client=None,
    boot_fits: Sequence | None = None,
) -> IntensityRatioResult:
    """Ratio ``q[numerator] / q[denominator]`` of two entries of Q (R ``msm::qratio.msm``).

    A diagonal entry ``(r, r)`` stands for ``q_rr = -sum_s q_rs`` as in msm.  ``ci="delta"``
    (msm's default): SE by the delta method on the ratio, CI by the delta method on
    ``log |ratio|``; ``"normal"``: percentiles and SD over ``n_draws`` (default 1000) parameter
    vectors from the asymptotic normal distribution; ``"bootstrap"``: percentiles and SD over
    ``n_boot`` (default 1000) bootstrap refits or ``boot_fits``; ``"none"``: estimate only (SE
    and limits NaN).  States are 1-based; intensities at the covariate means unless
    ``covariates`` is given.
    """
    _check_options(ci, ("delta", "normal", "bootstrap", "none"), n_draws, n_boot, boot_fits, client)
    k = fit.n_states
    for name, pair in (("numerator", numerator), ("denominator", denominator)):
        if len(pair) != 2 or not all(1 <= int(s) <= k for s in pair):
            raise ValueError(f"{name} must be a pair of states in 1..{k}")
    z = fit._zvec(covariates)
    qvec = fit._spec.intensities(fit.params, z[None, :])[0]
    g = fit._loglin_grad(z)
    trans = [tuple(t) for t in fit.transitions]

    def entry(pair):
        a, b = int(pair[0]), int(pair[1])
        if a == b:
            idx = [i for i, (r, _) in enumerate(trans) if r == a]
            if not idx:
                return 0.0, np.zeros(len(fit.params))
            tot = qvec[idx].sum()
            return -tot, (qvec[idx, None] * g[idx]).sum(axis=0) / tot
        if (a, b) not in trans:
            return 0.0, np.zeros(len(fit.params))
        i = trans.index((a, b))
        return qvec[i], g[i]

    num, dnum = entry(numerator)
    den, dden = entry(denominator)
    if den == 0:
        raise ValueError(f"denominator q{denominator[0]}{denominator[1]} is zero")
    if num == 0:
        return IntensityRatioResult(tuple(numerator), tuple(denominator), 0.0, 0.0, 0.0, 0.0)
    est = num / den
    pair = ((int(numerator[0]), int(numerator[1])), (int(denominator[0]), int(denominator[1])))
    if ci == "none":
        return IntensityRatioResult(*pair, float(est), np.nan, np.nan, np.nan)
    if ci in ("normal", "bootstrap"):
        if ci == "normal":
            draws = parameter_draws(fit, 1000 if n_draws is None else n_draws, seed)
            qs = [_qmatrix_at(fit, p, z) for p in draws]
        else:
            qs = [
                f.qmatrix(covariates) for f in replicate_fits(fit, n_boot, seed, client, boot_fits)
            ]
        a, b = pair[0][0] - 1, pair[0][1] - 1
        c, d = pair[1][0] - 1, pair[1][1] - 1
        sims = np.array([q[a, b] / q[c, d] for q in qs])
        lo, hi = percentile_limits(sims, fit.conf_level)
        return IntensityRatioResult(
            *pair, float(est), float(sims.std(ddof=1)), float(lo), float(hi)
        )
    dlog = dnum - dden  # d log|ratio| / d params
    cov = fit._cov()
    lse = float(np.sqrt(dlog @ cov @ dlog))
    zc = fit._z
    s = np.sign(est)
    lo = s * np.exp(np.log(abs(est)) - s * zc * lse)
    hi = s * np.exp(np.log(abs(est)) + s * zc * lse)
    return IntensityRatioResult(
        *pair,
        float(est),
        float(abs(est) * lse),
        float(lo),
        float(hi),
    )
