"""(start, stop] data: hand-checked cases (equality with R tmerge: test_reference_r.py)."""

from __future__ import annotations

import polars as pl
import pytest

from mrdtrack.mrd import time_dependent_data

N, P, I = "negative", "positive", "indeterminate"


def test_hand_checked(make_cohort):
    cohort = make_cohort(
        {
            "a": [(-7, N), (365, I), (730, P), (900, P), (1000, N)],
            "b": [(14, P), (400, N)],
            "c": [(0, N)],
        },
        progression={"a": 900, "c": 0},
        last_contact={"b": 400},
    )
    td = time_dependent_data(cohort)
    t = td.table()
    a = t.filter(pl.col("patient_id") == "a")
    # baseline before day 0 applies from 0; indeterminate carries forward; at the event day no split
    assert a.select("start", "stop", "event", "mrd_status").rows() == [
        (0, 730, 0, N),
        (730, 900, 1, P),
    ]
    b = t.filter(pl.col("patient_id") == "b")
    # status unknown until the first call; a call on the last day never applies
    assert b.select("start", "stop", "mrd_status").rows() == [(0, 14, None), (14, 400, P)]
    assert td.excluded.rows() == [("c", "no_time_at_risk")]
    # the class known so far, carried like the status
    assert a["mrd_class"].to_list() == ["not_classifiable", "loss_of_negativity"]
    assert b["mrd_class"].to_list() == [None, "not_classifiable"]
    lagged = time_dependent_data(cohort, lag=30, unit="months").table()
    a30 = lagged.filter(pl.col("patient_id") == "a")
    # the baseline (day -7) now takes effect on day 23
    assert a30["stop"].to_list() == pytest.approx([23 / 30.4375, 760 / 30.4375, 900 / 30.4375])
    pt = td.person_time()
    assert dict(pt.select("mrd_status", "events").iter_rows()) == {
        "negative": 0,
        "positive": 1,
        "unknown": 0,
    }
    assert "person-time" in td.summary()


def test_bad_lag(make_cohort):
    cohort = make_cohort({"a": [(0, N)]})
    with pytest.raises(ValueError, match="lag"):
        time_dependent_data(cohort, lag=-1)
