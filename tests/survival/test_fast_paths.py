"""The counting (day-grid) and sorting paths of Kaplan-Meier and log-rank give identical numbers.

Whole-number times with a modest range are counted per day (no sort); other times go through a
sort of packed (time, event) keys. Both must agree to the last bit (``assert_array_equal``),
including ties, censorings tied with events, delayed entry, weights and strata. The R agreement
of the public functions is checked in test_kaplan_meier.py / test_logrank.py.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.survival import _kernels_km
from mrdtrack.survival.km import _km_points, day_grid, kaplan_meier
from mrdtrack.survival.logrank import _points_one, _risk_counts, _survdiff_parts, logrank_test


def _sample(rng: np.random.Generator, n: int, span: int, entry: bool = False) -> dict:
    t = rng.integers(1, span + 1, n).astype(np.float64)
    e = (rng.random(n) < 0.6).astype(np.float64)
    out = {"time": t, "event": e, "group": rng.integers(0, 3, n), "stratum": rng.integers(0, 2, n)}
    if entry:
        # some whole-day entries (tied with exit times of others), some fractional, some zero
        a = np.floor(rng.random(n) * t)
        frac = rng.random(n) < 0.3
        a[frac] = (rng.random(frac.sum()) * t[frac]).round(2)
        a = np.minimum(a, t - 0.5)
        a[rng.random(n) < 0.2] = 0.0
        out["entry"] = a
    return out


CASES = [(20, 5), (200, 30), (1000, 400), (3000, 10)]


@pytest.mark.parametrize(("n", "span"), CASES)
@pytest.mark.parametrize("variant", ["plain", "entry", "weights", "zero_weights"])
def test_km_grid_equals_sort_path(n: int, span: int, variant: str) -> None:
    rng = np.random.default_rng(n + span)
    d = _sample(rng, n, span, entry=variant == "entry")
    w = None
    if variant == "weights":
        w = rng.random(n) * 3.0
    elif variant == "zero_weights":
        w = rng.integers(0, 3, n).astype(np.float64)  # some rows weigh 0
    a = d.get("entry")
    assert day_grid(d["time"]) is not None  # the grid path is the one taken
    fast = _km_points(d["time"], d["event"], w, a, grid=True)
    slow = _km_points(d["time"], d["event"], w, a, grid=False)
    assert fast.keys() == slow.keys()
    for k in fast:
        np.testing.assert_array_equal(fast[k], slow[k], err_msg=k)


def _naive_km(t, e, w, a):
    """Risk sets and deaths by definition, O(n m): the reference both paths must meet."""
    w = np.ones_like(t) if w is None else w
    ut = np.unique(t)
    at_risk = (t[None, :] >= ut[:, None]) & (True if a is None else (a[None, :] < ut[:, None]))
    n_risk = (at_risk * w).sum(axis=1)
    dth = ((t[None, :] == ut[:, None]) * (w * e)).sum(axis=1)
    s = np.cumprod(np.where(dth > 0, 1 - dth / np.where(n_risk > 0, n_risk, 1), 1.0))
    return ut, n_risk, dth, s


@pytest.mark.parametrize("grid", [True, False])
@pytest.mark.parametrize("variant", ["plain", "entry", "weights"])
def test_km_paths_meet_the_definition(grid: bool, variant: str) -> None:
    rng = np.random.default_rng(11)
    d = _sample(rng, 300, 40, entry=variant == "entry")
    w = rng.random(300) * 2 if variant == "weights" else None
    p = _km_points(d["time"], d["event"], w, d.get("entry"), grid=grid)
    ut, n_risk, dth, s = _naive_km(d["time"], d["event"], w, d.get("entry"))
    np.testing.assert_array_equal(p["time"], ut)
    np.testing.assert_allclose(p["n_risk"], n_risk, rtol=1e-13)
    np.testing.assert_allclose(p["n_event"], dth, rtol=1e-13)
    np.testing.assert_allclose(p["surv"], s, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    span=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    conf_type=st.sampled_from(["log", "log-log", "plain"]),
)
def test_km_shifted_times_give_the_same_curve(n: int, span: int, seed: int, conf_type: str) -> None:
    # t and t + 0.5 have the same order: the curve is the same, computed once by counting
    # days (whole numbers) and once by sorting (fractional times)
    rng = np.random.default_rng(seed)
    d = _sample(rng, n, span)
    df = pl.DataFrame({"t": d["time"], "e": d["event"], "g": d["group"]})
    shifted = df.with_columns(pl.col("t") + 0.5)
    a = kaplan_meier(df, "t", "e", by="g", conf_type=conf_type).table()
    b = kaplan_meier(shifted, "t", "e", by="g", conf_type=conf_type).table()
    assert a.drop("time").equals(b.drop("time"))
    np.testing.assert_array_equal(a["time"].to_numpy() + 0.5, b["time"].to_numpy())
    ma = kaplan_meier(df, "t", "e", conf_type=conf_type).median()
    mb = kaplan_meier(shifted, "t", "e", conf_type=conf_type).median()
    # the median is a time: shifted by 0.5 exactly where reached (midpoints too)
    for c in ("estimate", "lower", "upper"):
        x, y = ma[c][0], mb[c][0]
        assert (x is None and y is None) or y == x + 0.5


@pytest.mark.parametrize(("n", "span"), CASES)
@pytest.mark.parametrize("entry", [False, True])
@pytest.mark.parametrize("strata", [False, True])
def test_logrank_counts_grid_equal_sort_path(n: int, span: int, entry: bool, strata: bool) -> None:
    rng = np.random.default_rng(n * 7 + span)
    d = _sample(rng, n, span, entry=entry)
    g = d["group"]
    s = d["stratum"] if strata else np.zeros(n, dtype=np.int64)
    ns = 2 if strata else 1
    a = d.get("entry")
    fast = _risk_counts(d["time"], d["event"], g, 3, s, ns, a, grid=True)
    slow = _risk_counts(d["time"], d["event"], g, 3, s, ns, a, grid=False)
    for x, y, name in zip(fast, slow, ("time", "n_k", "d_k", "seg_ptr"), strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)
    # and both equal the per-group numpy reference of the counts, stratum by stratum
    for j in range(ns):
        m = s == j
        n_k, d_k = _points_one(d["time"][m], d["event"][m], g[m], 3, None if a is None else a[m])
        lo, hi = fast[3][j], fast[3][j + 1]
        np.testing.assert_array_equal(fast[1][lo:hi], n_k)
        np.testing.assert_array_equal(fast[2][lo:hi], d_k)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 80),
    span=st.integers(1, 15),
    seed=st.integers(0, 2**32 - 1),
    rho=st.sampled_from([0.0, 1.0, 0.5]),
    strata=st.booleans(),
    entry=st.booleans(),
)
def test_logrank_shifted_times_give_identical_test(
    n: int, span: int, seed: int, rho: float, strata: bool, entry: bool
) -> None:
    # the statistic depends on the order of times only: t (counted per day) and t + 0.5
    # (sorted; for rho = 0 without strata or entry straight from the sorted rows) agree exactly
    rng = np.random.default_rng(seed)
    d = _sample(rng, n, span, entry=entry)
    d["group"][:2] = [0, 1]  # at least two groups
    cols = {"t": d["time"], "e": d["event"], "g": d["group"], "s": d["stratum"]}
    if entry:
        cols["a"] = d["entry"]
    df = pl.DataFrame(cols)
    shifted = df.with_columns(pl.col("t") + 0.5, *([pl.col("a") + 0.5] if entry else []))
    kw = {"strata": "s" if strata else None, "rho": rho, "start": "a" if entry else None}
    x = logrank_test(df, "t", "e", "g", **kw)
    y = logrank_test(shifted, "t", "e", "g", **kw)
    assert x.statistic == y.statistic or (np.isnan(x.statistic) and np.isnan(y.statistic))
    np.testing.assert_array_equal(x.observed, y.observed)
    np.testing.assert_array_equal(x.expected, y.expected)
    np.testing.assert_array_equal(x.variance, y.variance)


def test_logrank_kernel_matches_numpy_reference() -> None:
    rng = np.random.default_rng(5)
    d = _sample(rng, 500, 50)
    for rho in (0.0, 1.0):
        _, n_k, d_k, seg = _risk_counts(
            d["time"], d["event"], d["group"], 3, np.zeros(500, np.int64), 1, None
        )
        got = _kernels_km.survdiff_risk(seg, n_k, d_k, rho)
        want = _survdiff_parts(n_k, d_k, seg, rho)
        for x, y in zip(got, want, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    # the sorted-rows kernel is the same arithmetic as the per-time one
    t = d["time"] + rng.random(500) * 0.5  # continuous: no grid
    keys, gs = _kernels_km.sort_keys(_kernels_km.time_keys(t, d["event"]), d["group"])
    got = _kernels_km.survdiff_sorted(keys, gs, 3)
    _, n_k, d_k, seg = _risk_counts(
        t, d["event"], d["group"], 3, np.zeros(500, np.int64), 1, None, grid=False
    )
    want = _kernels_km.survdiff_risk(seg, n_k, d_k, 0.0)
    for x, y in zip(got, want, strict=True):
        np.testing.assert_array_equal(x, y)


def test_day_grid_rejects_fractions_and_wide_ranges() -> None:
    t = np.array([1.0, 5.0, 2.0, 2.0])
    assert day_grid(t) == (1, 5)
    assert day_grid(np.array([1.0, 2.5])) is None  # not whole numbers
    assert day_grid(np.array([0.0, 1e9])) is None  # range far beyond 4 n days
    assert day_grid(np.array([0.0, 60_000.0])) == (0, 60_001)  # small data: up to 65,536 days
    assert day_grid(np.array([0.0, 40_000.0]), cells=2) is None  # cells x span counts
    assert day_grid(np.zeros(0)) is None
    ok, lo, hi = _kernels_km.integer_range(np.array([3.0, -0.0, 7.0]))
    assert ok and lo == 0.0 and hi == 7.0


@pytest.mark.parametrize("kind", ["spread", "tied", "one_heavy_bucket", "tiny", "with_zero"])
def test_bucket_sort_equals_numpy_sort(kind: str) -> None:
    rng = np.random.default_rng(3)
    t = {
        "spread": rng.exponential(300.0, 5000),
        "tied": np.round(rng.exponential(3.0, 5000), 1),
        # most values in one narrow band next to a few far ones: buckets over 48 rows
        "one_heavy_bucket": np.r_[1.0 + rng.random(4000) * 1e-9, rng.random(10) * 1e6],
        "tiny": np.array([2.0]),
        "with_zero": np.r_[0.0, -0.0, rng.random(100)],
    }[kind]
    e = (rng.random(t.shape[0]) < 0.5).astype(np.float64)
    g = rng.integers(0, 4, t.shape[0])
    keys = _kernels_km.time_keys(t, e)
    got, gp = _kernels_km.sort_keys(keys, g)
    np.testing.assert_array_equal(got, np.sort(keys))
    # the payload travels with its key: the multiset of (key, group) pairs is unchanged
    pairs = np.sort(keys.astype(object) * 8 + g)
    np.testing.assert_array_equal(np.sort(got.astype(object) * 8 + gp), pairs)
    np.testing.assert_array_equal(_kernels_km.key_times(got >> np.uint64(1)), np.sort(t + 0.0))
    only, none = _kernels_km.sort_keys(keys)
    assert none is None
    np.testing.assert_array_equal(only, got)


def test_time_keys_equal_numpy_reference() -> None:
    # the one-pass packer and the numpy expression give the same bits: -0.0 packed as +0.0,
    # any non-zero event (also NaN, as ``event != 0``) sets the low bit
    rng = np.random.default_rng(4)
    t = np.r_[0.0, -0.0, 5e-324, rng.exponential(100.0, 997), 1e300]
    for e in (
        (rng.random(t.shape[0]) < 0.5).astype(np.float64),
        rng.integers(0, 2, t.shape[0]),
        np.r_[np.nan, 2.0, -1.0, np.zeros(t.shape[0] - 3)],
    ):
        got = _kernels_km.time_keys(t, e)
        assert got.dtype == np.uint64
        np.testing.assert_array_equal(got, _kernels_km.time_keys_reference(t, e))
    assert _kernels_km.time_keys(np.zeros(0), np.zeros(0)).shape == (0,)


def test_scan_values_counts_as_numpy() -> None:
    # the one-pass column check counts what the numpy expressions count (each bad kind alone)
    x = np.r_[0.0, -0.0, 1.0, 0.5, -2.0, np.nan, np.inf, -np.inf, 3.0, -1.0, 1.0]
    assert _kernels_km.scan_values(x) == _kernels_km.scan_values_reference(x) == (3, 2, 4)
    ok = np.r_[0.0, 1.0, -0.0, 1.0]
    assert _kernels_km.scan_values(ok) == (0, 0, 0)
    assert _kernels_km.scan_values(np.zeros(0)) == (0, 0, 0)


def test_counts_from_keys_matches_reference() -> None:
    rng = np.random.default_rng(9)
    t = np.round(rng.exponential(5.0, 2000), 1)
    keys = np.sort(_kernels_km.time_keys(t, (rng.random(2000) < 0.5).astype(float)))
    for x, y in zip(
        _kernels_km.counts_from_keys(keys),
        _kernels_km.counts_from_keys_reference(keys),
        strict=True,
    ):
        np.testing.assert_array_equal(x, y)


def test_day_counts_matches_bincount() -> None:
    rng = np.random.default_rng(2)
    t = rng.integers(3, 50, 1000).astype(np.float64)
    e = (rng.random(1000) < 0.5).astype(np.float64)
    c = rng.integers(0, 4, 1000)
    tot, d = _kernels_km.day_counts(t, e, c, 3.0, 47, 4)
    flat = c * 47 + (t - 3).astype(np.int64)
    np.testing.assert_array_equal(tot.ravel(), np.bincount(flat, minlength=4 * 47))
    np.testing.assert_array_equal(d.ravel(), np.bincount(flat, weights=e, minlength=4 * 47))


@pytest.mark.parametrize("k", [2, 3])
def test_sorted_rows_kernels_equal_per_time_kernel(k: int) -> None:
    # log-rank straight from sorted rows (a scalar kernel for two groups, an array one
    # otherwise) and KM in one pass over sorted keys: the same numbers as the per-time kernels
    rng = np.random.default_rng(21 + k)
    n = 3000
    t = np.round(rng.exponential(50.0, n), 1) + 0.05  # ties, not whole numbers
    e = (rng.random(n) < 0.6).astype(np.float64)
    g = rng.integers(0, k, n)
    keys, gs = _kernels_km.sort_keys(_kernels_km.time_keys(t, e), g)
    got = _kernels_km.survdiff_sorted(keys, gs, k)
    _, n_k, d_k, seg = _risk_counts(t, e, g, k, np.zeros(n, np.int64), 1, None, grid=False)
    want = _kernels_km.survdiff_risk(seg, n_k, d_k, 0.0)
    for x, y in zip(got, want, strict=True):
        np.testing.assert_array_equal(x, y)
    tb, n_risk, d, tot, surv, green = _kernels_km.km_sorted(keys)
    tb2, tot2, d2 = _kernels_km.counts_from_keys_reference(keys)
    n_risk2 = np.cumsum(tot2[::-1])[::-1]
    s2, g2 = _kernels_km.km_segments_reference(np.array([0, tb2.shape[0]]), n_risk2, d2)
    for x, y in zip(
        (tb, n_risk, d, tot, surv, green), (tb2, n_risk2, d2, tot2, s2, g2), strict=True
    ):
        np.testing.assert_array_equal(x, y)
