"""Model specification, parameter vector and the design arrays of one block of patients.

Longitudinal mean (Rizopoulos 2012, eq. 4.1): for patient i at time t,

    m_i(t) = x_i(t)' beta + z_i(t)' b_i,   b_i ~ N(0, D),
    x_i(t) = [1, B(t), c_i, c_i (x) B(t) for the time interactions],   z_i(t) = [1, B(t)]
    (random intercept and time coefficients) or z_i(t) = [1] (random intercept only),

with B the time basis (`_basis`). Hazard (proportional hazards, piecewise-constant baseline):

    h_i(t) = xi_{q(t)} exp(gamma' w_i + alpha m_i(t) + alpha_s m_i'(t)).

Parameter vector theta (unconstrained): beta, log sigma, the lower-triangular Cholesky factor L
of D = L L' (row by row, diagonal entries on the log scale: the log-Cholesky parametrisation of
Pinheiro and Bates 1996), log xi_1..xi_Q, gamma, alpha (value), alpha_s (slope) as chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mrdtrack.joint._basis import TimeBasis
from mrdtrack.joint._quadrature import legendre_pieces
from mrdtrack.joint.data import JointData

ASSOCIATIONS = ("none", "value", "slope", "both")
#: Random-effects structures: R ``lme(random = ~ 1 | id)`` and ``lme(random = ~ time | id)``.
RANDOM_EFFECTS = ("intercept", "intercept+time")


@dataclass(frozen=True)
class ModelSpec:
    """Everything about the model that is not a parameter value."""

    basis: TimeBasis
    long_names: tuple[str, ...]
    time_interactions: tuple[str, ...]
    surv_names: tuple[str, ...]
    knots: tuple[float, ...]  # inner knots of the baseline hazard
    association: str
    n_legendre: int = 7
    random_effects: str = "intercept+time"  # z_i(t) = [1] or [1, B(t)]

    @property
    def q(self) -> int:
        return 1 + (self.basis.n_columns if self.random_effects == "intercept+time" else 0)

    @property
    def x_names(self) -> tuple[str, ...]:
        tb = self.basis.column_names
        inter = tuple(f"{tc}:{c}" for c in self.time_interactions for tc in tb)
        return ("(Intercept)", *tb, *self.long_names, *inter)

    @property
    def p(self) -> int:
        return len(self.x_names)

    @property
    def n_pieces(self) -> int:
        return len(self.knots) + 1

    @property
    def uses_value(self) -> bool:
        return self.association in ("value", "both")

    @property
    def uses_slope(self) -> bool:
        return self.association in ("slope", "both")

    @property
    def n_alpha(self) -> int:
        return int(self.uses_value) + int(self.uses_slope)

    @property
    def n_theta(self) -> int:
        q = self.q
        return self.p + 1 + q * (q + 1) // 2 + self.n_pieces + len(self.surv_names) + self.n_alpha

    def design(self, t: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, ...]:
        """x(t), z(t), x'(t), z'(t) at times ``t`` (shape S), covariate rows ``cov`` (S, p_l)."""
        B = self.basis.evaluate(t)
        dB = self.basis.derivative(t)
        one = np.ones((*t.shape, 1))
        idx = [self.long_names.index(c) for c in self.time_interactions]
        inter = [cov[..., [j]] * B for j in idx]
        dinter = [cov[..., [j]] * dB for j in idx]
        X = np.concatenate([one, B, cov, *inter], axis=-1)
        dX = np.concatenate([0 * one, dB, 0 * cov, *dinter], axis=-1)
        if self.q == 1:  # random intercept only
            return X, one, dX, 0 * one
        Z = np.concatenate([one, B], axis=-1)
        dZ = np.concatenate([0 * one, dB], axis=-1)
        return X, Z, dX, dZ


@dataclass(frozen=True)
class Params:
    """theta unpacked."""

    beta: np.ndarray
    log_sigma: float
    L: np.ndarray  # Cholesky factor of D
    log_xi: np.ndarray
    gamma: np.ndarray
    alpha: float
    alpha_s: float

    @property
    def sigma(self) -> float:
        return float(np.exp(self.log_sigma))

    @property
    def D(self) -> np.ndarray:
        return self.L @ self.L.T


def tril_rows(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-by-row indices of the lower triangle (the order of L in theta)."""
    rows, cols = [], []
    for i in range(q):
        for j in range(i + 1):
            rows.append(i)
            cols.append(j)
    return np.array(rows), np.array(cols)


def unpack(theta: np.ndarray, spec: ModelSpec) -> Params:
    p, q = spec.p, spec.q
    k = 0
    beta = theta[k : k + p]
    k += p
    log_sigma = float(theta[k])
    k += 1
    nl = q * (q + 1) // 2
    r, c = tril_rows(q)
    L = np.zeros((q, q))
    L[r, c] = theta[k : k + nl]
    L[np.diag_indices(q)] = np.exp(np.diag(L))
    k += nl
    log_xi = theta[k : k + spec.n_pieces]
    k += spec.n_pieces
    gamma = theta[k : k + len(spec.surv_names)]
    k += len(spec.surv_names)
    alpha = float(theta[k]) if spec.uses_value else 0.0
    k += int(spec.uses_value)
    alpha_s = float(theta[k]) if spec.uses_slope else 0.0
    return Params(beta, log_sigma, L, log_xi, gamma, alpha, alpha_s)


def theta_names(spec: ModelSpec) -> list[str]:
    r, c = tril_rows(spec.q)
    names = [f"beta[{n}]" for n in spec.x_names] + ["log_sigma"]
    names += [f"{'log_' if i == j else ''}L[{i},{j}]" for i, j in zip(r, c, strict=True)]
    names += [f"log_xi[{k + 1}]" for k in range(spec.n_pieces)]
    names += [f"gamma[{n}]" for n in spec.surv_names]
    names += ["alpha[value]"] * spec.uses_value + ["alpha[slope]"] * spec.uses_slope
    return names


@dataclass(frozen=True, eq=False)
class Block:
    """Design arrays of a block of patients (blocks bound the memory of a large fit).

    Observations: ``X_obs, Z_obs`` (n_obs, p / q), ``y``, censoring mask, aggregator
    ``S`` (n × n_obs sparse, sums observations per patient). Event: ``delta``, ``W`` (n, r),
    designs at the event time ``*_T``, the piece of the event time. Cumulative hazard over
    [start, end]: Gauss-Legendre points per baseline piece, designs ``*_s`` (n, G, .),
    weights ``omega`` (n, G), ``piece`` (G,).
    """

    n: int
    obs_patient: np.ndarray
    X_obs: np.ndarray
    Z_obs: np.ndarray
    y: np.ndarray
    cens: np.ndarray
    S: sp.csr_matrix
    delta: np.ndarray
    W: np.ndarray
    X_T: np.ndarray
    Z_T: np.ndarray
    dX_T: np.ndarray
    dZ_T: np.ndarray
    piece_T: np.ndarray
    X_s: np.ndarray
    Z_s: np.ndarray
    dX_s: np.ndarray
    dZ_s: np.ndarray
    omega: np.ndarray
    piece: np.ndarray


def build_block(
    data: JointData,
    spec: ModelSpec,
    *,
    start: np.ndarray | None = None,
    end: np.ndarray | None = None,
    delta: np.ndarray | None = None,
) -> Block:
    """Design arrays for all patients of ``data``: hazard integrated over [start, end]
    (default [0, event_time]); ``delta`` overrides the event indicator (0 for a survival
    condition such as "event-free at the landmark")."""
    n = data.n_patients
    start = np.zeros(n) if start is None else np.asarray(start, float)
    end = data.event_time if end is None else np.asarray(end, float)
    delta = data.event.astype(float) if delta is None else np.asarray(delta, float)
    cov = data.long_covariates
    X_obs, Z_obs, _, _ = spec.design(data.obs_time, cov[data.obs_patient])
    S = sp.csr_matrix(
        (np.ones(data.n_obs), (data.obs_patient, np.arange(data.n_obs))), shape=(n, data.n_obs)
    )
    X_T, Z_T, dX_T, dZ_T = spec.design(end, cov)
    knots = np.asarray(spec.knots)
    s, omega, piece = legendre_pieces(start, end, knots, spec.n_legendre)
    X_s, Z_s, dX_s, dZ_s = spec.design(
        s, np.broadcast_to(cov[:, None, :], (*s.shape, cov.shape[1]))
    )
    return Block(
        n=n,
        obs_patient=data.obs_patient,
        X_obs=X_obs,
        Z_obs=Z_obs,
        y=data.value.astype(float),
        cens=data.censored.astype(bool),
        S=S,
        delta=delta,
        W=data.surv_covariates,
        X_T=X_T,
        Z_T=Z_T,
        dX_T=dX_T,
        dZ_T=dZ_T,
        piece_T=np.searchsorted(knots, end, side="left"),
        X_s=X_s,
        Z_s=Z_s,
        dX_s=dX_s,
        dZ_s=dZ_s,
        omega=omega,
        piece=piece,
    )
