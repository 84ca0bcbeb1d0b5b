"""Dynamic predictions: P(T > t + w | T > t, marker values up to t), with intervals.

Monte Carlo scheme of Rizopoulos (2011, Biometrics 67:819-829; R ``JM::survfitJM``):
for m = 1..M,

1. theta^(m) ~ N(theta-hat, vcov(theta-hat));
2. b^(m) from p(b | T > t, y(<= t); theta^(m)) by one independence Metropolis-Hastings step
   from b^(m-1), proposal multivariate t (4 df) centred at the posterior mode b-hat (at
   theta-hat) with scale its curvature covariance;
3. pi^(m) = S(t + w | b^(m), theta^(m)) / S(t | b^(m), theta^(m)) = exp(-int_t^{t+w} h).

Reported per patient and horizon: the first-order estimate ``prob`` (theta-hat, b-hat; JM's
``simulate = FALSE``), the Monte Carlo ``mean`` and ``median`` and the percentile interval
(``lower``, ``upper``). Only the patient's samples at times <= t and the fact of being
event-free at t are used; patients with the event or censored at or before t are not
predicted. Seeded: ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mrdtrack.joint._likelihood import linear_predictors, node_loglik, posterior_modes
from mrdtrack.joint._model import build_block, unpack
from mrdtrack.joint.data import JointData
from mrdtrack.joint.result import DynamicPrediction, JointModelResult


def _log_t(x: np.ndarray, mean: np.ndarray, chol: np.ndarray, df: float) -> np.ndarray:
    """Log density (up to a constant shared by all x) of a multivariate t, per patient."""
    q = x.shape[-1]
    u = np.linalg.solve(chol, (x - mean)[..., None])[..., 0]
    return -0.5 * (df + q) * np.log1p((u**2).sum(-1) / df) - np.log(
        np.diagonal(chol, axis1=-2, axis2=-1)
    ).sum(-1)


def _draw_t(rng, mean, chol, df):
    z = rng.standard_normal(mean.shape)
    w = rng.chisquare(df, size=mean.shape[0]) / df
    return mean + (chol @ z[..., None])[..., 0] / np.sqrt(w)[:, None]


def dynamic_prediction(
    fit: JointModelResult,
    data: JointData,
    landmark: float,
    horizons: float | list[float] | np.ndarray,
    *,
    n_draws: int = 200,
    seed: int = 0,
    conf_level: float = 0.95,
    lag: float = 0.0,
) -> DynamicPrediction:
    """Per-patient P(event-free at ``landmark + w`` | event-free at ``landmark``, marker values
    up to ``landmark``) for each ``w`` in ``horizons`` (time unit of the fit), with Monte Carlo
    percentile intervals (see the module docstring). ``data`` may be new patients (a test set):
    only their samples up to the landmark and their baseline covariates are used. ``lag``
    (time unit of the fit): a sample is used only if taken at or before ``landmark - lag``
    (a result known only after the landmark does not enter; the guarantee-time rule of
    `mrdtrack.predict.mrd_history`).

    ``n_draws=0``: the first-order estimate only (``mean`` ... ``upper`` are NaN). Monte Carlo
    intervals need the covariance of theta-hat: a fit that did not converge (no covariance)
    raises ValueError unless ``n_draws=0``."""
    spec = fit.spec
    w = np.atleast_1d(np.asarray(horizons, dtype=float))
    if np.any(w <= 0):
        raise ValueError("horizons must be > 0")
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must be in (0, 1)")
    if n_draws < 0:
        raise ValueError("n_draws must be >= 0")
    if n_draws > 0 and not np.all(np.isfinite(fit.vcov)):
        raise ValueError(
            "dynamic prediction: the joint model did not converge (no covariance of the "
            "estimates), so Monte Carlo intervals are not available; use n_draws=0 for the "
            "first-order estimate"
        )
    at_risk = np.nonzero(data.event_time > landmark)[0]
    cols = {
        k: []
        for k in ("patient_id", "landmark", "horizon", "prob", "mean", "median", "lower", "upper")
    }
    if len(at_risk) == 0:
        return DynamicPrediction(pl.DataFrame(cols), n_draws, seed, conf_level, float("nan"))
    d = data.subset(at_risk).up_to(landmark - lag)
    n = d.n_patients
    t0 = np.full(n, float(landmark))
    cond = build_block(d, spec, end=t0, delta=np.zeros(n))
    ahead = [build_block(d, spec, start=t0, end=t0 + wh, delta=np.zeros(n)) for wh in w]
    P_hat = unpack(fit.theta, spec)
    b_hat, cov = posterior_modes(P_hat, spec, cond, np.zeros((n, spec.q)))
    chol = np.linalg.cholesky(cov)

    def surv(P, b):
        return np.stack(
            [
                np.exp(-linear_predictors(P, blk, b[:, None, :], spec)["h"][:, 0].sum(-1))
                for blk in ahead
            ],
            axis=1,
        )

    first = surv(P_hat, b_hat)
    if n_draws == 0:
        nan = np.full(first.shape, np.nan)
        draws, accept = (nan, nan, nan, nan), float("nan")
    else:
        draws, accept = _monte_carlo(fit, spec, cond, b_hat, chol, surv, n_draws, seed)
        a = (1 - conf_level) / 2
        draws = (draws.mean(0), *np.quantile(draws, [0.5, a, 1 - a], axis=0))
    mean, med, lo, hi = draws
    ids = np.repeat(d.patient_id, len(w))
    frame = pl.DataFrame(
        {
            "patient_id": pl.Series(ids.tolist(), dtype=pl.String),
            "landmark": np.full(n * len(w), float(landmark)),
            "horizon": np.tile(w, n),
            "prob": first.ravel(),
            "mean": mean.ravel(),
            "median": med.ravel(),
            "lower": lo.ravel(),
            "upper": hi.ravel(),
        }
    )
    return DynamicPrediction(frame, n_draws, seed, conf_level, accept)


def _monte_carlo(fit, spec, cond, b_hat, chol, surv, n_draws, seed):
    """Steps 1-3 of the module docstring: ``(draws (M, n, H), acceptance rate)``."""
    n = b_hat.shape[0]
    rng = np.random.default_rng(seed)
    Lth = np.linalg.cholesky(fit.vcov)
    df = 4.0
    b_cur = b_hat.copy()
    draws = None
    accepted = 0
    for m in range(n_draws):
        theta_m = fit.theta + Lth @ rng.standard_normal(len(fit.theta))
        P_m = unpack(theta_m, spec)
        prop = _draw_t(rng, b_hat, chol, df)
        lp_new = node_loglik(P_m, spec, cond, prop[:, None, :])[:, 0]
        lp_old = node_loglik(P_m, spec, cond, b_cur[:, None, :])[:, 0]
        log_ratio = (
            lp_new - lp_old - (_log_t(prop, b_hat, chol, df) - _log_t(b_cur, b_hat, chol, df))
        )
        acc = np.log(rng.random(n)) < log_ratio
        b_cur[acc] = prop[acc]
        accepted += int(acc.sum())
        s_m = surv(P_m, b_cur)
        if draws is None:
            draws = np.empty((n_draws, *s_m.shape))
        draws[m] = s_m
    return draws, accepted / (n * n_draws)
