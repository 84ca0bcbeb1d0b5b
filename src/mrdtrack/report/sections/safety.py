"""Section 9: safety — serious AE rate, AEs by term and grade, deaths with cause and attribution.

AE counting (CONVENTIONS.md, as in FDA/CDISC safety tables): each patient is counted once per
preferred term (``decod``, else the verbatim ``term``) at the highest grade recorded for that
term; columns "any grade" and "grade >= 3" give patients and % of the safety population (all
enrolled patients, every one of whom started maintenance at day 0). Records with a missing grade
count towards "any grade" and are listed, never dropped; a patient whose only records of a term
lack a grade is not counted as grade >= 3.
"""

from __future__ import annotations

import polars as pl

from mrdtrack.report.fmt import n_pct, pct
from mrdtrack.report.sections import _safety
from mrdtrack.report.sections._base import (
    Column,
    Context,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)
from mrdtrack.report.sections._props import ci_text, clopper_pearson
from mrdtrack.schema import DAYS_PER_MONTH


def ae_table(adverse_events: pl.DataFrame, n_patients: int) -> pl.DataFrame:
    """Patients per preferred term: any grade and grade >= 3 (n and fraction), sorted.

    Sorted by any-grade count (descending), then grade >= 3 count, then term (for ties).
    """
    ae = adverse_events.with_columns(pl.coalesce("decod", "term").alias("_term"))
    per_patient = ae.group_by("_term", "patient_id").agg(
        pl.col("grade").max().alias("max_grade"),
        pl.col("grade").is_null().any().alias("any_missing_grade"),
        pl.col("serious").fill_null(False).any().alias("serious"),
    )
    out = (
        per_patient.group_by("_term")
        .agg(
            pl.len().alias("any_n"),
            (pl.col("max_grade") >= 3).sum().cast(pl.Int64).alias("grade3plus_n"),
            (pl.col("max_grade") == 5).sum().cast(pl.Int64).alias("grade5_n"),
            pl.col("serious").sum().cast(pl.Int64).alias("serious_n"),
            pl.col("max_grade").is_null().sum().cast(pl.Int64).alias("grade_missing_n"),
        )
        .with_columns(
            (pl.col("any_n") / n_patients).alias("any_fraction"),
            (pl.col("grade3plus_n") / n_patients).alias("grade3plus_fraction"),
        )
        .rename({"_term": "term"})
        .sort(["any_n", "grade3plus_n", "term"], descending=[True, True, False])
    )
    return out


def compute(ctx: Context, res: SectionResult) -> None:
    cohort = ctx.cohort
    n = cohort.n_patients
    ae = cohort.adverse_events
    if n == 0:
        raise SectionSkipped("no patients")
    if ae.height == 0:
        res.notes.append("No adverse event records in this study.")
    else:
        table = ae_table(ae, n)
        n_sae = ae.filter(pl.col("serious").fill_null(False))["patient_id"].n_unique()
        n_any = ae["patient_id"].n_unique()
        n_g3 = ae.filter(pl.col("grade") >= 3)["patient_id"].n_unique()
        missing = ae.filter(pl.col("grade").is_null())
        res.values.update(
            {
                "safety_population": n,
                "patients_with_any_ae": n_any,
                "patients_with_grade3plus_ae": n_g3,
                "patients_with_serious_ae": n_sae,
                "serious_ae_fraction": n_sae / n,
                "records": ae.height,
                "records_missing_grade": missing.height,
                "by_term": {
                    r["term"]: {
                        "any_n": r["any_n"],
                        "any_fraction": r["any_fraction"],
                        "grade3plus_n": r["grade3plus_n"],
                        "grade3plus_fraction": r["grade3plus_fraction"],
                    }
                    for r in table.to_dicts()
                },
            }
        )
        sae_ci = clopper_pearson(n_sae, n, ctx.config.conf_level)
        res.values["serious_ae_ci"] = {
            "lower": sae_ci[0],
            "upper": sae_ci[1],
            "method": "Clopper-Pearson",
        }
        res.highlights += [
            (
                f"Patients with a serious AE ({round(100 * ctx.config.conf_level)}% CI, "
                "Clopper-Pearson)",
                f"{n_pct(n_sae, n)}; {ci_text(*sae_ci)}%",
            ),
            ("Patients with a grade ≥3 AE", f"{n_pct(n_g3, n)}"),
        ]
        top3 = table.sort(["grade3plus_n", "term"], descending=[True, False]).head(3)
        for r in top3.to_dicts():
            if r["grade3plus_n"]:
                res.highlights.append(
                    (
                        f"Grade ≥3 {r['term']}",
                        f"{r['grade3plus_n']} ({pct(r['grade3plus_fraction'])})",
                    )
                )
        _shells(ctx, res, ae, n)
        if missing.height:
            listing = (
                missing.with_columns(pl.coalesce("decod", "term").alias("term_shown"))
                .group_by("term_shown")
                .agg(pl.len().alias("records"), pl.col("patient_id").n_unique().alias("patients"))
                .sort("term_shown")
            )
            res.tables.append(
                Table.from_frame(
                    "ae_missing_grade",
                    "Adverse event records with a missing grade (counted under any grade only)",
                    listing,
                    {
                        "term_shown": ("Term", "text"),
                        "records": ("Records", "int"),
                        "patients": ("Patients", "int"),
                    },
                )
            )
    _deaths(ctx, res)
    _exposure(ctx, res)
    res.notes.append(
        "Not collected in this study's data: action taken with study treatment (so AEs leading "
        "to withdrawal or to dose modification cannot be counted separately) and second "
        "primary malignancies (no AE is coded to the SOC 'Neoplasms benign, malignant and "
        "unspecified')."
    )


NBSP2 = "\u00a0\u00a0\u00a0\u00a0"  # indentation of a preferred term under its SOC


def _soc_rows(rows: list[dict]) -> tuple[dict, ...]:
    return tuple(
        {**r, "label": (NBSP2 + r["label"]) if r["level"] == "pt" else r["label"]} for r in rows
    )


def _shells(ctx: Context, res: SectionResult, ae: pl.DataFrame, n: int) -> None:
    """AET01, AET02 (all, related, serious) and AET04 tables (tern shells)."""
    p = ctx.cohort.outcomes
    reasons = p["treatment_end_reason"].drop_nulls()
    ae_reason = reasons.filter(reasons.str.contains("(?i)adverse"))
    disc: object = (
        f"{ae_reason.len()} (reason recorded as '{ae_reason[0]}')"
        if ae_reason.len() and ae_reason.n_unique() == 1
        else ae_reason.len()
    )
    o = ctx.cohort.outcomes.join(
        ctx.cohort.patients.select("patient_id", "cutoff_day"), on="patient_id"
    )
    n_deaths = o.filter(
        pl.col("death_day").is_not_null() & (pl.col("death_day") <= pl.col("cutoff_day"))
    ).height
    aet01 = _safety.overall_summary(ae, n, n_deaths, disc)  # type: ignore[arg-type]
    res.values["aet01"] = {r["label"].strip(): r["value"] for r in aet01}
    res.tables.append(
        Table(
            "aet01",
            f"Overall summary of adverse events (AET01); safety population N = {n}",
            (Column("label", "", "text"), Column("shown", f"All patients (N={n})", "text")),
            tuple({"label": r["label"].replace("    ", NBSP2), "shown": r["shown"]} for r in aet01),
            notes=(
                "Patients counted once per row; % of N. 'not collected': the data have no "
                "action-taken field.",
            ),
        )
    )
    cols = (
        Column("label", "System organ class / preferred term", "text"),
        Column("shown", f"Patients, n (%) (N={n})", "text"),
        Column("events", "Events", "int"),
    )
    for name, subset, title in (
        ("aet02", ae, "Adverse events by system organ class and preferred term (AET02)"),
        (
            "aet02_related",
            ae.filter(pl.col("related").fill_null(False)),
            "Adverse events related to study treatment, by SOC and preferred term",
        ),
        (
            "aet02_serious",
            ae.filter(pl.col("serious").fill_null(False)),
            "Serious adverse events by SOC and preferred term",
        ),
    ):
        if subset.height == 0:
            res.notes.append(f"{title}: none recorded.")
            continue
        rows = _safety.soc_pt_counts(subset, n)
        res.values[name] = [
            {k: r[k] for k in ("level", "soc", "label", "patients", "events", "fraction")}
            for r in rows
        ]
        res.tables.append(
            Table(
                name,
                f"{title}; safety population N = {n}",
                cols,
                _soc_rows(rows),
                notes=(
                    "A patient is counted once per SOC and once per preferred term; SOCs and "
                    "terms sorted by decreasing number of patients.",
                ),
            )
        )
    g = _safety.grade_groups(ae, n)
    res.values["aet04"] = [
        {k: r[k] for k in ("level", "soc", "label", "any", "missing")}
        | {gl: r[gl] for gl, _ in _safety.GRADE_GROUPS}
        for r in g
    ]
    res.tables.append(
        Table(
            "aet04",
            "Adverse events by SOC, preferred term and highest CTCAE grade (AET04, grade groups "
            f"as columns); patients n (% of N = {n})",
            (
                Column("label", "System organ class / preferred term", "text"),
                Column("any", "Any grade", "text"),
                *(Column(gl, gl, "text") for gl, _ in _safety.GRADE_GROUPS),
            ),
            tuple(
                {
                    "label": (NBSP2 + r["label"]) if r["level"] == "pt" else r["label"],
                    "any": r["shown"]["any"],
                    **{gl: r["shown"][gl] for gl, _ in _safety.GRADE_GROUPS},
                }
                for r in g
            ),
            notes=(
                "Each patient counted once per row at the highest grade recorded for that SOC "
                "or term; a patient whose records of a term lack a grade counts under 'any "
                "grade' only.",
            ),
        )
    )


def _exposure(ctx: Context, res: SectionResult) -> None:
    e = _safety.exposure(ctx.cohort.patients, ctx.cohort.outcomes, DAYS_PER_MONTH)
    res.values["exposure"] = e
    n = e["n"]
    rows = []
    if "cycles" in e:
        c = e["cycles"]
        rows.append(
            (
                "Cycles completed (28 days), median (range)",
                f"{c['median']:.0f} ({c['min']}–{c['max']})",
            )
        )
    d = e["duration_months"]
    rows += [
        (
            "Duration of treatment, months, median (range)",
            f"{d['median']:.1f} ({d['min']:.1f}–{d['max']:.1f})",
        ),
        ("Total exposure, patient-years", f"{e['patient_years']:.1f}"),
        ("Duration of treatment", ""),
    ]
    rows += [(NBSP2 + k, n_pct(v, n)) for k, v in e["duration_categories"].items()]
    res.tables.append(
        Table(
            "exposure",
            f"Exposure to study treatment; safety population N = {n}",
            (Column("label", "", "text"), Column("value", f"All patients (N={n})", "text")),
            tuple({"label": a, "value": b} for a, b in rows),
            notes=(
                "Duration from day 0 to the end of treatment, or the data cutoff if ongoing. "
                "Dose and dose intensity are not collected in these data.",
            ),
        )
    )


def _deaths(ctx: Context, res: SectionResult) -> None:
    """Deaths on study with cause and attribution (from a grade-5 AE's ``related`` flag)."""
    o = ctx.cohort.outcomes.join(
        ctx.cohort.patients.select("patient_id", "cutoff_day"), on="patient_id"
    )
    deaths = o.filter(
        pl.col("death_day").is_not_null() & (pl.col("death_day") <= pl.col("cutoff_day"))
    )
    g5 = (
        ctx.cohort.adverse_events.filter(pl.col("grade") == 5)
        .group_by("patient_id")
        .agg(pl.col("related").fill_null(False).any().alias("related"))
    )
    d = (
        deaths.join(g5, on="patient_id", how="left")
        .with_columns(
            (pl.col("death_day") / DAYS_PER_MONTH).alias("month"),
            (
                pl.col("progression_day").is_not_null()
                & (pl.col("progression_day") <= pl.col("death_day"))
            ).alias("after_progression"),
            pl.col("death_cause").fill_null("not recorded").alias("cause"),
            pl.when(pl.col("related").is_null())
            .then(pl.lit("not recorded"))
            .when(pl.col("related"))
            .then(pl.lit("related"))
            .otherwise(pl.lit("unrelated"))
            .alias("attribution"),
        )
        .sort("death_day", "cause")
    )
    res.values["deaths_on_study"] = d.height
    res.values["deaths_related"] = int((d["attribution"] == "related").sum())
    res.highlights.append(("Deaths on study", f"{d.height}"))
    if d.height:
        res.tables.append(
            Table.from_frame(
                "deaths",
                "Deaths on study: cause and attribution to study treatment",
                d,
                {
                    "month": ("Month of death", "f1"),
                    "cause": ("Cause", "text"),
                    "after_progression": ("After progression", "auto"),
                    "attribution": ("Attribution", "text"),
                },
                notes=(
                    "Attribution from the related flag of a grade-5 adverse event; "
                    "'not recorded' when the death has no grade-5 AE record.",
                ),
            )
        )


SECTION = Section(key="safety", title="Safety", compute=compute)
