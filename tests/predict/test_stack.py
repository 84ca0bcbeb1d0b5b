"""Stacked landmark data: a hand-worked example and the no-look-ahead property."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.cohort import Cohort
from mrdtrack.predict import landmark_stack, mrd_history


def _cohort(mrd_rows, outcomes_rows) -> Cohort:
    ids = sorted({r[0] for r in outcomes_rows})
    patients = pl.DataFrame(
        {
            "patient_id": ids,
            "cutoff_day": [3000] * len(ids),
            "age": [60.0 + i for i in range(len(ids))],
        }
    )
    outcomes = pl.DataFrame(
        outcomes_rows,
        schema={
            "patient_id": pl.String,
            "progression_day": pl.Int64,
            "death_day": pl.Int64,
            "last_contact_day": pl.Int64,
        },
        orient="row",
    )
    mrd = pl.DataFrame(
        mrd_rows,
        schema={"patient_id": pl.String, "day": pl.Int64, "result": pl.String},
        orient="row",
    ).with_columns(
        pl.lit("NGF").alias("method"),
        pl.lit("bone_marrow").alias("specimen"),
        pl.lit(1e-5).alias("sensitivity"),
        pl.lit(None, dtype=pl.Float64).alias("clonal_fraction"),
        pl.lit(True).alias("adequate"),
        pl.lit(None, dtype=pl.String).alias("visit"),
    )
    ae = pl.DataFrame(schema={"patient_id": pl.String, "term": pl.String})
    return Cohort(patients=patients, mrd=mrd, outcomes=outcomes, adverse_events=ae)


HAND = _cohort(
    mrd_rows=[
        ("A", 0, "negative"),
        ("A", 365, "positive"),
        ("A", 730, "positive"),
        ("B", 0, "positive"),
        ("B", 365, "negative"),
        ("C", 0, "negative"),
    ],
    outcomes_rows=[
        ("A", 900, None, 900),  # progresses at day 900
        ("B", None, None, 2000),  # censored at 2000
        ("C", None, 300, 300),  # dies at day 300
    ],
)


def test_hand_worked_stack():
    st_ = landmark_stack(HAND, landmarks=[0, 365], window=730)
    got = st_.select(
        "landmark", "patient_id", "start", "stop", "event", "last_status", "lost_negativity"
    ).rows()
    assert got == [
        # s = 0: everyone at risk; A's event (900) is beyond 0 + 730 -> censored at 730
        (0, "A", 0.0, 730.0, 0, "negative", 0),
        (0, "B", 0.0, 730.0, 0, "positive", 0),
        (0, "C", 0.0, 300.0, 1, "negative", 0),
        # s = 365: C is dead; A lost negativity on day 365 (result known at the landmark)
        (365, "A", 365.0, 900.0, 1, "positive", 1),
        (365, "B", 365.0, 1095.0, 0, "negative", 0),
    ]


def test_history_uses_only_the_past():
    h = mrd_history(HAND, [364, 365]).filter(pl.col("patient_id") == "A")
    assert h.get_column("last_status").to_list() == ["negative", "positive"]
    assert h.get_column("lost_negativity").to_list() == [0, 1]
    assert h.get_column("n_evaluable").to_list() == [1, 2]


def test_patient_without_evaluable_result_is_unknown():
    c = _cohort([("A", 400, "negative")], [("A", None, None, 1000)])
    h = mrd_history(c, [0, 400])
    assert h.get_column("last_status").to_list() == ["unknown", "negative"]
    assert h.get_column("mrd_unknown").to_list() == [1, 0]


@settings(max_examples=60, deadline=None)
@given(
    later=st.lists(
        st.tuples(st.integers(366, 2000), st.sampled_from(["negative", "positive"])),
        max_size=4,
        unique_by=lambda t: t[0],
    )
)
def test_landmark_row_never_depends_on_later_assessments(later):
    base = [("A", 0, "negative"), ("A", 365, "positive")]
    c = _cohort(base + [("A", d, r) for d, r in later], [("A", None, None, 2500)])
    row = landmark_stack(c, landmarks=[365], window=730).drop("n_evaluable")
    ref = landmark_stack(_cohort(base, [("A", None, None, 2500)]), landmarks=[365], window=730)
    assert row.equals(ref.drop("n_evaluable"))
