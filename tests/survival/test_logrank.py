"""Log-rank / G(rho) tests against R survdiff (committed fixtures) and invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.survival.logrank import logrank_batched, logrank_test

REF = Path(__file__).parents[1] / "reference" / "survival_km"
CASES = pl.read_csv(REF / "logrank_cases.csv").fill_null("").to_dicts()
GROUPS = pl.read_csv(REF / "out" / "logrank_groups.csv", schema_overrides={"group": pl.String})
TESTS = pl.read_csv(REF / "out" / "logrank_tests.csv")
RTOL = 1e-10


def _data(name: str) -> pl.DataFrame:
    return pl.read_csv(REF / "data" / f"{name}.csv", null_values=["NA"])


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_survdiff_matches_r(case: dict) -> None:
    res = logrank_test(
        _data(case["data"]),
        "time",
        "event",
        case["group"],
        strata=case["strata"] or None,
        rho=case["rho"],
    )
    g = GROUPS.filter(pl.col("case") == case["case"])
    t = TESTS.filter(pl.col("case") == case["case"]).row(0, named=True)
    assert list(res.groups) == g["group"].to_list()
    assert res.df == t["df"]
    assert res.statistic == pytest.approx(t["chisq"], rel=RTOL)
    assert res.p_value == pytest.approx(t["p"], rel=1e-9)
    np.testing.assert_array_equal(res.n, g["n"].to_numpy())
    np.testing.assert_allclose(res.observed, g["observed"].to_numpy(), rtol=RTOL)
    np.testing.assert_allclose(res.expected, g["expected"].to_numpy(), rtol=RTOL)
    np.testing.assert_allclose(np.diag(res.variance), g["var_diag"].to_numpy(), rtol=RTOL)
    tab = res.table()
    assert tab.columns == ["group", "n", "observed", "expected", "oe2_over_e", "oe2_over_v"]
    assert "degrees of freedom" in res.summary()


def test_hand_worked_two_group() -> None:
    # group a: deaths at 1, 3; group b: death at 2, censored at 3 (at risk at 3)
    d = pl.DataFrame({"t": [1, 3, 2, 3], "e": [1, 1, 1, 0], "g": ["a", "a", "b", "b"]})
    r = logrank_test(d, "t", "e", "g")
    # t=1: n=4 (2 in a), E_a = 1/2, V = 1/4; t=2: n=3 (1 in a), E_a = 1/3, V = 2/9;
    # t=3: n=2 (1 in a), E_a = 1/2, V = 1/4
    e_a = 0.5 + 1 / 3 + 0.5
    v = 0.25 + 2 / 9 + 0.25
    assert r.expected[0] == pytest.approx(e_a, abs=1e-15)
    assert r.statistic == pytest.approx((2 - e_a) ** 2 / v, abs=1e-14)


def test_zero_entry_equals_no_entry_and_entry_changes_risk_sets() -> None:
    d = _data("lung")
    a = logrank_test(d, "time", "event", "sex")
    b = logrank_test(d.with_columns(z=pl.lit(0.0)), "time", "event", "sex", start="z")
    assert a.statistic == pytest.approx(b.statistic, rel=1e-14)
    c = logrank_test(d, "time", "event", "sex", start="entry")
    assert c.statistic != pytest.approx(a.statistic, rel=1e-3)
    assert "(start, time]" in c.summary()


def test_bad_input() -> None:
    d = pl.DataFrame({"t": [1.0, 2.0, 3.0], "e": [1, 0, 1], "g": ["a", "a", "a"]})
    with pytest.raises(ValueError, match="column 'g': needs at least 2 groups, found 1"):
        logrank_test(d, "t", "e", "g")
    with pytest.raises(ValueError, match="column 't': 1 row with a negative"):
        logrank_test(d.with_columns(t=pl.Series([1.0, -2.0, 3.0])), "t", "e", "g")
    with pytest.raises(ValueError, match="column 'e': 1 row with an event code"):
        logrank_test(d.with_columns(e=pl.Series([1, 5, 0])), "t", "e", "g")


def test_group_without_subjects_at_event_times_drops_from_df() -> None:
    # group c only has subjects leaving before the first death: expected 0, R drops it from df
    d = pl.DataFrame(
        {
            "t": [0.5, 0.6, 1, 2, 3, 4, 5, 6],
            "e": [0, 0, 1, 1, 0, 1, 1, 0],
            "g": ["c", "c", "a", "b", "a", "b", "a", "b"],
        }
    )
    r = logrank_test(d, "t", "e", "g")
    assert r.df == 1
    b = logrank_batched(d["t"].to_numpy(), d["e"].to_numpy(), d["g"].to_numpy(), np.zeros(8))
    assert b.df[0] == 1 and b.statistic[0] == pytest.approx(r.statistic, rel=1e-14)


@st.composite
def trials(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(4, 40))
    t = draw(st.lists(st.integers(1, 15), min_size=n, max_size=n))
    e = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    g = draw(st.lists(st.sampled_from(["A", "B"]), min_size=n, max_size=n))
    s = draw(st.lists(st.sampled_from([1, 2]), min_size=n, max_size=n))
    d = pl.DataFrame({"t": [float(x) for x in t], "e": e, "g": g, "s": s})
    if d["g"].n_unique() < 2 or d["e"].sum() == 0:
        d = pl.concat(
            [d, pl.DataFrame({"t": [1.0, 2.0], "e": [1, 1], "g": ["A", "B"], "s": [1, 2]})]
        )
    return d


@settings(max_examples=50, deadline=None)
@given(trials(), st.randoms(use_true_random=False), st.sampled_from([0.0, 1.0, 0.5]))
def test_row_order_and_time_scale_invariance(d: pl.DataFrame, rnd, rho: float) -> None:
    perm = list(range(d.height))
    rnd.shuffle(perm)
    a = logrank_test(d, "t", "e", "g", strata="s", rho=rho)
    b = logrank_test(d[perm], "t", "e", "g", strata="s", rho=rho)
    c = logrank_test(d.with_columns(pl.col("t") * 30.4375), "t", "e", "g", strata="s", rho=rho)
    for other in (b, c):
        np.testing.assert_allclose(other.statistic, a.statistic, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(other.observed, a.observed, rtol=1e-12)
        np.testing.assert_allclose(other.expected, a.expected, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(trials(), min_size=1, max_size=6), st.sampled_from([0.0, 1.0]))
def test_batched_equals_one_at_a_time(datasets: list[pl.DataFrame], rho: float) -> None:
    allrows = pl.concat([d.with_columns(rep=pl.lit(i)) for i, d in enumerate(datasets)])
    b = logrank_batched(
        allrows["t"].to_numpy(),
        allrows["e"].to_numpy(),
        allrows["g"].to_numpy(),
        allrows["rep"].to_numpy(),
        rho,
    )
    for i, d in enumerate(datasets):
        r = logrank_test(d, "t", "e", "g", rho=rho)
        np.testing.assert_allclose(b.statistic[i], r.statistic, rtol=1e-12, atol=1e-14)
        assert b.df[i] == r.df
        np.testing.assert_allclose(b.p_value[i], r.p_value, rtol=1e-10)
        np.testing.assert_allclose(b.observed[i], r.observed, rtol=1e-13)
        np.testing.assert_allclose(b.expected[i], r.expected, rtol=1e-13)
    assert b.table().height == len(datasets)
    assert "replicates" in b.summary()


@settings(max_examples=30, deadline=None)
@given(st.lists(trials(), min_size=1, max_size=5), st.sampled_from([0.0, 1.0, 0.5]))
def test_survdiff_kernel_matches_numpy_reference(datasets: list[pl.DataFrame], rho: float) -> None:
    from mrdtrack.survival import _kernels_km
    from mrdtrack.survival.km import segment_sort
    from mrdtrack.survival.logrank import _points_batched, _survdiff_parts

    allrows = pl.concat([d.with_columns(rep=pl.lit(i)) for i, d in enumerate(datasets)])
    t, e = allrows["t"].to_numpy(), allrows["e"].to_numpy().astype(float)
    g = (allrows["g"] == "B").cast(pl.Int64).to_numpy()
    reps, codes, order = segment_sort(t, allrows["rep"].to_numpy())
    n_k, d_k, seg_ptr = _points_batched(
        t[order], e[order], g[order], 2, codes[order], reps.shape[0]
    )
    want = _survdiff_parts(n_k, d_k, seg_ptr, rho)
    row_ptr = np.r_[0, np.cumsum(np.bincount(codes, minlength=reps.shape[0]))]
    got = _kernels_km.survdiff_segs(row_ptr, t[order], e[order], g[order], 2, rho)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("group", ["sex", "ph_ecog"])
@pytest.mark.parametrize("entry", ["entry", None])
def test_entry_logrank_equals_r_cox_score_test_on_untied_data(
    group: str, entry: str | None
) -> None:
    # R survdiff refuses (entry, time] data; with untied times the Breslow Cox score test at
    # beta = 0 (R coxph(...)$sctest) is exactly the log-rank statistic with those risk sets
    d = _data("lung_trunc_untied")
    ref = pl.read_csv(REF / "out" / "logrank_entry_score.csv").filter(
        (pl.col("group") == group) & (pl.col("entry") == (entry is not None))
    )
    r = logrank_test(d, "time", "event", group, start=entry)
    assert r.statistic == pytest.approx(ref["chisq"][0], rel=1e-10)
    assert r.df == ref["df"][0]
