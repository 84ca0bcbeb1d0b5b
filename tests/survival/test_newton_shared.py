"""One Newton rule for every Cox fitter: single fit, batched replicates, two-group trial kernel.

The single fit (``cox_ph``), every replicate of ``cox_ph_batched`` and the per-trial Cox of
``analyse_trials`` / the simulator's landmark tests drive the same ``newton_update``; these tests
show they agree to rounding on ordinary, tied, monotone (infinite) and non-converging data, and
that the rule itself rejects what it must (a decrease is halved, a singular information fails).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest

from mrdtrack.survival._control import COX_TOLER_CHOL
from mrdtrack.survival._kernels_cox import (
    NEWTON_CONTINUE,
    NEWTON_CONVERGED,
    NEWTON_EXHAUSTED,
    newton_start,
    newton_update,
    solve_pd,
)
from mrdtrack.survival.batch import analyse_trials, two_group_tests
from mrdtrack.survival.cox import cox_ph, cox_ph_batched


def _single(t, e, x, ties):
    cols = {"t": t, "e": e}
    names = []
    for k in range(x.shape[1]):
        cols[f"x{k}"] = x[:, k]
        names.append(f"x{k}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return cox_ph(pl.DataFrame(cols), "t", "e", names, ties=ties)


def _data_sets():
    rng = np.random.default_rng(2026)
    sets = {}
    n = 80
    x = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n)]).astype(float)
    t = np.ceil(rng.exponential(10, n) / np.exp(0.5 * x[:, 0]))  # tied days
    sets["tied, p=2"] = (t, (rng.random(n) < 0.7).astype(float), x)
    sets["untied, p=1"] = (rng.exponential(5, n), (rng.random(n) < 0.6).astype(float), x[:, 1:])
    # monotone: every event in group 1 (beta -> +inf; R converges and flags it)
    g = np.r_[np.ones(10), np.zeros(10)]
    sets["monotone"] = (np.arange(1.0, 21.0), g.copy(), np.column_stack([g, rng.normal(size=20)]))
    # out of iterations: the likelihood keeps rising without meeting R's criterion
    sets["non-converging"] = (
        np.array([1.0, 2, 3]),
        np.array([1.0, 0, 1]),
        np.array([[0.0], [1.0], [0.0]]),
    )
    return sets


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("name", list(_data_sets()))
def test_single_and_batched_fits_are_the_same_routine(name, ties):
    t, e, x = _data_sets()[name]
    single = _single(t, e, x, ties)
    # the same data set twice in one batch, the second copy shuffled
    perm = np.random.default_rng(1).permutation(len(t))
    b = cox_ph_batched(
        np.r_[t, t[perm]],
        np.r_[e, e[perm]],
        np.vstack([x, x[perm]]),
        np.repeat([0, 1], len(t)),
        ties=ties,
    )
    finite = np.array([n not in single.monotone for n in single.names])
    for r in range(2):
        # the batch centres every column, cox_ph not a 0/1 one (R's nocenter): same to rounding,
        # except the last iterate of a diverging coefficient, which carries the rounding along
        np.testing.assert_allclose(
            b.coef[r, finite], single.coef_array[finite], rtol=1e-11, atol=1e-12
        )
        np.testing.assert_allclose(b.coef[r], single.coef_array, rtol=1e-7)
        np.testing.assert_allclose(b.se[r, finite], np.sqrt(np.diag(single.var))[finite], rtol=1e-9)
        assert b.loglik[r] == pytest.approx(single.loglik[1], rel=1e-13)
        assert b.iterations[r] == single.iterations
        assert bool(b.converged[r]) == single.converged
        assert b.monotone[r].tolist() == [n in single.monotone for n in single.names]
    if name == "monotone":
        assert b.monotone[0, 0] and not b.monotone[0, 1]
    if name == "non-converging":
        assert not b.converged[0] and b.iterations[0] == 21 and b.monotone[0, 0]


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_two_group_trial_kernel_is_the_same_routine(ties):
    rng = np.random.default_rng(7)
    n, reps = 40, 12
    arm = rng.integers(0, 2, n * reps)
    t = np.ceil(rng.exponential(8, n * reps) / np.exp(0.6 * arm))
    e = (rng.random(n * reps) < 0.7).astype(float)
    rep = np.repeat(np.arange(reps), n)
    # replicate 0: all events in arm 1 (monotone); replicate 1: arm 1 leaves before any death
    e[:n] = arm[:n]
    m1 = (rep == 1) & (arm == 1)
    t[m1], e[m1] = 0.5, 0.0
    res = analyse_trials(t, e, arm, rep, ties=ties)
    for r in range(reps):
        m = rep == r
        if r == 1:
            assert math.isnan(res.coef[r])  # flat likelihood: cox_ph calls it singular
            continue
        single = _single(t[m], e[m], arm[m][:, None].astype(float), ties)
        assert res.iterations[r] == single.iterations
        assert bool(res.converged[r]) == single.converged
        assert bool(res.monotone[r]) == ("x0" in single.monotone)
        if res.monotone[r]:
            assert res.coef[r] == math.inf
        else:
            assert res.coef[r] == pytest.approx(single.coef_array[0], rel=1e-11, abs=1e-12)
            assert res.se[r] == pytest.approx(math.sqrt(single.var[0, 0]), rel=1e-10)
    assert res.monotone[0]


def test_two_group_tests_flags_a_separated_arm_that_the_old_rule_missed():
    # arm-0 deaths only while no arm-1 row is at risk, one arm-1 death: the likelihood rises to
    # its supremum 0 as beta -> +inf; Newton runs out of iterations with the score underflowed
    times = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])
    code = np.array([0, 0, 0, 3, 0, 0, 0, 0])  # 2 * group + event
    res = two_group_tests(times, code, len(times), True)
    assert not res.cox.converged and res.cox.monotone and res.cox.coef > 20
    assert res.logrank.df == 1


def test_newton_update_halves_a_step_that_lowers_the_loglik_and_stops_when_flat():
    beta = np.zeros(1)
    trial = np.empty(1)
    state = np.zeros(4)
    step = np.empty(1)
    u = np.array([2.0])
    imat = np.array([[1.0]])
    assert newton_start(beta, -10.0, u, imat, trial, state, 20, COX_TOLER_CHOL) == NEWTON_CONTINUE
    assert trial[0] == 2.0 and state[3] == 4.0  # Newton step u / I, score test u^2 / I
    # the trial lowers the log likelihood: pulled back half way, beta unchanged
    code = newton_update(beta, trial, -11.0, u, imat, state, step, 1e-9, 20, False, COX_TOLER_CHOL)
    assert code == NEWTON_CONTINUE and trial[0] == 1.0 and beta[0] == 0.0
    # a second decrease: (trial + 2 beta) / 3
    code = newton_update(beta, trial, -10.5, u, imat, state, step, 1e-9, 20, False, COX_TOLER_CHOL)
    assert code == NEWTON_CONTINUE and trial[0] == pytest.approx(1.0 / 3.0)
    # an increase is accepted and a Newton step taken from it
    code = newton_update(beta, trial, -9.0, u, imat, state, step, 1e-9, 20, False, COX_TOLER_CHOL)
    assert code == NEWTON_CONTINUE and beta[0] == pytest.approx(1 / 3) and trial[0] == 7 / 3
    # relative change below eps: converged at the trial
    code = newton_update(
        beta, trial, -9.0 * (1 - 1e-10), u, imat, state, step, 1e-9, 20, False, COX_TOLER_CHOL
    )
    assert code == NEWTON_CONVERGED and beta[0] == 7 / 3
    # out of iterations: R's count (iter.max + 1 right-censored, iter.max counting process)
    for counting, expect in ((False, 5), (True, 4)):
        beta[0] = 0.0
        newton_start(beta, -10.0, u, imat, trial, state, 4, COX_TOLER_CHOL)
        code = NEWTON_CONTINUE
        ll = -10.0
        while code == NEWTON_CONTINUE:
            ll += 1.0  # always rising by far more than eps
            code = newton_update(
                beta, trial, ll, u, imat, state, step, 1e-9, 4, counting, COX_TOLER_CHOL
            )
        assert code == NEWTON_EXHAUSTED and state[2] == expect


def test_solve_pd_matches_numpy_and_rejects_a_singular_information():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4))
    a = a @ a.T + 0.1 * np.eye(4)
    b = rng.normal(size=4)
    out = np.empty(4)
    assert solve_pd(a, b, out, COX_TOLER_CHOL)
    np.testing.assert_allclose(out, np.linalg.solve(a, b), rtol=1e-12)
    # exactly collinear columns (and a unit change of one column leaves the test unchanged)
    v = rng.normal(size=(3, 2))
    sing = v @ v.T
    assert not solve_pd(sing, b[:3], out[:3], COX_TOLER_CHOL)
    sc = np.diag([1.0, 1e-7, 1.0])
    assert solve_pd(sc @ a[:3, :3] @ sc, b[:3], out[:3], COX_TOLER_CHOL)
    assert not solve_pd(np.array([[0.0]]), b[:1], out[:1], COX_TOLER_CHOL)
    assert not solve_pd(np.array([[np.nan]]), b[:1], out[:1], COX_TOLER_CHOL)
