"""Landmark data, the guarantee-time guard, and time parsing."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrdtrack.errors import GuaranteeTimeBiasError
from mrdtrack.mrd import (
    baseline_status,
    classify_trajectories,
    landmark_data,
    pfs_by_class,
)
from mrdtrack.mrd._days import as_study_day

N, P = "negative", "positive"


@pytest.mark.parametrize(
    ("value", "day"),
    [
        (730, 730),
        (730.0, 730),
        ("24m", 730),
        ("12m", 365),
        ("36m", 1095),
        ("2y", 730),
        ("730d", 730),
        ("18 months", 547),
        ("0", 0),
    ],
)
def test_as_study_day(value, day):
    assert as_study_day(value) == day


@pytest.mark.parametrize("value", ["24 weeks", "m24", 730.5, "", True])
def test_as_study_day_rejects(value):
    with pytest.raises((ValueError, TypeError)):
        as_study_day(value)


def _cohort(make_cohort):
    return make_cohort(
        {
            "sus": [(0, N), (365, N), (1095, P)],  # sustained at 2y; loses negativity later
            "prog_at_l": [(0, N), (365, N)],  # progresses on the landmark day
            "died": [(0, P)],
            "cens_at_l": [(0, P), (365, P)],  # censored on the landmark day
            "cens_after": [(0, P), (365, P)],  # censored the day after
            "loss": [(0, N), (700, P)],
        },
        progression={"prog_at_l": 730, "loss": 1000},
        death={"died": 300},
        last_contact={"cens_at_l": 730, "cens_after": 731, "sus": 2000},
    )


def test_landmark_at_risk_set_and_reset_time(make_cohort):
    lm = landmark_data(_cohort(make_cohort), at="24m")
    assert lm.landmark_day == 730
    d = {r["patient_id"]: r for r in lm.table().iter_rows(named=True)}
    assert set(d) == {"sus", "cens_after", "loss"}
    assert d["sus"]["mrd_class"] == "sustained_negative"  # the day-1095 positive is not seen
    assert (d["sus"]["time"], d["sus"]["event"]) == (1270.0, 0)  # last contact 2000 - 730
    assert (d["cens_after"]["time"], d["cens_after"]["event"]) == (1.0, 0)
    assert (d["loss"]["time"], d["loss"]["event"], d["loss"]["mrd_class"]) == (
        270.0,
        1,
        "loss_of_negativity",
    )
    ex = dict(lm.excluded.select("patient_id", "reason").iter_rows())
    assert ex == {
        "prog_at_l": "progressed_on_or_before_landmark",
        "died": "died_on_or_before_landmark",
        "cens_at_l": "follow_up_ended_on_or_before_landmark",
    }
    assert lm.table().height + lm.excluded.height == 6
    assert "Excluded: 3" in lm.summary()
    months = landmark_data(_cohort(make_cohort), at=730, unit="months").table()
    assert months.filter(pl.col("patient_id") == "loss")["time"].item() == pytest.approx(
        270 / 30.4375, abs=1e-15
    )


def test_guard_raises_for_post_origin_classes(make_cohort):
    cohort = _cohort(make_cohort)
    whole = classify_trajectories(cohort)
    with pytest.raises(GuaranteeTimeBiasError, match="landmark_data") as err:
        pfs_by_class(cohort, whole)
    assert "time_dependent_data" in str(err.value)
    assert "guarantee-time" in str(err.value)
    with pytest.raises(GuaranteeTimeBiasError):
        pfs_by_class(cohort, classify_trajectories(cohort, window_end=730))
    with pytest.raises(GuaranteeTimeBiasError):
        pfs_by_class(cohort, whole.table())  # a bare table still carries its window
    with pytest.raises(GuaranteeTimeBiasError):
        pfs_by_class(cohort, baseline_status(cohort), column="status")  # window ends at day 90
    with pytest.raises(ValueError, match="window_end"):
        pfs_by_class(cohort, whole.table().drop("window_end"))


def test_guard_allows_safe_groupings(make_cohort):
    cohort = _cohort(make_cohort)
    at0 = pfs_by_class(cohort, classify_trajectories(cohort, window_end=0))
    assert at0.height == 6 and at0["time"].max() == 2000
    lm = landmark_data(cohort, at=730)
    assert pfs_by_class(cohort, lm).equals(lm.table())
    base = baseline_status(cohort, window=(-30, 0))
    assert pfs_by_class(cohort, base, column="status").height == 6
    in_months = pfs_by_class(cohort, lm, unit="months")
    assert in_months["time"].to_list() == pytest.approx(
        [t / 30.4375 for t in lm.table()["time"].to_list()]
    )


results = st.sampled_from([N, P, "indeterminate"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seqs=st.lists(
        st.lists(st.tuples(st.integers(-10, 1500), results), max_size=6, unique_by=lambda x: x[0]),
        min_size=1,
        max_size=5,
    ),
    landmark=st.integers(0, 1200),
    later=st.data(),
)
def test_landmark_class_ignores_later_assessments(make_cohort, seqs, landmark, later):
    a_seq = {f"p{i}": s for i, s in enumerate(seqs)}
    b_seq = {}
    for p, s in a_seq.items():
        kept = [x for x in s if x[0] <= landmark]
        days = later.draw(st.lists(st.integers(landmark + 1, 2400), max_size=4, unique=True))
        b_seq[p] = kept + [(d, later.draw(results)) for d in days]
    a = landmark_data(make_cohort(a_seq), at=landmark).table()
    b = landmark_data(make_cohort(b_seq), at=landmark).table()
    cols = ["patient_id", "time", "event", "mrd_class", "known_day", "evidence_days"]
    assert a.select(cols).equals(b.select(cols))
