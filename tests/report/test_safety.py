"""AE table rules: once per patient and term at the highest grade; missing grades kept."""

from __future__ import annotations

import polars as pl

from mrdtrack.report.sections.safety import ae_table
from mrdtrack.schema import TABLES


def _ae(rows):
    cols = ["patient_id", "term", "decod", "grade", "serious"]
    return pl.DataFrame(
        [dict(zip(cols, r, strict=True)) for r in rows],
        schema={c: TABLES["adverse_events"].polars_schema[c] for c in cols},
    ).with_columns(
        pl.lit(None, pl.String).alias("body_system"),
        pl.lit(None, pl.Int64).alias("onset_day"),
        pl.lit(None, pl.Boolean).alias("related"),
    )


def test_each_patient_once_per_term_at_highest_grade():
    ae = _ae(
        [
            ("1", "neutropenia", "Neutrophil count decreased", 2, False),
            ("1", "low ANC", "Neutrophil count decreased", 4, True),
            ("2", "ANC low", "Neutrophil count decreased", 1, False),
            ("2", "Fatigue", None, 3, False),
            ("3", "Fatigue", None, None, False),
            ("3", "Fatigue", None, 1, False),
            ("4", "Nausea", None, None, False),
        ]
    )
    t = {r["term"]: r for r in ae_table(ae, 10).to_dicts()}
    n = t["Neutrophil count decreased"]
    assert (n["any_n"], n["grade3plus_n"], n["serious_n"]) == (2, 1, 1)
    assert n["any_fraction"] == 0.2 and n["grade3plus_fraction"] == 0.1
    f = t["Fatigue"]  # verbatim term used when no preferred term
    assert (f["any_n"], f["grade3plus_n"], f["grade_missing_n"]) == (2, 1, 0)
    na = t["Nausea"]  # a missing grade counts under any grade, never as >= 3
    assert (na["any_n"], na["grade3plus_n"], na["grade_missing_n"]) == (1, 0, 1)
    # sorted by any-grade count, then grade >= 3, then term
    assert list(t) == ["Fatigue", "Neutrophil count decreased", "Nausea"]
