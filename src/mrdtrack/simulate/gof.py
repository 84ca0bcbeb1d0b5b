"""A goodness-of-fit check of the calibrated simulator that can fail.

Given a model — one parameter set, or draws from the calibrated posterior — the check simulates
replicate trials of the targets' design from its *predictive distribution* (each replicate from
one parameter draw) and asks whether the published figures look like one of them.

Global statistic (a Mahalanobis distance; Mahalanobis 1936): with ``y`` the published
components of every ``fit`` and ``check`` figure (`mrdtrack.simulate.figures`) and ``X`` the
simulated ones, the replicates are split in two halves. Half A gives the centre ``m`` and
covariance ``S`` (columns standardised; ``S`` eigen-decomposed and directions with eigenvalue
below ``1e-8`` of the largest dropped, so exactly dependent figures such as "assessed" and
"negative + positive" count once). The statistic is ``D(y) = (y - m)' S^+ (y - m)``. Its
**reference distribution** is that of ``D(x_b)`` over the replicates ``x_b`` of half B,
simulated from the same model (so it is exact for the simulated model, whatever the shape of
the figures' distribution: no chi-square approximation). The p-value is
``(1 + #{D(x_b) >= D(y)}) / (1 + |B|)``. A component that is constant in every simulated trial
and differs from the published value is outside the model's support: ``D = inf``, ``p`` the
smallest possible. A posterior predictive p-value that reuses fitted figures is conservative
(Gelman, Meng & Stern 1996): it rejects less often than its nominal level, never more.

Per figure: the central 95% predictive interval (inverted-CDF quantiles, R ``quantile(type =
1)``) and the two-sided predictive p ``min(1, 2 min(P(X <= y), P(X >= y)))``. A published bound
``p_max`` is inside when the simulated 2.5% quantile of the p-value is below it. Design inputs
are listed with status ``input`` and never counted as passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from mrdtrack.simulate.figures import (
    components,
    figure_statistics,
    observed_components,
    simulate_study,
)
from mrdtrack.simulate.params import SimulationParams
from mrdtrack.simulate.targets import StudyTargets

_EIG_TOL = 1e-8


@dataclass(frozen=True)
class Mahalanobis:
    """Centre, scale and pseudo-inverse of a simulated summary distribution."""

    centre: np.ndarray
    scale: np.ndarray
    basis: np.ndarray  # columns: retained eigenvectors divided by sqrt(eigenvalue)
    constant: np.ndarray  # components with no simulated variation

    @classmethod
    def fit(cls, x: np.ndarray) -> Mahalanobis:
        centre = x.mean(0)
        scale = x.std(0)
        constant = scale <= 1e-12
        z = (x[:, ~constant] - centre[~constant]) / scale[~constant]
        cov = np.atleast_2d(np.cov(z, rowvar=False)) if z.shape[1] else np.zeros((0, 0))
        if cov.size:
            w, v = np.linalg.eigh(cov)
            keep = w > _EIG_TOL * max(w.max(), 1e-300)
            basis = v[:, keep] / np.sqrt(w[keep])
        else:
            basis = np.zeros((0, 0))
        return cls(centre, scale, basis, constant)

    def distance(self, y: np.ndarray) -> np.ndarray:
        """``D`` of each row of ``y`` (``(k,)`` or ``(B, k)``)."""
        y = np.atleast_2d(y)
        off = np.abs(y[:, self.constant] - self.centre[self.constant]) > 1e-9
        z = (y[:, ~self.constant] - self.centre[~self.constant]) / self.scale[~self.constant]
        d = ((z @ self.basis) ** 2).sum(1) if self.basis.size else np.zeros(len(y))
        return np.where(off.any(1), np.inf, d)


@dataclass(frozen=True)
class CheckResult:
    """The check's verdict: global statistic, its reference p-value, and the figure table."""

    name: str
    statistic: float
    p_value: float
    n_reference: int
    n_simulated: int
    rank: int
    rows: pl.DataFrame
    alpha: float = 0.05

    @property
    def rejected(self) -> bool:
        return self.p_value < self.alpha

    def table(self) -> pl.DataFrame:
        return self.rows

    def summary(self) -> str:
        verdict = "REJECTED" if self.rejected else "not rejected"
        lines = [
            f"Goodness of fit: {self.name}; {self.n_simulated} simulated trials",
            f"  Mahalanobis D = {self.statistic:.4g} on {self.rank} independent directions; "
            f"reference: D of {self.n_reference} trials simulated from the same model; "
            f"p = {self.p_value:.4g} -> model {verdict} at {self.alpha:g}",
            f"  {'figure':48s} {'role':6s} {'published':>11s} {'median':>9s} "
            f"{'95% interval':>21s} {'p':>7s}  status",
        ]
        for r in self.rows.iter_rows(named=True):
            iv = "" if r["lower"] is None else f"[{_fmt(r['lower'])}, {_fmt(r['upper'])}]"
            lines.append(
                f"  {r['figure']:48s} {r['role']:6s} {r['published']:>11s} "
                f"{_fmt(r['median']):>9s} {iv:>21s} {_fmt(r['p']):>7s}  {r['status']}"
            )
        st = self.rows.get_column("status").to_list()
        lines.append(
            f"  held-out figures inside: {st.count('inside (check)')} of "
            f"{st.count('inside (check)') + st.count('OUTSIDE (check)')}; fitted inside: "
            f"{st.count('inside (fit)')} of {st.count('inside (fit)') + st.count('OUTSIDE (fit)')}"
            f"; inputs (not tested): {st.count('input')}"
        )
        return "\n".join(lines)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and np.isinf(v):
        return "inf"
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
        return f"{v:.3g}"
    return f"{v:.4g}"


def predictive_statistics(
    targets: StudyTargets,
    draws: SimulationParams | Sequence[SimulationParams],
    n_replicates: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Figure components of ``n_replicates`` trials from the predictive distribution: draw ``j``
    simulates replicates ``j, j + J, …`` (its own seed), so each trial has its own parameters."""
    if isinstance(draws, SimulationParams):
        draws = [draws]
    n_draws = min(len(draws), n_replicates)
    parts = []
    for j in range(n_draws):
        n_j = len(range(j, n_replicates, n_draws))
        st = simulate_study(draws[j], targets, n_j, seed + 104729 * j)
        parts.append(figure_statistics(st, targets))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def goodness_of_fit(
    targets: StudyTargets,
    draws: SimulationParams | Sequence[SimulationParams],
    *,
    n_replicates: int = 2000,
    seed: int = 7,
    alpha: float = 0.05,
    name: str | None = None,
    sims: dict[str, np.ndarray] | None = None,
) -> CheckResult:
    """The goodness-of-fit check of a model (one parameter set or posterior draws).

    Parameters
    ----------
    targets : StudyTargets
        Published figures with their roles (`mrdtrack.simulate.targets.load_study_targets`).
    draws : SimulationParams or sequence of SimulationParams
        The model: fixed parameters, or draws from the calibrated distribution.
    n_replicates : int
        Simulated trials (half estimate centre and covariance, half the reference).
    seed : int
        Seed of the simulated trials (use another seed than the fit's).
    alpha : float
        Level of the global test.
    sims : dict, optional
        Precomputed `predictive_statistics` (then nothing is simulated).

    Returns
    -------
    CheckResult
        ``.statistic`` (D), ``.p_value``, ``.rejected``, ``.table()`` per figure, ``.summary()``.
    """
    sims = predictive_statistics(targets, draws, n_replicates, seed) if sims is None else sims
    obs = observed_components(targets)
    keys = [k for k in obs if k in sims]
    x = np.column_stack([sims[k] for k in keys])
    # a component missing in a trial (e.g. no patient in a group) takes its simulated median
    med = np.nanmedian(np.where(np.isfinite(x), x, np.nan), axis=0)
    med = np.where(np.isnan(med), 0.0, med)
    x = np.where(np.isnan(x), med, x)
    y = np.array([obs[k] for k in keys])
    half = x.shape[0] // 2
    maha = Mahalanobis.fit(x[:half])
    d_obs = float(maha.distance(y)[0])
    d_ref = maha.distance(x[half:])
    p = (1 + int(np.sum(d_ref >= d_obs))) / (1 + d_ref.size)
    rows = _figure_rows(targets, sims, obs)
    label = name or (
        draws.name if isinstance(draws, SimulationParams) else f"{len(draws)} posterior draws"
    )
    return CheckResult(
        label, d_obs, p, int(d_ref.size), int(x.shape[0]), int(maha.basis.shape[1]), rows, alpha
    )


def _figure_rows(targets, sims, obs) -> pl.DataFrame:
    rows = []
    for f in targets.figures:
        base = {"figure": f.name, "role": f.role, "published": str(f.value)}
        if f.role == "design":
            rows.append({**base, "status": "input"})
            continue
        for c, y in components(f):
            x = sims[c]
            x = x[~np.isnan(x)]
            lo, med, hi = np.quantile(x, [0.025, 0.5, 0.975], method="inverted_cdf")
            pv = min(1.0, 2 * min(np.mean(x <= y + 1e-12), np.mean(x >= y - 1e-12)))
            inside = bool(lo <= y <= hi)
            fig = c if c != f.name else f.name
            rows.append(
                {
                    "figure": fig,
                    "role": f.role,
                    "published": _fmt(float(y)) if c != f.name else str(f.value),
                    "median": float(med),
                    "lower": float(lo),
                    "upper": float(hi),
                    "p": float(pv),
                    "status": f"{'inside' if inside else 'OUTSIDE'} ({f.role})",
                }
            )
    schema = {
        "figure": pl.String,
        "role": pl.String,
        "published": pl.String,
        "median": pl.Float64,
        "lower": pl.Float64,
        "upper": pl.Float64,
        "p": pl.Float64,
        "status": pl.String,
    }
    return pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)
