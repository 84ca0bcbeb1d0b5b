"""Continuous-time Markov multi-state models for panel (interval-observed) data.

The Python counterpart of R ``msm`` (Jackson, 2011): maximum likelihood for states observed at
arbitrary visit times (Kalbfleisch & Lawless, 1985), absorbing states observed at exact times
(msm ``deathexact``), censored states (msm ``censor``), log-linear covariate effects on the
intensities, and misclassified states (hidden Markov model, msm ``ematrix``; Jackson et al., 2003).

References
----------
1. Kalbfleisch JD, Lawless JF (1985). The analysis of panel data under a Markov assumption.
   JASA 80:863-871.
2. Jackson CH, Sharples LD, Thompson SG, Duffy SW, Couto E (2003). Multistate Markov models for
   disease progression with classification error. JRSS D 52:193-209.
3. Jackson CH (2011). Multi-state models for panel data: the msm package for R.
   J Stat Softw 38(8):1-29.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import scipy.linalg
import scipy.optimize
import scipy.stats

from mrdtrack.errors import ConvergenceError, EstimationError

from ._data import (
    PCI_FLAG,
    PanelData,
    add_pci_rows,
    check_transitions,
    prepare_panel,
    to_pairs,
    to_sequences,
)
from ._likelihood import (
    ModelSpec,
    PairData,
    SeqData,
    full_p_and_dp,
    pairs_minus2loglik,
)
from .expm import eigen_decompose
from .hmm import forward_minus2loglik, viterbi_paths


def _matrix(m: Any, name: str) -> np.ndarray:
    a = np.asarray(m, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {a.shape}")
    if np.any(a < 0) and name == "ematrix":
        raise ValueError("ematrix entries must be non-negative initial probabilities")
    return a


def crude_initial_values(
    data,
    *,
    subject: str,
    time: str,
    state: str,
    qmatrix,
    censored_states: Mapping[int, Sequence[int]] | None = None,
) -> np.ndarray:
    """Crude intensity estimates: observed r->s transitions over time spent in r.

    The time in state r is the summed length of the intervals that start in r, as if the state
    stayed constant until the next visit; transitions not allowed by ``qmatrix`` are zeroed and
    the diagonal makes rows sum to zero.  R equivalent: ``msm::crudeinits.msm``.
    """
    q0 = _matrix(qmatrix, "qmatrix")
    k = q0.shape[0]
    pd_ = prepare_panel(
        data,
        subject=subject,
        time=time,
        state=state,
        n_states=k,
        covariates=[],
        exact_death_states=(),
        censored_states=censored_states,
        obstype=None,
        obstrue=None,
        center=False,
    )
    keep = pd_.state >= 0  # censored observations are dropped, as crudeinits.msm does
    si, t, s = pd_.subject_index[keep], pd_.time[keep], pd_.state[keep]
    nxt = np.ones(len(s), dtype=bool)
    nxt[:-1] = si[:-1] == si[1:]
    nxt[-1] = False
    i0 = np.flatnonzero(nxt)
    tot = np.bincount(s[i0], weights=t[i0 + 1] - t[i0], minlength=k)
    counts = np.zeros((k, k))
    np.add.at(counts, (s[i0], s[i0 + 1]), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.where(tot[:, None] > 0, counts / tot[:, None], 0.0)
    est[q0 <= 0] = 0.0
    np.fill_diagonal(est, 0.0)
    np.fill_diagonal(est, -est.sum(axis=1))
    return est


@dataclass(frozen=True)
class LRTestResult:
    """Likelihood-ratio test of nested panel Markov models (R ``msm::lrtest.msm``)."""

    statistic: float
    df: int
    p_value: float

    def table(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"statistic": [self.statistic], "df": [self.df], "p_value": [self.p_value]}
        )

    def summary(self) -> str:
        return (
            f"Likelihood-ratio test: -2 log LR = {self.statistic:.4f} on {self.df} df, "
            f"p = {self.p_value:.4g}"
        )


def lr_test(fit0: PanelMarkovFit, fit1: PanelMarkovFit) -> LRTestResult:
    """Likelihood-ratio test of ``fit0`` nested in ``fit1`` (R ``lrtest.msm``).

    The statistic is ``minus2loglik(fit0) - minus2loglik(fit1)``, referred to a chi-squared
    distribution on the difference in the number of estimated parameters.
    """
    if fit0.n_observations != fit1.n_observations:
        raise ValueError("lr_test needs two models fitted to the same observations")
    stat = fit0.minus2loglik - fit1.minus2loglik
    df = fit1.n_free - fit0.n_free
    if df <= 0:
        raise ValueError("fit1 must have more parameters than fit0 (fit0 nested in fit1)")
    return LRTestResult(float(stat), int(df), float(scipy.stats.chi2.sf(stat, df)))


@dataclass(frozen=True)
class PMatrixResult:
    """Transition probabilities P(t) with pointwise confidence limits."""

    t: float
    estimate: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    ci_method: str

    def table(self) -> pl.DataFrame:
        k = self.estimate.shape[0]
        fr, to = np.divmod(np.arange(k * k), k)
        out = {"from": fr + 1, "to": to + 1, "estimate": self.estimate.ravel()}
        if self.lower is not None:
            out["lower"] = self.lower.ravel()
            out["upper"] = self.upper.ravel()
        return pl.DataFrame(out)

    def summary(self) -> str:
        return f"P({self.t:g}) [CI: {self.ci_method}]\n" + np.array2string(
            self.estimate, precision=4
        )


@dataclass(frozen=True)
class PanelMarkovFit:
    """A fitted panel-data Markov (or hidden Markov) multi-state model.

    Attributes are named as in msm: ``minus2loglik``; ``params`` holds the working parameters in
    msm's order (log baseline intensities, then covariate effects by covariate and transition,
    then misclassification log-odds ``log(e_rs / e_rr)``); ``covariance`` is the inverse of the
    observed information (finite differences of the analytic gradient).
    """

    params: np.ndarray
    covariance: np.ndarray | None
    minus2loglik: float
    n_subjects: int
    n_observations: int
    n_states: int
    transitions: tuple[tuple[int, int], ...]
    covariate_names: tuple[str, ...]
    covariate_means: np.ndarray
    misclassifications: tuple[tuple[int, int], ...]
    initprobs: np.ndarray
    exact_death_states: tuple[int, ...]
    converged: bool
    n_iterations: int
    gradient: np.ndarray
    conf_level: float = 0.95
    pci: tuple[float, ...] | None = None
    misc_covariate_names: tuple[str, ...] = ()
    misc_covariate_means: np.ndarray | None = None
    param_names: tuple[str, ...] = ()
    _spec: ModelSpec = field(repr=False, default=None)
    _panel: PanelData = field(repr=False, default=None)
    _seq: SeqData | None = field(repr=False, default=None)
    _pairs: PairData | None = field(repr=False, default=None)
    _call: dict | None = field(repr=False, default=None)
    n_estimated: int | None = None

    @property
    def coef(self) -> dict[str, float]:
        """Working parameters by name (log intensities, covariate effects, misclassification
        log-odds and their covariate effects), as msm's ``estimates``."""
        return {n: float(v) for n, v in zip(self.param_names, self.params, strict=True)}

    @property
    def se(self) -> dict[str, float]:
        """Standard errors of :attr:`coef` (NaN without a covariance matrix)."""
        sd = np.sqrt(np.diag(self._cov()))
        return {n: float(v) for n, v in zip(self.param_names, sd, strict=True)}

    @property
    def n_free(self) -> int:
        """Number of estimated parameters (after ``constraint`` and ``fixedpars``)."""
        return len(self.params) if self.n_estimated is None else int(self.n_estimated)

    # ------------------------------------------------------------------ helpers
    @property
    def hidden(self) -> bool:
        return len(self.misclassifications) > 0

    @property
    def _z(self) -> float:
        return float(scipy.stats.norm.ppf(0.5 + self.conf_level / 2))

    def _zvec(self, covariates: Mapping[str, float] | None) -> np.ndarray:
        """Centred covariate vector; None = the covariate means (msm ``covariates = "mean"``)."""
        c = len(self.covariate_names)
        if covariates is None or c == 0:
            return np.zeros(c)
        missing = [n for n in self.covariate_names if n not in covariates]
        if missing:
            raise ValueError(f"covariates needs a value for {missing}")
        x = np.array([float(covariates[n]) for n in self.covariate_names])
        return x - self.covariate_means

    def _loglin_grad(self, z: np.ndarray) -> np.ndarray:
        """d log q_t / d params: (T, n_par)."""
        t, c = len(self.transitions), len(self.covariate_names)
        g = np.zeros((t, len(self.params)))
        g[:, :t] = np.eye(t)
        for ci in range(c):
            g[:, t * (1 + ci) : t * (2 + ci)] = z[ci] * np.eye(t)
        return g

    def _cov(self) -> np.ndarray:
        # without a covariance matrix (non-positive-definite Hessian, already reported at fit
        # time) every standard error and limit is NaN rather than a number that looks valid
        if self.covariance is None:
            return np.full((len(self.params), len(self.params)), np.nan)
        return self.covariance

    def minus2loglik_at(self, params: Sequence[float]) -> float:
        """-2 log L of this model and data at other working parameters (e.g. msm's)."""
        par = np.asarray(params, dtype=float)
        if par.shape != self.params.shape:
            raise ValueError(f"expected {len(self.params)} parameters, got {par.shape}")
        if self._seq is not None:
            return float(forward_minus2loglik(par, self._spec, self._seq, grad=False)[0])
        return float(pairs_minus2loglik(par, self._spec, self._pairs, grad=False)[0])

    def qmatrix(self, covariates: Mapping[str, float] | None = None) -> np.ndarray:
        """The estimated generator Q at ``covariates`` (default: covariate means)."""
        q = self._spec.intensities(self.params, self._zvec(covariates)[None, :])
        return self._spec.generators(q)[0]

    # ------------------------------------------------------------------ outputs
    def intensities(self, covariates: Mapping[str, float] | None = None) -> pl.DataFrame:
        """Transition intensities with delta-method CIs on the log scale (msm ``qmatrix.msm``).

        ``covariates=None`` gives the intensities at the covariate means, msm's default
        (``covariates = "mean"``, with ``center = TRUE``); pass a dict for other values.
        """
        z = self._zvec(covariates)
        q = self._spec.intensities(self.params, z[None, :])[0]
        g = self._loglin_grad(z)
        se_log = np.sqrt(np.einsum("tp,pq,tq->t", g, self._cov(), g))
        zc = self._z
        return pl.DataFrame(
            {
                "from": [a for a, _ in self.transitions],
                "to": [b for _, b in self.transitions],
                "estimate": q,
                "se": q * se_log,
                "lower": np.exp(np.log(q) - zc * se_log),
                "upper": np.exp(np.log(q) + zc * se_log),
            }
        )

    def hazard_ratios(self) -> pl.DataFrame:
        """Hazard ratios exp(beta) per covariate and transition, Wald CIs on the log scale.

        R equivalent: msm ``hazard.msm``.
        """
        t = len(self.transitions)
        rows = []
        cov = self._cov()
        zc = self._z
        for ci, name in enumerate(self.covariate_names):
            for ti, (a, b) in enumerate(self.transitions):
                k = t * (1 + ci) + ti
                beta, se = self.params[k], np.sqrt(cov[k, k])
                rows.append(
                    (name, a, b, np.exp(beta), np.exp(beta - zc * se), np.exp(beta + zc * se))
                )
        return pl.DataFrame(
            rows,
            schema=["covariate", "from", "to", "hazard_ratio", "lower", "upper"],
            orient="row",
        )

    def _ezvec(self, covariates: Mapping[str, float] | None) -> np.ndarray:
        """Centred misclassification-covariate vector; None = their means."""
        c = len(self.misc_covariate_names)
        if covariates is None or c == 0:
            return np.zeros(c)
        missing = [n for n in self.misc_covariate_names if n not in covariates]
        if missing:
            raise ValueError(f"covariates needs a value for {missing}")
        x = np.array([float(covariates[n]) for n in self.misc_covariate_names])
        return x - self.misc_covariate_means

    def misclassification(self, covariates: Mapping[str, float] | None = None) -> pl.DataFrame:
        """Misclassification probabilities P(observed s | true r), CIs on the logit scale.

        Delta method for ``logit(e_rs)`` from the multinomial-logit parameters, as msm
        ``ematrix.msm`` (its ``p.se.msm``).  With ``misccovariates``, at the covariate means
        (msm ``covariates = "mean"``) or at ``covariates`` (a dict of their values).
        """
        spec = self._spec
        if not self.hidden:
            raise ValueError("this model has no misclassification (fit with ematrix=...)")
        _, _, eta = spec.split(self.params)
        ez = self._ezvec(covariates)
        e = spec.ematrices(eta, ez[None, :])[0] if spec.n_ecov else spec.ematrix(eta)
        m0 = spec.misc_start
        cov = self._cov()[m0:, m0:]
        nm, ne = len(spec.misc), spec.n_ecov
        # d (eta_m + gamma_m . ez) / d (misclassification block)
        jac = np.zeros((nm, nm * (1 + ne)))
        jac[:, :nm] = np.eye(nm)
        for i in range(nm):
            jac[i, nm + i * ne : nm + (i + 1) * ne] = ez
        rows = []
        zc = self._z
        for (r, s), (r1, s1) in zip(spec.misc, self.misclassifications, strict=True):
            # d e_rs / d eta_m, then d logit(e) = de / (e (1 - e))
            de = np.array(
                [(e[r, s] * ((s == s2) - e[r, s2])) if r2 == r else 0.0 for r2, s2 in spec.misc]
            )
            dl = (de / (e[r, s] * (1 - e[r, s]))) @ jac
            lse = float(np.sqrt(dl @ cov @ dl))
            lo = scipy.special.expit(scipy.special.logit(e[r, s]) - zc * lse)
            hi = scipy.special.expit(scipy.special.logit(e[r, s]) + zc * lse)
            rows.append((r1, s1, e[r, s], lo, hi))
        return pl.DataFrame(
            rows, schema=["true", "observed", "estimate", "lower", "upper"], orient="row"
        )

    def misclassification_odds_ratios(self) -> pl.DataFrame:
        """Odds ratios ``exp(gamma)`` of the misclassification covariates, per covariate and
        misclassification ``true -> observed``, Wald CIs on the log scale (msm ``odds.msm``)."""
        if not self.misc_covariate_names:
            raise ValueError("this model has no misclassification covariates (misccovariates)")
        spec = self._spec
        nm, ne = len(spec.misc), spec.n_ecov
        cov = self._cov()
        zc = self._z
        rows = []
        for c, name in enumerate(self.misc_covariate_names):
            for i, (r, s) in enumerate(self.misclassifications):
                j = spec.misc_start + nm + i * ne + c
                g, se = self.params[j], np.sqrt(cov[j, j])
                rows.append((name, r, s, np.exp(g), np.exp(g - zc * se), np.exp(g + zc * se)))
        return pl.DataFrame(
            rows,
            schema=["covariate", "true", "observed", "odds_ratio", "lower", "upper"],
            orient="row",
        )

    def ematrix(self, covariates: Mapping[str, float] | None = None) -> np.ndarray:
        """The estimated misclassification matrix E[true, observed] (at the covariate means
        of ``misccovariates``, or at ``covariates``)."""
        if not self.hidden:
            return np.eye(self.n_states)
        _, _, eta = self._spec.split(self.params)
        if self._spec.n_ecov:
            return self._spec.ematrices(eta, self._ezvec(covariates)[None, :])[0]
        return self._spec.ematrix(eta)

    def _p_grad(self, t: float, z: np.ndarray):
        spec = self._spec
        q = spec.intensities(self.params, z[None, :])
        eig = eigen_decompose(spec.generators(q))
        p, dp = full_p_and_dp(spec, q, eig, np.array([0]), np.array([float(t)]))
        g = self._loglin_grad(z)  # (T, npar)
        dpar = np.einsum("tij,tp->pij", dp[0], g)
        return p[0], dpar

    def pmatrix(
        self,
        t: float,
        covariates: Mapping[str, float] | None = None,
        ci: str = "none",
        n_draws: int | None = None,
        seed: int | None = None,
    ) -> PMatrixResult:
        """Transition probability matrix P(t) = expm(Q t) (msm ``pmatrix.msm``).

        ``ci="delta"``: delta method on the logit scale of each entry, from the analytic
        derivative of P(t); ``ci="normal"``: msm's default CI method, percentiles of P(t) over
        ``n_draws`` (default 1000) parameter vectors drawn from their asymptotic normal
        distribution (Mandel, 2013), seeded by ``seed`` (a TypeError with other ``ci``).
        Entries that are structurally 0 or 1 get degenerate limits.
        """
        if ci not in ("none", "delta", "normal"):
            raise ValueError("ci must be 'none', 'delta' or 'normal'")
        unused = [n for n, v in (("n_draws", n_draws), ("seed", seed)) if v is not None]
        if ci != "normal" and unused:
            raise TypeError(f"ci={ci!r} does not use {unused}")
        z = self._zvec(covariates)
        p, dpar = self._p_grad(t, z)
        if ci == "none":
            return PMatrixResult(float(t), p, None, None, "none")
        if ci in ("delta", "normal") and self.covariance is None:
            raise EstimationError(
                "no confidence limits: the Hessian was not positive definite (see the fit warning)"
            )
        zc = self._z
        if ci == "delta":
            var = np.einsum("pij,pq,qij->ij", dpar, self._cov(), dpar)
            inner = (p > 1e-12) & (p < 1 - 1e-12)
            pc = np.clip(p, 1e-300, 1 - 1e-16)
            lse = np.sqrt(np.maximum(var, 0.0)) / (pc * (1 - pc))
            lo = np.where(inner, scipy.special.expit(scipy.special.logit(pc) - zc * lse), p)
            hi = np.where(inner, scipy.special.expit(scipy.special.logit(pc) + zc * lse), p)
            return PMatrixResult(float(t), p, lo, hi, "delta (logit scale)")
        if ci == "normal":
            n_draws = 1000 if n_draws is None else n_draws
            rng = np.random.default_rng(seed)
            draws = rng.multivariate_normal(self.params, self._cov(), size=n_draws)
            spec = self._spec
            qd = np.stack([spec.intensities(d, z[None, :])[0] for d in draws])
            ps = scipy.linalg.expm(spec.generators(qd) * float(t))
            a = (1 - self.conf_level) / 2
            lo, hi = np.quantile(ps, [a, 1 - a], axis=0)
            return PMatrixResult(float(t), p, lo, hi, f"normal simulation, {n_draws} draws")
        raise ValueError("ci must be 'none', 'delta' or 'normal'")

    def sojourn(self, covariates: Mapping[str, float] | None = None) -> pl.DataFrame:
        """Mean sojourn time -1/q_rr in each transient state (msm ``sojourn.msm``).

        Delta-method standard error; CI on the log scale, as msm.
        """
        z = self._zvec(covariates)
        q = self._spec.intensities(self.params, z[None, :])[0]
        g = self._loglin_grad(z)
        cov = self._cov()
        rows = []
        zc = self._z
        for r in range(1, self.n_states + 1):
            out = [i for i, (a, _) in enumerate(self.transitions) if a == r]
            if not out:
                continue
            tot = q[out].sum()
            soj = 1.0 / tot
            dlog = -(q[out, None] * g[out]).sum(axis=0) / tot  # d log(soj) / d params
            lse = float(np.sqrt(dlog @ cov @ dlog))
            rows.append((r, soj, soj * lse, soj * np.exp(-zc * lse), soj * np.exp(zc * lse)))
        return pl.DataFrame(
            rows, schema=["state", "estimate", "se", "lower", "upper"], orient="row"
        )

    def total_length_of_stay(
        self,
        t: float = np.inf,
        start: int | Sequence[float] = 1,
        covariates: Mapping[str, float] | None = None,
    ) -> pl.DataFrame:
        """Expected total time spent in each state up to ``t`` (msm ``totlos.msm``, fromt = 0).

        Finite ``t``: ``start . int_0^t P(u) du`` from the exponential of the block matrix
        ``[[Q, I], [0, 0]] t`` (Van Loan, 1978).  ``t = inf``: ``start_T (-Q_TT)^-1`` for the
        transient states, infinite for absorbing ones (msm integrates numerically here).
        """
        k = self.n_states
        if np.ndim(start) == 0:
            p0 = np.zeros(k)
            p0[int(start) - 1] = 1.0
        else:
            p0 = np.asarray(start, dtype=float)
        qm = self.qmatrix(covariates)
        if np.isfinite(t):
            big = np.zeros((2 * k, 2 * k))
            big[:k, :k] = qm
            big[:k, k:] = np.eye(k)
            integ = scipy.linalg.expm(big * float(t))[:k, k:]
            est = p0 @ integ
        else:
            absorbing = np.all(qm == 0, axis=1)
            if not np.any(absorbing):
                raise ValueError("t = inf needs a model with an absorbing state")
            tr = ~absorbing
            est = np.full(k, np.inf)
            est[tr] = p0[tr] @ np.linalg.inv(-qm[np.ix_(tr, tr)])
        return pl.DataFrame({"state": np.arange(1, k + 1), "estimate": est})

    def viterbi(self) -> pl.DataFrame:
        """Most likely true state at each observation (msm ``viterbi.msm``), in data order.

        Rows follow the sorted data (subject in order of first appearance, then time);
        ``row`` is the 1-based row of the input frame.
        """
        pdd = self._panel
        if self._seq is None:
            fitted = pdd.state + 1
        else:
            paths = viterbi_paths(self.params, self._spec, self._seq)
            counts = np.bincount(pdd.subject_index, minlength=pdd.n_subjects)
            start = np.concatenate([[0], np.cumsum(counts)[:-1]])
            pos = np.arange(len(pdd.time)) - start[pdd.subject_index]
            fitted = paths[pdd.subject_index, pos] + 1
        real = pdd.source_row > 0  # rows inserted for pci are not observations
        return pl.DataFrame(
            {
                "row": pdd.source_row[real],
                "time": pdd.time[real],
                "observed": np.where(pdd.state >= 0, pdd.state + 1, -1)[real],
                "fitted": fitted[real],
            }
        )

    def prevalence(self, times: Sequence[float]) -> pl.DataFrame:
        """Observed and expected state prevalence at ``times`` (msm ``prevalence.msm``).

        Observed: each subject is counted in the state of their last observation at or before
        t (msm ``interp = "start"``), only between their first and last observation, and beyond
        the last one only when it is an absorbing state.  Expected: the number observed at t
        times ``p0 P(t - t0)`` with t0 the earliest observation time and ``p0`` the observed
        state distribution at t0 (for misclassification models, the initial probabilities, and
        the result multiplied by the misclassification matrix).  With covariates, the expected
        counts sum over the subjects' covariate values (msm ``covariates = "population"``;
        covariates must be constant within subject here).
        """
        pdd = self._panel
        if self.pci is not None:
            raise NotImplementedError("prevalence() for models with pci is not implemented")
        times = np.asarray(times, dtype=float)
        k = self.n_states
        if self._seq is not None and not self.hidden:
            states = self.viterbi().get_column("fitted").to_numpy() - 1
        else:
            states = pdd.state.copy()
        qm = self.qmatrix()
        absorbing = np.all(qm == 0, axis=1)
        si = pdd.subject_index
        n = pdd.n_subjects
        counts = np.bincount(si, minlength=n)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        end = start + counts - 1
        t_first, t_last = pdd.time[start], pdd.time[end]
        expand = np.full((n, len(times)), -1, dtype=np.int64)
        for j, tj in enumerate(times):
            inside = (tj >= t_first) & (tj <= t_last)
            for i in np.flatnonzero(inside):
                seg = pdd.time[start[i] : end[i] + 1]
                expand[i, j] = states[start[i] + np.searchsorted(seg, tj, side="right") - 1]
            after = (tj > t_last) & absorbing[np.clip(states[end], 0, k - 1)] & (states[end] >= 0)
            expand[after, j] = states[end[after]]
        obs = np.stack([(expand == s).sum(axis=0) for s in range(k)], axis=1).astype(float)
        t0 = float(pdd.time.min())
        if self.hidden:
            p0 = self.initprobs
        else:
            at0 = np.array([(expand_at(pdd, states, t0, start, end) == s).sum() for s in range(k)])
            p0 = at0 / at0.sum()
        # covariate categories: subjects' (time-constant) covariate values
        if len(self.covariate_names):
            xs = pdd.x[start]
            if np.any(np.abs(pdd.x - xs[si]).max(axis=0) > 0):
                raise NotImplementedError(
                    "prevalence() with covariates that change within subject is not implemented"
                )
            cats, cat_of = np.unique(xs, axis=0, return_inverse=True)
            cat_of = cat_of.ravel()
        else:
            cats, cat_of = np.zeros((1, 0)), np.zeros(n, dtype=np.int64)
        emat = self.ematrix()
        expct = np.zeros((len(times), k))
        for j, tj in enumerate(times):
            if tj < t0:
                continue
            for c in range(len(cats)):
                risk = float(((expand[:, j] >= 0) & (cat_of == c)).sum())
                covs = dict(zip(self.covariate_names, cats[c], strict=True))
                qc = self.qmatrix(covs if covs else None)
                row = risk * (p0 @ scipy.linalg.expm(qc * (tj - t0)))
                expct[j] += row @ emat if self.hidden else row
        tot_o = obs.sum(axis=1, keepdims=True)
        tot_e = expct.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            po, pe = 100 * obs / tot_o, 100 * expct / tot_e
        return pl.DataFrame(
            {
                "time": np.repeat(times, k),
                "state": np.tile(np.arange(1, k + 1), len(times)),
                "observed": obs.ravel(),
                "expected": expct.ravel(),
                "observed_pct": po.ravel(),
                "expected_pct": pe.ravel(),
            }
        )

    # ------------------------------------------------------------------ reporting
    def table(self) -> pl.DataFrame:
        """Intensities (at covariate means), hazard ratios and misclassification, tidy."""
        q = self.intensities().select(
            pl.lit("intensity").alias("quantity"),
            pl.lit("").alias("covariate"),
            "from",
            "to",
            "estimate",
            "lower",
            "upper",
        )
        parts = [q]
        if self.covariate_names:
            parts.append(
                self.hazard_ratios().select(
                    pl.lit("hazard_ratio").alias("quantity"),
                    "covariate",
                    "from",
                    "to",
                    pl.col("hazard_ratio").alias("estimate"),
                    "lower",
                    "upper",
                )
            )
        if self.hidden:
            parts.append(
                self.misclassification().select(
                    pl.lit("misclassification").alias("quantity"),
                    pl.lit("").alias("covariate"),
                    pl.col("true").alias("from"),
                    pl.col("observed").alias("to"),
                    "estimate",
                    "lower",
                    "upper",
                )
            )
        return pl.concat(parts, how="vertical_relaxed")

    def summary(self) -> str:
        lines = [
            "Panel-data Markov multi-state model"
            + (" with misclassification (hidden Markov)" if self.hidden else ""),
            f"  subjects {self.n_subjects}, observations {self.n_observations}, "
            f"states {self.n_states}, exact-time states {list(self.exact_death_states)}",
            f"  -2 log-likelihood {self.minus2loglik:.6f}; converged {self.converged} "
            f"({self.n_iterations} iterations, max |gradient| {np.max(np.abs(self.gradient)):.2e})",
            f"  intensities at the covariate means (msm center = TRUE); "
            f"{100 * self.conf_level:g}% CIs by the delta method on the log scale",
        ]
        for row in self.table().iter_rows(named=True):
            cov = f" [{row['covariate']}]" if row["covariate"] else ""
            lines.append(
                f"  {row['quantity']}{cov} {row['from']}->{row['to']}: {row['estimate']:.5g} "
                f"({row['lower']:.5g}, {row['upper']:.5g})"
            )
        return "\n".join(lines)


def expand_at(pdd: PanelData, states, t0, start, end) -> np.ndarray:
    """State of each subject at time t0 by last observation carried forward (-1 if none)."""
    out = np.full(len(start), -1, dtype=np.int64)
    for i in range(len(start)):
        seg = pdd.time[start[i] : end[i] + 1]
        if seg[0] <= t0 <= seg[-1]:
            out[i] = states[start[i] + np.searchsorted(seg, t0, side="right") - 1]
    return out


def _param_names(trans, covariates, misc, misc_covariates=()) -> list[str]:
    """Readable names of the working parameters, in their order."""
    tr = [f"{a + 1}->{b + 1}" for a, b in trans]
    names = [f"log q {t}" for t in tr]
    names += [f"{c} effect on {t}" for c in covariates for t in tr]
    names += [f"misclassification {a + 1}->{b + 1}" for a, b in misc]
    names += [
        f"{c} effect on misclassification {a + 1}->{b + 1}"
        for a, b in misc
        for c in misc_covariates
    ]
    return names


def _hessian(fun, x: np.ndarray) -> np.ndarray:
    """Hessian of -2 log L by central differences of the analytic gradient."""
    n = len(x)
    h = np.empty((n, n))
    for i in range(n):
        step = 1e-5 * max(1.0, abs(x[i]))
        e = np.zeros(n)
        e[i] = step
        h[i] = (fun(x + e)[1] - fun(x - e)[1]) / (2 * step)
    return (h + h.T) / 2


@dataclass(frozen=True)
class _ParameterMap:
    """Full working parameters from the estimated ones: ``full = m @ free + offset``.

    msm's ``constraint`` makes covariate effects with the same label (per covariate, one label
    per transition) one parameter; ``fixedpars`` (1-based, counted in the constrained vector as
    msm does) keeps parameters at their initial values.
    """

    m: np.ndarray
    offset: np.ndarray
    free0: np.ndarray
    free_names: list[str]

    def full(self, p: np.ndarray) -> np.ndarray:
        return self.m @ p + self.offset

    @staticmethod
    def build(n_trans, covariates, n_misc, x0, constraint, fixedpars, names, n_extra=0):
        if not constraint and not fixedpars:
            return None
        constraint = dict(constraint or {})
        bad = [c for c in constraint if c not in covariates]
        problems = []
        if bad:
            problems.append(f"constraint names unknown covariates {bad}")
        for c, lab in constraint.items():
            if len(lab) != n_trans:
                problems.append(
                    f"constraint[{c!r}] needs one label per transition ({n_trans}), got {len(lab)}"
                )
        keys = [("q", t) for t in range(n_trans)]
        for c in covariates:
            lab = constraint.get(c)
            keys += [("b", c, lab[t] if lab is not None else ("t", t)) for t in range(n_trans)]
        keys += [("e", i) for i in range(n_misc)]
        keys += [("i", i) for i in range(n_extra)]
        uniq = list(dict.fromkeys(keys))
        con_of = np.array([uniq.index(k) for k in keys])
        n_con = len(uniq)
        fixed = np.zeros(n_con, dtype=bool)
        for i in fixedpars or ():
            if not 1 <= int(i) <= n_con:
                problems.append(f"fixedpars index {i} outside 1..{n_con}")
            else:
                fixed[int(i) - 1] = True
        if problems:
            raise ValueError("; ".join(problems))
        if fixed.all():
            raise ValueError("fixedpars fixes every parameter: nothing to estimate")
        full_from_con = np.zeros((len(keys), n_con))
        full_from_con[np.arange(len(keys)), con_of] = 1.0
        first = np.array([int(np.flatnonzero(con_of == j)[0]) for j in range(n_con)])
        con0 = np.asarray(x0, dtype=float)[first]
        free = np.flatnonzero(~fixed)
        return _ParameterMap(
            m=full_from_con[:, free],
            offset=full_from_con[:, fixed] @ con0[fixed],
            free0=con0[free],
            free_names=[names[first[j]] for j in free],
        )


def fit_panel_markov(
    data,
    *,
    subject: str,
    time: str,
    state: str,
    qmatrix,
    exact_death_states: Sequence[int] = (),
    censored_states: Mapping[int, Sequence[int]] | None = None,
    covariates: Sequence[str] | None = None,
    pci: Sequence[float] | None = None,
    ematrix=None,
    misccovariates: Sequence[str] | None = None,
    obstype: str | None = None,
    obstrue: str | None = None,
    initprobs: Sequence[float] | None = None,
    initial_values: str = "qmatrix",
    constraint: Mapping[str, Sequence[int]] | None = None,
    fixedpars: Sequence[int] | None = None,
    est_initprobs: bool = False,
    center: bool = True,
    conf_level: float = 0.95,
    max_iter: int = 1000,
    errors: str = "raise",
    _polish: bool = True,
) -> PanelMarkovFit:
    """Fit a continuous-time Markov multi-state model to panel data by maximum likelihood.

    Method: Kalbfleisch & Lawless (1985) likelihood; P(t) = expm(Q t) with analytic derivatives
    (eigen-decomposition, or the block-triangular exponential for defective generators); BFGS
    on ``-2 log L / n_intervals`` with the analytic gradient, finished by Newton steps on a
    finite-difference Hessian of the gradient.  Misclassification: forward algorithm
    (Jackson et al., 2003).  R equivalent: ``msm::msm``.

    Parameters
    ----------
    data : pandas or polars frame, one row per observation, sorted or not.
    subject, time, state : column names; states are integers 1..K (msm convention).
    qmatrix : K x K array; positive off-diagonal entries mark allowed transitions and are the
        initial values (msm ``qmatrix``).
    exact_death_states : states whose entry time is known exactly while the previous state is
        unknown (msm ``deathexact``): contribution ``sum_{k != d} P(dt)[r, k] q_kd``.
    censored_states : ``{code: states}``; an observation coded ``code`` is known to be in one of
        ``states`` (msm ``censor`` / ``censor.states``).
    covariates : columns with a log-linear effect on every intensity (msm ``covariates = ~ x``).
        The value at the start of each interval applies to the whole interval (msm).  With
        ``center=True`` (msm's default) covariates are centred at their means over the
        observations that start an interval, so the reported intensities are at the means.
    pci : cut points of piecewise-constant intensities (msm ``pci``): censored observations
        are inserted at the cuts and a ``timeperiod`` factor acts on every intensity (its
        effects appear as covariates ``timeperiod[c1,c2)`` etc., centred like the others).
    ematrix : K x K initial misclassification probabilities, zero where misclassification is
        impossible (msm ``ematrix``); parametrised by ``log(e_rs / e_rr)``.
    misccovariates : columns with a linear effect on every misclassification log-odds
        ``log(e_rs / e_rr)`` (msm ``misccovariates = ~ x``), at the covariates of the
        observation being classified; centred like ``covariates`` when ``center=True``.  The
        effects follow the misclassification parameters, ordered by parameter then covariate
        (msm's ``hcov``); initial values 0.
    obstype : optional column of observation types 1 (snapshot), 2 (exact transition time),
        3 (exact death), as msm ``obstype``.
    obstrue : optional 0/1 column: the recorded state is the true state (msm ``obstrue``).
    initprobs : initial true-state probabilities of a misclassification model; default
        ``(1, 0, ..., 0)`` as msm.
    initial_values : "qmatrix" (use the entries of ``qmatrix``) or "crude" (msm
        ``crudeinits.msm``, i.e. ``gen.inits = TRUE``).
    constraint : ``{covariate: labels}``, one label per transition (row-major order of the
        qmatrix): effects of that covariate on transitions with the same label are one parameter
        (msm ``constraint = list(x = c(...))``).
    fixedpars : 1-based indices of parameters kept at their initial values, counted in the
        parameter vector after ``constraint`` as msm ``fixedpars`` (log intensities, covariate
        effects, misclassification log-odds).  Fixed parameters get zero variance.
    est_initprobs : estimate the initial true-state probabilities of a misclassification model
        (msm ``est.initprobs = TRUE``): ``initprobs`` are the initial values, zeros stay 0, the
        parameters are ``log(p_s / p_1)``; the estimates are in ``fit.initprobs`` (their
        covariance is not reported).
    errors : "raise" (default): non-convergence raises ``ConvergenceError`` and a non-positive
        definite Hessian raises ``EstimationError``; "warn": the fit is returned with
        ``converged=False`` / ``covariance=None`` and a warning.

    Returns
    -------
    PanelMarkovFit
        ``intensities()``, ``hazard_ratios()``, ``pmatrix(t)``, ``sojourn()``,
        ``total_length_of_stay(t)``, ``prevalence(times)``, ``viterbi()``, ``minus2loglik``.

    Notes
    -----
    Conventions (centring, CI scales, initial probabilities, the msm 1.7 differences) and a
    worked example (the msm vignette's cav model) are in ``docs/methods/multistate.md``.
    """
    # the arguments of the model (everything but the data and the error handling)
    options = {n: v for n, v in locals().items() if n not in ("data", "errors", "_polish")}
    setup = _specify(data, **options)
    objective = _objective(setup)
    x0 = setup.pmap.free0 if setup.pmap is not None else setup.x0
    opt = _optimise(objective.fun, x0, float(objective.n_intervals), max_iter, _polish)
    converged = _check_convergence(opt, float(objective.n_intervals), errors)
    covariance = _covariance(opt.hessian, setup, errors)
    return _assemble(setup, objective, opt, converged, covariance, conf_level)


class _Setup(NamedTuple):
    """The model specification step: data in the likelihood's layout and the parameters."""

    spec: ModelSpec
    panel: PanelData
    x0: np.ndarray  # initial values of all working parameters (+ initial-probability log-odds)
    names: list[str]
    n_main: int  # parameters of the intensity/misclassification layout (before initprobs)
    ip_free: np.ndarray  # states whose initial probability is estimated (est_initprobs)
    pmap: _ParameterMap | None
    covariates: list[str]
    misc_covariates: list[str]
    cuts: np.ndarray | None
    call: dict


class _Objective(NamedTuple):
    """-2 log L and its gradient in the estimated parameters, with the data it runs on."""

    fun: Callable
    seq: SeqData | None
    pairs: PairData | None
    n_intervals: int


class _Optimum(NamedTuple):
    """The optimisation step's result (estimated parameters only)."""

    x: np.ndarray
    value: float
    gradient: np.ndarray
    hessian: np.ndarray
    n_iter: int


def _model_call(**options) -> dict:
    """The fit's arguments, normalised, so that bootstrap refits use the same model."""
    call = dict(options)
    call["qmatrix"] = _matrix(options["qmatrix"], "qmatrix")
    call["exact_death_states"] = tuple(options["exact_death_states"])
    cens = options["censored_states"]
    call["censored_states"] = dict(cens) if cens else None
    call["covariates"] = tuple(options["covariates"] or [])
    call["pci"] = None if options["pci"] is None else tuple(options["pci"])
    call["misccovariates"] = tuple(options["misccovariates"] or ())
    con = options["constraint"]
    call["constraint"] = None if con is None else {k: tuple(v) for k, v in con.items()}
    fx = options["fixedpars"]
    call["fixedpars"] = None if fx is None else tuple(fx)
    del call["data"], call["initial_values"]
    return call


def _ematrix_mask(ematrix, q0: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Checked initial misclassification matrix and the mask of its free entries."""
    k = q0.shape[0]
    if ematrix is None:
        return None, np.zeros((k, k), dtype=bool)
    e0 = _matrix(ematrix, "ematrix")
    if e0.shape != q0.shape:
        raise ValueError("ematrix must have the same shape as qmatrix")
    if np.any(e0.sum(axis=1) - np.diag(e0) >= 1):
        raise ValueError("each row of ematrix must have off-diagonal sum below 1")
    return e0, (e0 > 0) & ~np.eye(k, dtype=bool)


def _initial_probabilities(initprobs, k: int) -> np.ndarray:
    if initprobs is None:
        ip = np.zeros(k)
        ip[0] = 1.0
        return ip
    ip = np.asarray(initprobs, dtype=float)
    if ip.shape != (k,) or np.any(ip < 0) or ip.sum() <= 0:
        raise ValueError(f"initprobs must be {k} non-negative numbers")
    return ip / ip.sum()


def _start_intensities(o: dict, q0, qmask, censored_states) -> np.ndarray:
    """Initial intensities: the qmatrix entries, or msm's crude estimates (gen.inits)."""
    if o["initial_values"] == "crude":
        qi = crude_initial_values(
            o["data"],
            subject=o["subject"],
            time=o["time"],
            state=o["state"],
            qmatrix=q0,
            censored_states=censored_states,
        )
        return np.where(qi[qmask] > 0, qi[qmask], q0[qmask])
    if o["initial_values"] == "qmatrix":
        return q0[qmask]
    raise ValueError("initial_values must be 'qmatrix' or 'crude'")


def _specify(data, **o) -> _Setup:
    """Step 1, the model: checks, pci rows, the panel data, ModelSpec and initial values."""
    q0 = _matrix(o["qmatrix"], "qmatrix")
    k = q0.shape[0]
    qmask = (q0 > 0) & ~np.eye(k, dtype=bool)
    if not np.any(qmask):
        raise ValueError("qmatrix allows no transition")
    covariates = list(o["covariates"] or [])
    call = _model_call(data=data, **o)
    censored_states, imputed, cuts = o["censored_states"], None, None
    if o["pci"] is not None:
        # with ematrix, the inserted "in a transient state" rows enter the forward algorithm
        # through the misclassification probabilities of the transient states, as in msm
        code = -(10**6)  # an internal censoring code: "in one of the transient states"
        transient = [i + 1 for i in range(k) if qmask[i].any()]
        data, names, cuts = add_pci_rows(
            data,
            subject=o["subject"],
            time=o["time"],
            state=o["state"],
            covariates=covariates,
            cuts=o["pci"],
            code=code,
            extra_columns=[c for c in (o["obstype"], o["obstrue"]) if c],
        )
        censored_states = {**(censored_states or {}), code: transient}
        covariates = covariates + names
        imputed = PCI_FLAG
    hidden = o["ematrix"] is not None
    mcov = list(o["misccovariates"] or [])
    if mcov and not hidden:
        raise ValueError("misccovariates needs a misclassification model (ematrix)")
    e0, emask = _ematrix_mask(o["ematrix"], q0)
    pdd = prepare_panel(
        data,
        subject=o["subject"],
        time=o["time"],
        state=o["state"],
        n_states=k,
        covariates=covariates,
        exact_death_states=o["exact_death_states"],
        censored_states=censored_states,
        obstype=o["obstype"],
        obstrue=o["obstrue"],
        center=o["center"],
        imputed=imputed,
        misc_covariates=mcov,
    )
    check_transitions(pdd, qmask, hidden or bool(censored_states))
    ip = _initial_probabilities(o["initprobs"], k)
    trans, misc = np.argwhere(qmask), np.argwhere(emask)
    spec = ModelSpec(k, trans, len(covariates), misc, ip, n_ecov=len(mcov))
    start_q = _start_intensities({**o, "data": data}, q0, qmask, censored_states)
    x0 = [np.log(start_q), np.zeros(len(covariates) * len(trans))]
    if hidden:
        diag = 1.0 - (e0.sum(axis=1) - np.diag(e0))
        x0.append(np.log(e0[emask] / diag[misc[:, 0]]))
        x0.append(np.zeros(len(misc) * len(mcov)))
    x0 = np.concatenate(x0)
    names_all = _param_names(trans, covariates, misc, mcov)
    n_main = len(x0)
    ip_free = np.zeros(0, dtype=int)
    if o["est_initprobs"]:
        if not hidden:
            raise ValueError("est_initprobs needs a misclassification model (ematrix)")
        if ip[0] <= 0:
            raise ValueError("est_initprobs needs a positive initial probability of state 1")
        ip_free = np.flatnonzero(ip > 0)[1:]  # zero initial probabilities stay 0 (msm)
        x0 = np.r_[x0, np.log(ip[ip_free] / ip[0])]
        names_all += [f"initial probability of state {s + 1} (log-odds vs 1)" for s in ip_free]
    pmap = _ParameterMap.build(
        len(trans),
        covariates,
        len(misc) * (1 + len(mcov)),
        x0,
        o["constraint"],
        o["fixedpars"],
        names_all,
        n_extra=len(ip_free),
    )
    return _Setup(spec, pdd, x0, names_all, n_main, ip_free, pmap, covariates, mcov, cuts, call)


def _initprobs_from(eta: np.ndarray, k: int, ip_free: np.ndarray) -> np.ndarray:
    """Initial probabilities from their log-odds against state 1 (msm est.initprobs)."""
    w = np.zeros(k)
    w[0] = 1.0
    w[ip_free] = np.exp(eta)
    return w / w.sum()


def _objective(setup: _Setup) -> _Objective:
    """Step 2, the objective: -2 log L and its gradient in the estimated parameters (pairs
    likelihood, or the forward algorithm for misclassification / censoring), infeasible trial
    points mapped to +inf, constraint/fixedpars applied."""
    spec, pdd, n_main, ip_free = setup.spec, setup.panel, setup.n_main, setup.ip_free
    k = spec.n_states
    hidden = setup.call["ematrix"] is not None
    if hidden or bool(setup.call["censored_states"]) or setup.cuts is not None:
        if np.any(pdd.obstype == 2):
            raise NotImplementedError(
                "exact transition times (obstype 2) with misclassification or censoring"
            )
        seq, pairs = to_sequences(pdd, k, hidden), None
        n_int = int(np.sum(np.maximum(seq.n_obs - 1, 0)))

        def raw(p):
            return forward_minus2loglik(p, spec, seq)
    else:
        seq, pairs = None, to_pairs(pdd)
        n_int = int(pairs.count.sum())

        def raw(p):
            return pairs_minus2loglik(p, spec, pairs)

    if len(ip_free):
        # initial probabilities as parameters (msm est.initprobs): the forward algorithm at
        # initprobs = multinomial logit of the extra parameters; their gradient by central
        # differences (one pair of likelihood evaluations per extra parameter)
        def raw(p):
            sp = dataclasses.replace(spec, initprobs=_initprobs_from(p[n_main:], k, ip_free))
            v, gm = forward_minus2loglik(p[:n_main], sp, seq)
            if not np.isfinite(v):
                return v, np.full(len(p), np.nan)
            ge = np.empty(len(ip_free))
            for j in range(len(ip_free)):
                e = np.zeros(len(ip_free))
                e[j] = 1e-6
                up = dataclasses.replace(
                    spec, initprobs=_initprobs_from(p[n_main:] + e, k, ip_free)
                )
                dn = dataclasses.replace(
                    spec, initprobs=_initprobs_from(p[n_main:] - e, k, ip_free)
                )
                ge[j] = (
                    forward_minus2loglik(p[:n_main], up, seq, grad=False)[0]
                    - forward_minus2loglik(p[:n_main], dn, seq, grad=False)[0]
                ) / 2e-6
            return v, np.r_[gm, ge]

    def safe(p):
        # extreme trial steps can overflow the intensities: treat them as infeasible
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                if not np.all(np.isfinite(p)) or np.max(np.abs(p)) > 700:
                    return np.inf, np.full_like(p, np.nan)
                return raw(p)
            except (np.linalg.LinAlgError, ValueError, FloatingPointError):
                return np.inf, np.full_like(p, np.nan)

    fun = safe
    pmap = setup.pmap
    if pmap is not None:

        def fun(p):
            v, gfull = safe(pmap.full(p))
            return v, pmap.m.T @ gfull

    if n_int == 0:
        raise EstimationError("no subject has two or more observations; nothing to estimate")
    return _Objective(fun, seq, pairs, n_int)


def _optimise(fun: Callable, x0: np.ndarray, scale: float, max_iter: int, polish: bool):
    """Step 3, the optimiser: BFGS on ``-2 log L / n_intervals`` (the same settings at any n),
    then Newton steps on the Hessian of the analytic gradient: BFGS's stopping rule leaves
    ~1e-4 in the estimates, a few Newton steps reach the maximum to machine precision."""

    def scaled(p):
        v, g = fun(p)
        if not np.isfinite(v):
            return 1e300, np.zeros_like(p)
        return v / scale, g / scale

    res = scipy.optimize.minimize(
        scaled, x0, jac=True, method="BFGS", options={"maxiter": max_iter, "gtol": 1e-7}
    )
    x = res.x
    n_iter = int(res.nit)
    hess = _hessian(fun, x)
    for _ in range(20 if polish else 0):
        v, g = fun(x)
        try:
            step = np.linalg.solve(hess, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or g @ step <= 0:
            break
        lam = 1.0
        while lam > 1e-4:
            vn = fun(x - lam * step)[0]
            if np.isfinite(vn) and vn <= v + 1e-12 * abs(v):
                break
            lam /= 2
        else:
            break
        x = x - lam * step
        n_iter += 1
        if abs(g @ step) < 1e-12:
            break
    v, g = fun(x)
    return _Optimum(x, float(v), g, _hessian(fun, x), n_iter)


def _check_convergence(opt: _Optimum, scale: float, errors: str) -> bool:
    """Converged when max |gradient of -2 log L / n| < 1e-5; else raise or warn."""
    gmax = float(np.max(np.abs(opt.gradient / scale)))
    converged = bool(np.isfinite(opt.value) and gmax < 1e-5)
    if not converged:
        msg = (
            f"panel Markov fit did not converge after {opt.n_iter} iterations: max |gradient of "
            f"-2 log L / n| = {gmax:.3g}, -2 log L = {opt.value:.6f}. Hint: try other initial "
            "values (initial_values='crude'), or simplify the qmatrix."
        )
        if errors == "raise":
            raise ConvergenceError(msg)
        warnings.warn(msg, stacklevel=3)
    return converged


def _covariance(hess: np.ndarray, setup: _Setup, errors: str) -> np.ndarray | None:
    """Step 4, the covariance: inverse of the observed information ``hess / 2`` (mapped to all
    parameters, fixed ones with zero variance); None, with an error or warning naming the flat
    direction, when the Hessian is not positive definite (as msm, which then reports no SEs)."""
    pmap = setup.pmap
    evals = np.linalg.eigvalsh(hess)
    if np.all(evals > 1e-10 * max(1.0, evals.max())):
        covariance = np.linalg.inv(hess / 2.0)
        return pmap.m @ covariance @ pmap.m.T if pmap is not None else covariance
    w, vec = np.linalg.eigh(hess)
    flat = np.abs(vec[:, 0])
    names = pmap.free_names if pmap is not None else setup.names
    worst = [names[i] for i in np.argsort(-flat)[:3] if flat[i] > 0.1]
    msg = (
        "the Hessian of -2 log L is not positive definite at the estimate (smallest "
        f"eigenvalue {w[0]:.3g}, largest {w[-1]:.3g}): the likelihood is flat along a "
        f"direction dominated by {worst}, so those parameters are not identifiable from "
        "these data (an estimate drifting to +/- infinity). Hint: drop that transition "
        "(qmatrix entry 0; CLI --drop FROM-TO) or covariate effect"
    )
    if errors == "raise":
        raise EstimationError(msg + ", or refit with errors='warn' to inspect the estimates.")
    warnings.warn(msg + ".", stacklevel=3)
    return None


def _assemble(setup: _Setup, objective: _Objective, opt: _Optimum, converged: bool,
              covariance, conf_level: float) -> PanelMarkovFit:  # fmt: skip
    """The fit object: full parameters (constraint/fixedpars expanded; estimated initial
    probabilities moved into ``initprobs``; ``n_estimated`` counts every estimated one)."""
    spec, pdd = setup.spec, setup.panel
    x, n_est = opt.x, None
    if setup.pmap is not None:
        x, n_est = setup.pmap.full(x), len(x)
    ip = spec.initprobs
    if len(setup.ip_free):
        n_est = n_est if n_est is not None else len(x)
        ip = _initprobs_from(x[setup.n_main :], spec.n_states, setup.ip_free)
        spec = dataclasses.replace(spec, initprobs=ip)
        x = x[: setup.n_main]
        if covariance is not None:
            covariance = covariance[: setup.n_main, : setup.n_main]
    return PanelMarkovFit(
        params=x,
        covariance=covariance,
        minus2loglik=opt.value,
        n_subjects=pdd.n_subjects,
        n_observations=len(pdd.time),
        n_states=spec.n_states,
        transitions=tuple((int(a) + 1, int(b) + 1) for a, b in spec.trans),
        covariate_names=tuple(setup.covariates),
        covariate_means=pdd.cov_means,
        misclassifications=tuple((int(a) + 1, int(b) + 1) for a, b in spec.misc),
        misc_covariate_names=tuple(setup.misc_covariates),
        misc_covariate_means=pdd.ecov_means if setup.misc_covariates else np.zeros(0),
        param_names=tuple(setup.names[: setup.n_main]),
        initprobs=ip,
        exact_death_states=tuple(int(s) for s in setup.call["exact_death_states"]),
        converged=converged,
        n_iterations=opt.n_iter,
        gradient=opt.gradient,
        conf_level=conf_level,
        _spec=spec,
        _panel=pdd,
        _seq=objective.seq,
        _pairs=objective.pairs,
        pci=None if setup.cuts is None else tuple(float(c) for c in setup.cuts),
        _call=setup.call,
        n_estimated=n_est,
    )
