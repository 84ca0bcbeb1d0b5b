"""Log-likelihoods (and analytic gradients) of panel-observed multi-state Markov models.

Two evaluators share one parametrisation (see :class:`ModelSpec`):

* :func:`pairs_minus2loglik` — the Kalbfleisch & Lawless (1985) likelihood for fully observed
  states: a product over consecutive observation pairs of ``P(dt)[r, s]`` (snapshot),
  ``sum_{k != d} P(dt)[r, k] q_kd`` (death at an exact time, msm ``deathexact``) or
  ``exp(q_rr dt) q_rs`` (exact transition time, msm ``obstype = 2``).  Identical
  (from, to, dt, covariates, obstype) records are evaluated once and weighted by their count,
  as msm does.
* the forward algorithm for misclassification and censored states lives in :mod:`.hmm`.

Both return ``-2 log L`` and its gradient in the working parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.linalg

from ._kernels_ms import pair_terms
from .expm import eigen_decompose, frechet_block, phi_from_exp, pmatrix_eigen

OBS_SNAPSHOT, OBS_EXACT, OBS_DEATH = 1, 2, 3


class Minus2LogLik(NamedTuple):
    """-2 log L and its gradient in the working parameters (None when not asked for)."""

    value: float
    gradient: np.ndarray | None


@dataclass(frozen=True)
class ModelSpec:
    """Structure of a model; parameter vector layout follows msm's ``estimates``.

    ``[log q_t for t in trans] + [beta_{c,t} for c in covariates for t in trans]
    + [log(e_rs / e_rr) for (r, s) in misc] + [gamma_{m,c} for m in misc for c in misccovariates]``;
    transitions and misclassifications in row-major order of the qmatrix / ematrix (0-based
    states here).  The covariate effects on misclassification (msm ``misccovariates``) are
    ordered by misclassification parameter, then covariate, as msm's ``hcov`` block.
    """

    n_states: int
    trans: np.ndarray  # (T, 2) int
    n_cov: int
    misc: np.ndarray  # (M, 2) int
    initprobs: np.ndarray  # (K,)
    n_ecov: int = 0  # covariates on the misclassification log-odds

    @property
    def n_trans(self) -> int:
        return len(self.trans)

    @property
    def n_par(self) -> int:
        return self.n_trans * (1 + self.n_cov) + len(self.misc) * (1 + self.n_ecov)

    @property
    def misc_start(self) -> int:
        """Index of the first misclassification parameter."""
        return self.n_trans * (1 + self.n_cov)

    def split(self, par: np.ndarray):
        t, c = self.n_trans, self.n_cov
        theta = par[:t]
        beta = par[t : t * (1 + c)].reshape(c, t)
        eta = par[t * (1 + c) :]
        return theta, beta, eta

    def intensities(self, par: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Transition intensities (n_patterns, T) at centred covariate rows ``z``."""
        theta, beta, _ = self.split(par)
        return np.exp(theta[None, :] + z @ beta)

    def generators(self, q: np.ndarray) -> np.ndarray:
        """Generator matrices (n, K, K) from intensities (n, T)."""
        k = self.n_states
        out = np.zeros((q.shape[0], k, k))
        a, b = self.trans[:, 0], self.trans[:, 1]
        out[:, a, b] = q
        out[:, np.arange(k), np.arange(k)] = -out.sum(axis=2)
        return out

    def ematrix(self, eta: np.ndarray) -> np.ndarray:
        """Misclassification matrix E[true, observed] (multinomial logit per row, msm), at the
        covariate means (the misclassification-covariate effects in ``eta`` are not used)."""
        k = self.n_states
        ex = np.zeros((k, k))
        ex[self.misc[:, 0], self.misc[:, 1]] = np.exp(eta[: len(self.misc)])
        ex[np.arange(k), np.arange(k)] = 1.0
        return ex / ex.sum(axis=1, keepdims=True)

    def ematrices(self, eta: np.ndarray, ez: np.ndarray) -> np.ndarray:
        """Misclassification matrices (n, K, K) at centred misclassification covariates ``ez``
        (n, C_e): ``log(e_rs / e_rr) = eta_m + gamma_m . ez`` (msm ``misccovariates``)."""
        k, m = self.n_states, len(self.misc)
        gamma = eta[m:].reshape(m, self.n_ecov)
        n = ez.shape[0]
        ex = np.zeros((n, k, k))
        ex[:, self.misc[:, 0], self.misc[:, 1]] = np.exp(eta[None, :m] + ez @ gamma.T)
        ex[:, np.arange(k), np.arange(k)] = 1.0
        return ex / ex.sum(axis=2, keepdims=True)

    def directions(self, q: np.ndarray) -> np.ndarray:
        """dQ / d log q_t for every transition: (n, T, K, K)."""
        n, t = q.shape
        k = self.n_states
        d = np.zeros((n, t, k, k))
        for i, (a, b) in enumerate(self.trans):
            d[:, i, a, b] = q[:, i]
            d[:, i, a, a] = -q[:, i]
        return d


def full_p_and_dp(spec: ModelSpec, q_pat, eig, pidx, dt):
    """P(dt) (n, K, K) and dP/d log q_t (n, T, K, K) for records with pattern index ``pidx``."""
    lam, v, vinv, ok = eig
    n, k, t = len(dt), spec.n_states, spec.n_trans
    p = np.empty((n, k, k))
    dp = np.empty((n, t, k, k))
    rec_ok = ok[pidx]
    if np.any(rec_ok):
        idx = np.flatnonzero(rec_ok)
        pi = pidx[idx]
        vv, vi, ll = v[pi], vinv[pi], lam[pi]
        p[idx] = pmatrix_eigen(ll, vv, vi, dt[idx])
        ph = phi_from_exp(np.exp(ll * dt[idx][:, None]), lam, pi, dt[idx])
        a, b = spec.trans[:, 0], spec.trans[:, 1]
        # V^-1 (e_a e_b' - e_a e_a') V = Vinv[:, a] (V[b, :] - V[a, :])
        left = vi[:, :, a]  # (n, K, T)
        right = vv[:, b, :] - vv[:, a, :]  # (n, T, K)
        g = np.transpose(left, (0, 2, 1))[:, :, :, None] * right[:, :, None, :]
        g *= ph[:, None, :, :]
        d = np.matmul(np.matmul(vv[:, None], g), vi[:, None])
        d = d.real if np.iscomplexobj(d) else d
        dp[idx] = d * q_pat[pi][:, :, None, None]
    if not np.all(rec_ok):
        idx = np.flatnonzero(~rec_ok)
        qp = q_pat[pidx[idx]]
        pp, dd = frechet_block(spec.generators(qp), spec.directions(qp), dt[idx])
        p[idx] = pp
        dp[idx] = dd
    return p, dp


@dataclass(frozen=True)
class PairData:
    """Distinct (from, to, dt, obstype, covariate pattern) records with their counts."""

    frm: np.ndarray
    to: np.ndarray
    dt: np.ndarray
    obstype: np.ndarray
    pattern: np.ndarray
    count: np.ndarray
    z: np.ndarray  # (n_patterns, C) centred covariates


def pairs_minus2loglik(
    par: np.ndarray, spec: ModelSpec, d: PairData, grad: bool = True, use_numba: bool = True
):
    """-2 log L and its gradient for the non-hidden model (Kalbfleisch & Lawless, 1985).

    ``use_numba=False`` runs the vectorised numpy reference instead of the numba kernel.
    """
    k, t = spec.n_states, spec.n_trans
    q_pat = spec.intensities(par, d.z)
    qmat = spec.generators(q_pat)
    n = len(d.dt)
    lik = np.empty(n)
    dlik = np.zeros((n, t))  # dL / d log q_t (covariate effects follow by the chain rule)
    a, b = spec.trans[:, 0], spec.trans[:, 1]

    exact = d.obstype == OBS_EXACT
    if np.any(exact):
        idx = np.flatnonzero(exact)
        qp = qmat[d.pattern[idx]]
        r, s = d.frm[idx], d.to[idx]
        qrr = qp[np.arange(len(idx)), r, r]
        qrs = qp[np.arange(len(idx)), r, s]
        stay = np.exp(qrr * d.dt[idx])
        # msm: the state is known throughout (r, r+dt); a change r -> s happens at its end
        lik[idx] = stay * np.where(r == s, 1.0, qrs)
        qt = q_pat[d.pattern[idx]]
        leaves = (a[None, :] == r[:, None]).astype(float)
        # d(q_rr)/d log q_t = -q_t when transition t leaves r
        dl = -leaves * qt * d.dt[idx][:, None]
        dl += leaves * (b[None, :] == s[:, None])
        dlik[idx] = dl * lik[idx][:, None]

    rest = ~exact
    if np.any(rest):
        idx = np.flatnonzero(rest)
        pidx = d.pattern[idx]
        r, s, dt = d.frm[idx], d.to[idx], d.dt[idx]
        death = d.obstype[idx] == OBS_DEATH
        # weights w: P[r, :] @ w is the contribution (snapshot: indicator of s;
        # exact death: q_{k, s} over the states k it can be entered from)
        w = np.zeros((len(idx), k))
        snap = np.flatnonzero(~death)
        w[snap, s[snap]] = 1.0
        dth = np.flatnonzero(death)
        if len(dth):
            w[dth] = qmat[pidx[dth], :, s[dth]]
            w[dth, s[dth]] = 0.0
        lam, v, vinv, ok = eigen_decompose(qmat)
        rec_ok = ok[pidx]
        sub = np.flatnonzero(rec_ok)
        prow_all = None
        if len(sub) and use_numba and not np.iscomplexobj(lam) and rec_ok.all():
            lik[idx], dl, prow_all = pair_terms(
                lam, v, vinv, pidx, r, w, dt, a, b, q_pat, bool(grad)
            )
            dlik[idx] = dl
        elif len(sub):
            pi = pidx[sub]
            vv, vi, ll = v[pi], vinv[pi], lam[pi]
            y = vv[np.arange(len(sub)), r[sub], :]  # (n, K)
            u = np.einsum("njk,nk->nj", vi, w[sub])  # (n, K)
            e = np.exp(ll * dt[sub][:, None])
            val = np.sum(y * e * u, axis=1)
            lik[idx[sub]] = val.real if np.iscomplexobj(val) else val
            if grad:
                ph = phi_from_exp(e, lam, pi, dt[sub])
                left = y[:, None, :] * np.transpose(vi[:, :, a], (0, 2, 1))  # (n, T, K)
                right = (vv[:, b, :] - vv[:, a, :]) * u[:, None, :]  # (n, T, K)
                dd = np.einsum("ntl,ntl->nt", np.matmul(left, ph), right)
                dd = dd.real if np.iscomplexobj(dd) else dd
                dlik[idx[sub]] = dd * q_pat[pi]
        bad = np.flatnonzero(~rec_ok)
        if len(bad):
            qp = q_pat[pidx[bad]]
            pp, dp = frechet_block(qmat[pidx[bad]], spec.directions(qp), dt[bad])
            rows = np.arange(len(bad))
            lik[idx[bad]] = np.einsum("nk,nk->n", pp[rows, r[bad], :], w[bad])
            dlik[idx[bad]] = np.einsum("ntk,nk->nt", dp[rows, :, r[bad], :], w[bad])
        if grad and len(dth):
            # the exact-death weight q_{k,s} itself depends on log q_(k,s)
            if prow_all is not None:
                prow = prow_all[dth]
            else:
                eig = (lam, v, vinv, ok)
                prow = _prow(spec, qmat, eig=eig, pidx=pidx[dth], r=r[dth], dt=dt[dth])
            qt = q_pat[pidx[dth]]
            hit = b[None, :] == s[dth][:, None]
            dlik[idx[dth]] += np.where(hit, prow[:, a] * qt, 0.0)

    if np.any(lik <= 0) or not np.all(np.isfinite(lik)):
        return Minus2LogLik(np.inf, np.full(spec.n_par, np.nan))
    m2ll = -2.0 * np.sum(d.count * np.log(lik))
    if not grad:
        return Minus2LogLik(m2ll, None)
    score = (d.count / lik)[:, None] * dlik  # (n, T)
    g_theta = score.sum(axis=0)
    zz = d.z[d.pattern]  # (n, C)
    g_beta = np.einsum("nc,nt->ct", zz, score).ravel()
    g = np.concatenate([g_theta, g_beta, np.zeros(spec.n_par - spec.misc_start)])
    return Minus2LogLik(m2ll, -2.0 * g)


def _prow(spec, qmat, eig, pidx, r, dt):
    """Row ``r`` of P(dt) per record."""
    lam, v, vinv, ok = eig
    out = np.empty((len(dt), spec.n_states))
    good = ok[pidx]
    if np.any(good):
        i = np.flatnonzero(good)
        p = pmatrix_eigen(lam[pidx[i]], v[pidx[i]], vinv[pidx[i]], dt[i])
        out[i] = p[np.arange(len(i)), r[i], :]
    if not np.all(good):
        i = np.flatnonzero(~good)
        p = scipy.linalg.expm(qmat[pidx[i]] * dt[i][:, None, None])
        out[i] = p[np.arange(len(i)), r[i], :]
    return out


@dataclass(frozen=True)
class SeqData:
    """Observation sequences padded to a common length, for the forward algorithm.

    ``emit_set[n, j]`` is a (K,) 0/1 vector of observed states compatible with observation j
    (one state, or the states a censoring code stands for); ``obstrue`` marks observations
    whose recorded state is the true one (msm ``obstrue``).
    """

    n_obs: np.ndarray  # (N,)
    dt: np.ndarray  # (N, J) interval ending at obs j (j >= 1)
    obstype: np.ndarray  # (N, J)
    emit_set: np.ndarray  # (N, J, K)
    obstrue: np.ndarray  # (N, J) bool
    pattern: np.ndarray  # (N, J) covariate pattern at obs j (used for the interval starting there)
    z: np.ndarray  # (n_patterns, C)
    death_state: np.ndarray  # (N, J) state index for exact-death observations, else -1
    hidden: bool  # misclassification model (else: censoring only, msm likcensor)
    ez: np.ndarray | None = None  # (N, J, C_e) centred misclassification covariates
