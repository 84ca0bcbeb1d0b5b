"""Section 8: MRD as a time-dependent covariate in Cox.

Time-dependent Cox: (start, stop] rows from `mrdtrack.mrd.time_dependent_data` (R ``tmerge``)
with the current MRD status carried forward from each evaluable assessment; the HR compares
current MRD+ with current MRD− without guarantee-time bias (R ``coxph(Surv(start, stop, event)
~ mrd_positive)``). Rows before a patient's first evaluable assessment have no status and are
left out (counted). The multi-state model of MRD dynamics is its own section
(`mrdtrack.report.sections.multistate`).
"""

from __future__ import annotations

import polars as pl

from mrdtrack.errors import EstimationError
from mrdtrack.mrd import time_dependent_data
from mrdtrack.report.fmt import RATE_PER_PATIENT_YEARS, p_text
from mrdtrack.report.sections import _mrd, _surv, disposition
from mrdtrack.report.sections._base import (
    Context,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)
from mrdtrack.survival import cox_ph

#: person-time in the report's unit -> years (1 year = 365.25 days = 12 months of 30.4375 days)
_YEARS_PER_UNIT = {"days": 1 / 365.25, "weeks": 7 / 365.25, "months": 1 / 12, "years": 1.0}


def compute(ctx: Context, res: SectionResult) -> None:
    cfg = ctx.config
    tdd = time_dependent_data(
        ctx.cohort,
        lag=0,
        threshold=cfg.mrd_threshold,
        unit=cfg.time_unit,
        methods=cfg.mrd_methods or None,
    )
    evaluable = disposition.evaluable_ids(ctx).implode()
    d = tdd.data.filter(pl.col("patient_id").is_in(evaluable))
    unknown = d.filter(pl.col("mrd_status").is_null())
    d = d.filter(pl.col("mrd_status").is_not_null())
    if d.height == 0 or d["mrd_status"].n_unique() < 2:
        raise SectionSkipped("MRD status does not vary: a time-dependent comparison needs both")
    unit = cfg.time_unit
    if unit not in _YEARS_PER_UNIT:
        raise SectionSkipped(f"unknown time unit {unit!r}")
    pt = (
        d.group_by("mrd_status")
        .agg(
            (pl.col("stop") - pl.col("start")).sum().alias("person_time"),
            pl.col("event").sum().cast(pl.Int64).alias("events"),
            pl.col("patient_id").n_unique().alias("patients"),
        )
        .with_columns(
            (pl.col("person_time") * _YEARS_PER_UNIT[unit]).alias("person_years"),
        )
        .with_columns(
            (RATE_PER_PATIENT_YEARS * pl.col("events") / pl.col("person_years")).alias("rate")
        )
        .sort("mrd_status")
    )
    common = {
        "rows": d.height,
        "patients": d["patient_id"].n_unique(),
        "rows_without_status": unknown.height,
        "events_without_status": int(unknown["event"].sum()),
        "lag_days": 0,
        "person_time": {
            r["mrd_status"]: {
                "person_time": r["person_time"],
                "person_years": r["person_years"],
                "rate_per_100_patient_years": r["rate"],
                "events": r["events"],
                "patients": r["patients"],
            }
            for r in pt.to_dicts()
        },
    }
    try:
        fit = cox_ph(
            d.with_columns(pl.col("mrd_positive").cast(pl.Float64)),
            "stop",
            "event",
            ["mrd_positive"],
            start="start",
            ties=cfg.ties,
        )
    except EstimationError as e:
        res.values["time_dependent_cox"] = {**common, "status": f"not estimable: {e}"}
        res.highlights.append(
            ("HR current MRD+ vs MRD− (time-dependent Cox)", f"not estimable: {e}")
        )
    else:
        hr = _surv.hr_values(fit, cfg.conf_level)
        p_lrt = hr["tests"]["likelihood_ratio"]["p"]
        res.values["time_dependent_cox"] = {**common, "status": "ok", **hr}
        res.highlights.append(
            (
                "HR current MRD+ vs MRD− (time-dependent Cox)",
                f"{hr['display']}; likelihood-ratio {p_text(p_lrt)}",
            )
        )
    res.paragraphs.append(
        f"Follow-up of {d['patient_id'].n_unique()} patients evaluable for PFS split at each "
        f"evaluable MRD assessment into {d.height} (start, stop] intervals carrying the current "
        f"status forward ({unknown.height} intervals before a first evaluable assessment, with "
        f"{int(unknown['event'].sum())} events, have no status and are left out)."
    )
    res.tables.append(
        Table.from_frame(
            "td_person_time",
            "Patient-years and PFS events by current MRD status (crude rates)",
            pt.with_columns(
                pl.col("mrd_status").replace_strict(
                    _mrd.status_labels(ctx), default=pl.col("mrd_status")
                )
            ),
            {
                "mrd_status": ("Current status", "text"),
                "patients": ("Patients", "int"),
                "person_years": ("Patient-years", "f1"),
                "events": ("Events", "int"),
                "rate": (f"Events per {RATE_PER_PATIENT_YEARS} patient-years", "f1"),
            },
        )
    )
    simon_makuch(ctx, res, d)


def simon_makuch(ctx: Context, res: SectionResult, d: pl.DataFrame) -> None:
    """Simon-Makuch plot (Simon & Makuch, Stat Med 1984): Kaplan-Meier by CURRENT MRD status
    with delayed entry — a patient contributes to a curve only while in that status — from the
    same (start, stop] rows as the time-dependent Cox model; R ``survfit(Surv(start, stop,
    event) ~ mrd_status)``. The picture that goes with the time-dependent HR."""
    sm = d.select(
        "patient_id", "start", pl.col("stop").alias("time"), "event", "mrd_status"
    ).with_columns(pl.col("mrd_status").cast(pl.String))
    groups = [g for g in ("negative", "positive") if g in sm["mrd_status"].to_list()]
    per = _surv.km_section(
        ctx,
        res,
        sm.filter(pl.col("mrd_status").is_in(groups)),
        name="td_simon_makuch",
        by="mrd_status",
        order=groups,
        labels={g: _mrd.status_labels(ctx)[g] for g in groups},
        title="PFS by current MRD status (Simon-Makuch)",
        annotation=None,
        entry="start",
        interval_counts=False,  # a change of status ends a row: not a censoring to show
        caption="PFS by current MRD status (Simon-Makuch): Kaplan-Meier with delayed entry, a "
        "patient counting under MRD− or MRD+ only while in that status (the time-dependent Cox "
        f"model's data); {int(100 * ctx.config.conf_level)}% CI, + = censored; n = patients "
        "ever in the status; numbers at risk at each time.",
    )
    km = _surv.kaplan_meier(
        ctx, sm.filter(pl.col("mrd_status").is_in(groups)), "mrd_status", "start"
    )
    at = _surv.survival_at(km, list(ctx.config.pfs_times), "mrd_status")
    for r in at.to_dicts():
        per[r["group"]]["at"] = per[r["group"]].get("at", {}) | {
            f"{r['time']:g}": {k: _surv._f(r[k]) for k in ("surv", "lower", "upper", "n_risk")}
        }
    res.values["simon_makuch"] = per


SECTION = Section(
    key="timedep",
    title="Time-dependent MRD",
    compute=compute,
)
