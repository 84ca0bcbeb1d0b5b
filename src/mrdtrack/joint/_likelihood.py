"""The joint log-likelihood by adaptive Gauss-Hermite quadrature, its score, and the modes.

Patient i contributes (Rizopoulos 2012, eq. 4.4; Henderson, Diggle and Dobson 2000)

    L_i(theta) = int p(y_i | b; theta) p(T_i, delta_i | b; theta) p(b; theta) db,

approximated on adaptive nodes b_ik = bhat_i + sqrt(2) C_i z_k (`_quadrature`). The nodes are
held fixed while theta is optimised and re-centred between optimisations (as JM's "aGH", which
updates them between iterations), so the approximate log-likelihood is a smooth function of
theta with an analytic score:

    d log L_i / d theta = sum_k pi_ik d l_ik / d theta,
    pi_ik = W_ik e^{l_ik} / sum_k W_ik e^{l_ik},

(l_ik the complete-data log density at node k). At a fixed point (nodes centred at the modes
for theta-hat) the score is that of the exact aGH likelihood. Everything is vectorised over
patients and nodes with numpy; the only loop is over blocks of patients (bounded memory).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from mrdtrack.joint._longitudinal import tobit_terms
from mrdtrack.joint._model import Block, ModelSpec, Params, tril_rows

LOG_2PI = np.log(2 * np.pi)


def _at_points(fixed: np.ndarray, Z: np.ndarray, b: np.ndarray) -> np.ndarray:
    """fixed (n, G) + sum_r Z[n, g, r] b[n, k, r] -> (n, K, G); q is small, so a sum of
    broadcast products is faster than a batched matrix product."""
    out = np.repeat(fixed[:, None, :], b.shape[1], axis=1)
    for r in range(b.shape[2]):
        out += b[:, :, r, None] * Z[:, None, :, r]
    return out


def linear_predictors(P: Params, blk: Block, b: np.ndarray, spec: ModelSpec):
    """Event-side pieces at nodes b (n, K, q): log hazard at the integration points (n, K|1, G),
    weighted hazards h, and m, m' at the points and at the event time (None if unused)."""
    lin = blk.W @ P.gamma if P.gamma.size else np.zeros(blk.n)
    base = lin[:, None] + P.log_xi[blk.piece][None, :]  # (n, G)
    out = {"m_s": None, "md_s": None, "m_T": None, "md_T": None}
    eta = base[:, None, :]
    if spec.uses_value:
        m_s = _at_points(blk.X_s @ P.beta, blk.Z_s, b)
        out["m_s"] = m_s
        out["m_T"] = (blk.X_T @ P.beta)[:, None] + np.einsum("nq,nkq->nk", blk.Z_T, b)
        eta = eta + P.alpha * m_s
    if spec.uses_slope:
        md_s = _at_points(blk.dX_s @ P.beta, blk.dZ_s, b)
        out["md_s"] = md_s
        out["md_T"] = (blk.dX_T @ P.beta)[:, None] + np.einsum("nq,nkq->nk", blk.dZ_T, b)
        eta = eta + P.alpha_s * md_s
    with np.errstate(over="ignore"):
        h = np.exp(eta) * blk.omega[:, None, :]
    out["h"] = h
    out["lin"] = lin
    return out


def node_loglik(P: Params, spec: ModelSpec, blk: Block, b: np.ndarray, keep: bool = False):
    """Complete-data log density l_ik at nodes b (n, K, q); with ``keep`` also the pieces the
    score needs."""
    q = spec.q
    m_obs = (blk.X_obs @ P.beta)[:, None] + (b[blk.obs_patient] @ blk.Z_obs[:, :, None])[..., 0]
    ll_o, d1, d_ls = tobit_terms(blk.y, m_obs, blk.cens, P.log_sigma)
    ell = np.asarray(blk.S @ ll_o)
    ev = linear_predictors(P, blk, b, spec)
    at_T = P.log_xi[blk.piece_T] + ev["lin"]
    ell = ell + (blk.delta * at_T)[:, None] - ev["h"].sum(-1)
    if spec.uses_value:
        ell = ell + blk.delta[:, None] * P.alpha * ev["m_T"]
    if spec.uses_slope:
        ell = ell + blk.delta[:, None] * P.alpha_s * ev["md_T"]
    Linv = np.linalg.inv(P.L)
    u = b @ Linv.T
    ell = ell - 0.5 * q * LOG_2PI - np.log(np.diag(P.L)).sum() - 0.5 * (u**2).sum(-1)
    if not keep:
        return ell
    return ell, {"d1": d1, "d_ls": d_ls, "u": u, "Linv": Linv, **ev}


def block_loglik_score(
    theta_p: Params, spec: ModelSpec, blk: Block, b: np.ndarray, logW: np.ndarray
):
    """Sum over the block of log L_i, and the score vector (in theta's order)."""
    P = theta_p
    ell, k = node_loglik(P, spec, blk, b, keep=True)
    a = logW + ell
    lse = logsumexp(a, axis=1)
    pi = np.exp(a - lse[:, None])
    pi_obs = pi[blk.obs_patient]
    g_beta = blk.X_obs.T @ (pi_obs * k["d1"]).sum(1)
    g_ls = float((pi_obs * k["d_ls"]).sum())
    h = k["h"]
    ph = pi[:, :, None] * h if h.shape[1] > 1 else h
    hbar = ph.sum(1)
    d = blk.delta
    g_xi = np.bincount(blk.piece_T, weights=d, minlength=spec.n_pieces) - np.bincount(
        blk.piece, weights=hbar.sum(0), minlength=spec.n_pieces
    )
    g_gamma = blk.W.T @ (d - hbar.sum(1))
    g_alpha = []
    if spec.uses_value:
        g_beta = g_beta + P.alpha * (blk.X_T.T @ d - np.einsum("ng,ngp->p", hbar, blk.X_s))
        g_alpha.append(float(d @ (pi * k["m_T"]).sum(1) - np.vdot(ph, k["m_s"])))
    if spec.uses_slope:
        g_beta = g_beta + P.alpha_s * (blk.dX_T.T @ d - np.einsum("ng,ngp->p", hbar, blk.dX_s))
        g_alpha.append(float(d @ (pi * k["md_T"]).sum(1) - np.vdot(ph, k["md_s"])))
    u = k["u"]
    M = np.einsum("nk,nkq,nkr->qr", pi, u, u)
    G = np.tril(k["Linv"].T @ M)
    G[np.diag_indices(spec.q)] -= blk.n / np.diag(P.L)
    r, c = tril_rows(spec.q)
    g_L = G[r, c]
    diag = r == c
    g_L[diag] *= P.L[r[diag], c[diag]]
    score = np.concatenate([g_beta, [g_ls], g_L, g_xi, g_gamma, g_alpha])
    return float(lse.sum()), score


def mode_grad_hess(P: Params, spec: ModelSpec, blk: Block, b: np.ndarray):
    """Gradient (n, q) and Hessian (n, q, q) in b of the complete-data log density at b (n, q).

    The density is log-concave in b (normal and censored-normal measurements, exp-linear
    hazard in b, normal prior), so Newton's method finds the mode.
    """
    q = spec.q
    m_obs = blk.X_obs @ P.beta + (blk.Z_obs * b[blk.obs_patient]).sum(-1)
    _, d1, d2 = tobit_terms(blk.y, m_obs, blk.cens, P.log_sigma, order=2)
    Zo = blk.Z_obs
    grad = np.asarray(blk.S @ (d1[:, None] * Zo))
    hess = np.asarray(blk.S @ (d2[:, None] * (Zo[:, :, None] * Zo[:, None, :]).reshape(-1, q * q)))
    hess = hess.reshape(-1, q, q)
    if spec.n_alpha:
        ev = linear_predictors(P, blk, b[:, None, :], spec)
        h = ev["h"][:, 0, :]
        v = P.alpha * blk.Z_s + P.alpha_s * blk.dZ_s
        vT = P.alpha * blk.Z_T + P.alpha_s * blk.dZ_T
        grad = grad + blk.delta[:, None] * vT - np.einsum("ng,ngq->nq", h, v)
        hess = hess - np.einsum("ng,ngq,ngr->nqr", h, v, v)
    Dinv = np.linalg.inv(P.D)
    return grad - b @ Dinv, hess - Dinv[None]


def posterior_modes(P: Params, spec: ModelSpec, blk: Block, b0: np.ndarray, tol: float = 1e-9):
    """Modes of p(b | data_i; theta) and the covariances (-Hessian)^-1 there, all patients at once
    (damped Newton with step halving)."""
    b = b0.copy()
    f = node_loglik(P, spec, blk, b[:, None, :])[:, 0]
    for _ in range(100):
        g, H = mode_grad_hess(P, spec, blk, b)
        if np.max(np.abs(g)) < tol:
            break
        step = np.linalg.solve(-H, g[..., None])[..., 0]
        scale = np.ones(blk.n)
        todo = np.ones(blk.n, bool)
        for _ in range(30):
            cand = b + scale[:, None] * step
            fc = node_loglik(P, spec, blk, cand[:, None, :])[:, 0]
            ok = (fc >= f - 1e-12 * np.abs(f)) | ~np.isfinite(f)
            accept = todo & ok & np.isfinite(fc)
            b[accept] = cand[accept]
            f[accept] = fc[accept]
            todo &= ~accept
            if not todo.any():
                break
            scale[todo] /= 2
    g, H = mode_grad_hess(P, spec, blk, b)
    cov = np.linalg.inv(-H)
    return b, 0.5 * (cov + np.transpose(cov, (0, 2, 1)))


def adaptive_nodes(bhat: np.ndarray, cov: np.ndarray, z: np.ndarray, logw: np.ndarray):
    """Nodes b_ik (n, K, q) and log weights (n, K) of the adaptive rule."""
    C = np.linalg.cholesky(cov)
    q = z.shape[1]
    b = bhat[:, None, :] + np.sqrt(2.0) * np.einsum("nqr,kr->nkq", C, z)
    logdet = np.log(np.diagonal(C, axis1=1, axis2=2)).sum(1)
    return b, logw[None, :] + 0.5 * q * np.log(2.0) + logdet[:, None]
