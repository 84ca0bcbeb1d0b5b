"""Result objects of the joint model: the fit and the dynamic predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import norm

from mrdtrack.joint._model import ModelSpec, Params, tril_rows, unpack


def _reported(theta: np.ndarray, spec: ModelSpec) -> tuple[list[str], list[str], np.ndarray]:
    """Names, parts and values of the reported parameters (sigma and D on their natural scale)."""
    P = unpack(theta, spec)
    names, parts, vals = [], [], []
    for n, v in zip(spec.x_names, P.beta, strict=True):
        names.append(n), parts.append("longitudinal"), vals.append(v)
    names.append("sigma"), parts.append("longitudinal"), vals.append(P.sigma)
    r, c = tril_rows(spec.q)
    D = P.D
    for i, j in zip(r, c, strict=True):
        names.append(f"D[{i + 1},{j + 1}]"), parts.append("random effects"), vals.append(D[i, j])
    for n, v in zip(spec.surv_names, P.gamma, strict=True):
        names.append(n), parts.append("survival"), vals.append(v)
    if spec.uses_value:
        names.append("value"), parts.append("association"), vals.append(P.alpha)
    if spec.uses_slope:
        names.append("slope"), parts.append("association"), vals.append(P.alpha_s)
    for k, v in enumerate(P.log_xi):
        names.append(f"log_xi[{k + 1}]"), parts.append("baseline hazard"), vals.append(v)
    return names, parts, np.array(vals, dtype=float)


@dataclass(frozen=True, eq=False)
class JointModelResult:
    """A fitted shared-random-effects joint model (ML, adaptive Gauss-Hermite).

    Attributes
    ----------
    spec : the model (time basis, covariates, baseline knots, association).
    theta, vcov : unconstrained parameter vector and its covariance (inverse of the negative
        Hessian of the log-likelihood, by central differences of the analytic score).
    loglik : maximised log-likelihood (constants included, comparable with R ``logLik``).
    converged : True only if the optimiser reported success, the nodes reached a fixed point,
        the score is ~0 and the Hessian is negative definite; ``convergence`` says which.
    """

    spec: ModelSpec
    theta: np.ndarray
    vcov: np.ndarray
    loglik: float
    n_patients: int
    n_obs: int
    n_censored_obs: int
    n_events: int
    converged: bool
    convergence: dict[str, Any]
    n_nodes: int
    marker: str = "marker"
    time_unit: str = "years"
    seconds: float = 0.0
    _extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def params(self) -> Params:
        return unpack(self.theta, self.spec)

    @property
    def beta(self) -> np.ndarray:
        return self.params.beta

    @property
    def sigma(self) -> float:
        return self.params.sigma

    @property
    def D(self) -> np.ndarray:
        return self.params.D

    @property
    def alpha(self) -> dict[str, float]:
        P = self.params
        out = {}
        if self.spec.uses_value:
            out["value"] = P.alpha
        if self.spec.uses_slope:
            out["slope"] = P.alpha_s
        return out

    @property
    def gamma(self) -> np.ndarray:
        return self.params.gamma

    @property
    def n_parameters(self) -> int:
        return len(self.theta)

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        return -2 * self.loglik + np.log(self.n_patients) * self.n_parameters

    def table(self, conf_level: float = 0.95) -> pl.DataFrame:
        """Tidy estimates: ``part, term, estimate, se, z, p_value, lower, upper``.

        SEs of sigma and of the D entries by the delta method from the log / log-Cholesky
        scale; Wald intervals on the reported scale (as JM's ``summary``).
        """
        names, parts, vals = _reported(self.theta, self.spec)
        J = np.empty((len(vals), len(self.theta)))
        for j in range(len(self.theta)):
            h = 1e-6 * max(1.0, abs(self.theta[j]))
            tp, tm = self.theta.copy(), self.theta.copy()
            tp[j] += h
            tm[j] -= h
            J[:, j] = (_reported(tp, self.spec)[2] - _reported(tm, self.spec)[2]) / (2 * h)
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", J, self.vcov, J), 0, None))
        zq = norm.ppf(0.5 + conf_level / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = vals / se
        return pl.DataFrame(
            {
                "part": parts,
                "term": names,
                "estimate": vals,
                "se": se,
                "z": z,
                "p_value": 2 * norm.sf(np.abs(z)),
                "lower": vals - zq * se,
                "upper": vals + zq * se,
            }
        )

    def estimate(self, term: str) -> float:
        t = self.table()
        return float(t.filter(pl.col("term") == term)["estimate"][0])

    def summary(self) -> str:
        t = self.table()
        lines = [
            f"Joint model ({self.marker}; association: {self.spec.association}; "
            f"time basis: {self.spec.basis.kind}; random effects: {self.spec.random_effects}; "
            "baseline: piecewise-constant, "
            f"{self.spec.n_pieces} pieces; ML, adaptive Gauss-Hermite {self.n_nodes} nodes)",
            f"patients {self.n_patients}, observations {self.n_obs} "
            f"({self.n_censored_obs} below LOD), events {self.n_events}; time in {self.time_unit}",
            f"log-likelihood {self.loglik:.4f}, AIC {self.aic:.2f}, BIC {self.bic:.2f}",
            f"converged: {self.converged} ({self.convergence.get('message', '')})",
        ]
        for part in ("longitudinal", "random effects", "survival", "association"):
            sub = t.filter(pl.col("part") == part)
            if sub.height == 0:
                continue
            lines.append(f"{part}:")
            for row in sub.iter_rows(named=True):
                lines.append(
                    f"  {row['term']:<22} {row['estimate']:>10.4f}  se {row['se']:.4f}  "
                    f"[{row['lower']:.4f}, {row['upper']:.4f}]"
                )
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class DynamicPrediction:
    """P(event-free at landmark + horizon | event-free at landmark, marker values up to landmark).

    ``table()`` has one row per patient at risk at the landmark and horizon:
    ``patient_id, landmark, horizon, prob`` (first-order estimate: theta-hat and the posterior
    mode of b), ``mean, median`` (Monte Carlo), ``lower, upper`` (percentile interval).
    """

    frame: pl.DataFrame
    n_draws: int
    seed: int
    conf_level: float
    acceptance: float

    def table(self) -> pl.DataFrame:
        return self.frame

    def summary(self) -> str:
        f = self.frame
        if self.n_draws == 0:
            return (
                f"dynamic predictions: {f['patient_id'].n_unique()} patients, {f.height} rows, "
                "first-order estimates only (no Monte Carlo intervals)"
            )
        return (
            f"dynamic predictions: {f['patient_id'].n_unique()} patients, "
            f"{f.height} rows, {self.n_draws} Monte Carlo samples (seed {self.seed}), "
            f"{int(100 * self.conf_level)}% percentile intervals; "
            f"MH acceptance {self.acceptance:.2f}"
        )
