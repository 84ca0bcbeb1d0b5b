"""analyse_trials equals kaplan_meier / logrank_test / cox_ph run one replicate at a time."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.survival import cox_ph, kaplan_meier, logrank_test
from mrdtrack.survival.batch import TrialAnalyses, analyse_trials

TIMES = [0.5, 3.0, 7.0, 12.0, 40.0]
COX_TOL = 1e-9  # the batch forms risk-set sums per arm: equal up to round-off
STAT_TOL = 1e-11


def _make(seed: int = 3, nrep: int = 50) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for r in range(nrep):
        n = int(rng.integers(3, 41))
        arm = rng.integers(0, 2, n)
        arm[0], arm[1] = 0, 1
        hz = np.where(arm == 1, 0.7, 1.0)
        t = np.ceil(rng.exponential(8.0 / hz))  # whole units: many ties
        c = np.ceil(rng.uniform(0, 25, n))
        time = np.minimum(t, c)
        ev = (t <= c).astype(np.int64)
        if r == 1:
            ev[arm == 1] = 0  # an arm without events: monotone likelihood
        if r == 2:
            ev[:] = 0  # all censored
        if r == 3:
            arm[:] = 0  # one arm only
        if r == 4:
            time[:] = 5.0  # every time tied
        if r == 5:
            ev[:] = 1  # no censoring
        parts.append(pl.DataFrame({"rep": r * 10 + 7, "time": time, "event": ev, "arm": arm}))
    df = pl.concat(parts)
    # unsorted: neither by replicate nor by time
    return df.sample(fraction=1.0, shuffle=True, seed=seed)


def _run(df: pl.DataFrame, **kw) -> TrialAnalyses:
    return analyse_trials(
        df["time"].to_numpy(),
        df["event"].to_numpy(),
        df["arm"].to_numpy(),
        df["rep"].to_numpy(),
        times=TIMES,
        **kw,
    )


def _single(d: pl.DataFrame, ties: str) -> dict:
    out: dict = {}
    med = kaplan_meier(d, "time", "event").median()["estimate"][0]
    out["median"] = math.nan if med is None else med
    s = kaplan_meier(d, "time", "event").survival_at(TIMES)["surv"].to_numpy()
    out["surv"] = s
    by = kaplan_meier(d, "time", "event", by="arm")
    bm = by.median()
    out["median_by"] = {
        g: (math.nan if v is None else v) for g, v in bm.select("group", "estimate").iter_rows()
    }
    sa = by.survival_at(TIMES)
    out["surv_by"] = {
        g: sa.filter(pl.col("group") == g)["surv"].to_numpy() for g in out["median_by"]
    }
    try:
        lr = logrank_test(d, "time", "event", "arm")
        out["chisq"], out["df"], out["p"] = lr.statistic, lr.df, lr.p_value
    except ValueError:
        out["chisq"], out["df"], out["p"] = 0.0, 0, math.nan
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = cox_ph(d, "time", "event", "arm", ties=ties)
        out["coef"], out["se"] = f.coef["arm"], f.se["arm"]
        out["lrt_p"] = f.tests["likelihood_ratio"].p_value
        out["monotone"] = bool(f.monotone)
        out["iterations"] = f.iterations
    except Exception:  # no events or a constant covariate: cox_ph refuses, the batch gives NaN
        out["coef"] = out["se"] = out["lrt_p"] = math.nan
        out["monotone"] = False
    return out


def _close(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(b))


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    return _make()


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_equals_single_dataset_functions(data: pl.DataFrame, ties: str) -> None:
    res = _run(data, ties=ties)
    assert res.replicate.tolist() == sorted(set(data["rep"].to_list()))
    nan = np.nan
    for i, r in enumerate(res.replicate.tolist()):
        d = data.filter(pl.col("rep") == r).with_columns(pl.col("arm").cast(pl.Float64))
        s = _single(d.with_columns(pl.col("arm").cast(pl.Int64)), ties)
        assert res.n[i] == d.height
        assert res.n_event[i] == d["event"].sum()
        # KM: medians and S(t) are ratios of counts in the same order: exactly equal
        assert _close(res.median[i], s["median"], 0.0), r
        np.testing.assert_array_equal(res.surv_at[i], s["surv"])
        for k, g in enumerate(("0", "1")):
            assert _close(res.median_by_group[i, k], s["median_by"].get(g, nan), 0.0), (r, g)
            want = s["surv_by"].get(g, np.full(len(TIMES), nan))
            np.testing.assert_array_equal(res.surv_at_by_group[i, k], want)
        assert res.logrank_df[i] == s["df"], r
        assert _close(res.logrank_chisq[i], s["chisq"], STAT_TOL), r
        assert _close(res.logrank_p[i], s["p"], STAT_TOL), r
        assert res.monotone[i] == s["monotone"], r
        assert _close(res.coef[i], s["coef"], COX_TOL), (r, res.coef[i], s["coef"])
        assert _close(res.se[i], s["se"], COX_TOL), r
        assert _close(res.lrt_p[i], s["lrt_p"], COX_TOL), r
        if not math.isnan(s["coef"]):
            assert res.iterations[i] == s["iterations"], r
            assert np.isclose(res.hazard_ratio[i], math.exp(s["coef"]), rtol=1e-9)


def test_special_replicates(data: pl.DataFrame) -> None:
    res = _run(data)
    pos = {r: i for i, r in enumerate(res.replicate.tolist())}
    mono, cens, one_arm = pos[17], pos[27], pos[37]
    assert res.monotone[mono] and res.coef[mono] == -np.inf and np.isnan(res.se[mono])
    assert res.n_event[cens] == 0 and np.isnan(res.coef[cens]) and np.isnan(res.median[cens])
    assert res.logrank_df[cens] == 0 and np.isnan(res.logrank_p[cens])
    assert np.isnan(res.coef[one_arm]) and np.isnan(res.median_by_group[one_arm, 1])
    assert res.n_by_group[one_arm, 1] == 0


def test_parallel_and_serial_agree(data: pl.DataFrame) -> None:
    a, b = _run(data, parallel=True), _run(data, parallel=False)
    for f in ("median", "logrank_chisq", "coef", "se", "lrt_p", "surv_at"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


def test_table_and_summary(data: pl.DataFrame) -> None:
    res = _run(data)
    tab = res.table()
    assert tab.height == res.replicate.shape[0]
    assert {"replicate", "median", "median_0", "median_1", "logrank_p", "coef", "lrt_p"} <= set(
        tab.columns
    )
    assert tab["coef"].null_count() == int(np.isnan(res.coef).sum())
    text = res.summary()
    assert (
        "log-rank p < 0.05" in text and f"monotone likelihood in {int(res.monotone.sum())}" in text
    )


def test_string_labels_and_sorted_input() -> None:
    df = _make(seed=11, nrep=8).sort("rep", "time")
    res = analyse_trials(
        df["time"], df["event"], np.where(df["arm"].to_numpy() == 1, "B", "A"), df["rep"]
    )
    ref = _run(df)
    assert res.groups == ("A", "B")
    np.testing.assert_array_equal(res.coef, ref.coef)
    np.testing.assert_array_equal(res.median_by_group, ref.median_by_group)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time": [-1.0]}, "time: 1 row"),
        ({"time": [np.nan]}, "time: 1 row"),
        ({"event": [2]}, "event: 1 row"),
    ],
)
def test_bad_input(change: dict, message: str) -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0])
    e = np.array([1, 0, 1, 1])
    g = np.array([0, 1, 0, 1])
    r = np.zeros(4, dtype=int)
    if "time" in change:
        t[0] = change["time"][0]
    if "event" in change:
        e[0] = change["event"][0]
    with pytest.raises(ValueError, match=message):
        analyse_trials(t, e, g, r)


def test_bad_groups_and_lengths() -> None:
    with pytest.raises(ValueError, match="exactly 2 arms"):
        analyse_trials([1.0, 2.0], [1, 1], [0, 0], [0, 0])
    with pytest.raises(ValueError, match="exactly 2 arms"):
        analyse_trials([1.0, 2.0, 3.0], [1, 1, 1], [0, 1, 2], [0, 0, 0])
    with pytest.raises(ValueError, match="same length"):
        analyse_trials([1.0, 2.0], [1], [0, 1], [0, 0])
    with pytest.raises(ValueError, match="ties"):
        analyse_trials([1.0, 2.0], [1, 1], [0, 1], [0, 0], ties="exact")


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), perm_seed=st.integers(0, 2**31 - 1))
def test_invariant_to_row_order(seed: int, perm_seed: int) -> None:
    df = _make(seed=seed, nrep=6)
    a = _run(df)
    b = _run(df.sample(fraction=1.0, shuffle=True, seed=perm_seed))
    for f in ("median", "median_by_group", "surv_at", "logrank_chisq", "coef", "se", "lrt"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


# --------------------------------------------------------------------------- against R
REF = Path(__file__).parents[1] / "reference" / "survival_batch"
R_TOL = 1e-9


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_matches_r_survival(ties: str) -> None:
    d = pl.read_csv(REF / "trials.csv")
    ref = pl.read_csv(REF / "out.csv", null_values=["NA"], infer_schema_length=None).sort("trial")
    res = analyse_trials(d["time"], d["event"], d["arm"], d["trial"], ties=ties)
    assert res.replicate.tolist() == ref["trial"].to_list()

    def col(name: str) -> np.ndarray:
        return ref[name].cast(pl.Float64).fill_null(np.nan).to_numpy()

    np.testing.assert_allclose(res.median, col("median"), rtol=0, atol=0)
    np.testing.assert_allclose(res.median_by_group[:, 0], col("median_0"), rtol=0, atol=0)
    np.testing.assert_allclose(res.median_by_group[:, 1], col("median_1"), rtol=0, atol=0)
    np.testing.assert_allclose(res.logrank_chisq, col("logrank_chisq"), rtol=R_TOL, atol=1e-12)
    mono = res.monotone
    r_coef = col(f"coef_{ties}")
    assert mono.sum() >= 1
    # R reports the last iterate of a diverging coefficient; we report +/-inf with the flag
    assert np.all(np.sign(res.coef[mono]) == np.sign(r_coef[mono]))
    assert np.all(np.abs(r_coef[mono]) > 10)
    # R returns coef 0 with variance 0 when the information is singular (e.g. one arm entirely
    # censored before the first death); cox_ph refuses such data and the batch gives NaN
    singular = col(f"se_{ties}") == 0
    assert singular.sum() >= 1
    assert np.all(np.isnan(res.coef[singular])) and np.all(np.isnan(res.lrt[singular]))
    ok = ~mono & ~singular
    np.testing.assert_allclose(res.coef[ok], r_coef[ok], rtol=R_TOL, atol=1e-12)
    np.testing.assert_allclose(res.se[ok], col(f"se_{ties}")[ok], rtol=R_TOL)
    np.testing.assert_allclose(
        res.lrt[~singular], col(f"lrt_{ties}")[~singular], rtol=R_TOL, atol=1e-10
    )
    if ties == "efron":
        np.testing.assert_array_equal(res.iterations[ok], col("iter_efron")[ok])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_whole_and_fractional_times_agree(data: pl.DataFrame, ties: str) -> None:
    # whole-number times are sorted per trial as packed integer keys, others by argsort;
    # shifting every time by 0.25 keeps the order, so every statistic is the same number
    # (and medians move by 0.25)
    a = _run(data, ties=ties)
    b = analyse_trials(
        data["time"].to_numpy() + 0.25,
        data["event"].to_numpy(),
        data["arm"].to_numpy(),
        data["rep"].to_numpy(),
        times=[t + 0.25 for t in TIMES],
        ties=ties,
    )
    for f in ("logrank_chisq", "coef", "se", "lrt", "iterations", "surv_at", "surv_at_by_group"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    np.testing.assert_array_equal(a.median + 0.25, b.median)
    np.testing.assert_array_equal(a.median_by_group + 0.25, b.median_by_group)


def test_bad_rows_reported_together() -> None:
    with pytest.raises(ValueError, match=r"time: 1 row\(s\) not finite; .*event: 1 row"):
        analyse_trials([1.0, np.nan, 2.0], [1, 0, 2], [0, 1, 0], [0, 0, 0])
