"""Yearly visit states, transitions with row percentages, prevalence, timelines."""

from __future__ import annotations

import polars as pl
import pytest

from mrdtrack.mrd import patient_timeline, transitions, visit_states

N, P, I = "negative", "positive", "indeterminate"


@pytest.fixture
def cohort(make_cohort):
    return make_cohort(
        {
            "a": [(-7, N), (365, N), (730, P)],
            "b": [(14, P), (400, I), (800, N)],
            "c": [(0, N)],
            "d": [(10, P), (370, N), (700, N), (300 + 365 * 2, N)],
            "e": [(5, P), (200, N), (380, P)],
        },
        progression={"a": 900, "c": 100},
        death={"e": 500},
        last_contact={"b": 1500, "d": 600},
    )


def test_visit_states(cohort):
    s = visit_states(cohort)
    got = {(r["patient_id"], r["visit"]): r["state"] for r in s.iter_rows(named=True)}
    assert got[("b", 1)] == "not_evaluable"  # indeterminate at day 400 (window 275-455)
    assert got[("b", 2)] == "negative"  # day 800 is within 730 +/- 90
    assert got[("c", 1)] == "progressed"
    assert got[("e", 1)] == "positive"  # day 380 is closer to 365 than day 200 (outside)
    assert got[("e", 2)] == "died"
    # d: last contact 600, but assessments at 700 and 1030 still count as visits
    assert got[("d", 2)] == "negative"
    narrow = visit_states(cohort, visit_window_days=10)
    got = {(r["patient_id"], r["visit"]): r["state"] for r in narrow.iter_rows(named=True)}
    assert got[("b", 0)] == "missing" and got[("b", 1)] == "missing"
    with pytest.raises(ValueError, match="visit_window_days"):
        visit_states(cohort, visit_window_days=200)


def test_transition_counts_and_row_percent(cohort):
    t = transitions(cohort)
    tab = t.table()
    step0 = {
        (r["from_state"], r["to_state"]): (r["n"], r["row_percent"])
        for r in tab.filter(pl.col("from_visit") == 0).iter_rows(named=True)
    }
    # visit 0: a N, b P, c N, d P, e P ; visit 1: a N, b NE, c progressed, d N, e P
    assert step0 == {
        ("negative", "negative"): (1, 50.0),
        ("negative", "progressed"): (1, 50.0),
        ("positive", "negative"): (1, 100 / 3),
        ("positive", "positive"): (1, 100 / 3),
        ("positive", "not_evaluable"): (1, 100 / 3),
    }
    # row percentages add to 100 within each (from_visit, from_state)
    sums = tab.group_by("from_visit", "from_state").agg(pl.col("row_percent").sum())
    assert sums["row_percent"].to_list() == pytest.approx([100.0] * sums.height)
    m = t.matrix(0)
    assert m.columns[0] == "from_state" and int(m.drop("from_state").sum_horizontal().sum()) == 5
    prev = t.prevalence.filter(pl.col("visit") == 0)
    neg = prev.filter(pl.col("state") == "negative").row(0, named=True)
    assert (neg["n"], neg["percent_of_patients"], neg["percent_of_evaluable"]) == (2, 40.0, 40.0)
    assert "negative" in t.summary()


def test_timeline(cohort):
    tl = patient_timeline(cohort)
    a = tl.filter(pl.col("patient_id") == "a")
    assert a["event"].to_list() == ["mrd", "mrd", "mrd", "progression"]
    d = tl.filter(pl.col("patient_id") == "d")
    assert d["event"].to_list()[-1] == "mrd" and "censored" in d["event"].to_list()
    e = tl.filter(pl.col("patient_id") == "e")
    assert e["event"].to_list()[-1] == "death"
