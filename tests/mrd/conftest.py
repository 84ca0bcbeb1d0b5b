"""Hand-built cohorts for the MRD tests (Cohort built directly, no validation)."""

from __future__ import annotations

import polars as pl
import pytest

from mrdtrack.cohort import Cohort

MRD_SCHEMA = {
    "patient_id": pl.String,
    "day": pl.Int64,
    "visit": pl.String,
    "method": pl.String,
    "specimen": pl.String,
    "sensitivity": pl.Float64,
    "result": pl.String,
    "clonal_fraction": pl.Float64,
    "adequate": pl.Boolean,
}


def mrd_rows(rows: list[dict]) -> pl.DataFrame:
    """MRD frame from partial dicts: NGF marrow at 1e-5 unless said otherwise."""
    full = []
    for r in rows:
        d = {
            "visit": None,
            "method": "NGF",
            "specimen": "bone_marrow",
            "sensitivity": 1e-5,
            "clonal_fraction": None,
            "adequate": True,
        }
        d.update(r)
        full.append(d)
    return pl.DataFrame(full, schema=MRD_SCHEMA)


def build_cohort(
    sequences: dict[str, list[tuple[int, str]]],
    *,
    progression: dict[str, int] | None = None,
    death: dict[str, int] | None = None,
    last_contact: dict[str, int] | None = None,
    cutoff: int = 2500,
    treatment_end: dict[str, int] | None = None,
    extra_mrd: list[dict] | None = None,
) -> Cohort:
    """A Cohort from ``{patient: [(day, result), ...]}`` (NGF, 1e-5, adequate)."""
    progression = progression or {}
    death = death or {}
    last_contact = last_contact or {}
    treatment_end = treatment_end or {}
    ids = sorted(sequences)
    rows = [{"patient_id": p, "day": d, "result": r} for p in ids for d, r in sequences[p]] + (
        extra_mrd or []
    )
    mrd = mrd_rows(rows)
    patients = pl.DataFrame(
        {"patient_id": ids, "cutoff_day": [cutoff] * len(ids)},
        schema={"patient_id": pl.String, "cutoff_day": pl.Int64},
    )
    outcomes = pl.DataFrame(
        {
            "patient_id": ids,
            "progression_day": [progression.get(p) for p in ids],
            "death_day": [death.get(p) for p in ids],
            "last_contact_day": [
                last_contact.get(p, min(progression.get(p, cutoff), death.get(p, cutoff)))
                for p in ids
            ],
            "treatment_end_day": [treatment_end.get(p) for p in ids],
        },
        schema={
            "patient_id": pl.String,
            "progression_day": pl.Int64,
            "death_day": pl.Int64,
            "last_contact_day": pl.Int64,
            "treatment_end_day": pl.Int64,
        },
    )
    aes = pl.DataFrame(schema={"patient_id": pl.String, "term": pl.String})
    return Cohort(patients=patients, mrd=mrd, outcomes=outcomes, adverse_events=aes)


@pytest.fixture
def make_cohort():
    return build_cohort


@pytest.fixture
def make_mrd():
    return mrd_rows
