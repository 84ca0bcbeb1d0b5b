"""Hidden Markov (misclassification) and censored-state likelihoods: forward algorithm, Viterbi.

The forward algorithm (Baum et al., 1970; for msm: Jackson et al., 2003) runs over all subjects
at once, observation by observation; the scaled forward vector and its derivatives in every
parameter are carried together, so the gradient is analytic.  Conventions follow msm:

* misclassification model: ``alpha_1 = initprobs * e[., obs_1]``; with ``obstrue`` the
  emission is the indicator of the recorded state (msm >= 1.7 then still weights by initprobs);
* censored states without misclassification (msm ``likcensor``): the likelihood conditions on
  the first observation (``alpha_1`` = indicator of the states it allows);
* exact death at the j-th observation: ``alpha_j[k] = sum_i alpha_{j-1}[i] P[i, k] q_{k, d}``;
* the covariates of an interval are those of its first observation; covariates on the
  misclassification probabilities (msm ``misccovariates``) are those of the observation they
  classify.
"""

from __future__ import annotations

import numpy as np

from ._likelihood import OBS_DEATH, Minus2LogLik, ModelSpec, SeqData, full_p_and_dp
from .expm import eigen_decompose


def _emission(spec: ModelSpec, emat: np.ndarray, demat, sets, obstrue, hidden):
    """Outcome probabilities pout[n, k] of the observations given true state k, and derivatives."""
    if not hidden:
        return sets.astype(float), None
    pout = sets @ emat.T  # sum over compatible observed states of E[k, o]
    dpout = np.einsum("no,mko->nmk", sets, demat) if demat is not None else None
    if np.any(obstrue):
        pout = np.where(obstrue[:, None], sets.astype(float), pout)
        if dpout is not None:
            dpout = np.where(obstrue[:, None, None], 0.0, dpout)
    return pout, dpout


def ematrix_derivs(spec: ModelSpec, emat: np.ndarray) -> np.ndarray:
    """dE/d eta_m for each misclassification parameter: (M, K, K)."""
    m = len(spec.misc)
    k = spec.n_states
    out = np.zeros((m, k, k))
    for i, (r, s) in enumerate(spec.misc):
        row = emat[r]
        out[i, r, :] = -row * row[s]
        out[i, r, s] += row[s]
    return out


def _row_ematrix_derivs(spec: ModelSpec, emat: np.ndarray) -> np.ndarray:
    """dE_n/d eta_m for per-row misclassification matrices ``emat`` (n, K, K): (n, M, K, K)."""
    n, k, _ = emat.shape
    out = np.zeros((n, len(spec.misc), k, k))
    for i, (r, s) in enumerate(spec.misc):
        out[:, i, r, :] = -emat[:, r, :] * emat[:, r, s][:, None]
        out[:, i, r, s] += emat[:, r, s]
    return out


def _emitter(spec: ModelSpec, d: SeqData, eta: np.ndarray, grad: bool):
    """``emit(sid, j)``: outcome probabilities of observation j of subjects ``sid`` given each
    true state (n, K), and their derivatives in the misclassification block (n, M', K) or None.

    Without misclassification covariates one E serves every observation; with them (msm
    ``misccovariates``) E is evaluated at each observation's covariates, and the derivative in
    ``gamma_{m,c}`` is ``ez_c`` times that in ``eta_m``.
    """
    k = spec.n_states
    if not (d.hidden and spec.n_ecov and d.ez is not None):
        emat = spec.ematrix(eta) if d.hidden else np.eye(k)
        demat = ematrix_derivs(spec, emat) if (d.hidden and grad and len(spec.misc)) else None

        def emit(sid, j):
            return _emission(spec, emat, demat, d.emit_set[sid, j], d.obstrue[sid, j], d.hidden)

        return emit

    def emit_cov(sid, j):
        sets, true = d.emit_set[sid, j], d.obstrue[sid, j]
        ez = d.ez[sid, j]
        en = spec.ematrices(eta, ez)
        pout = np.einsum("no,nko->nk", sets, en)
        dpout = None
        if grad:
            base = np.einsum("no,nmko->nmk", sets, _row_ematrix_derivs(spec, en))
            cov = base[:, :, None, :] * ez[:, None, :, None]
            n, m = base.shape[:2]
            dpout = np.concatenate([base, cov.reshape(n, m * spec.n_ecov, k)], axis=1)
        if np.any(true):
            pout = np.where(true[:, None], sets, pout)
            if dpout is not None:
                dpout = np.where(true[:, None, None], 0.0, dpout)
        return pout, dpout

    return emit_cov


def forward_minus2loglik(par: np.ndarray, spec: ModelSpec, d: SeqData, grad: bool = True):
    """-2 log L by the forward algorithm (hidden Markov / censored states), with gradient."""
    k, t, c = spec.n_states, spec.n_trans, spec.n_cov
    npar = spec.n_par
    m0 = spec.misc_start
    _, _, eta = spec.split(par)
    q_pat = spec.intensities(par, d.z)
    qmat = spec.generators(q_pat)
    eig = eigen_decompose(qmat)
    emit = _emitter(spec, d, eta, grad)
    nsub = len(d.n_obs)
    active = d.n_obs >= 2
    ids = np.flatnonzero(active)
    pout0, dpout0 = emit(ids, 0)
    # censoring only (msm likcensor): the likelihood conditions on the first observation
    alpha = pout0 * spec.initprobs[None, :] if d.hidden else pout0
    dalpha = np.zeros((len(ids), npar, k))
    if grad and dpout0 is not None:
        dalpha[:, m0:, :] = dpout0 * spec.initprobs[None, None, :]
    logscale = np.zeros(len(ids))
    a_idx, b_idx = spec.trans[:, 0], spec.trans[:, 1]
    jmax = int(d.n_obs.max()) if nsub else 0
    for j in range(1, jmax):
        live = d.n_obs[ids] > j
        if not np.any(live):
            break
        li = np.flatnonzero(live)
        sid = ids[li]
        pidx = d.pattern[sid, j - 1]
        dt = d.dt[sid, j]
        p, dp = full_p_and_dp(spec, q_pat, eig, pidx, dt)
        death = d.obstype[sid, j] == OBS_DEATH
        pout, dpout = emit(sid, j)
        # transition-and-emission matrix M[i, k]: P[i, k] pout[k], or P[i, k] q_{k, death}
        col = pout.copy()
        if np.any(death):
            di = np.flatnonzero(death)
            ds = d.death_state[sid[di], j]
            qd = qmat[pidx[di], :, ds].copy()
            qd[np.arange(len(di)), ds] = 0.0
            col[di] = qd
        al = alpha[li]
        ap = np.matmul(al[:, None, :], p)[:, 0, :]  # alpha P
        new = ap * col
        if grad:
            da = dalpha[li]
            dnew = np.matmul(da, p) * col[:, None, :]
            # intensity parameters: dP_t, scaled by covariates for the beta block
            dq = np.matmul(al[:, None, None, :], dp)[:, :, 0, :] * col[:, None, :]  # (n, T, K)
            if np.any(death):
                # derivative of the q_{k, death} factor
                apd = ap[di]
                qt = q_pat[pidx[di]]
                hit = b_idx[None, :] == ds[:, None]
                extra = np.zeros((len(di), t, k))
                rows = np.arange(len(di))[:, None]
                extra[rows, np.arange(t)[None, :], a_idx[None, :]] = np.where(
                    hit, apd[:, a_idx] * qt, 0.0
                )
                dq[di] += extra
            zz = d.z[pidx]
            dnew[:, :t, :] += dq
            if c:
                dnew[:, t : t * (1 + c), :] += np.einsum("nc,ntk->nctk", zz, dq).reshape(
                    len(li), c * t, k
                )
            if dpout is not None:
                dm = ap[:, None, :] * dpout
                if np.any(death):
                    dm[death] = 0.0
                dnew[:, m0:, :] += dm
        scale = new.sum(axis=1)
        if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
            return Minus2LogLik(np.inf, np.full(npar, np.nan))
        alpha[li] = new / scale[:, None]
        if grad:
            dalpha[li] = dnew / scale[:, None, None]
        logscale[li] += np.log(scale)
    total = alpha.sum(axis=1)
    if np.any(total <= 0):
        return Minus2LogLik(np.inf, np.full(npar, np.nan))
    m2ll = -2.0 * np.sum(np.log(total) + logscale)
    if not grad:
        return Minus2LogLik(m2ll, None)
    g = (dalpha.sum(axis=2) / total[:, None]).sum(axis=0)
    return Minus2LogLik(m2ll, -2.0 * g)


def viterbi_paths(par: np.ndarray, spec: ModelSpec, d: SeqData) -> np.ndarray:
    """Most likely true-state sequences (Viterbi, 1967), 0-based, shape (N, J); -1 = padding."""
    k = spec.n_states
    _, _, eta = spec.split(par)
    q_pat = spec.intensities(par, d.z)
    qmat = spec.generators(q_pat)
    eig = eigen_decompose(qmat)
    emit = _emitter(spec, d, eta, grad=False)
    nsub, jmax = d.dt.shape
    ptr = np.zeros((nsub, jmax, k), dtype=np.int64)
    with np.errstate(divide="ignore"):
        pout0, _ = emit(np.arange(nsub), 0)
        init = spec.initprobs[None, :] if d.hidden else np.ones((1, k))
        lv = np.log(pout0 * init)
        for j in range(1, jmax):
            live = np.flatnonzero(d.n_obs > j)
            if not len(live):
                break
            pidx = d.pattern[live, j - 1]
            p, _ = full_p_and_dp(spec, q_pat, eig, pidx, d.dt[live, j])
            pout, _ = emit(live, j)
            death = d.obstype[live, j] == OBS_DEATH
            if np.any(death):
                # an exact death is observed without error: only the death state fits it
                di = np.flatnonzero(death)
                pout[di] = 0.0
                pout[di, d.death_state[live[di], j]] = 1.0
            cand = lv[live][:, :, None] + np.log(np.clip(p, 0.0, None))  # (n, from, to)
            best = np.argmax(cand, axis=1)
            ptr[live, j] = best
            lv[live] = np.take_along_axis(cand, best[:, None, :], axis=1)[:, 0, :] + np.log(pout)
    out = np.full((nsub, jmax), -1, dtype=np.int64)
    last = np.argmax(lv, axis=1)
    for i in range(nsub):
        n = d.n_obs[i]
        s = last[i]
        out[i, n - 1] = s
        for j in range(n - 1, 0, -1):
            s = ptr[i, j, s]
            out[i, j - 1] = s
    return out
