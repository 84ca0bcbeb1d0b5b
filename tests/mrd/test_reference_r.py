"""Equality with R on the constructed study of tests/reference/mrd (survival::tmerge, an
independent R statement of the class rules, and the landmark subset)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from mrdtrack.cohort import Cohort
from mrdtrack.mrd import classify_trajectories, landmark_data, time_dependent_data

REF = Path(__file__).parents[1] / "reference" / "mrd"


def _reference_cohort() -> Cohort:
    ids = {"patient_id": pl.String}
    patients = pl.read_csv(REF / "study_patients.csv", schema_overrides=ids)
    outcomes = pl.read_csv(
        REF / "study_outcomes.csv",
        schema_overrides={**ids, "progression_day": pl.Int64, "death_day": pl.Int64},
    )
    mrd = pl.read_csv(
        REF / "study_mrd.csv",
        schema_overrides={**ids, "sensitivity": pl.Float64, "adequate": pl.Boolean},
    )
    aes = pl.DataFrame(schema={"patient_id": pl.String, "term": pl.String})
    return Cohort(patients=patients, mrd=mrd, outcomes=outcomes, adverse_events=aes)


@pytest.mark.parametrize("lag", [0, 30])
def test_equals_r_tmerge(lag):
    r = pl.read_csv(
        REF / f"tmerge_lag{lag}.csv",
        schema_overrides={
            "patient_id": pl.String,
            "mrd_positive": pl.Int64,
            "mrd_class": pl.String,
        },
    )
    ours = time_dependent_data(_reference_cohort(), lag=lag).table()
    got = ours.select(
        "patient_id",
        pl.col("start").cast(pl.Int64).alias("tstart"),
        pl.col("stop").cast(pl.Int64).alias("tstop"),
        pl.col("event").cast(pl.Int64).alias("pfs"),
        "mrd_positive",
        "mrd_class",
    )
    want = r.select(
        "patient_id",
        pl.col("tstart").cast(pl.Int64),
        pl.col("tstop").cast(pl.Int64),
        pl.col("pfs").cast(pl.Int64),
        "mrd_positive",
        "mrd_class",
    )
    assert got.height == want.height
    assert got.equals(want)


@pytest.mark.parametrize("window_end", [None, 730])
def test_classes_equal_independent_r_statement(window_end):
    r = pl.read_csv(
        REF / "classes_reference.csv",
        schema_overrides={"patient_id": pl.String, "window_end": pl.Int64, "known_day": pl.Int64},
    )
    r = r.filter(
        pl.col("window_end").is_null() if window_end is None else pl.col("window_end") == window_end
    )
    ours = classify_trajectories(_reference_cohort(), window_end=window_end).table()
    cols = ["patient_id", "mrd_class", "known_day", "n_evaluable"]
    assert ours.select(cols).equals(
        r.select(cols).with_columns(pl.col("n_evaluable").cast(pl.Int64))
    )


def test_landmark_equals_r_subset():
    r = pl.read_csv(REF / "landmark_reference.csv", schema_overrides={"patient_id": pl.String})
    ours = landmark_data(_reference_cohort(), at="24m").table()
    assert ours.select("patient_id", pl.col("time").cast(pl.Int64), "event", "mrd_class").equals(
        r.select(
            "patient_id", pl.col("time").cast(pl.Int64), pl.col("event").cast(pl.Int64), "mrd_class"
        )
    )
