"""Status calling rules, one hand-built assay per rule."""

from __future__ import annotations

import polars as pl
import pytest

from mrdtrack.mrd import call_status


def _one(make_mrd, threshold=1e-5, **row):
    row.setdefault("patient_id", "p1")
    row.setdefault("day", 0)
    calls = call_status(make_mrd([row]), threshold)
    a = calls.assays.row(0, named=True)
    return a["status"], a["reason"]


@pytest.mark.parametrize(
    ("row", "threshold", "expected"),
    [
        ({"result": "negative"}, 1e-5, ("negative", "no_clonal_cells_at_sensitivity")),
        (
            {"result": "negative", "sensitivity": 1e-6},
            1e-5,
            ("negative", "no_clonal_cells_at_sensitivity"),
        ),
        (
            {"result": "negative", "sensitivity": 1e-4},
            1e-5,
            ("not_evaluable", "insufficient_sensitivity"),
        ),
        (
            {"result": "negative", "sensitivity": 1e-5},
            1e-6,
            ("not_evaluable", "insufficient_sensitivity"),
        ),
        (
            {"result": "negative", "sensitivity": 1.0000000000000001e-05},
            1e-5,
            ("negative", "no_clonal_cells_at_sensitivity"),
        ),
        (
            {"result": "negative", "sensitivity": None},
            1e-5,
            ("not_evaluable", "sensitivity_not_reported"),
        ),
        (
            {"result": "positive", "clonal_fraction": 3e-6},
            1e-5,
            ("positive", "clonal_cells_detected"),
        ),
        ({"result": "positive", "sensitivity": 1e-4}, 1e-5, ("positive", "clonal_cells_detected")),
        ({"result": "indeterminate"}, 1e-5, ("not_evaluable", "indeterminate")),
        ({"result": "not_evaluable"}, 1e-5, ("not_evaluable", "reported_not_evaluable")),
        ({"result": "negative", "adequate": False}, 1e-5, ("not_evaluable", "inadequate_sample")),
        ({"result": "positive", "adequate": False}, 1e-5, ("not_evaluable", "inadequate_sample")),
        (
            {"result": "negative", "adequate": None},
            1e-5,
            ("negative", "no_clonal_cells_at_sensitivity"),
        ),
        (
            {"result": "negative", "clonal_fraction": 2e-5},
            1e-5,
            ("not_evaluable", "conflicting_clonal_fraction"),
        ),
        (
            {"result": None, "clonal_fraction": 1e-5},
            1e-5,
            ("positive", "clonal_fraction_at_or_above_threshold"),
        ),
        (
            {"result": None, "clonal_fraction": 5e-6, "sensitivity": 1e-6},
            1e-5,
            ("negative", "clonal_fraction_below_threshold"),
        ),
        (
            {"result": None, "clonal_fraction": 5e-6, "sensitivity": 1e-4},
            1e-5,
            ("not_evaluable", "insufficient_sensitivity"),
        ),
        (
            {"result": None, "clonal_fraction": 0.0, "sensitivity": None},
            1e-5,
            ("not_evaluable", "sensitivity_not_reported"),
        ),
        ({"result": None}, 1e-5, ("not_evaluable", "no_result")),
        (
            {"result": "negative", "method": "PET-CT", "specimen": "imaging", "sensitivity": None},
            1e-5,
            ("negative", "imaging_negative"),
        ),
    ],
)
def test_assay_rules(make_mrd, row, threshold, expected):
    assert _one(make_mrd, threshold, **row) == expected


def test_visit_combination_all_evaluable(make_mrd):
    rows = [
        # p1: NGF negative, NGS negative -> negative
        {"patient_id": "p1", "day": 0, "result": "negative"},
        {"patient_id": "p1", "day": 0, "method": "NGS", "result": "negative", "sensitivity": 1e-6},
        # p2: NGF negative, NGS positive -> positive
        {"patient_id": "p2", "day": 0, "result": "negative"},
        {"patient_id": "p2", "day": 0, "method": "NGS", "result": "positive"},
        # p3: NGF negative, NGS indeterminate -> negative (every evaluable assay negative)
        {"patient_id": "p3", "day": 0, "result": "negative"},
        {"patient_id": "p3", "day": 0, "method": "NGS", "result": "indeterminate"},
        # p4: both not evaluable -> not evaluable with both reasons
        {"patient_id": "p4", "day": 0, "result": "negative", "sensitivity": 1e-4},
        {"patient_id": "p4", "day": 0, "method": "NGS", "result": "indeterminate"},
    ]
    calls = call_status(make_mrd(rows))
    v = dict(calls.visits.select("patient_id", "status").iter_rows())
    assert v == {"p1": "negative", "p2": "positive", "p3": "negative", "p4": "not_evaluable"}
    r4 = calls.visits.filter(pl.col("patient_id") == "p4")["reason"].item()
    assert r4 == "indeterminate;insufficient_sensitivity"
    # each assay keeps its own call
    assert calls.assays.height == 8
    assert calls.visits["n_assays"].to_list() == [2, 2, 2, 2]
    strict = call_status(make_mrd(rows), combine="all_assays")
    v2 = dict(strict.visits.select("patient_id", "status").iter_rows())
    assert v2["p3"] == "not_evaluable"
    assert v2["p2"] == "positive"
    assert v2["p1"] == "negative"


def test_same_visit_days_chains_assays(make_mrd):
    rows = [
        {"patient_id": "p1", "day": 0, "result": "negative"},
        {
            "patient_id": "p1",
            "day": 6,
            "method": "PET-CT",
            "specimen": "imaging",
            "result": "positive",
        },
        {"patient_id": "p1", "day": 370, "result": "negative"},
    ]
    same_day = call_status(make_mrd(rows), specimens=None)
    assert same_day.visits.height == 3
    week = call_status(make_mrd(rows), same_visit_days=7, specimens=None)
    assert week.visits.height == 2
    first = week.visits.row(0, named=True)
    assert (first["day"], first["last_day"], first["status"]) == (0, 6, "positive")


def test_specimens_imaging_plus(make_mrd):
    pet = {"method": "PET-CT", "specimen": "imaging", "sensitivity": None}
    rows = [
        {"patient_id": "p1", "day": 0, "result": "negative"},
        {"patient_id": "p1", "day": 0, "result": "positive", **pet},
        {"patient_id": "p1", "day": 200, "result": "negative", **pet},  # imaging only
        {"patient_id": "p2", "day": 0, "result": "negative"},
        {"patient_id": "p2", "day": 0, "result": "negative", **pet},
        {"patient_id": "p3", "day": 0, "result": "negative"},
        {"patient_id": "p3", "day": 0, "result": "indeterminate", **pet},
    ]
    # default: marrow only; PET assays keep their call but are not used
    marrow = call_status(make_mrd(rows))
    assert marrow.visits.select("patient_id", "day", "status").rows() == [
        ("p1", 0, "negative"),
        ("p2", 0, "negative"),
        ("p3", 0, "negative"),
    ]
    assert marrow.assays.filter(~pl.col("used"))["status"].to_list() == [
        "positive",
        "negative",
        "negative",
        "not_evaluable",
    ]
    # imaging-plus: marrow and PET-CT must both be evaluable and negative
    plus = call_status(make_mrd(rows), specimens=("bone_marrow", "imaging"), combine="all_assays")
    got = {(r[0], r[1]): r[2] for r in plus.visits.select("patient_id", "day", "status").rows()}
    assert got == {
        ("p1", 0): "positive",
        ("p1", 200): "negative",
        ("p2", 0): "negative",
        ("p3", 0): "not_evaluable",
    }
    # concordance pairs assays of a visit whether or not they were used
    conc = marrow.concordance()
    assert set(conc["method_b"]) == {"PET-CT"} and int(conc["n"].sum()) == 3


def test_methods_filter(make_mrd):
    rows = [
        {"patient_id": "p1", "day": 0, "result": "negative"},
        {"patient_id": "p1", "day": 0, "method": "NGS", "result": "positive"},
    ]
    calls = call_status(make_mrd(rows), methods=["NGF"])
    assert calls.visits["status"].to_list() == ["negative"]


def test_concordance(make_mrd):
    rows = []
    pattern = [("negative", "negative")] * 5 + [("negative", "positive")] * 2
    pattern += [("positive", "positive")] * 3 + [("positive", "indeterminate")]
    for i, (a, b) in enumerate(pattern):
        rows.append({"patient_id": f"p{i}", "day": 0, "result": a})
        rows.append({"patient_id": f"p{i}", "day": 0, "method": "NGS", "result": b})
    calls = call_status(make_mrd(rows))
    tab = calls.concordance()
    got = {(r["status_a"], r["status_b"]): r["n"] for r in tab.iter_rows(named=True)}
    # pairs ordered alphabetically: NGF before NGS
    assert set(tab["method_a"]) == {"NGF"}
    assert got == {
        ("negative", "negative"): 5,
        ("negative", "positive"): 2,
        ("positive", "positive"): 3,
        ("positive", "not_evaluable"): 1,
    }
    s = calls.concordance_summary().row(0, named=True)
    assert s["n_pairs"] == 11 and s["n_both_evaluable"] == 10 and s["n_agree"] == 8
    # Cohen's kappa by hand: p_o = 0.8; p_e = (7*5 + 3*5)/100 = 0.5
    assert s["kappa"] == pytest.approx((0.8 - 0.5) / 0.5, abs=1e-15)


def test_bad_input_messages(make_mrd):
    bad = make_mrd([{"patient_id": "p1", "day": 0, "result": "negative"}]).with_columns(
        pl.lit("weird").alias("result")
    )
    with pytest.raises(ValueError, match="'result' has 1 row"):
        call_status(bad)
    with pytest.raises(ValueError, match="threshold"):
        call_status(make_mrd([{"patient_id": "p1", "day": 0, "result": "negative"}]), 2.0)
    with pytest.raises(ValueError, match="lacks required"):
        call_status(pl.DataFrame({"patient_id": ["a"]}))


def test_pandas_input_and_summary(make_mrd):
    df = make_mrd([{"patient_id": "p1", "day": 0, "result": "negative"}]).to_pandas()
    calls = call_status(df)
    assert calls.table()["status"].to_list() == ["negative"]
    assert "negative" in calls.summary()
    assert calls.counts()["n"].to_list() == [1]


def test_every_reason_is_documented(make_mrd):
    from mrdtrack.mrd.status import REASONS

    rows = [
        {"patient_id": "p1", "day": 0, "result": r, "sensitivity": s, "adequate": a}
        for r in ("negative", "positive", "indeterminate", "not_evaluable", None)
        for s in (1e-4, 1e-5, None)
        for a in (True, False, None)
    ]
    for i, row in enumerate(rows):
        row["day"] = i
    calls = call_status(make_mrd(rows))
    assert set(calls.assays["reason"]) <= set(REASONS)
    for reason in calls.visits["reason"]:
        assert set(reason.split(";")) <= set(REASONS)


def test_positive_below_threshold_option(make_mrd):
    rows = [
        {
            "patient_id": "p1",
            "day": 0,
            "result": "positive",
            "clonal_fraction": 3e-6,
            "method": "NGS",
            "sensitivity": 1e-6,
        },
        {"patient_id": "p2", "day": 0, "result": "positive", "clonal_fraction": 2e-5},
        {"patient_id": "p3", "day": 0, "result": "positive"},
    ]
    strict = call_status(make_mrd(rows))
    assert strict.visits["status"].to_list() == ["positive"] * 3
    per_threshold = call_status(make_mrd(rows), positive_below_threshold="negative")
    assert per_threshold.visits.select("status", "reason").rows() == [
        ("negative", "clonal_fraction_below_threshold"),
        ("positive", "clonal_cells_detected"),
        ("positive", "clonal_cells_detected"),
    ]
    # at the deeper threshold the same sample is positive either way
    deep = call_status(make_mrd(rows), 1e-6, positive_below_threshold="negative")
    assert deep.visits["status"].to_list()[0] == "positive"
    with pytest.raises(ValueError, match="positive_below_threshold"):
        call_status(make_mrd(rows), positive_below_threshold="maybe")
