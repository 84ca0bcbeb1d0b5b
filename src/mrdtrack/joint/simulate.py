"""Known-truth generator for the joint model (tests, coverage benchmark, examples).

Draws patients from exactly the model `fit_joint_model` fits, with linear time:

- treatment ``trt`` ~ Bernoulli(1/2); b_i ~ N(0, D);
- true log10 level m_i(t) = beta_0 + beta_1 t + beta_2 trt + beta_3 trt t + b_i0 + b_i1 t;
- samples at ``visits`` (years) while event-free and under follow-up, y = m + N(0, sigma^2);
  each sample's LOD is drawn from ``lods`` (log10; e.g. -5 and -6 for NGF/NGS), and a value
  below it is reported as "< LOD" (left-censored at the LOD);
- hazard h_i(t) = xi exp(gamma trt + alpha m_i(t) + alpha_s m_i'(t)) (constant baseline xi);
  the event time inverts the cumulative hazard, computed exactly on a fine grid (step ``dt``)
  and interpolated linearly; censoring uniform on ``censor`` (administrative, independent).

Seeded (``numpy.random.default_rng(seed)``); returns long and per-patient polars frames with
the true random effects, so true patient-specific predictions can be formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from mrdtrack.joint.data import JointData, joint_data


@dataclass(frozen=True)
class JointTruth:
    """True parameters of the generator (MRD-like defaults: log10 level, years)."""

    beta: tuple[float, ...] = (-4.0, 0.3, -0.5, -0.2)  # intercept, time, trt, time:trt
    sigma: float = 0.3
    D: tuple[tuple[float, float], tuple[float, float]] = ((0.6, 0.05), (0.05, 0.04))
    xi: float = 1.0
    gamma: float = -0.3
    alpha: float = 0.6
    alpha_slope: float = 0.0
    visits: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0)
    lods: tuple[float, ...] = (-5.0, -6.0)
    censor: tuple[float, float] = (3.0, 6.0)
    dt: float = 0.002

    def mean(self, t: np.ndarray, trt: np.ndarray, b: np.ndarray) -> np.ndarray:
        b0, b1, b2, b3 = self.beta
        return b0 + b1 * t + b2 * trt + b3 * trt * t + b[..., 0] + b[..., 1] * t

    def slope(self, trt: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.beta[1] + self.beta[3] * trt + b[..., 1]

    def cumulative_hazard(self, t0, t1, trt, b, n_grid: int = 400) -> np.ndarray:
        """int_{t0}^{t1} h_i(s) ds per patient (trapezoid on a fine grid)."""
        s = t0[:, None] + (t1 - t0)[:, None] * np.linspace(0, 1, n_grid)[None, :]
        eta = (
            self.gamma * trt[:, None]
            + self.alpha * self.mean(s, trt[:, None], b[:, None, :])
            + self.alpha_slope * self.slope(trt, b)[:, None]
        )
        return np.trapezoid(self.xi * np.exp(eta), s, axis=1)


def simulate_joint(n: int, truth: JointTruth | None = None, seed: int = 0):
    """Simulate ``n`` patients: returns ``(long, patients)`` polars frames.

    ``long``: id, time, value, censored (value = LOD when censored), true_mean;
    ``patients``: id, trt, event_time, event, b0, b1 (true random effects).
    """
    tr = truth or JointTruth()
    rng = np.random.default_rng(seed)
    trt = (rng.random(n) < 0.5).astype(float)
    b = rng.multivariate_normal(np.zeros(2), np.array(tr.D), size=n)
    cens = rng.uniform(*tr.censor, size=n)
    tmax = tr.censor[1]
    grid = np.arange(0.0, tmax + tr.dt, tr.dt)
    eta = (
        tr.gamma * trt[:, None]
        + tr.alpha * tr.mean(grid[None, :], trt[:, None], b[:, None, :])
        + tr.alpha_slope * tr.slope(trt, b)[:, None]
    )
    h = tr.xi * np.exp(eta)
    H = np.concatenate([np.zeros((n, 1)), np.cumsum(0.5 * (h[:, 1:] + h[:, :-1]) * tr.dt, 1)], 1)
    e = rng.exponential(size=n)
    k = np.array([np.searchsorted(H[i], e[i]) for i in range(n)])
    inside = k < len(grid)
    kk = np.clip(k, 1, len(grid) - 1)
    rows = np.arange(n)
    frac = (e - H[rows, kk - 1]) / np.maximum(H[rows, kk] - H[rows, kk - 1], 1e-300)
    t_event = np.where(inside, grid[kk - 1] + frac * tr.dt, np.inf)
    time = np.minimum(t_event, cens)
    event = (t_event <= cens).astype(int)
    v = np.asarray(tr.visits)
    m = tr.mean(v[None, :], trt[:, None], b[:, None, :])
    y = m + tr.sigma * rng.standard_normal(m.shape)
    lod = rng.choice(np.asarray(tr.lods), size=m.shape)
    below = y < lod
    taken = v[None, :] < time[:, None]
    ids = np.array([f"P{i:05d}" for i in range(n)])
    ii, jj = np.nonzero(taken)
    long = pl.DataFrame(
        {
            "id": ids[ii],
            "time": v[jj],
            "value": np.where(below, lod, y)[ii, jj],
            "censored": below[ii, jj],
            "true_mean": m[ii, jj],
        }
    )
    patients = pl.DataFrame(
        {"id": ids, "trt": trt, "event_time": time, "event": event, "b0": b[:, 0], "b1": b[:, 1]}
    )
    return long, patients


def truth_data(long: pl.DataFrame, patients: pl.DataFrame) -> JointData:
    """`JointData` for simulated frames (covariate ``trt`` in both parts, ``time:trt``)."""
    return joint_data(
        long,
        patients,
        id="id",
        time="time",
        value="value",
        censored="censored",
        event_time="event_time",
        event="event",
        long_covariates=("trt",),
        time_interactions=("trt",),
        surv_covariates=("trt",),
        marker="log10 MRD level (simulated)",
    )
