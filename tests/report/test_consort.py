"""CONSORT flow: counts add up box by box and reasons come from the data."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from mrdtrack.report.build import load_study
from mrdtrack.report.config import ReportConfig
from mrdtrack.report.sections import Context
from mrdtrack.report.sections.disposition import consort_counts


def _flow(cohort):
    return consort_counts(Context(cohort=cohort, config=ReportConfig(), figures_dir=Path(".")))


def test_demo_flow_reasons_from_the_data_and_children_add_up():
    f = _flow(load_study(None))
    assert (f["enrolled"], f["evaluable"], f["not_evaluable"]) == (108, 100, 8)
    assert f["not_evaluable_reasons"] == {
        "withdrawal before cycle 5": 2,
        "lost to follow-up": 2,
        "progression": 4,
    }
    assert f["evaluable"] + f["not_evaluable"] == f["enrolled"]
    assert f["evaluable_on"] + f["evaluable_off"] == f["evaluable"]
    assert sum(f["evaluable_off_reasons"].values()) == f["evaluable_off"]
    assert f["evaluable_on"] == 62


def test_a_changed_reason_changes_the_flow():
    import dataclasses

    c = load_study(None)
    first = c.patients.filter(pl.col("cycles_completed") < 4)["patient_id"][0]
    o = c.outcomes.with_columns(
        pl.when(pl.col("patient_id") == first)
        .then(pl.lit("physician decision"))
        .otherwise(pl.col("treatment_end_reason"))
        .alias("treatment_end_reason")
    )
    f = _flow(dataclasses.replace(c, outcomes=o))
    assert f["not_evaluable_reasons"].get("physician decision") == 1
    assert sum(f["not_evaluable_reasons"].values()) == 8
