"""Tobit (left-censored normal) measurement model: log density and its derivatives.

For a sample with mean m and residual SD sigma (Tobin 1958; the censored-normal family of
JMbayes2; SAS NLMIXED/ PROC QLIM's left-censored normal):

- observed value y:  log f = -log(2 pi)/2 - log sigma - r^2/2,   r = (y - m)/sigma;
- below its LOD c:   log P(Y < c) = log Phi(r),                  r = (c - m)/sigma,

computed with ``scipy.special.log_ndtr`` (stable far in the lower tail). Derivatives in m and
log sigma use the inverse Mills ratio lambda = phi(r)/Phi(r), also formed on the log scale.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def tobit_terms(
    y: np.ndarray, m: np.ndarray, cens: np.ndarray, log_sigma: float, order: int = 1
) -> tuple[np.ndarray, ...]:
    """Per-sample ``(loglik, d/dm, d/dlog_sigma)`` or, with ``order=2``, ``(loglik, d/dm, d2/dm2)``.

    ``y`` and ``cens`` have shape (n_obs,), ``m`` (n_obs, ...) (one column per quadrature node).
    """
    sigma = np.exp(log_sigma)
    shape = (-1,) + (1,) * (m.ndim - 1)
    r = (y.reshape(shape) - m) / sigma
    ll = np.empty_like(m)
    d1 = np.empty_like(m)
    d2 = np.empty_like(m)
    obs = ~cens
    ro = r[obs]
    ll[obs] = -HALF_LOG_2PI - log_sigma - 0.5 * ro**2
    d1[obs] = ro / sigma
    rc = r[cens]
    lPhi = log_ndtr(rc)
    ll[cens] = lPhi
    lam = np.exp(-HALF_LOG_2PI - 0.5 * rc**2 - lPhi)
    d1[cens] = -lam / sigma
    if order == 2:
        d2[obs] = -1.0 / sigma**2
        d2[cens] = -lam * (rc + lam) / sigma**2
    else:
        d2[obs] = ro**2 - 1.0
        d2[cens] = -rc * lam
    return ll, d1, d2
