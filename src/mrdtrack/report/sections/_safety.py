"""Safety tables in the pharmaverse tern shells (AET01, AET02, AET04), as pure functions.

Counting rules (tern / FDA safety tables): a patient is counted once per row — once per system
organ class (SOC) and once per preferred term (PT) — and, in grade tables, once at the HIGHEST
grade recorded for that row; percentages are of the safety population N (all enrolled). Rows
are sorted as the shells sort them: SOCs by decreasing number of patients, PTs within a SOC by
decreasing number of patients, ties alphabetically (tern ``sort_at_path_to(..., cont_n_allcols)``).
A record without SOC is shown under "SOC not recorded"; a missing grade counts under "any
grade" only. Nothing here estimates anything: counts and percentages of records.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mrdtrack.report.fmt import n_pct

NO_SOC = "SOC not recorded"
#: AET04 grade groups (CTCAE): label -> grades
GRADE_GROUPS = (("Grade 1–2", (1, 2)), ("Grade 3–4", (3, 4)), ("Grade 5", (5,)))


def _prepare(ae: pl.DataFrame) -> pl.DataFrame:
    return ae.with_columns(
        pl.coalesce("decod", "term").alias("pt"),
        pl.col("body_system").fill_null(NO_SOC).alias("soc"),
    )


def soc_pt_counts(ae: pl.DataFrame, n: int) -> list[dict[str, Any]]:
    """AET02 rows: overall, then each SOC and its PTs — patients n (%) and number of events."""
    a = _prepare(ae)
    rows: list[dict[str, Any]] = [
        {
            "level": "total",
            "soc": "",
            "label": "Total number of patients with at least one adverse event",
            "patients": a["patient_id"].n_unique(),
            "events": a.height,
        }
    ]
    socs = (
        a.group_by("soc")
        .agg(pl.col("patient_id").n_unique().alias("patients"), pl.len().alias("events"))
        .sort(["patients", "soc"], descending=[True, False])
    )
    for s in socs.to_dicts():
        rows.append({"level": "soc", "soc": s["soc"], "label": s["soc"], **_pe(s)})
        pts = (
            a.filter(pl.col("soc") == s["soc"])
            .group_by("pt")
            .agg(pl.col("patient_id").n_unique().alias("patients"), pl.len().alias("events"))
            .sort(["patients", "pt"], descending=[True, False])
        )
        for p in pts.to_dicts():
            rows.append({"level": "pt", "soc": s["soc"], "label": p["pt"], **_pe(p)})
    for r in rows:
        r["fraction"] = r["patients"] / n if n else None
        r["shown"] = n_pct(r["patients"], n)
    return rows


def _pe(r: dict[str, Any]) -> dict[str, Any]:
    return {"patients": int(r["patients"]), "events": int(r["events"])}


def grade_groups(ae: pl.DataFrame, n: int) -> list[dict[str, Any]]:
    """AET04 rows (grade groups as columns): per SOC and PT, patients at their highest grade
    in the row, by grade group; ``any`` counts patients whatever the grade (missing included)."""
    a = _prepare(ae)
    out: list[dict[str, Any]] = []

    def counts(sub: pl.DataFrame) -> dict[str, Any]:
        worst = sub.group_by("patient_id").agg(pl.col("grade").max().alias("g"))
        r: dict[str, Any] = {"any": worst.height}
        for label, grades in GRADE_GROUPS:
            r[label] = int(worst["g"].is_in(list(grades)).sum())
        r["missing"] = int(worst["g"].is_null().sum())
        return r

    overall = {"level": "total", "soc": "", "label": "Any adverse event", **counts(a)}
    out.append(overall)
    for row in soc_pt_counts(ae, n)[1:]:
        sub = a.filter(pl.col("soc") == row["soc"])
        if row["level"] == "pt":
            sub = sub.filter(pl.col("pt") == row["label"])
        out.append({"level": row["level"], "soc": row["soc"], "label": row["label"], **counts(sub)})
    for r in out:
        r["shown"] = {k: n_pct(r[k], n) for k in ("any", *(g for g, _ in GRADE_GROUPS))}
    return out


def overall_summary(
    ae: pl.DataFrame, n: int, deaths: int, discontinued_ae: int | None
) -> list[dict[str, Any]]:
    """AET01 rows: patients with at least one AE of each kind, n (%) of N; rows whose data are
    not collected say so instead of showing 0."""
    a = _prepare(ae)

    def pts(expr: pl.Expr | None = None) -> int:
        sub = a if expr is None else a.filter(expr)
        return sub["patient_id"].n_unique()

    serious = pl.col("serious").fill_null(False)
    related = pl.col("related").fill_null(False)
    has_related = ae["related"].null_count() < ae.height if ae.height else False
    rows = [
        ("Total number of patients with at least one AE", pts()),
        ("Total number of AEs", a.height),
        ("Total number of deaths", deaths),
        (
            "Total number of patients withdrawn from study treatment due to an AE",
            discontinued_ae,
        ),
        ("Total number of patients with at least one", None),
        ("    AE with fatal outcome (grade 5)", pts(pl.col("grade") == 5)),
        ("    Serious AE", pts(serious)),
        ("    Serious AE leading to withdrawal from treatment", "not collected"),
        ("    Serious AE leading to dose modification/interruption", "not collected"),
        ("    Related serious AE", pts(serious & related) if has_related else "not collected"),
        ("    AE leading to withdrawal from treatment", "not collected"),
        ("    AE leading to dose modification/interruption", "not collected"),
        ("    Related AE", pts(related) if has_related else "not collected"),
        ("    Grade 3–5 AE", pts(pl.col("grade") >= 3)),
        ("    Grade 4 or 5 AE", pts(pl.col("grade") >= 4)),
    ]
    out = []
    for label, v in rows:
        if isinstance(v, int) and label != "Total number of AEs":
            shown = n_pct(v, n)
        else:
            shown = "" if v is None else str(v)
        out.append({"label": label, "value": v, "shown": shown})
    return out


def exposure(patients: pl.DataFrame, outcomes: pl.DataFrame, days_per_month: float) -> dict:
    """Exposure to study treatment: cycles completed, duration of treatment (day 0 to the end
    of treatment or the data cutoff), total patient-years and duration categories."""
    p = patients.join(outcomes, on="patient_id", how="left").with_columns(
        pl.min_horizontal(
            pl.coalesce("treatment_end_day", "cutoff_day"), pl.col("cutoff_day")
        ).alias("_end")
    )
    months = (p["_end"].cast(pl.Float64) / days_per_month).drop_nulls()
    out: dict[str, Any] = {
        "n": p.height,
        "duration_months": {
            "median": float(months.median()),
            "min": float(months.min()),
            "max": float(months.max()),
        },
        "patient_years": float(p["_end"].sum() / 365.25),
    }
    if "cycles_completed" in p.columns and p["cycles_completed"].null_count() < p.height:
        c = p["cycles_completed"].drop_nulls()
        out["cycles"] = {
            "median": float(c.median()),
            "min": int(c.min()),
            "max": int(c.max()),
            "missing": int(p["cycles_completed"].null_count()),
        }
    cats = (
        ("< 12 months", 0, 12),
        ("12 to < 24 months", 12, 24),
        ("24 to < 36 months", 24, 36),
        ("≥ 36 months", 36, float("inf")),
    )
    out["duration_categories"] = {
        lab: int(((months >= lo) & (months < hi)).sum()) for lab, lo, hi in cats
    }
    return out
