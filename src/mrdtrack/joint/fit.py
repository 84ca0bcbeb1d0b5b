"""Maximum-likelihood fit of the joint model.

Algorithm (as R ``JM::jointModel(method = "piecewise-PH-aGH")`` in spirit, our own code):

1. starting values: OLS for beta, half the residual variance to sigma^2 and half to the random
   intercept, crude piecewise rates for xi, gamma = alpha = 0;
2. posterior modes and curvatures of the random effects at the current theta (vectorised
   Newton); adaptive Gauss-Hermite nodes placed there;
3. BFGS (scipy) on the aGH log-likelihood, the nodes re-centred at every evaluation (the
   modes are cheap: one node per patient). Nodes held fixed while theta moves far would not
   do: the quadrature sum is then not bounded (it grows without limit as a variance in D goes
   to 0), and an optimiser exploits that. The score used is the fixed-node score; it differs
   from the derivative of the re-centred approximation only by the quadrature error, and is
   exact at the fixed point;
4. repeat 3 from the solution until the log-likelihood changes by less than ``tol``;
5. Newton polishing steps with the Hessian from central differences of the analytic score
   (nodes re-centred each time); standard errors from the inverse negative Hessian.

Convergence is reported in the result (``converged``, ``convergence``), never hidden: a fit that
fails a check is returned with ``converged=False`` and a warning.
"""

from __future__ import annotations

import time as _time
import warnings

import numpy as np
from scipy.optimize import minimize

from mrdtrack.joint._basis import make_time_basis
from mrdtrack.joint._event import default_knots, exposure_rates
from mrdtrack.joint._likelihood import adaptive_nodes, block_loglik_score, posterior_modes
from mrdtrack.joint._model import ASSOCIATIONS, RANDOM_EFFECTS, ModelSpec, build_block, unpack
from mrdtrack.joint._quadrature import hermite_grid
from mrdtrack.joint.data import JointData
from mrdtrack.joint.result import JointModelResult


def _start(data: JointData, spec: ModelSpec, blocks) -> np.ndarray:
    """Starting values (step 1 of the module docstring)."""
    X = np.concatenate([b.X_obs for b in blocks])
    y = np.concatenate([b.y for b in blocks])
    beta = np.linalg.lstsq(X, y, rcond=None)[0] if len(y) else np.zeros(spec.p)
    v = float(np.var(y - X @ beta)) if len(y) > spec.p else 1.0
    v = max(v, 1e-4)
    span = float(np.ptp(data.obs_time)) if data.n_obs else 1.0
    q = spec.q
    Ldiag = [0.5 * np.log(v / 2)] + [np.log(0.1 * np.sqrt(v) / max(span, 1e-8))] * (q - 1)
    Lpart = []
    for i in range(q):
        Lpart += [0.0] * i + [Ldiag[i]]
    xi = np.log(exposure_rates(data.event_time, data.event, spec.knots))
    return np.concatenate(
        [
            beta,
            [0.5 * np.log(v / 2)],
            Lpart,
            xi,
            np.zeros(len(spec.surv_names)),
            np.zeros(spec.n_alpha),
        ]
    )


def _pd_or(m: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    m = 0.5 * (m + m.T)
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        return fallback
    return m


class _Objective:
    """Log-likelihood and score summed over blocks, nodes fixed."""

    def __init__(self, spec, blocks, z, logw):
        self.spec, self.blocks, self.z, self.logw = spec, blocks, z, logw
        self.modes = [np.zeros((b.n, spec.q)) for b in blocks]
        self.nodes: list = []

    def recentre(self, theta):
        P = unpack(theta, self.spec)
        self.nodes = []
        for i, blk in enumerate(self.blocks):
            bh, cov = posterior_modes(P, self.spec, blk, self.modes[i])
            self.modes[i] = bh
            self.nodes.append(adaptive_nodes(bh, cov, self.z, self.logw))

    def __call__(self, theta):
        P = unpack(theta, self.spec)
        ll, score = 0.0, np.zeros_like(theta)
        if not np.all(np.isfinite(theta)) or np.min(np.diag(P.L)) < 1e-150:
            return -np.inf, score
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for blk, (b, lw) in zip(self.blocks, self.nodes, strict=True):
                l1, s1 = block_loglik_score(P, self.spec, blk, b, lw)
                ll += l1
                score += s1
        if not np.isfinite(ll) or not np.all(np.isfinite(score)):
            return -np.inf, np.zeros_like(theta)
        return ll, score

    def scaled(self, theta, n):
        """Objective for the minimiser: minus the mean log-likelihood per patient, nodes
        re-centred at theta (a huge finite value outside the domain, so the line search backs
        off)."""
        P = unpack(theta, self.spec)
        if not np.all(np.isfinite(theta)) or np.min(np.diag(P.L)) < 1e-150:
            return 1e100, np.zeros_like(theta)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self.recentre(theta)
        except np.linalg.LinAlgError:
            return 1e100, np.zeros_like(theta)
        ll, score = self(theta)
        if not np.isfinite(ll):
            return 1e100, np.zeros_like(theta)
        return -ll / n, -score / n

    def hessian(self, theta, central: bool = True):
        """Differences of the analytic score at fixed nodes (central: error O(h^2); forward,
        half the cost, for the starting curvature only)."""
        H = np.empty((len(theta), len(theta)))
        s0 = None if central else self(theta)[1]
        for j in range(len(theta)):
            h = 1e-5 * max(1.0, abs(theta[j]))
            tp, tm = theta.copy(), theta.copy()
            tp[j] += h
            if central:
                tm[j] -= h
                H[:, j] = (self(tp)[1] - self(tm)[1]) / (2 * h)
            else:
                H[:, j] = (self(tp)[1] - s0) / h
        return 0.5 * (H + H.T)


def fit_joint_model(
    data: JointData,
    *,
    association: str = "value",
    random_effects: str = "intercept+time",
    time_basis: str = "linear",
    df: int = 2,
    n_pieces: int = 7,
    knots: tuple[float, ...] | None = None,
    n_nodes: int | None = None,
    n_legendre: int = 5,
    block_size: int = 2000,
    max_outer: int = 5,
    tol: float = 1e-6,
) -> JointModelResult:
    """Fit a shared-random-effects joint model of a (left-censored) marker and an event time.

    Longitudinal: linear mixed model with linear or natural-spline time (``time_basis`` "linear"
    or "ns" with ``df`` columns), baseline covariates and their interactions with time
    (``data.long_names``, ``data.time_interactions``), and random effects ``random_effects``:
    "intercept+time" (random intercept and random time-basis coefficients, unstructured D; R
    ``lme(random = ~ time | id)``) or "intercept" (random intercept only; ``random = ~ 1 | id``);
    samples below their own LOD enter through the normal CDF (Tobit). Event: proportional
    hazards, piecewise-constant baseline with ``n_pieces`` pieces (inner knots at event-time
    quantiles unless ``knots`` are given), covariates ``data.surv_names`` and the association
    ``"value"`` (current value m_i(t)), ``"slope"`` (m_i'(t)), ``"both"``, or ``"none"`` (the
    two parts are then independent: the longitudinal part is the censored-normal LMM by ML and
    the event part a piecewise-exponential model). Estimation: ML with adaptive Gauss-Hermite
    quadrature (``n_nodes`` per random effect, q <= 2: 5 without censoring, 7 with; 5 for
    q = 3; 3 beyond), and ``n_legendre`` Gauss-Legendre points per baseline piece (5:
    exp(linear) on a piece to ~1e-9), see the module docstring. ``max_outer`` bounds the
    re-centring rounds; ``tol`` is the change in log-likelihood between rounds that counts as
    a fixed point.

    References: Rizopoulos (2012) *Joint Models for Longitudinal and Time-to-Event Data*, ch. 4;
    Rizopoulos (2010) JM, J Stat Softw 35(9). R: ``JM::jointModel(lmeObject, coxphObject,
    timeVar, method = "piecewise-PH-aGH", parameterization = "value" | "slope" | "both")``.
    """
    t0 = _time.perf_counter()
    _check_input(data, association, random_effects)
    spec = _model_spec(data, association, random_effects, time_basis, df, n_pieces, knots,
                       n_legendre)  # fmt: skip
    if n_nodes is None:
        # one-sided (censored) likelihoods make the posterior of b skewed: more nodes
        q = spec.q
        n_nodes = (7 if data.censored.any() else 5) if q <= 2 else (5 if q == 3 else 3)
    z, logw = hermite_grid(n_nodes, spec.q)
    blocks = [
        build_block(data.subset(np.arange(s, min(s + block_size, data.n_patients))), spec)
        for s in range(0, data.n_patients, block_size)
    ]
    obj = _Objective(spec, blocks, z, logw)
    theta, messages, n_outer, fixed_point = _optimise(obj, _start(data, spec, blocks),
                                                      data.n_patients, max_outer, tol)  # fmt: skip
    theta, ll, score, H = _polish(obj, theta, data.n_patients)
    eig = np.linalg.eigvalsh(-H)
    hess_pd = bool(eig.min() > 0)
    vcov = np.linalg.inv(-H) if hess_pd else np.full_like(H, np.nan)
    max_score = float(np.max(np.abs(score)))
    reason = _convergence_message(fixed_point, hess_pd, max_score, data.n_patients, max_outer)
    ok = reason == "ok"
    if not ok:
        warnings.warn(f"joint model did not converge: {reason}", RuntimeWarning, stacklevel=2)
    return JointModelResult(
        spec=spec,
        theta=theta,
        vcov=vcov,
        loglik=float(ll),
        n_patients=data.n_patients,
        n_obs=data.n_obs,
        n_censored_obs=int(data.censored.sum()),
        n_events=int(data.event.sum()),
        converged=ok,
        convergence={
            "message": reason,
            "outer_iterations": n_outer,
            "optimizer_messages": messages,
            "max_abs_score": max_score,
            "min_eigen_neg_hessian": float(eig.min()),
            "hessian": "central differences of the analytic score, nodes fixed at theta-hat",
        },
        n_nodes=int(n_nodes) ** spec.q,
        marker=data.marker,
        time_unit=data.time_unit,
        seconds=_time.perf_counter() - t0,
    )


def _check_input(data: JointData, association: str, random_effects: str) -> None:
    """Every problem at once, one ValueError."""
    problems = []
    if association not in ASSOCIATIONS:
        problems.append(f"association must be one of {ASSOCIATIONS}, got {association!r}")
    if random_effects not in RANDOM_EFFECTS:
        problems.append(f"random_effects must be one of {RANDOM_EFFECTS}, got {random_effects!r}")
    if data.n_patients == 0 or data.n_obs == 0:
        problems.append("no patients or no marker values")
    if int(data.event.sum()) == 0:
        problems.append("no events")
    if problems:
        raise ValueError("joint model: " + "; ".join(problems))


def _model_spec(data, association, random_effects, time_basis, df, n_pieces, knots, n_legendre):
    basis = make_time_basis(time_basis, data.obs_time, data.event_time, df)
    if knots is None:
        knots = default_knots(data.event_time, data.event, n_pieces)
    return ModelSpec(
        basis=basis,
        long_names=data.long_names,
        time_interactions=data.time_interactions,
        surv_names=data.surv_names,
        knots=tuple(float(k) for k in knots),
        association=association,
        n_legendre=n_legendre,
        random_effects=random_effects,
    )


def _optimise(obj: _Objective, theta: np.ndarray, n: int, max_outer: int, tol: float):
    """Steps 2-4 of the module docstring: BFGS rounds with re-centred nodes until the
    log-likelihood changes by less than ``tol`` between rounds. Returns ``(theta, optimiser
    messages, rounds, fixed point reached)``."""
    obj.recentre(theta)
    # BFGS's first step is scaled by the curvature at the start (the identity would overshoot)
    H0 = -obj.hessian(theta, central=False) / n
    eig, vec = np.linalg.eigh(H0)
    hess_inv = (vec / np.clip(np.abs(eig), 1e-3, None)) @ vec.T
    hess_inv = 0.5 * (hess_inv + hess_inv.T)
    messages, ll_old, n_outer = [], -np.inf, 0
    for n_outer in range(1, max_outer + 1):
        obj.recentre(theta)
        res = minimize(
            obj.scaled,
            theta,
            args=(n,),
            jac=True,
            method="BFGS",
            options={"gtol": 1e-5, "maxiter": 5000, "hess_inv0": hess_inv},
        )
        hess_inv = _pd_or(res.hess_inv, hess_inv)
        theta = res.x
        ll = -res.fun * n
        messages.append(str(res.message))
        if abs(ll - ll_old) < tol:
            return theta, messages, n_outer, True
        ll_old = ll
    return theta, messages, n_outer, False


def _polish(obj: _Objective, theta: np.ndarray, n: int):
    """Step 5: Newton polishing at re-centred nodes with the numerical Hessian (computed once,
    reused: a chord method), until the score is ~0 at nodes centred for theta itself. BFGS
    stops a little short ("precision loss") because the re-centred objective and the
    fixed-node score differ by the quadrature error; Newton steps from there are tiny and
    converge. Returns ``(theta, loglik, score, Hessian)``."""
    obj.recentre(theta)
    ll, score = obj(theta)
    H = obj.hessian(theta)
    theta_h = theta.copy()
    for _ in range(20):
        if np.max(np.abs(score)) < 1e-6 * n:
            break
        try:
            step = np.linalg.solve(-H, score)
        except np.linalg.LinAlgError:
            break
        new = theta + step
        try:
            obj.recentre(new)
        except np.linalg.LinAlgError:  # a random-effects posterior not positive definite there
            obj.recentre(theta)
            break
        ll_new, score_new = obj(new)
        if not np.isfinite(ll_new) or ll_new < ll - 1e-6 * abs(ll):
            obj.recentre(theta)
            break
        theta, ll, score = new, ll_new, score_new
    if np.max(np.abs(theta - theta_h)) > 1e-3:
        H = obj.hessian(theta)
    return theta, ll, score, H


def _convergence_message(fixed_point, hess_pd, max_score, n, max_outer) -> str:
    """ "ok", or every failed check in words."""
    failed = [
        m
        for m, bad in (
            (f"nodes not at a fixed point after {max_outer} outer iterations", not fixed_point),
            ("Hessian not negative definite (an SE is undefined)", not hess_pd),
            (f"score not ~0 (max |score| {max_score:.2g})", max_score >= 1e-4 * n),
        )
        if bad
    ]
    return "; ".join(failed) if failed else "ok"
