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


def _ae_soc(rows):
    cols = ["patient_id", "decod", "body_system", "grade", "serious", "related"]
    df = pl.DataFrame(
        [dict(zip(cols, r, strict=True)) for r in rows],
        schema={c: TABLES["adverse_events"].polars_schema[c] for c in cols},
    )
    return df.with_columns(pl.col("decod").alias("term"), pl.lit(None, pl.Int64).alias("onset_day"))


AE_SOC = [
    ("1", "Anemia", "Blood", 2, False, True),
    ("1", "Anemia", "Blood", 4, True, True),  # same patient, same PT: counted once, grade 4
    ("2", "Anemia", "Blood", 1, False, False),
    ("2", "Fatigue", "General", 1, False, False),
    ("3", "Fatigue", "General", 2, False, None),
    ("3", "Sepsis", "Infections", 5, True, False),
    ("4", "Nausea", None, None, False, False),
]


def test_aet02_counts_patients_once_and_sorts_by_frequency():
    from mrdtrack.report.sections._safety import NO_SOC, soc_pt_counts

    rows = soc_pt_counts(_ae_soc(AE_SOC), 10)
    assert rows[0]["patients"] == 4 and rows[0]["events"] == 7
    socs = [r["label"] for r in rows if r["level"] == "soc"]
    # Blood 2 patients, General 2 (tie: alphabetical), Infections 1, no SOC 1
    assert socs == ["Blood", "General", "Infections", NO_SOC]
    anemia = next(r for r in rows if r["label"] == "Anemia")
    assert (anemia["patients"], anemia["events"], anemia["shown"]) == (2, 3, "2 (20.0%)")


def test_aet04_counts_each_patient_at_the_highest_grade():
    from mrdtrack.report.sections._safety import grade_groups

    rows = {(r["level"], r["label"]): r for r in grade_groups(_ae_soc(AE_SOC), 10)}
    a = rows[("pt", "Anemia")]
    assert (a["any"], a["Grade 1–2"], a["Grade 3–4"], a["Grade 5"]) == (2, 1, 1, 0)
    total = rows[("total", "Any adverse event")]
    # patient 1 worst 4, 2 worst 1, 3 worst 5, 4 grade missing (any grade only)
    assert (total["any"], total["Grade 1–2"], total["Grade 3–4"], total["Grade 5"]) == (4, 1, 1, 1)
    assert total["missing"] == 1


def test_aet01_says_not_collected_rather_than_zero():
    from mrdtrack.report.sections._safety import overall_summary

    rows = {r["label"].strip(): r for r in overall_summary(_ae_soc(AE_SOC), 10, 1, None)}
    assert rows["Serious AE"]["shown"] == "2 (20.0%)"
    assert rows["AE with fatal outcome (grade 5)"]["value"] == 1
    assert rows["Related serious AE"]["value"] == 1
    assert rows["AE leading to withdrawal from treatment"]["shown"] == "not collected"


def test_demo_safety_tables(demo_report):
    s = demo_report.results["sections"]["safety"]
    for name in ("aet01", "aet02", "aet02_related", "aet02_serious", "aet04", "exposure"):
        assert name in s["tables"], name
    aet04 = {r["label"]: r for r in s["values"]["aet04"]}
    assert aet04["Lymphocyte count decreased"]["Grade 3–4"] == 48
    assert aet04["Any adverse event"]["Grade 5"] == 1
    assert s["values"]["exposure"]["n"] == 108
