"""Bootstrap for panel Markov models: refits on resampled or simulated data (R ``msm::boot.msm``).

* :func:`bootstrap_fits` — nonparametric bootstrap as msm's ``boot.msm``: for a model without
  misclassification or censored states, the independent transitions (pairs of consecutive
  observations) are resampled; otherwise whole subjects are resampled.  Each resample is refitted
  with the model of the original fit, started at its estimates.
* :func:`bootstrap_intervals` — percentile limits and bootstrap standard errors of any
  quantity computed from a fit (default: the intensities), as msm's ``ci = "bootstrap"``
  (quantiles ``(1 - cl) / 2`` and ``1 - (1 - cl) / 2``, R ``quantile`` type 7; SE = sample SD).
* :func:`simulate_from_fit` — a data set simulated from the fitted model at the observed visit
  times (R ``msm::simfitted.msm`` with ``drop.absorb = TRUE``), used for the Pearson test's
  parametric bootstrap.

Refits that fail (no convergence, or a non-positive-definite Hessian) are replaced by new
draws, as msm does, up to ``10 * n_boot`` attempts.  Runs serially by default; pass a
``dask.distributed.Client`` as ``client`` to run refits in parallel (same seeds, same results).
Random numbers are numpy's (seeded), so results agree with msm in distribution only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from mrdtrack.errors import ConvergenceError, EstimationError

from .expm import pmatrix_by_pattern
from .panel_markov import fit_panel_markov

_SUBJ, _TIME, _STATE = "__subject", "__time", "__state"


def _panel_frame(fit) -> tuple[pl.DataFrame, dict]:
    """The fit's data (sorted, pci rows excluded) as a frame, and the refit arguments."""
    if fit._call is None:
        raise ValueError("this fit does not carry its model specification; refit it")
    if fit.pci is not None:
        raise NotImplementedError("bootstrap for models with pci is not implemented")
    pdd = fit._panel
    call = dict(fit._call)
    codes = sorted(call["censored_states"]) if call.get("censored_states") else []
    raw = np.where(
        pdd.state >= 0, pdd.state + 1, np.array([*codes, 0])[np.clip(-pdd.state - 1, 0, None)]
    )
    cols = {_SUBJ: pdd.subject_index, _TIME: pdd.time, _STATE: raw}
    for j, name in enumerate(call["covariates"]):
        cols[name] = pdd.x[:, j]
    for j, name in enumerate(call.get("misccovariates") or ()):
        cols[name] = pdd.ex[:, j]
    if call.get("obstype"):
        cols[call["obstype"]] = np.where(pdd.obstype == 3, 1, pdd.obstype)
    if call.get("obstrue"):
        cols[call["obstrue"]] = pdd.obstrue.astype(np.int64)
    call.update(subject=_SUBJ, time=_TIME, state=_STATE)
    call["covariates"] = list(call["covariates"])
    return pl.DataFrame(cols), call


def refit_like(fit, frame: pl.DataFrame, call: dict):
    """Refit the model of ``fit`` to ``frame`` (from its estimates; no covariance needed)."""
    args = dict(call)
    qm = fit.qmatrix()
    args["qmatrix"] = np.where(np.asarray(call["qmatrix"]) > 0, np.abs(qm), 0.0)
    if fit.hidden:
        args["ematrix"] = np.where(np.asarray(call["ematrix"]) > 0, fit.ematrix(), 0.0)
    # no covariance is needed from a refit (msm refits without the Hessian): a refit whose
    # Hessian is not positive definite still counts, one that does not converge does not
    args["errors"] = "warn"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = fit_panel_markov(frame, **args)
    if not refit.converged:
        raise ConvergenceError("bootstrap refit did not converge")
    return refit


def simulate_from_fit(fit, seed: int | None = None, times: np.ndarray | None = None):
    """Simulate states at the observed visit times from the fit (msm ``simfitted.msm``).

    Each subject starts in its first observed state (a censored first observation: a state drawn
    uniformly from the allowed set); the state at the next time is drawn from ``P(dt)`` at the
    covariates of the interval's first observation; observations after the first entry into an
    absorbing state are dropped (msm ``drop.absorb = TRUE``).  ``times`` replaces the visit
    times (same order as the fit's sorted data).  Returns a frame in the fit's column layout and
    the refit arguments.
    """
    frame, call = _panel_frame(fit)
    pdd = fit._panel
    rng = np.random.default_rng(seed)
    k = fit.n_states
    t = pdd.time if times is None else np.asarray(times, dtype=float)
    first = pdd.first
    st = pdd.state.copy()
    f_idx = np.flatnonzero(first)
    for i in f_idx[st[f_idx] < 0]:  # a censored first observation: any allowed state
        st[i] = rng.choice(np.flatnonzero(pdd.censor_sets[-st[i] - 1] > 0))
    spec = fit._spec
    z = pdd.z
    if z.shape[1]:
        zpat, pat = np.unique(z, axis=0, return_inverse=True)
        pat = pat.ravel()
    else:
        zpat, pat = np.zeros((1, 0)), np.zeros(len(t), dtype=np.int64)
    qpat = spec.generators(spec.intensities(fit.params, zpat))
    absorbing = np.all(fit.qmatrix() == 0, axis=1)
    counts = np.bincount(pdd.subject_index, minlength=pdd.n_subjects)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    sim = np.full(len(st), -1, dtype=np.int64)
    sim[f_idx] = st[f_idx]
    cur = st[start].astype(np.int64)
    alive = ~absorbing[cur]
    u = rng.random(len(st))
    # one step for all subjects at once: their j-th observation given the (j-1)-th
    for j in range(1, int(counts.max()) if len(counts) else 0):
        sub = np.flatnonzero(alive & (counts > j))
        if not len(sub):
            break
        rows = start[sub] + j
        p = pmatrix_by_pattern(qpat, t[rows] - t[rows - 1], pat[rows - 1])
        prow = p[np.arange(len(sub)), cur[sub], :]
        cum = np.cumsum(prow, axis=1)
        nxt = (u[rows, None] * cum[:, -1:] >= cum).sum(axis=1)
        cur[sub] = np.minimum(nxt, k - 1)
        sim[rows] = cur[sub]
        alive[sub] = ~absorbing[cur[sub]]
    keep = sim >= 0
    out = frame.with_columns(pl.Series(_TIME, t), pl.Series(_STATE, sim + 1)).filter(
        pl.Series(keep)
    )
    if call.get("obstype"):
        out = out.with_columns(pl.lit(1).alias(call["obstype"]))
    return out, call


def _resample(fit, rng) -> tuple[pl.DataFrame, dict]:
    frame, call = _panel_frame(fit)
    pdd = fit._panel
    n_sub = pdd.n_subjects
    by_pairs = not fit.hidden and not call.get("censored_states")
    if by_pairs:
        i0 = np.flatnonzero(~pdd.last)
        pick = rng.choice(i0, size=len(i0), replace=True)
        rows = np.column_stack([pick, pick + 1]).ravel()
        new_subject = np.repeat(np.arange(len(pick)), 2)
    else:
        counts = np.bincount(pdd.subject_index, minlength=n_sub)
        start = np.r_[0, np.cumsum(counts)[:-1]]
        pick = rng.choice(n_sub, size=n_sub, replace=True)
        rows = np.concatenate([np.arange(start[s], start[s] + counts[s]) for s in pick])
        new_subject = np.repeat(np.arange(n_sub), counts[pick])
    out = frame[rows].with_columns(pl.Series(_SUBJ, new_subject))
    return out, call


def _one_boot(fit, seed: int, kind: str, max_tries: int = 10):
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        frame, call = _resample(fit, rng)
        try:
            return refit_like(fit, frame, call)
        except (ConvergenceError, EstimationError, ValueError, np.linalg.LinAlgError):
            continue
    return None


def run_tasks(func, seeds, client, *args):
    """``func(*args, seed)`` for each seed: serially, or on a Dask ``client`` (same results)."""
    if client is None:
        return [func(*args, int(s)) for s in seeds]
    futures = client.map(
        func, *[[a] * len(seeds) for a in args], [int(s) for s in seeds], pure=False
    )
    return client.gather(futures)


def _boot_task(fit, kind, seed):
    return _one_boot(fit, seed, kind)


def bootstrap_fits(fit, n_boot: int = 1000, seed: int | None = None, client=None) -> list:
    """Refits on ``n_boot`` nonparametric bootstrap resamples (msm ``boot.msm``); see module doc.

    Resamples whose refit fails are redrawn (up to 10 times each); ``client``: optional
    ``dask.distributed.Client`` for parallel refits (serial by default).
    """
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=n_boot)
    fits = run_tasks(_boot_task, seeds, client, fit, "resample")
    return [f for f in fits if f is not None]


@dataclass(frozen=True)
class BootstrapIntervals:
    """Percentile bootstrap limits (msm ``ci = "bootstrap"``)."""

    labels: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_boot: int
    n_failed: int
    conf_level: float

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "quantity": list(self.labels),
                "estimate": self.estimate,
                "se": self.se,
                "lower": self.lower,
                "upper": self.upper,
            }
        )

    def summary(self) -> str:
        lines = [
            f"Bootstrap {100 * self.conf_level:g}% percentile intervals ({self.n_boot} refits"
            + (f", {self.n_failed} failed and redrawn" if self.n_failed else "")
            + ")"
        ]
        for i, lab in enumerate(self.labels):
            lines.append(
                f"  {lab}: {self.estimate[i]:.5g} ({self.lower[i]:.5g}, {self.upper[i]:.5g})"
            )
        return "\n".join(lines)


def _intensity_vector(f) -> np.ndarray:
    return f.intensities().get_column("estimate").to_numpy()


def bootstrap_intervals(
    fit,
    statistic: Callable | None = None,
    labels: list[str] | None = None,
    n_boot: int = 1000,
    seed: int | None = None,
    client=None,
    fits: list | None = None,
) -> BootstrapIntervals:
    """Bootstrap CIs of ``statistic(fit)`` (a vector; default: the intensities at the covariate
    means), from :func:`bootstrap_fits` refits (or ``fits`` already computed).

    Use these when the Hessian is not positive definite (no delta-method limits; msm then says
    so and offers ``boot.msm``) or when the asymptotic normal approximation is doubtful.
    """
    stat = statistic or _intensity_vector
    if labels is None and statistic is None:
        labels = [f"q{a}{b}" for a, b in fit.transitions]
    if fits is None:
        fits = bootstrap_fits(fit, n_boot=n_boot, seed=seed, client=client)
    vals = np.array([np.asarray(stat(f), dtype=float) for f in fits])
    est = np.asarray(stat(fit), dtype=float)
    if labels is None:
        labels = [str(i + 1) for i in range(len(est))]
    a = (1 - fit.conf_level) / 2
    return BootstrapIntervals(
        labels=tuple(labels),
        estimate=est,
        se=vals.std(axis=0, ddof=1),
        lower=np.quantile(vals, a, axis=0),
        upper=np.quantile(vals, 1 - a, axis=0),
        n_boot=len(fits),
        n_failed=n_boot - len(fits),
        conf_level=fit.conf_level,
    )
