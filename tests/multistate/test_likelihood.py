"""Likelihoods and analytic gradients (pairs and forward algorithm)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.linalg

from mrdtrack.multistate._data import prepare_panel, to_pairs, to_sequences
from mrdtrack.multistate._likelihood import ModelSpec, pairs_minus2loglik
from mrdtrack.multistate.hmm import forward_minus2loglik

Q = np.array([[0, 0.15, 0.02], [0.1, 0, 0.2], [0, 0, 0]])
E = np.array([[0, 0.05, 0], [0.1, 0, 0], [0, 0, 0]])


def small_panel(seed=3, n=60):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        x = float(rng.normal())
        s = int(rng.integers(1, 3))
        t = 0.0
        rows.append((i, t, s, x, 0))
        for _ in range(int(rng.integers(1, 5))):
            t += float(rng.uniform(0.3, 2.0))
            s = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15])) if s != 3 else 3
            rows.append((i, t, s, x, 0))
            if s == 3:
                break
    return pl.DataFrame(rows, schema=["id", "t", "state", "x", "ot"], orient="row")


def spec_for(cov: bool, misc: bool):
    trans = np.argwhere(Q > 0)
    m = np.argwhere(E > 0) if misc else np.zeros((0, 2), int)
    return ModelSpec(3, trans, int(cov), m, np.array([0.6, 0.4, 0.0]))


def prep(df, cov, death=(3,), censored=None):
    return prepare_panel(
        df,
        subject="id",
        time="t",
        state="state",
        n_states=3,
        covariates=["x"] if cov else [],
        exact_death_states=death,
        censored_states=censored,
        obstype=None,
        obstrue=None,
        center=True,
    )


def numgrad(f, x, h=1e-6):
    return np.array([(f(x + h * e)[0] - f(x - h * e)[0]) / (2 * h) for e in np.eye(len(x))])


@pytest.mark.parametrize("cov", [False, True])
@pytest.mark.parametrize("death", [(), (3,)])
def test_pairs_gradient(cov, death):
    df = small_panel()
    spec = spec_for(cov, False)
    pr = to_pairs(prep(df, cov, death))
    x = np.log(Q[Q > 0]) + 0.1
    if cov:
        x = np.concatenate([x, [0.3, -0.2, 0.1, 0.5]])
    for use_numba in (True, False):

        def f(p, use_numba=use_numba):
            return pairs_minus2loglik(p, spec, pr, use_numba=use_numba)

        _, g = f(x)
        np.testing.assert_allclose(g, numgrad(f, x), rtol=1e-5, atol=1e-5)
    v0, g0 = pairs_minus2loglik(x, spec, pr, use_numba=False)
    v1, g1 = pairs_minus2loglik(x, spec, pr, use_numba=True)
    assert v0 == pytest.approx(v1, rel=1e-13)
    np.testing.assert_allclose(g0, g1, rtol=1e-10, atol=1e-10)


def test_pairs_likelihood_by_hand():
    df = small_panel(n=20)
    spec = spec_for(False, False)
    pdd = prep(df, False)
    x = np.log(Q[Q > 0])
    v, _ = pairs_minus2loglik(x, spec, to_pairs(pdd))
    q = spec.generators(np.exp(x)[None])[0]
    ll = 0.0
    for j in range(len(pdd.time) - 1):
        if pdd.subject_index[j] != pdd.subject_index[j + 1]:
            continue
        p = scipy.linalg.expm(q * (pdd.time[j + 1] - pdd.time[j]))
        r, s = pdd.state[j], pdd.state[j + 1]
        ll += np.log(p[r, :2] @ q[:2, 2] if s == 2 else p[r, s])
    assert v == pytest.approx(-2 * ll, rel=1e-12)


def test_forward_equals_pairs_without_misclassification():
    df = small_panel()
    spec = spec_for(True, False)
    pdd = prep(df, True)
    x = np.concatenate([np.log(Q[Q > 0]), [0.3, -0.2, 0.1, 0.5]])
    v1, g1 = pairs_minus2loglik(x, spec, to_pairs(pdd))
    v2, g2 = forward_minus2loglik(x, spec, to_sequences(pdd, 3, False))
    assert v1 == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("cov", [False, True])
def test_forward_gradient_misclassification(cov):
    df = small_panel()
    spec = spec_for(cov, True)
    sq = to_sequences(prep(df, cov), 3, True)
    x = np.concatenate([np.log(Q[Q > 0]), [0.2, -0.1, 0.3, 0.4] if cov else [], [-2.0, -1.5]])

    def f(p):
        return forward_minus2loglik(p, spec, sq)

    np.testing.assert_allclose(f(x)[1], numgrad(f, x), rtol=1e-5, atol=1e-5)


def test_forward_gradient_censoring():
    df = small_panel().with_columns(
        pl.when((pl.col("t") > 2) & (pl.col("state") < 3))
        .then(99)
        .otherwise(pl.col("state"))
        .alias("state")
    )
    spec = spec_for(False, False)
    sq = to_sequences(prep(df, False, censored={99: (1, 2)}), 3, False)
    x = np.log(Q[Q > 0])

    def f(p):
        return forward_minus2loglik(p, spec, sq)

    np.testing.assert_allclose(f(x)[1], numgrad(f, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "qmat",
    [
        # a cycle 1 -> 2 -> 3 -> 1: complex eigenvalues (numpy path, not the numba kernel)
        np.array([[0, 0.3, 0], [0, 0, 0.3], [0.3, 0, 0]]),
        # progressive with equal exit rates: a defective generator (block-exponential path)
        np.array([[0, 0.2, 0], [0, 0, 0.2], [0, 0, 0]]),
    ],
)
def test_pairs_special_generators(qmat):
    rng = np.random.default_rng(5)
    rows = []
    for i in range(30):
        t, s = 0.0, 1
        rows.append((i, t, s))
        for _ in range(3):
            t += float(rng.uniform(0.5, 2.0))
            s = int(rng.integers(1, 4)) if qmat[2].any() else min(3, s + int(rng.integers(0, 2)))
            rows.append((i, t, s))
    df = pl.DataFrame(rows, schema=["id", "t", "state"], orient="row")
    spec = ModelSpec(3, np.argwhere(qmat > 0), 0, np.zeros((0, 2), int), np.ones(3) / 3)
    pdd = prepare_panel(
        df,
        subject="id",
        time="t",
        state="state",
        n_states=3,
        covariates=[],
        exact_death_states=(),
        censored_states=None,
        obstype=None,
        obstrue=None,
        center=True,
    )
    pr = to_pairs(pdd)
    x = np.log(qmat[qmat > 0])

    def f(p):
        return pairs_minus2loglik(p, spec, pr)

    def brute(p):
        # scipy's expm throughout: an independent check that is accurate near defectiveness
        q = spec.generators(np.exp(p)[None])[0]
        ll = sum(
            np.log(scipy.linalg.expm(q * (pdd.time[j + 1] - pdd.time[j]))[pdd.state[j], s1])
            for j, s1 in enumerate(pdd.state[1:])
            if pdd.subject_index[j] == pdd.subject_index[j + 1]
        )
        return -2 * ll, None

    v, g = f(x)
    assert v == pytest.approx(brute(x)[0], rel=1e-10)
    np.testing.assert_allclose(g, numgrad(brute, x), rtol=1e-6, atol=1e-6)
