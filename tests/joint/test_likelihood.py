"""The likelihood pieces: analytic score, the Tobit likelihood against a hand-coded censored
multivariate-normal likelihood, the bases and the quadrature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import multivariate_normal as mvn
from scipy.stats import norm

from mrdtrack.joint import fit_joint_model, joint_data
from mrdtrack.joint._basis import TimeBasis, make_time_basis
from mrdtrack.joint._event import default_knots
from mrdtrack.joint._model import ModelSpec, build_block, unpack
from mrdtrack.joint._quadrature import hermite_grid, legendre_pieces
from mrdtrack.joint.fit import _Objective, _start


def _censored_pbc(pbc2_frame: pl.DataFrame, n_patients: int = 60) -> pl.DataFrame:
    """The first patients of pbc2 with a per-sample LOD (log 0.8 or log 1.2, alternating):
    values below their LOD are reported at the LOD and flagged."""
    ids = pbc2_frame["id"].unique(maintain_order=True)[:n_patients]
    d = pbc2_frame.filter(pl.col("id").is_in(ids.implode()))
    lod = np.where(np.arange(d.height) % 2 == 0, np.log(0.8), np.log(1.2))
    y = d["y"].to_numpy()
    return d.with_columns(
        y=pl.Series(np.maximum(y, lod)), cens=pl.Series(y < lod), lod=pl.Series(lod)
    )


@pytest.fixture(scope="module")
def censored():
    d = pl.read_csv(Path(__file__).resolve().parents[1] / "reference/joint/pbc2.csv")
    d = _censored_pbc(d)
    pat = d.unique("id", keep="first", maintain_order=True)
    data = joint_data(
        d, pat, id="id", time="year", value="y", censored="cens", event_time="years",
        event="status2", long_covariates=("female",), time_interactions=("female",),
        surv_covariates=("female",),
    )  # fmt: skip
    return d, data


def hand_coded_loglik(d: pl.DataFrame, beta, sigma, D, maxpts: int = 400_000) -> float:
    """Marginal log-likelihood of the censored-normal LMM, written independently of the
    package: y_i ~ N(X_i beta, Z_i D Z_i' + sigma^2 I); observed values by their normal
    density, censored ones by the multivariate normal CDF of their conditional law."""
    total = 0.0
    for _, g in d.group_by("id", maintain_order=True):
        t = g["year"].to_numpy()
        f = g["female"].to_numpy()
        X = np.column_stack([np.ones_like(t), t, f, t * f])
        Z = np.column_stack([np.ones_like(t), t])
        mu = X @ beta
        V = Z @ D @ Z.T + sigma**2 * np.eye(len(t))
        c = g["cens"].to_numpy()
        y = g["y"].to_numpy()
        o = ~c
        if o.any():
            total += mvn.logpdf(y[o], mu[o], V[np.ix_(o, o)])
        if c.any():
            if o.any():
                K = V[np.ix_(c, o)] @ np.linalg.inv(V[np.ix_(o, o)])
                m_c = mu[c] + K @ (y[o] - mu[o])
                V_c = V[np.ix_(c, c)] - K @ V[np.ix_(o, c)]
            else:
                m_c, V_c = mu[c], V[np.ix_(c, c)]
            if c.sum() == 1:
                total += norm.logcdf(y[c][0], m_c[0], np.sqrt(V_c[0, 0]))
            else:
                total += np.log(
                    mvn.cdf(y[c], m_c, V_c, abseps=1e-10, releps=1e-10, maxpts=maxpts, rng=0)
                )
    return total


def piecewise_exponential_loglik(data, log_xi, gamma, knots) -> float:
    lo = np.r_[0, knots]
    hi = np.r_[knots, np.inf]
    expo = np.clip(np.minimum(data.event_time[:, None], hi) - lo, 0, None)
    piece = np.searchsorted(knots, data.event_time, side="left")
    lin = data.surv_covariates @ gamma
    return float(
        np.sum(data.event * (log_xi[piece] + lin))
        - np.sum(np.exp(log_xi)[None] * expo * np.exp(lin)[:, None])
    )


#: Fast settings: an 11 x 11-node fit (its MLE is 0.02 SE from the 21 x 21 one on these data)
#: and 5,000 quasi-Monte Carlo points per censored multivariate-normal CDF (the hand-coded
#: log-likelihood then differs from the 400,000-point value by 3e-4, 1/18 of the tolerance
#: below; the same points for every theta, so finite differences stay smooth). The
#: full-precision version (21 x 21 nodes, 400,000 points; ~3 minutes) is the ``slow`` test.
FAST_NODES, FAST_MAXPTS = 11, 5_000


@pytest.fixture(scope="module")
def tobit_fit(censored):
    _, data = censored
    return fit_joint_model(data, association="none", n_nodes=FAST_NODES)


def test_tobit_loglik_equals_hand_coded_censored_likelihood(censored, tobit_fit):
    """At the MLE and at a perturbed theta, our aGH log-likelihood equals the hand-coded one
    (censored multivariate normal, no quadrature) plus the closed-form event part.

    With many samples below the LOD the posterior of b is far from normal (one-sided), and
    aGH converges slowly in the number of nodes: on these 60 patients (35% censored) the error
    is 0.18 with 5 x 5 nodes, 0.017 with 11 x 11, 0.0013 with 21 x 21 (docs/methods/joint.md)."""
    d, data = censored
    f = tobit_fit
    assert f.converged
    assert data.censored.sum() > 50  # the comparison exercises censoring
    rng = np.random.default_rng(0)
    for theta in (f.theta, f.theta + rng.normal(0, 0.05, len(f.theta))):
        P = unpack(theta, f.spec)
        ours = _loglik_at(f, data, theta)
        ref = hand_coded_loglik(
            d, P.beta, P.sigma, P.D, FAST_MAXPTS
        ) + piecewise_exponential_loglik(data, P.log_xi, P.gamma, np.asarray(f.spec.knots))
        assert ours == pytest.approx(ref, abs=5e-3)


def _loglik_at(f, data, theta):
    blk = build_block(data, f.spec)
    z, lw = hermite_grid(21, f.spec.q)
    obj = _Objective(f.spec, [blk], z, lw)
    obj.recentre(theta)
    return obj(theta)[0]


def _hand_coded_newton_step(d, fit, maxpts):
    """A Newton step on the hand-coded likelihood in (beta, log sigma) from our MLE, in SEs."""
    P = fit.params
    se = np.sqrt(np.diag(fit.vcov))[:5]

    def h(v):
        return hand_coded_loglik(d, v[:4], np.exp(v[4]), P.D, maxpts)

    v0 = np.r_[P.beta, np.log(P.sigma)]
    eps = 1e-3
    g = np.array([(h(v0 + e) - h(v0 - e)) / (2 * eps) for e in np.eye(5) * eps])
    info = np.linalg.inv(fit.vcov[:5, :5])
    return np.abs(np.linalg.solve(info, g)) / se


def test_tobit_mle_maximises_the_hand_coded_likelihood(censored, tobit_fit):
    """The hand-coded likelihood's gradient in (beta, log sigma) at our MLE is ~0: a Newton
    step on it would move each coefficient by < 2% of its SE (measured: 0.5% with 11 x 11
    nodes, 0.004% with 21 x 21)."""
    d, _ = censored
    assert np.all(_hand_coded_newton_step(d, tobit_fit, FAST_MAXPTS) < 0.02)


@pytest.mark.slow
def test_tobit_mle_maximises_the_hand_coded_likelihood_full_precision(censored):
    """As above with 21 x 21 nodes and 400,000 CDF points: the step is < 0.1% of an SE."""
    d, data = censored
    fit = fit_joint_model(data, association="none", n_nodes=21)
    assert fit.converged
    assert np.all(_hand_coded_newton_step(d, fit, 400_000) < 0.001)


def test_ignoring_censoring_is_rejected(censored, tobit_fit):
    """The check can fail: treating values at the LOD as observed gives another likelihood."""
    d, _data = censored
    P = tobit_fit.params
    wrong = hand_coded_loglik(d.with_columns(cens=pl.lit(False)), P.beta, P.sigma, P.D)
    right = hand_coded_loglik(d, P.beta, P.sigma, P.D, FAST_MAXPTS)
    assert abs(wrong - right) > 1  # 200x the tolerance of the equality test above


@pytest.mark.parametrize("association", ["none", "value", "slope", "both"])
@pytest.mark.parametrize("basis", ["linear", "ns"])
def test_score_is_the_gradient(censored, association, basis):
    """Analytic score = central differences of the fixed-node log-likelihood."""
    _, data = censored
    spec = ModelSpec(
        make_time_basis(basis, data.obs_time, data.event_time, 2),
        data.long_names, data.time_interactions, data.surv_names,
        default_knots(data.event_time, data.event, 4), association,
    )  # fmt: skip
    blk = build_block(data, spec)
    z, lw = hermite_grid(3, spec.q)
    obj = _Objective(spec, [blk], z, lw)
    rng = np.random.default_rng(1)
    theta = _start(data, spec, [blk]) + rng.normal(0, 0.05, spec.n_theta)
    if spec.n_alpha:
        theta[-spec.n_alpha :] = 0.3
    obj.recentre(theta)
    _, score = obj(theta)
    eps = 1e-6
    num = np.array(
        [(obj(theta + e)[0] - obj(theta - e)[0]) / (2 * eps) for e in np.eye(len(theta)) * eps]
    )
    np.testing.assert_allclose(score, num, rtol=1e-5, atol=1e-4)


def test_natural_spline_is_linear_beyond_boundary_and_c2_inside():
    b = TimeBasis("ns", (0.0, 1.0, 3.0, 5.0))
    t = np.array([5.0, 6.0, 7.0])
    B = b.evaluate(t)
    np.testing.assert_allclose(B[2] - B[1], B[1] - B[0], atol=1e-12)  # linear after 5
    dB = b.derivative(np.array([2.0]))
    fd = (b.evaluate(np.array([2.0 + 1e-6])) - b.evaluate(np.array([2.0 - 1e-6]))) / 2e-6
    np.testing.assert_allclose(dB, fd, rtol=1e-6)
    assert b.n_columns == 3


def test_legendre_pieces_integrate_exactly():
    knots = np.array([1.0, 2.5])
    s, w, piece = legendre_pieces(np.array([0.0, 0.5]), np.array([3.0, 2.0]), knots, 5)
    f = np.exp(0.7 * s)
    np.testing.assert_allclose(
        (w * f).sum(1),
        (np.exp(0.7 * np.array([3.0, 2.0])) - np.exp(0.7 * np.array([0.0, 0.5]))) / 0.7,
        rtol=1e-9,
    )
    np.testing.assert_array_equal(np.unique(piece), [0, 1, 2])


def test_hermite_grid_integrates_gaussian_moments():
    z, lw = hermite_grid(5, 2)
    w = np.exp(lw - (z**2).sum(1))
    assert w.sum() == pytest.approx(np.pi)
    assert (w * z[:, 0] ** 2).sum() == pytest.approx(np.pi / 2)
