"""Time bases of the longitudinal mean: linear time, or a natural cubic spline.

The natural cubic spline uses the truncated-power form of Hastie, Tibshirani and Friedman
(2009, *Elements of Statistical Learning*, eqs. 5.4-5.5): with knots xi_1 < ... < xi_K
(the first and last are the boundary knots),

    N_1(t) = t,   N_{k+1}(t) = d_k(t) - d_{K-1}(t),   k = 1..K-2,
    d_k(t) = [(t - xi_k)_+^3 - (t - xi_K)_+^3] / (xi_K - xi_k),

which is linear outside the boundary knots. Together with an intercept it spans the same space
as R ``splines::ns(t, knots = interior, Boundary.knots = boundary)`` plus intercept, so fitted
values and likelihoods equal R's; the coefficients are a different (linear) parametrisation.
Derivatives in t are analytic (used by the slope association).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimeBasis:
    """A time basis: ``kind`` "linear" (one column, t) or "ns" (natural cubic spline).

    ``knots`` holds all knots of the spline, boundary knots first and last (empty for linear).
    """

    kind: str = "linear"
    knots: tuple[float, ...] = ()

    @property
    def n_columns(self) -> int:
        return 1 if self.kind == "linear" else len(self.knots) - 1

    @property
    def column_names(self) -> tuple[str, ...]:
        if self.kind == "linear":
            return ("time",)
        return tuple(f"ns(time){k + 1}" for k in range(self.n_columns))

    def evaluate(self, t: np.ndarray) -> np.ndarray:
        """Basis at times ``t`` (any shape): array of shape ``t.shape + (n_columns,)``."""
        t = np.asarray(t, dtype=float)
        if self.kind == "linear":
            return t[..., None]
        xi = np.asarray(self.knots)
        last = xi[-1]
        d = (
            np.maximum(t[..., None] - xi[:-1], 0.0) ** 3 - np.maximum(t - last, 0.0)[..., None] ** 3
        ) / (last - xi[:-1])
        return np.concatenate([t[..., None], d[..., :-1] - d[..., -1:]], axis=-1)

    def derivative(self, t: np.ndarray) -> np.ndarray:
        """d/dt of the basis at ``t``: same shape as `evaluate`."""
        t = np.asarray(t, dtype=float)
        if self.kind == "linear":
            return np.ones((*t.shape, 1))
        xi = np.asarray(self.knots)
        last = xi[-1]
        d = (
            3.0
            * (
                np.maximum(t[..., None] - xi[:-1], 0.0) ** 2
                - np.maximum(t - last, 0.0)[..., None] ** 2
            )
            / (last - xi[:-1])
        )
        return np.concatenate([np.ones((*t.shape, 1)), d[..., :-1] - d[..., -1:]], axis=-1)


def make_time_basis(
    kind: str, obs_times: np.ndarray, end_times: np.ndarray, df: int = 2
) -> TimeBasis:
    """Build a basis: "linear", or "ns" with ``df`` columns.

    For "ns", the boundary knots are the smallest observation time and the largest of the
    observation and event times (so the spline is not extrapolated inside follow-up, as JM's
    documentation advises for ``ns(..., Boundary.knots = ...)``); the ``df - 1`` interior knots
    sit at equally spaced quantiles of the observation times (R ``ns(df = )`` places them the
    same way, type-7 quantiles).
    """
    if kind == "linear":
        return TimeBasis("linear")
    if kind != "ns":
        raise ValueError(f"time basis must be 'linear' or 'ns', got {kind!r}")
    if df < 1:
        raise ValueError(f"ns needs df >= 1, got {df}")
    lo = float(np.min(obs_times))
    hi = float(max(np.max(obs_times), np.max(end_times)))
    inner = np.quantile(obs_times, np.linspace(0, 1, df + 1)[1:-1]) if df > 1 else np.array([])
    return TimeBasis("ns", (lo, *map(float, inner), hi))
