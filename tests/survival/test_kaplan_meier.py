"""Kaplan-Meier against R survival (committed fixtures), hand-worked values and invariants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.survival import _kernels_km
from mrdtrack.survival.km import (
    findq,
    findq_segments,
    kaplan_meier,
    kaplan_meier_batched,
)

REF = Path(__file__).parents[1] / "reference" / "survival_km"
KM_CASES = pl.read_csv(REF / "km_cases.csv", null_values=[]).fill_null("").to_dicts()
TOL = 1e-8


def _data(name: str) -> pl.DataFrame:
    return pl.read_csv(REF / "data" / f"{name}.csv", null_values=["NA"])


def _ref(name: str) -> pl.DataFrame:
    return pl.read_csv(REF / "out" / name, null_values=["NA"], infer_schema_length=0)


def _fit(case: dict) -> object:
    return kaplan_meier(
        _data(case["data"]),
        "time",
        "event",
        by=case["by"] or None,
        start=case["entry"] or None,
        weights=case["weights"] or None,
        conf_type=case["conf_type"],
    )


def _assert_frame_close(ours: pl.DataFrame, ref: pl.DataFrame, tol: float = TOL) -> None:
    assert ours.height == ref.height
    for col in ref.columns:
        if col == "group":
            if "group" in ours.columns:
                assert ours["group"].to_list() == ref["group"].fill_null("").to_list()
            continue
        a = ours[col].cast(pl.Float64).fill_null(np.nan).to_numpy()
        b = ref[col].cast(pl.Float64).to_numpy()
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=col)
        both = np.isfinite(a) & np.isfinite(b)
        np.testing.assert_array_equal(a[~both & ~np.isnan(a)], b[~both & ~np.isnan(b)])
        np.testing.assert_allclose(a[both], b[both], rtol=0, atol=tol, err_msg=col)


@pytest.mark.parametrize("case", KM_CASES, ids=[c["case"] for c in KM_CASES])
def test_km_table_matches_r(case: dict) -> None:
    _assert_frame_close(_fit(case).table(), _ref(f"km_{case['case']}.csv"))


@pytest.mark.parametrize("case", KM_CASES, ids=[c["case"] for c in KM_CASES])
def test_quantiles_match_r(case: dict) -> None:
    ours = _fit(case).quantile([0.25, 0.5, 0.75])
    ref = _ref(f"quantile_{case['case']}.csv")
    if "group" in ours.columns:
        ours = ours.sort(["group", "p"])
        ref = ref.sort(["group", "p"])
    else:
        ref = ref.sort("p")
    _assert_frame_close(ours, ref)


@pytest.mark.parametrize("case", KM_CASES, ids=[c["case"] for c in KM_CASES])
def test_survival_at_matches_r_summary_times(case: dict) -> None:
    times = [float(x) for x in case["times"].split(";")]
    ours = _fit(case).survival_at(times)
    # R (extend=FALSE) drops times after a curve's last time; we keep them with null estimates
    _assert_frame_close(
        ours.filter(pl.col("surv").is_not_null()), _ref(f"summary_{case['case']}.csv")
    )


def test_median_is_quantile_half_and_flat_segment_midpoint() -> None:
    d = pl.DataFrame({"t": [1, 2, 3, 4, 5, 6], "e": [1] * 6})
    km = kaplan_meier(d, "t", "e")
    med = km.median()
    assert med.columns == ["estimate", "lower", "upper"]
    assert med["estimate"][0] == 3.5  # S = 0.5 exactly on [3, 4)
    # a curve ending flat at exactly 0.5: midpoint of its start and the last time
    d2 = pl.DataFrame({"t": [1, 2, 3, 4], "e": [1, 1, 0, 0]})
    assert kaplan_meier(d2, "t", "e").median()["estimate"][0] == 3.0


def test_hand_worked_greenwood_and_log_ci() -> None:
    # n = 5: deaths at 1 and 3, censored at 2, 4, 5
    d = pl.DataFrame({"t": [1, 2, 3, 4, 5], "e": [1, 0, 1, 0, 0]})
    tab = kaplan_meier(d, "t", "e").table()
    s3 = 0.8 * (2 / 3)
    se3 = np.sqrt(1 / (5 * 4) + 1 / (3 * 2))
    row = tab.filter(pl.col("time") == 3).row(0, named=True)
    assert row["n_risk"] == 3 and row["n_event"] == 1
    assert row["surv"] == pytest.approx(s3, abs=1e-15)
    assert row["std_err"] == pytest.approx(se3, abs=1e-15)
    z = 1.959963984540054
    assert row["lower"] == pytest.approx(s3 * np.exp(-z * se3), abs=1e-14)


def test_survival_at_beyond_last_time_is_null_and_counts_kept() -> None:
    d = pl.DataFrame({"t": [1.0, 2.0, 3.0], "e": [1, 0, 1]})
    out = kaplan_meier(d, "t", "e").survival_at([10, 0.5, 3])
    assert out["time"].to_list() == [0.5, 3.0, 10.0]  # sorted as R
    assert out["surv"].to_list()[:2] == [1.0, 0.0]
    assert out["surv"][2] is None and out["lower"][2] is None
    assert out["n_risk"].to_list() == [3.0, 1.0, 0.0]
    assert out["n_event"].to_list() == [0.0, 2.0, 0.0]


def test_risk_table_counts_at_t() -> None:
    # at risk AT t: time >= t; events and censorings in (previous t, t]
    d = pl.DataFrame({"t": [2, 4, 4, 6, 8, 9], "e": [1, 1, 0, 0, 1, 0], "g": list("aabbab")})
    rt = kaplan_meier(d, "t", "e").risk_table([0, 4, 8])
    assert rt.columns == ["time", "n_risk", "n_event", "n_censor"]
    assert rt["n_risk"].to_list() == [6, 5, 2]
    assert rt["n_event"].to_list() == [0, 2, 1]
    assert rt["n_censor"].to_list() == [0, 1, 1]
    rtg = kaplan_meier(d, "t", "e", by="g").risk_table([4])
    assert rtg["group"].to_list() == ["a", "b"]
    assert rtg["n_risk"].to_list() == [2, 3]


def test_groups_sorted_numeric_labels_and_pandas_input() -> None:
    d = pd.DataFrame(
        {"t": [1.0, 2, 3, 4, 5, 6], "e": [1, 0, 1, 1, 0, 1], "g": [10, 9, 10, 9, 2, 2]}
    )
    km = kaplan_meier(d, "t", "e", by="g")
    assert km.groups == ("2", "9", "10")
    assert km.table()["group"].unique(maintain_order=True).to_list() == ["2", "9", "10"]
    assert "median" in km.summary()


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("t", [1.0, -1.0, float("nan"), 2.0], "column 't': 1 row with a non-finite"),
        ("t", [1.0, -1.0, -2.0, 2.0], "column 't': 2 rows with a negative"),
        ("e", [1, 2, 0, 3], "column 'e': 2 rows with an event code outside"),
        ("a", [0.0, 2.0, 3.0, 0.5], "column 'a': 2 rows with start >= time"),
    ],
)
def test_bad_input_names_column_and_count(column: str, values: list, message: str) -> None:
    d = {"t": [1.0, 2.0, 3.0, 4.0], "e": [1, 0, 1, 0], "a": [0.0, 0.0, 0.0, 0.0]}
    d[column] = values
    with pytest.raises(ValueError, match=message):
        kaplan_meier(pl.DataFrame(d), "t", "e", start="a")


def test_bad_input_other() -> None:
    d = pl.DataFrame({"t": [1.0, 2.0], "e": [1, None], "g": ["a", None]})
    with pytest.raises(ValueError, match="column 'e': 1 row with a missing value"):
        kaplan_meier(d, "t", "e")
    with pytest.raises(ValueError, match="column 'g': 1 row with a missing value"):
        kaplan_meier(d.with_columns(pl.col("e").fill_null(0)), "t", "e", by="g")
    with pytest.raises(ValueError, match="not found"):
        kaplan_meier(d, "time", "e")
    with pytest.raises(ValueError, match="conf_type"):
        kaplan_meier(d, "t", "e", conf_type="logit")
    with pytest.raises(ValueError, match="no rows"):
        kaplan_meier(d.head(0), "t", "e")


def test_zero_entry_equals_right_censored_and_integer_weights_equal_replication() -> None:
    d = _data("lung")
    plain = kaplan_meier(d, "time", "event", by="sex").table()
    with_entry = kaplan_meier(
        d.with_columns(entry0=pl.lit(0.0)), "time", "event", by="sex", start="entry0"
    )
    # entry = 0 < time: identical risk sets except subjects with time 0 (none in lung)
    assert plain.equals(with_entry.table())
    rep = d[np.repeat(np.arange(d.height), d["w"].cast(pl.Int64).to_numpy())]
    a = kaplan_meier(d, "time", "event", weights="w").table()
    b = kaplan_meier(rep, "time", "event").table()
    for col in ("n_risk", "surv", "std_err", "lower", "upper"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- properties
@st.composite
def survival_data(draw: st.DrawFn, max_n: int = 40) -> pl.DataFrame:
    n = draw(st.integers(1, max_n))
    times = draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
    events = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    groups = draw(st.lists(st.sampled_from(["x", "y"]), min_size=n, max_size=n))
    return pl.DataFrame({"t": [float(x) for x in times], "e": events, "g": groups})


@settings(max_examples=60, deadline=None)
@given(
    survival_data(), st.randoms(use_true_random=False), st.sampled_from(["log", "log-log", "plain"])
)
def test_row_order_invariance(d: pl.DataFrame, rnd, conf_type: str) -> None:
    perm = list(range(d.height))
    rnd.shuffle(perm)
    a = kaplan_meier(d, "t", "e", by="g", conf_type=conf_type)
    b = kaplan_meier(d[perm], "t", "e", by="g", conf_type=conf_type)
    assert a.table().equals(b.table())
    assert a.quantile().equals(b.quantile())


@settings(max_examples=60, deadline=None)
@given(survival_data(), st.sampled_from([0.5, 2.0, 30.4375, 1 / 7]))
def test_time_rescaling_invariance(d: pl.DataFrame, c: float) -> None:
    a = kaplan_meier(d, "t", "e")
    b = kaplan_meier(d.with_columns(pl.col("t") * c), "t", "e")
    ta, tb = a.table(), b.table()
    np.testing.assert_allclose(tb["time"].to_numpy(), ta["time"].to_numpy() * c, rtol=1e-14)
    for col in ("n_risk", "surv", "std_err", "lower", "upper"):
        assert ta[col].equals(tb[col])
    qa = a.quantile().fill_null(np.nan)
    qb = b.quantile().fill_null(np.nan)
    for col in ("estimate", "lower", "upper"):
        np.testing.assert_allclose(qb[col].to_numpy(), qa[col].to_numpy() * c, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(survival_data())
def test_km_monotone_and_bounded(d: pl.DataFrame) -> None:
    tab = kaplan_meier(d, "t", "e", by="g").table()
    for _, sub in tab.group_by("group"):
        s = sub["surv"].to_numpy()
        assert np.all(np.diff(s) <= 0)
        assert np.all((s >= 0) & (s <= 1))
        assert np.all(np.diff(sub["n_risk"].to_numpy()) < 0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(survival_data(max_n=25), min_size=1, max_size=6),
    st.sampled_from(["log", "log-log", "plain"]),
)
def test_batched_equals_one_at_a_time(datasets: list[pl.DataFrame], conf_type: str) -> None:
    times = [0.0, 2.0, 5.5, 11.0]
    frames = [d.with_columns(rep=pl.lit(100 - i)) for i, d in enumerate(datasets)]
    allrows = pl.concat(frames)
    b = kaplan_meier_batched(
        allrows["t"].to_numpy(),
        allrows["e"].to_numpy(),
        allrows["rep"].to_numpy(),
        times,
        conf_type,
    )
    assert b.replicate.tolist() == sorted(100 - i for i in range(len(datasets)))
    for j, r in enumerate(b.replicate):
        d = datasets[100 - r]
        km = kaplan_meier(d, "t", "e", conf_type=conf_type)
        med = km.median().fill_null(np.nan).row(0)
        np.testing.assert_array_equal(
            [b.median[j], b.median_lower[j], b.median_upper[j]], np.array(med, dtype=float)
        )
        sa = km.survival_at(times).fill_null(np.nan)
        np.testing.assert_array_equal(b.surv_at[j], sa["surv"].to_numpy())
        np.testing.assert_array_equal(b.lower_at[j], sa["lower"].to_numpy())
        np.testing.assert_array_equal(b.upper_at[j], sa["upper"].to_numpy())
        np.testing.assert_array_equal(b.n_risk_at[j], sa["n_risk"].to_numpy())
    assert b.table().height == len(datasets)
    assert "replicates" in b.summary()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([0.1, 0.25, 0.5, 0.5 + 1e-9, 0.6, 0.75, 1.0, np.nan]),
            min_size=1,
            max_size=8,
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from([0.25, 0.5, 0.75]),
)
def test_segmented_findq_equals_one_curve_findq(curves: list[list[float]], p: float) -> None:
    xs, ys, ptr = [], [], [0]
    for c in curves:
        y = np.r_[0.0, c]
        xs.append(np.arange(y.size, dtype=float))
        ys.append(y)
        ptr.append(ptr[-1] + y.size)
    got = findq_segments(np.array(ptr), np.concatenate(xs), np.concatenate(ys), p)
    want = [findq(x, y, p) for x, y in zip(xs, ys, strict=True)]
    np.testing.assert_array_equal(got, want)


def test_kernels_match_numpy_reference() -> None:
    rng = np.random.default_rng(1)
    seg_ptr = np.array([0, 5, 5, 12, 20])
    n = np.concatenate([np.arange(k, 0, -1) for k in (5, 7, 8)]).astype(float)
    d = rng.integers(0, 2, n.size).astype(float)
    d[4] = 1.0  # a curve reaching zero
    for a, b in zip(
        _kernels_km.km_segments(seg_ptr, n, d),
        _kernels_km.km_segments_reference(seg_ptr, n, d),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    t = np.concatenate([np.sort(rng.integers(0, 9, k)).astype(float) for k in (5, 0, 7, 8)])
    q = np.array([-1.0, 0.0, 3.0, 3.5, 20.0])
    for a, b in zip(
        _kernels_km.locate(seg_ptr, t, q), _kernels_km.locate_reference(seg_ptr, t, q), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None)
@given(st.lists(survival_data(max_n=25), min_size=1, max_size=6))
def test_batched_kernels_match_numpy_references(datasets: list[pl.DataFrame]) -> None:
    from mrdtrack.survival.km import QUANTILE_TOL, _batched_points, segment_sort

    allrows = pl.concat([d.with_columns(rep=pl.lit(i)) for i, d in enumerate(datasets)])
    t, e, r = (
        allrows["t"].to_numpy(),
        allrows["e"].to_numpy().astype(float),
        allrows["rep"].to_numpy(),
    )
    reps, codes, order = segment_sort(t, r)
    np.testing.assert_array_equal(np.lexsort((t, codes)).shape, order.shape)
    ts, cs = t[order], codes[order]
    assert np.all((cs[1:] > cs[:-1]) | ((cs[1:] == cs[:-1]) & (ts[1:] >= ts[:-1])))
    ref = _batched_points(ts, e[order], cs, reps.shape[0])
    row_ptr = np.r_[0, np.cumsum(np.bincount(codes, minlength=reps.shape[0]))]
    pt_time, n_risk, n_event, n_censor, seg_ptr = _kernels_km.points_segs(row_ptr, ts, e[order])
    np.testing.assert_array_equal(pt_time, ref["time"])
    np.testing.assert_array_equal(n_risk, ref["n_risk"])
    np.testing.assert_array_equal(n_event, ref["n_event"])
    np.testing.assert_array_equal(n_censor, ref["n_censor"])
    np.testing.assert_array_equal(seg_ptr, ref["seg_ptr"])
    surv, _ = _kernels_km.km_segments(seg_ptr, n_risk, n_event)
    for y in (1.0 - surv, np.where(surv > 0.3, 1.0 - surv, np.nan)):
        ins = seg_ptr[:-1]
        want = findq_segments(
            seg_ptr + np.arange(seg_ptr.shape[0]),
            np.insert(pt_time, ins, 0.0),
            np.insert(y, ins, 0.0),
            0.5,
        )
        np.testing.assert_array_equal(
            _kernels_km.findq_segs(seg_ptr, pt_time, y, 0.5, QUANTILE_TOL), want
        )


def test_quantile_rule_matches_r_findq_on_awkward_curves() -> None:
    from mrdtrack.survival.km import QUANTILE_TOL

    ref = pl.read_csv(REF / "out" / "findq.csv", null_values=["NA"])
    for row in ref.iter_rows(named=True):
        x = np.array([float(v) for v in row["x"].split(";")])
        y = np.array([np.nan if v == "NA" else float(v) for v in row["y"].split(";")])
        want = np.nan if row["q"] is None else row["q"]
        np.testing.assert_equal(findq(x, y, row["p"]), want)
        np.testing.assert_equal(findq_segments(np.array([0, x.size]), x, y, row["p"])[0], want)
        ptr = np.array([0, x.size - 1])
        got = _kernels_km.findq_segs(ptr, x[1:], y[1:], row["p"], QUANTILE_TOL)
        np.testing.assert_equal(got[0], want)


def test_public_import_gives_the_function() -> None:
    import mrdtrack.survival.logrank  # noqa: F401  (imports the kaplan_meier submodule first)
    from mrdtrack.survival import kaplan_meier as km_public

    assert callable(km_public)


def test_sorted_check_kernel_matches_reference() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        codes = np.sort(rng.integers(0, 3, 12))
        t = rng.integers(0, 4, 12).astype(float)
        if rng.random() < 0.5:
            t = t[np.lexsort((t, codes))]
        assert _kernels_km.is_sorted_by(codes, t) == _kernels_km.is_sorted_by_reference(codes, t)


def test_zero_weights_as_r() -> None:
    # R: survfit(Surv(t, e) ~ 1, weights = w, robust = FALSE) on these five rows
    d = pl.DataFrame({"t": [1.0, 2, 3, 4, 5], "e": [1, 0, 1, 1, 0], "w": [1.0, 1, 0, 1, 0]})
    tab = kaplan_meier(d, "t", "e", weights="w").table()
    assert tab["n_risk"].to_list() == [3, 2, 1, 1, 0]
    assert tab["n_event"].to_list() == [1, 0, 0, 1, 0]
    np.testing.assert_allclose(tab["surv"].to_numpy(), [2 / 3, 2 / 3, 2 / 3, 0, 0], atol=1e-15)
    np.testing.assert_allclose(tab["std_err"].to_numpy()[:3], np.sqrt(0.5 / 3), atol=1e-15)
    assert np.isinf(tab["std_err"].to_numpy()[3:]).all()
