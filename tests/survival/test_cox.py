"""Cox model: closed-form checks on a hand data set (in the spirit of R survival tests/book1.R),
the numba kernel against its numpy reference, invariances, bad input and the batched fitter."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.errors import EstimationError
from mrdtrack.survival._coxdata import cox_loglik_derivs, prepare_cox_data
from mrdtrack.survival._kernels_cox import reference_loglik_derivs
from mrdtrack.survival.cox import CoxFit, cox_ph, cox_ph_batched, fit_cox_data

# ---------------------------------------------------------------------------------------------
# A 7-row data set worked by hand. With r = exp(beta):
#   t=1: death A (x=1); at risk A..G: 4 with x=1, 3 with x=0      -> beta - log(4r + 3)
#   t=2: deaths C (x=1), D (x=0); at risk C..G: 3r + 2
#        Breslow: beta - 2 log(3r + 2);  Efron: beta - log(3r + 2) - log((5r + 3) / 2)
#   t=4: death F (x=0); at risk F, G: r + 1                          -> -log(r + 1)
# (B is censored at t=1, tied with A's death, and is at risk at t=1 as R has it.)
BOOK = pl.DataFrame(
    {
        "time": [1.0, 1, 2, 2, 3, 4, 5],
        "status": [1, 0, 1, 1, 0, 1, 0],
        "x": [1.0, 0, 1, 0, 1, 0, 1],
    }
)


def _terms(a: float, b: float, r: float) -> tuple[float, float, float]:
    """log(a r + b) and its first two derivatives in beta."""
    return math.log(a * r + b), a * r / (a * r + b), a * b * r / (a * r + b) ** 2


def book_exact(beta: float, ties: str) -> tuple[float, float, float]:
    r = math.exp(beta)
    pieces = [(4, 3), (3, 2), (1, 1)]
    pieces += [(3, 2)] if ties == "breslow" else [(5, 3)]
    ll, u, i = 2 * beta, 2.0, 0.0
    for a, b in pieces:
        lg, d1, d2 = _terms(a, b, r)
        ll -= lg
        u -= d1
        i += d2
    if ties == "efron":
        ll += math.log(2.0)  # log((5r + 3) / 2) = log(5r + 3) - log 2
    return ll, u, i


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("beta", [0.0, 0.7, -1.3])
def test_book_loglik_score_information(ties, beta):
    cd = prepare_cox_data(BOOK, "time", "status", "x")
    ll, u, i = cox_loglik_derivs(cd, np.array([beta]), ties)
    ell, eu, ei = book_exact(beta, ties)
    assert ll == pytest.approx(ell, rel=1e-13)
    assert u[0] == pytest.approx(eu, rel=1e-12, abs=1e-14)
    assert i[0, 0] == pytest.approx(ei, rel=1e-13)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_book_newton_iterates_and_solution(ties):
    # first Newton step from 0 is U(0) / I(0); the score test is U(0)^2 / I(0)
    _, u0, i0 = book_exact(0.0, ties)
    one = cox_ph(BOOK, "time", "status", "x", ties=ties, max_iter=1)
    assert one.coef_array[0] == pytest.approx(u0 / i0, rel=1e-13)
    fit = cox_ph(BOOK, "time", "status", "x", ties=ties)
    assert fit.converged
    assert fit.tests["score"].statistic == pytest.approx(u0 * u0 / i0, rel=1e-13)
    b = fit.coef_array[0]
    ll, u, i = book_exact(b, ties)
    assert abs(u) < 1e-7
    assert fit.se["x"] == pytest.approx(1 / math.sqrt(i), rel=1e-12)
    assert fit.loglik[1] == pytest.approx(ll, rel=1e-13)
    assert fit.loglik[0] == pytest.approx(book_exact(0.0, ties)[0], rel=1e-13)
    # two-sided check of the maximum: the exact score changes sign around it
    assert book_exact(b - 1e-4, ties)[1] > 0 > book_exact(b + 1e-4, ties)[1]


def test_book_counting_process_rules():
    # splitting G at t=3 changes nothing
    split = pl.DataFrame(
        {
            "start": [0.0, 0, 0, 0, 0, 0, 0, 3],
            "stop": [1.0, 1, 2, 2, 3, 4, 3, 5],
            "status": [1, 0, 1, 1, 0, 1, 0, 0],
            "x": [1.0, 0, 1, 0, 1, 0, 1, 1],
        }
    )
    a = cox_ph(BOOK, "time", "status", "x")
    b = cox_ph(split, "stop", "status", "x", start="start")
    assert b.coef_array[0] == pytest.approx(a.coef_array[0], rel=1e-12)
    assert b.loglik[1] == pytest.approx(a.loglik[1], rel=1e-12)
    # a row entering at t=2 is not at risk at t=2 (start < t), only at t=4: r + 1 -> 2r + 1
    late = pl.concat(
        [
            BOOK.with_columns(start=pl.lit(0.0)),
            pl.DataFrame({"time": [6.0], "status": [0], "x": [1.0], "start": [2.0]}),
        ],
        how="diagonal",
    )
    cd = prepare_cox_data(late, "time", "status", "x", start="start")
    beta = 0.4
    r = math.exp(beta)
    exact = 2 * beta - math.log(4 * r + 3) - 2 * math.log(3 * r + 2) - math.log(2 * r + 1)
    assert cox_loglik_derivs(cd, np.array([beta]), "breslow")[0] == pytest.approx(exact, rel=1e-13)


# ---------------------------------------------------------------------------------------------
def _random_frame(seed: int, n: int = 150) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    stop = rng.integers(2, 25, n).astype(float)
    return pl.DataFrame(
        {
            "stop": stop,
            "start": np.floor(stop * rng.uniform(0, 0.95, n)),
            "status": rng.integers(0, 2, n),
            "x1": rng.normal(size=n),
            "x2": rng.integers(0, 3, n).astype(float),
            "g": rng.choice(["a", "b", "c"], n),
            "s": rng.integers(0, 3, n),
            "w": rng.integers(1, 4, n).astype(float),
            "id": rng.integers(0, 40, n),
        }
    )


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize(
    "kw",
    [{}, {"start": "start"}, {"strata": "s", "weights": "w"}, {"start": "start", "strata": "s"}],
)
def test_kernel_matches_numpy_reference(ties, kw):
    cd = prepare_cox_data(_random_frame(3), "stop", "status", ["x1", "x2", "g"], **kw)
    beta = np.array([0.3, -0.2, 0.5, -0.4])
    got = cox_loglik_derivs(cd, beta, ties)
    ref = reference_loglik_derivs(
        cd.start, cd.stop, cd.event, cd.X, cd.weights, cd.strata, beta, ties == "efron"
    )
    assert got[0] == pytest.approx(ref[0], rel=1e-12)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-10, atol=1e-11)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 1000.0))
def test_invariant_to_row_order_and_time_scale(seed, scale):
    df = _random_frame(seed % 7, n=80)
    kw = dict(start="start", strata="s", cluster="id", weights="w")
    a = cox_ph(df, "stop", "status", ["x1", "g"], **kw)
    perm = np.random.default_rng(seed).permutation(df.height)
    shuffled = df[perm].with_columns(pl.col("stop", "start") * scale)
    b = cox_ph(shuffled, "stop", "status", ["x1", "g"], **kw)
    np.testing.assert_allclose(b.coef_array, a.coef_array, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.var, a.var, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(b.robust_var, a.robust_var, rtol=1e-8, atol=1e-14)
    assert b.loglik[1] == pytest.approx(a.loglik[1], rel=1e-11)
    assert b.concordance.concordance == pytest.approx(a.concordance.concordance, rel=1e-12)
    assert b.concordance.std_err == pytest.approx(a.concordance.std_err, rel=1e-9)


def test_pandas_and_polars_give_the_same_fit():
    df = _random_frame(5)
    a = cox_ph(df, "stop", "status", ["x1", "g"])
    b = cox_ph(df.to_pandas(), "stop", "status", ["x1", "g"])
    np.testing.assert_array_equal(a.coef_array, b.coef_array)


def test_categorical_expansion_and_reference_level():
    df = _random_frame(8)
    fit = cox_ph(df, "stop", "status", ["g", "x1"])
    assert fit.names == ("gb", "gc", "x1")
    fit2 = cox_ph(df, "stop", "status", ["g", "x1"], reference={"g": "c"})
    assert fit2.names == ("ga", "gb", "x1")
    # re-parameterisation: coef(gb) = coef(gb vs a) = coef2(gb) - coef2(ga)
    assert fit.coef["gb"] == pytest.approx(fit2.coef["gb"] - fit2.coef["ga"], rel=1e-8)
    assert fit.loglik[1] == pytest.approx(fit2.loglik[1], rel=1e-12)
    # Enum keeps its own level order; booleans are coded nameTRUE as R
    enum = df.with_columns(pl.col("g").cast(pl.Enum(["c", "b", "a"])), flag=pl.col("x1") > 0)
    fit3 = cox_ph(enum, "stop", "status", ["g", "flag"])
    assert fit3.names == ("gb", "ga", "flagTRUE")
    with pytest.raises(ValueError, match="reference level"):
        cox_ph(df, "stop", "status", ["g"], reference={"g": "zzz"})


def test_results_are_frozen_and_tidy():
    fit = cox_ph(_random_frame(9), "stop", "status", ["x1", "g"], cluster="id")
    assert isinstance(fit, CoxFit)
    with pytest.raises(AttributeError):
        fit.n = 3  # type: ignore[misc]
    ci = fit.conf_int(0.9)
    assert ci.columns == ["term", "estimate", "lower", "upper"]
    z = 1.6448536269514722
    se = fit.robust_se["x1"]  # the robust se is used when robust, as R
    b = fit.coef["x1"]
    row = ci.filter(pl.col("term") == "x1").row(0, named=True)
    assert row["lower"] == pytest.approx(math.exp(b - z * se), rel=1e-9)
    tab = fit.table()
    assert {"term", "coef", "hazard_ratio", "se", "robust_se", "z", "p_value"} <= set(tab.columns)
    assert set(fit.tests_table()["test"]) == {"likelihood_ratio", "wald", "score", "robust_score"}
    text = fit.summary()
    assert "Concordance" in text and "robust" in text
    assert fit.ph_test().table().columns == ["term", "chisq", "df", "p_value"]
    assert fit.ph_test("identity").terms[-1] == "GLOBAL"


def test_non_integer_weights_switch_on_robust_as_R():
    df = _random_frame(10).with_columns(w=pl.col("w") / 3)
    assert cox_ph(df, "stop", "status", "x1", weights="w").robust
    assert not cox_ph(df, "stop", "status", "x1", weights="w", robust=False).robust
    assert not cox_ph(_random_frame(10), "stop", "status", "x1", weights="w").robust


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "kw", "match"),
    [
        (lambda d: d.with_columns(stop=pl.col("stop") * -1), {}, "2|negative"),
        (lambda d: d.with_columns(start=pl.col("stop")), {"start": "start"}, "start >= stop"),
        (lambda d: d.with_columns(status=pl.col("status") * 2), {}, "outside"),
        (
            lambda d: d.with_columns(x1=pl.when(pl.col("x2") == 0).then(None).otherwise("x1")),
            {},
            "missing",
        ),
        (lambda d: d.with_columns(x1=pl.lit(np.nan)), {}, "non-finite"),
        (lambda d: d.with_columns(w=pl.col("w") - 1), {"weights": "w"}, "<= 0"),
    ],
)
def test_bad_input_is_a_clear_error(change, kw, match):
    df = change(_random_frame(11))
    with pytest.raises(ValueError, match=match) as info:
        cox_ph(df, "stop", "status", ["x1", "x2"], **kw)
    assert "row" in str(info.value) or "value" in str(info.value)


def test_design_problems():
    df = _random_frame(12)
    with pytest.raises(EstimationError, match="constant"):
        cox_ph(df.with_columns(k=pl.lit(1.0)), "stop", "status", ["x1", "k"])
    with pytest.raises(EstimationError, match="collinear"):
        cox_ph(
            df.with_columns(x3=2 * pl.col("x1") - pl.col("x2")),
            "stop",
            "status",
            ["x1", "x2", "x3"],
        )
    with pytest.raises(EstimationError, match="collinear"):
        dummies = df.with_columns(a=(pl.col("x2") > 0).cast(pl.Float64))
        cox_ph(dummies.with_columns(b=1 - pl.col("a")), "stop", "status", ["a", "b"])
    with pytest.raises(EstimationError, match="no events"):
        cox_ph(df.with_columns(status=pl.lit(0)), "stop", "status", "x1")
    with pytest.raises(ValueError, match="not found"):
        cox_ph(df, "stop", "status", "nope")
    with pytest.raises(ValueError, match="ties"):
        cox_ph(df, "stop", "status", "x1", ties="exact")
    # constant within every stratum: not identifiable
    with pytest.raises(EstimationError, match="singular"):
        cox_ph(df, "stop", "status", ["x1", "s"], strata="s")


def test_monotone_direction_negative():
    df = pl.DataFrame(
        {
            "t": [1.0, 2, 3, 4, 5, 6, 7, 8],
            "e": [1, 1, 0, 1, 1, 0, 1, 1],
            "x": [0.0, 0, 0, 0, 1, 1, 1, 1],
        }
    )
    with pytest.warns(RuntimeWarning, match="x -> -inf"):
        fit = cox_ph(df, "t", "e", "x")
    assert fit.monotone == {"x": -math.inf}
    assert fit.hazard_ratio["x"] == 0.0


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_batched_equals_single_fits(ties):
    rng = np.random.default_rng(4)
    n, reps = 60, 25
    rep = np.repeat(np.arange(reps), n)
    x = rng.integers(0, 2, n * reps).astype(float)
    x2 = rng.normal(size=n * reps)
    t = np.ceil(rng.exponential(10, n * reps) / np.exp(0.4 * x))
    e = rng.integers(0, 2, n * reps).astype(float)
    perm = rng.permutation(n * reps)  # batches need not be grouped or sorted
    one = cox_ph_batched(t[perm], e[perm], x[perm], rep[perm], ties=ties)
    two = cox_ph_batched(t, e, np.column_stack([x, x2]), rep, ties=ties, names=["x", "x2"])
    for r in range(reps):
        m = rep == r
        df = pl.DataFrame({"t": t[m], "e": e[m], "x": x[m], "x2": x2[m]})
        f1 = cox_ph(df, "t", "e", "x", ties=ties)
        f2 = cox_ph(df, "t", "e", ["x", "x2"], ties=ties)
        assert one.coef[r, 0] == pytest.approx(f1.coef_array[0], rel=1e-10, abs=1e-13)
        assert one.se[r, 0] == pytest.approx(math.sqrt(f1.var[0, 0]), rel=1e-10)
        assert one.loglik[r] == pytest.approx(f1.loglik[1], rel=1e-12)
        assert one.lrt[r] == pytest.approx(
            f1.tests["likelihood_ratio"].statistic, rel=1e-7, abs=1e-9
        )
        assert one.iterations[r] == f1.iterations
        np.testing.assert_allclose(two.coef[r], f2.coef_array, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(two.se[r], np.sqrt(np.diag(f2.var)), rtol=1e-10)
    tab = two.table()
    assert tab.height == 2 * reps and set(tab["term"]) == {"x", "x2"}


def test_batched_from_frame_and_monotone_flag():
    df = pd.DataFrame(
        {
            "t": [1.0, 2, 3, 4, 5, 6, 7, 8] * 2,
            "e": [1, 1, 0, 1, 1, 0, 1, 1] * 2,
            "x": [0.0, 0, 0, 0, 1, 1, 1, 1, 0.0, 1, 0, 1, 0, 1, 0, 1],
            "rep": ["a"] * 8 + ["b"] * 8,
        }
    )
    b = cox_ph_batched("t", "e", "x", "rep", data=df)
    assert list(b.replicates) == ["a", "b"]
    assert b.monotone[:, 0].tolist() == [True, False]
    with pytest.raises(ValueError, match="outside"):
        cox_ph_batched([1.0, 2.0], [0, 3], [0.0, 1.0], [0, 0])


def test_fit_cox_data_is_the_fitter_behind_cox_ph():
    df = _random_frame(13)
    cd = prepare_cox_data(df, "stop", "status", ["x1", "x2"], strata="s")
    a = fit_cox_data(cd, ties="breslow")
    b = cox_ph(df, "stop", "status", ["x1", "x2"], strata="s", ties="breslow")
    np.testing.assert_array_equal(a.coef_array, b.coef_array)


# ---------------------------------------------------------------------------------------------
def _brute_concordance(start, stop, event, eta, w, strata):
    """Pairs by definition (O(n^2)): a death at t against every row at risk at t that does not
    die at t; the higher score should die first."""
    n = len(stop)
    c = d = tx = 0.0
    for i in range(n):
        if event[i] == 0:
            continue
        t = stop[i]
        for j in range(n):
            if j == i or strata[j] != strata[i] or not (start[j] < t <= stop[j]):
                continue
            if stop[j] == t and event[j] > 0:
                continue
            ww = w[i] * w[j]
            if eta[i] > eta[j]:
                c += ww
            elif eta[i] < eta[j]:
                d += ww
            else:
                tx += ww
    return c, d, tx


@pytest.mark.parametrize("kw", [{}, {"start": "start", "strata": "s", "weights": "w"}])
def test_concordance_counts_against_pairs(kw):
    df = _random_frame(21).with_columns(x2=pl.col("x2").round(0))
    fit = cox_ph(df, "stop", "status", ["x2"], **kw)  # a discrete score: many ties in x
    cd = fit.data
    eta = cd.X @ fit.coef_array
    c, d, tx = _brute_concordance(cd.start, cd.stop, cd.event, eta, cd.weights, cd.strata)
    got = fit.concordance
    assert (got.concordant, got.discordant, got.tied_x) == pytest.approx((c, d, tx), rel=1e-12)
    assert got.concordance == pytest.approx((c + tx / 2) / (c + d + tx), rel=1e-12)


def test_score_residuals_sum_to_the_score():
    from mrdtrack.survival.cox import score_residuals

    df = _random_frame(22)
    for kw in ({}, {"start": "start", "strata": "s", "weights": "w"}):
        cd = prepare_cox_data(df, "stop", "status", ["x1", "g"], **kw)
        beta = np.array([0.2, -0.3, 0.1])
        for ties in ("efron", "breslow"):
            r = score_residuals(cd, beta, ties)
            u = cox_loglik_derivs(cd, beta, ties)[1]
            np.testing.assert_allclose((cd.weights[:, None] * r).sum(axis=0), u, atol=1e-10)


def test_firth_is_delegated():
    df = pl.DataFrame(
        {"t": [1.0, 2, 3, 4, 5, 6, 7, 8], "e": [1, 1, 0, 1, 1, 0, 1, 1], "x": [0.0] * 4 + [1.0] * 4}
    )
    fit = cox_ph(df, "t", "e", "x", firth=True)
    assert type(fit).__name__ != "CoxFit"
    assert math.isfinite(fit.coef["x"]) and fit.coef["x"] < 0


def test_monotone_when_newton_runs_out_of_iterations():
    # 3 rows: the likelihood keeps rising towards its supremum without meeting R's criterion
    df = pl.DataFrame({"t": [1.0, 2, 3], "e": [1, 0, 1], "x": [0.0, 1, 0]})
    with pytest.warns(RuntimeWarning, match="x -> -inf"):
        fit = cox_ph(df, "t", "e", "x")
    assert not fit.converged and fit.monotone == {"x": -math.inf}
    assert fit.iterations == 21  # R coxph reports iter.max + 1 here
    assert fit.coef_array[0] == pytest.approx(-20.66876, abs=1e-5)  # R's last iterate
    b = cox_ph_batched(df["t"], df["e"], df["x"], [0, 0, 0])
    assert not b.converged[0] and b.monotone[0, 0] and b.iterations[0] == 21


def test_timefix_on_counting_data():
    base = pl.DataFrame(
        {
            "start": [0.0, 0, 0, 0, 0, 2],
            "stop": [1.0, 2, 3, 4, 5, 6],
            "e": [1, 0, 1, 1, 0, 1],
            "x": [0.5, 1, 0, 2, 1.5, 0.2],
        }
    )
    # noise on a start time: merged back, the fit equals the clean one (as R's aeqSurv)
    noisy = base.with_columns(start=pl.Series([0.0, 0, 0, 0, 0, 2 + 1e-13]))
    a = cox_ph(base, "stop", "e", "x", start="start")
    b = cox_ph(noisy, "stop", "e", "x", start="start")
    assert b.coef_array[0] == pytest.approx(a.coef_array[0], rel=1e-13)
    # an interval shorter than the tolerance would become empty: an error, as in R
    bad = base.with_columns(stop=pl.Series([1.0, 2, 3, 4, 5, 2 + 1e-12]))
    with pytest.raises(ValueError, match="become empty"):
        cox_ph(bad, "stop", "e", "x", start="start")
    assert cox_ph(bad, "stop", "e", "x", start="start", timefix=False).n == 6


def test_covariate_units_do_not_matter():
    """R rescales covariates before fitting; our singularity test is scale-free likewise.

    R: coxph(Surv(time, status) ~ I(age * 1e7) + sex, lung) gives 1.70334959728773e-09 (se
    9.23266443657082e-10) and -0.511668295866378 (se 0.167678591201646).
    """
    rng = np.random.default_rng(4)
    n = 200
    age = rng.normal(60, 9, n)
    sex = rng.integers(0, 2, n).astype(float)
    t = rng.exponential(np.exp(-0.02 * age - 0.5 * sex) * 500)
    df = pl.DataFrame({"t": t, "e": rng.random(n) < 0.7, "age": age, "sex": sex}).with_columns(
        pl.col("e").cast(pl.Int64), (pl.col("age") * 1e7).alias("age_big")
    )
    small = cox_ph(df, "t", "e", ["age", "sex"])
    big = cox_ph(df, "t", "e", ["age_big", "sex"], cluster=None)
    assert big.coef["age_big"] * 1e7 == pytest.approx(small.coef["age"], rel=1e-9)
    assert big.se["age_big"] * 1e7 == pytest.approx(small.se["age"], rel=1e-9)
    assert big.coef["sex"] == pytest.approx(small.coef["sex"], rel=1e-9)
    assert not big.monotone
