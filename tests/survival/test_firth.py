"""Firth-penalised Cox: against firthmodels and coxphf, and independent checks for strata and
(start, stop] data (which neither reference supports).

Fixtures: tests/reference/survival_firth/make_reference.py (firthmodels, Breslow ties);
coxphf_published.json quotes coxphf's results for firthmodels' monotone test data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from mrdtrack.survival import firth as firth_mod
from mrdtrack.survival._coxdata import cox_loglik_derivs, prepare_cox_data
from mrdtrack.survival._kernels_firth import firth_derivs, packed_design, reference_derivs
from mrdtrack.survival.firth import FirthCoxFit, fit_firth, penalised_loglik

REF = Path(__file__).resolve().parents[1] / "reference" / "survival_firth"
SETS = {
    "breast": ["T", "N", "G", "CD"],
    "separation": ["separator", "x1", "x2", "x3"],
    "ordinary": ["age", "arm", "lab"],
    "landmark": ["mrd_positive", "age"],
}


def _load(name: str) -> pl.DataFrame:
    df = pl.read_csv(REF / f"{name}.csv")
    if name == "breast":
        df = df.rename({"TIME": "time", "CENS": "event"})
    return df


def _fit(df, covs, ties="breslow", **kw) -> FirthCoxFit:
    return fit_firth(prepare_cox_data(df, "time", "event", covs, **kw), ties=ties)


# ------------------------------------------------------------------ references


@pytest.mark.parametrize("name", list(SETS))
def test_matches_firthmodels(name):
    ref = json.loads((REF / f"firthmodels_{name}.json").read_text())
    fit = _fit(_load(name), SETS[name])
    assert fit.converged
    # firthmodels stops at its gradient tolerance (recorded in the fixture): coefficients
    # agree to that precision; profile bounds were solved to 1e-10 on both sides
    rtol = max(1e-7, 100 * ref["gtol"])
    np.testing.assert_allclose(fit.coef_array, ref["coef"], rtol=rtol)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.var)), ref["se"], rtol=rtol)
    np.testing.assert_allclose(fit.loglik[0], ref["loglik_null"], rtol=1e-12)
    np.testing.assert_allclose(fit.loglik[1], ref["loglik"], rtol=1e-10)
    np.testing.assert_allclose(fit.tests["likelihood_ratio"].statistic, ref["lr_statistic"], 1e-8)
    tab = fit.table()
    np.testing.assert_allclose(tab["p_value"].to_numpy(), ref["term_p"], rtol=1e-6)
    np.testing.assert_allclose(np.log(tab["lower"].to_numpy()), ref["ci_lower"], rtol=1e-8)
    np.testing.assert_allclose(np.log(tab["upper"].to_numpy()), ref["ci_upper"], rtol=1e-8)


def test_matches_coxphf_published_numbers():
    ref = json.loads((REF / "coxphf_published.json").read_text())
    fit = _fit(_load("separation"), ref["terms"])
    tab = fit.table()
    # coxphf's own convergence (epsilon 1e-6, gconv 1e-4) limits the agreement
    np.testing.assert_allclose(fit.coef_array, ref["coef"], rtol=1e-6)
    np.testing.assert_allclose(tab["se"].to_numpy(), ref["se"], rtol=1e-6)
    np.testing.assert_allclose(fit.tests["likelihood_ratio"].statistic, ref["lr_statistic"], 1e-5)
    np.testing.assert_allclose(tab["p_value"].to_numpy(), ref["term_p"], rtol=1e-6)
    np.testing.assert_allclose(np.log(tab["lower"].to_numpy()), ref["ci_lower"], rtol=1e-6)
    np.testing.assert_allclose(np.log(tab["upper"].to_numpy()), ref["ci_upper"], rtol=1e-6)


def test_two_subject_example_of_heinze_schemper():
    # Heinze & Schemper (2001), section 2: the modified score has its root at exp(b) = 3
    df = pl.DataFrame({"time": [1.0, 2.0], "event": [1, 0], "x": [1.0, 0.0]})
    fit = _fit(df, ["x"])
    np.testing.assert_allclose(fit.coef_array[0], math.log(3.0), rtol=1e-10)


# ------------------------------------------------------------------ kernel


def _random_design(seed, n=40):
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 3, n).astype(float)
    return pl.DataFrame(
        {
            "start": start,
            "time": start + rng.integers(1, 5, n).astype(float),
            "event": rng.integers(0, 2, n),
            "x1": rng.normal(size=n),
            "x2": rng.integers(0, 2, n).astype(float),
            "s": rng.integers(0, 3, n),
            "w": rng.uniform(0.5, 2.0, n),
        }
    ).with_columns(pl.when(pl.int_range(pl.len()) == 0).then(1).otherwise("event").alias("event"))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.booleans(), st.booleans(), st.booleans())
def test_kernel_equals_reference_and_cox_kernel(seed, efron, counting, stratified):
    df = _random_design(seed)
    cd = prepare_cox_data(
        df,
        "time",
        "event",
        ["x1", "x2"],
        start="start" if counting else None,
        strata="s" if stratified else None,
        weights="w",
    )
    b = np.array([0.4, -0.7])
    got = firth_derivs(
        cd.start,
        cd.stop,
        cd.event,
        cd.X,
        packed_design(cd.X),
        cd.weights,
        cd.strata,
        cd.order_start,
        b,
        efron,
        True,
    )
    want = reference_derivs(cd.start, cd.stop, cd.event, cd.X, cd.weights, cd.strata, b, efron)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-11)
    ll, u, imat = cox_loglik_derivs(cd, b, "efron" if efron else "breslow")
    np.testing.assert_allclose(got[0], ll, rtol=1e-12)
    np.testing.assert_allclose(got[1], u, atol=1e-10)
    np.testing.assert_allclose(got[2], imat, atol=1e-10)


def test_third_derivative_by_finite_differences():
    cd = prepare_cox_data(_random_design(3), "time", "event", ["x1", "x2"], start="start")
    b = np.array([0.2, 0.5])

    def info(beta):
        return firth_derivs(
            cd.start,
            cd.stop,
            cd.event,
            cd.X,
            z,
            cd.weights,
            cd.strata,
            cd.order_start,
            beta,
            True,
            False,
        )[2]

    z = packed_design(cd.X)
    d = firth_derivs(
        cd.start, cd.stop, cd.event, cd.X, z, cd.weights, cd.strata, cd.order_start, b, True, True
    )[3]
    h = 1e-6
    for r in range(2):
        e = np.zeros(2)
        e[r] = h
        np.testing.assert_allclose((info(b + e) - info(b - e)) / (2 * h), d[r], atol=1e-7)


# ------------------------------------------------------------------ independent checks


def _naive_penalised(beta, time, event, X, strata, start, efron):
    """l(b) + 1/2 log|I(b)| written from the definitions, O(n^2), no shared code."""
    eta = X @ beta
    ll = 0.0
    p = X.shape[1]
    info = np.zeros((p, p))
    for s in np.unique(strata):
        for t in np.unique(time[(strata == s) & (event == 1)]):
            risk = (strata == s) & (start < t) & (time >= t)
            dead = (strata == s) & (time == t) & (event == 1)
            d = int(dead.sum())
            ll += eta[dead].sum()
            for k in range(d if efron else 1):
                f = k / d if efron else 0.0
                wt = np.exp(eta) * (risk - f * dead)
                tot = wt.sum()
                mean = wt @ X / tot
                ll -= (1.0 if efron else d) * math.log(tot)
                cov = (X - mean).T @ ((X - mean) * wt[:, None]) / tot
                info += (1.0 if efron else d) * cov
    return ll + 0.5 * np.linalg.slogdet(info)[1]


@pytest.mark.parametrize("ties", ["breslow", "efron"])
@pytest.mark.parametrize("design", ["plain", "strata", "counting", "counting+strata"])
def test_direct_numerical_maximisation(ties, design):
    rng = np.random.default_rng(21)
    n = 40
    start = np.where(rng.random(n) < 0.5, 0.0, rng.integers(1, 3, n).astype(float))
    time = start + rng.integers(1, 6, n).astype(float)
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 2, n).astype(float)
    event = (rng.random(n) < 0.6).astype(int)
    strata = rng.integers(0, 2, n)
    df = pl.DataFrame(
        {"start": start, "time": time, "event": event, "x1": x1, "x2": x2, "s": strata}
    )
    use_start = "counting" in design
    use_strata = "strata" in design
    fit = _fit(
        df,
        ["x1", "x2"],
        ties=ties,
        start="start" if use_start else None,
        strata="s" if use_strata else None,
    )
    X = np.column_stack([x1, x2])
    st_ = strata if use_strata else np.zeros(n, dtype=int)
    en = start if use_start else np.full(n, -np.inf)

    def negative(beta):
        return -_naive_penalised(beta, time, event, X, st_, en, ties == "efron")

    opt = optimize.minimize(
        negative,
        np.zeros(2),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 5000},
    )
    np.testing.assert_allclose(fit.coef_array, opt.x, atol=1e-6)
    np.testing.assert_allclose(fit.loglik[1], -opt.fun, rtol=1e-10)
    # the modified score at the estimate is 0 by finite differences of the naive l*
    h = 1e-5
    grad = [
        (negative(fit.coef_array + h * e) - negative(fit.coef_array - h * e)) / (2 * h)
        for e in np.eye(2)
    ]
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_one_stratum_equals_unstratified(ties):
    df = _load("ordinary").with_columns(pl.lit("only").alias("centre"))
    a = _fit(df, ["age", "arm"], ties=ties)
    b = _fit(df, ["age", "arm"], ties=ties, strata="centre")
    np.testing.assert_allclose(a.coef_array, b.coef_array, rtol=1e-12)
    np.testing.assert_allclose(a.var, b.var, rtol=1e-10)
    pd = a.conf_int().select("lower", "upper").to_numpy()
    np.testing.assert_allclose(pd, b.conf_int().select("lower", "upper").to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_one_interval_per_subject_equals_ordinary(ties):
    df = _load("ordinary").with_columns(pl.lit(0.0).alias("entry"))
    a = _fit(df, ["age", "arm", "lab"], ties=ties)
    b = _fit(df, ["age", "arm", "lab"], ties=ties, start="entry")
    np.testing.assert_allclose(a.coef_array, b.coef_array, rtol=1e-12)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12)


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_split_follow_up_gives_the_same_fit(ties):
    df = _load("landmark").filter(pl.col("time") > 0)  # (0, 0] is not an interval
    rng = np.random.default_rng(8)
    rows = []
    for r in df.iter_rows(named=True):
        cuts = np.sort(rng.uniform(0.0, r["time"], rng.integers(0, 3)))
        # a cut at an event time of another subject must not change who is at risk then
        bounds = [0.0, *[c for c in cuts if 0.0 < c < r["time"]], r["time"]]
        for k in range(len(bounds) - 1):
            last = k == len(bounds) - 2
            rows.append(
                {
                    "start": bounds[k],
                    "time": bounds[k + 1],
                    "event": r["event"] if last else 0,
                    "mrd_positive": r["mrd_positive"],
                    "age": r["age"],
                }
            )
    split = pl.DataFrame(rows)
    assert split.height > df.height
    a = _fit(
        df.with_columns(pl.lit(0.0).alias("start")),
        ["mrd_positive", "age"],
        ties=ties,
        start="start",
    )
    b = _fit(split, ["mrd_positive", "age"], ties=ties, start="start")
    np.testing.assert_allclose(a.coef_array, b.coef_array, rtol=1e-10)
    np.testing.assert_allclose(a.var, b.var, rtol=1e-9)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-11)


def test_row_order_invariance():
    df = _load("breast")
    a = _fit(df, SETS["breast"], ties="efron")
    b = _fit(df.sample(fraction=1.0, shuffle=True, seed=2), SETS["breast"], ties="efron")
    np.testing.assert_allclose(a.coef_array, b.coef_array, rtol=1e-12)


# ------------------------------------------------------------------ behaviour


def test_monotone_landmark_gives_finite_hr_with_profile_ci_and_plr():
    df = _load("landmark")
    assert df.filter(pl.col("mrd_positive") == 0)["event"].sum() == 0
    fit = _fit(df, ["mrd_positive", "age"], ties="efron")
    tab = fit.table()
    row = tab.row(0, named=True)
    assert fit.converged and math.isfinite(row["hazard_ratio"])
    assert math.isfinite(row["lower"]) and math.isfinite(row["upper"])
    assert not row["lower_unbounded"] and not row["upper_unbounded"]
    assert row["lower"] < row["hazard_ratio"] < row["upper"]
    assert row["p_value"] < 1e-6
    assert "Firth" in fit.summary()


def test_close_to_maximum_likelihood_on_ordinary_data():
    from mrdtrack.survival.cox import fit_cox_data

    cd = prepare_cox_data(_load("ordinary"), "time", "event", ["age", "arm", "lab"])
    ml = fit_cox_data(cd, ties="efron")
    fr = fit_firth(cd, ties="efron")
    se = np.sqrt(np.diag(ml.var))
    # the penalty is O(1) against a log-likelihood of O(n): shrinkage well inside one se
    assert np.all(np.abs(fr.coef_array - ml.coef_array) < 0.1 * se)


def test_unbounded_profile_bound_is_flagged(monkeypatch):
    fit = _fit(_load("landmark"), ["mrd_positive", "age"])
    # with a search span too short to reach the critical value the bound does not exist for us:
    # it must come back as unbounded, never as the last number tried
    monkeypatch.setattr(firth_mod, "_PROFILE_SPAN", 0.5)
    ci = fit.conf_int(conf_level=0.99)
    row = ci.row(0, named=True)
    assert row["upper_unbounded"] and math.isinf(row["upper"])
    assert row["lower_unbounded"] and row["lower"] == 0.0
    assert "unbounded" in fit.summary(conf_level=0.99)


def test_penalised_lrt_of_several_terms_and_wald_ci():
    fit = _fit(_load("breast"), SETS["breast"])
    joint = fit.penalised_lrt(["N", "CD"])
    assert joint.df == 2 and 0.0 < joint.p_value < 1.0
    single = fit.penalised_lrt(["G"])
    np.testing.assert_allclose(single.statistic, fit.term_test("G").statistic, rtol=1e-10)
    wald = fit.conf_int(method="wald")
    b, se = fit.coef_array, np.sqrt(np.diag(fit.var))
    np.testing.assert_allclose(np.log(wald["upper"].to_numpy()), b + 1.959963984540054 * se)
    assert set(fit.tests) == {"likelihood_ratio", "wald", "score"}
    assert fit.tests_table().height == 3


def test_penalised_loglik_function():
    df = _load("breast")
    cd = prepare_cox_data(df, "time", "event", SETS["breast"])
    fit = fit_firth(cd, ties="efron")
    np.testing.assert_allclose(penalised_loglik(cd, fit.coef_array, "efron"), fit.loglik[1])


def test_bad_input():
    df = _load("breast")
    cd = prepare_cox_data(df, "time", "event", ["T"])
    with pytest.raises(ValueError, match="ties"):
        fit_firth(cd, ties="exact")
    with pytest.raises(ValueError, match="conf_level"):
        fit_firth(cd, conf_level=1.5)
    fit = fit_firth(cd)
    with pytest.raises(ValueError, match="method"):
        fit.conf_int(method="score")
    cdc = prepare_cox_data(df.with_row_index("id"), "time", "event", ["T"], cluster="id")
    with pytest.raises(ValueError, match="cluster"):
        fit_firth(cdc)


def test_cox_ph_entry_point_on_the_founding_study_situation():
    import warnings

    from mrdtrack.survival.cox import cox_ph

    df = _load("landmark")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ml = cox_ph(df, "time", "event", ["mrd_positive", "age"])
    assert "mrd_positive" in ml.monotone
    fit = cox_ph(df, "time", "event", ["mrd_positive", "age"], firth=True)
    assert isinstance(fit, FirthCoxFit)
    assert math.isfinite(fit.hazard_ratio["mrd_positive"])
    assert fit.table()["p_value"][0] < 1e-6


def test_too_few_events_for_the_covariates_is_a_clear_error():
    from mrdtrack.errors import EstimationError

    df = pl.DataFrame(
        {
            "time": [1.0, 2.0, 3.0, 4.0, 5.0],
            "event": [0, 0, 0, 1, 0],  # its risk set has two rows: I has rank 1
            "x1": [0.0, 1.0, 0.0, 1.0, 1.0],
            "x2": [0.3, -1.2, 0.8, 0.1, 2.0],
        }
    )
    with pytest.raises(EstimationError, match=r"with 1 event\(s\) the 2 coefficient"):
        _fit(df, ["x1", "x2"])


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 100_000), st.sampled_from(["breslow", "efron"]), st.booleans())
def test_monotone_or_not_the_fit_is_finite_and_inside_its_profile_ci(seed, ties, monotone):
    rng = np.random.default_rng(seed)
    n = 40
    g = np.r_[np.zeros(n // 2), np.ones(n // 2)]
    x = rng.normal(size=n)
    event = (rng.random(n) < 0.6).astype(int)
    if monotone:
        event[g == 0] = 0
    event[-1] = 1
    event[0] = 1 if not monotone else 0
    time = rng.integers(1, 10, n).astype(float)
    fit = _fit(pl.DataFrame({"time": time, "event": event, "g": g, "x": x}), ["g", "x"], ties)
    tab = fit.table()
    assert fit.converged and np.all(np.isfinite(fit.coef_array))
    hr = tab["hazard_ratio"].to_numpy()
    assert np.all(tab["lower"].to_numpy() < hr) and np.all(hr < tab["upper"].to_numpy())


@pytest.mark.parametrize("efron", [False, True])
def test_row_by_row_products_for_large_designs(efron):
    # designs too large to hold the packed products use the row-by-row path: same numbers
    cd = prepare_cox_data(
        _random_design(5), "time", "event", ["x1", "x2"], start="start", strata="s", weights="w"
    )
    b = np.array([0.3, -0.2])
    args = (cd.start, cd.stop, cd.event, cd.X)
    rest = (cd.weights, cd.strata, cd.order_start, b, efron, True)
    packed = firth_derivs(*args, packed_design(cd.X), *rest)
    onfly = firth_derivs(*args, np.empty(0), *rest)
    for a, c in zip(packed, onfly, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("efron", [False, True])
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_vectorised_weights_equal_per_row_exp(efron, scale):
    # the evaluation used by the fits forms exp(eta - max eta) with numpy before the sweep;
    # the kernel's per-row exp is the reference. scale 1000 spreads eta over more than 600
    # (start-stop data, strata, weights), so that the per-row fallback is exercised too
    from mrdtrack.survival._kernels_firth import firth_derivs_eta

    cd = prepare_cox_data(
        _random_design(7), "time", "event", ["x1", "x2"], start="start", strata="s", weights="w"
    )
    b = np.array([0.3, -0.2]) * scale
    args = (cd.start, cd.stop, cd.event, cd.X, packed_design(cd.X), cd.weights, cd.strata)
    rest = (cd.order_start, b, efron, True)
    ref = firth_derivs(*args, *rest)
    got = firth_derivs_eta(*args, *rest)
    assert np.ptp(cd.X @ b) > 600 or scale == 1.0
    for a, c in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(c).max()))


def test_fast_profile_bounds_equal_brute_force_root_finding(monkeypatch):
    # the joint Newton search (_joint_bound) against brentq on the penalised profile written
    # from the definitions (_naive_penalised, the other coefficient maximised by a bounded
    # scalar search). Monotone likelihood: no events where g = 0, so the profile of g falls
    # slowly (like the penalty) to the right; with a search span of 3.3 / sd(x) it does not
    # reach the 99.9% cut inside the span there, and that upper bound is infinite
    rng = np.random.default_rng(9)
    n = 16
    g = np.r_[np.zeros(n // 2), np.ones(n // 2)]
    x = rng.normal(size=n)
    time = rng.integers(1, 12, n).astype(float)
    event = (rng.random(n) < 0.5).astype(int)
    event[g == 0] = 0
    df = pl.DataFrame({"time": time, "event": event, "g": g, "x": x})
    level = 0.999
    crit = float(stats.chi2.ppf(level, 1))
    monkeypatch.setattr(firth_mod, "_PROFILE_SPAN", 3.3)
    fast = []
    joint = firth_mod._joint_bound
    monkeypatch.setattr(firth_mod, "_joint_bound", lambda *a: fast.append(joint(*a)) or fast[-1])
    fit = _fit(df, ["g", "x"])
    ci = np.log(fit.conf_int(level).select("lower", "upper").to_numpy())
    X = np.column_stack([g, x])
    zeros, entry = np.zeros(n, dtype=int), np.full(n, -np.inf)

    def pll(beta):
        return _naive_penalised(np.asarray(beta), time, event, X, zeros, entry, False)

    lmax = -optimize.minimize(
        lambda b: -pll(b), fit.coef_array, method="Nelder-Mead", options={"xatol": 1e-12}
    ).fun
    np.testing.assert_allclose(lmax, fit.loglik[1], rtol=1e-12)

    def deviance_gap(k, b):  # 2 (l*max - profile(b)) - chi2
        def minus(v):
            beta = np.empty(2)
            beta[k], beta[1 - k] = b, v
            return -pll(beta)

        inner = optimize.minimize_scalar(minus, bounds=(-30, 30), options={"xatol": 1e-11})
        return 2.0 * (lmax + inner.fun) - crit

    bhat = fit.coef_array
    span = 3.3 / np.std(X, axis=0)
    for k in range(2):
        for side, sign in ((0, -1), (1, +1)):
            if k == 0 and side == 1:
                # infinite: the cut is not reached within the span
                assert np.isinf(ci[k, side]) and deviance_gap(k, bhat[k] + span[k]) < 0
                continue
            root = optimize.brentq(
                lambda b, k=k: deviance_gap(k, b),
                bhat[k],
                bhat[k] + sign * span[k],
                xtol=1e-13,
                rtol=1e-15,
            )
            assert abs(ci[k, side] - root) < 1e-8
            # the brute force resolves 1e-7: a bound off by that much would fail above
            assert deviance_gap(k, root - sign * 1e-7) < 0 < deviance_gap(k, root + sign * 1e-7)
    # the three finite bounds came from the fast search; the infinite one from the fallback
    assert [b is not None for b in fast] == [True, False, True, True]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.booleans(), st.booleans(), st.booleans(), st.integers(1, 3))
def test_block_kernel_equals_reference(seed, efron, stratified, weighted, p):
    # the right-censored sweep over death blocks (one shift, beta-free death sums) against the
    # O(n^2) definitions; one, two (written out) and three (general loops) covariates
    from mrdtrack.survival._kernels_firth import death_blocks, firth_derivs_sorted

    df = _random_design(seed).with_columns(x3=pl.col("x1") * pl.col("x2") + 0.5)
    covs = ["x1", "x2", "x3"][:p]
    cd = prepare_cox_data(
        df,
        "time",
        "event",
        covs,
        strata="s" if stratified else None,
        weights="w" if weighted else None,
    )
    b = np.array([0.4, -0.7, 0.2])[:p]
    blocks = death_blocks(cd.stop, cd.event, cd.weights, cd.strata, cd.X)
    z = packed_design(cd.X)
    got = firth_derivs_sorted(z, cd.X, cd.event, cd.weights, blocks, b, efron, True)
    want = reference_derivs(cd.start, cd.stop, cd.event, cd.X, cd.weights, cd.strata, b, efron)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-11)
    # a linear predictor spanning more than exp can hold in one shift: the general kernel
    assert firth_derivs_sorted(z, cd.X, cd.event, cd.weights, blocks, b * 1e4, efron, True) is None
