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
from mrdtrack.report.fmt import p_value
from mrdtrack.report.sections import _mrd, _surv, disposition
from mrdtrack.report.sections._base import (
    Context,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
    need,
)


def compute(ctx: Context, res: SectionResult) -> None:
    cfg = ctx.config
    time_dependent_data = need("mrdtrack.mrd:time_dependent_data")
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
    pt = (
        d.group_by("mrd_status")
        .agg(
            (pl.col("stop") - pl.col("start")).sum().alias("person_time"),
            pl.col("event").sum().cast(pl.Int64).alias("events"),
            pl.col("patient_id").n_unique().alias("patients"),
        )
        .with_columns((pl.col("events") / pl.col("person_time")).alias("rate"))
        .sort("mrd_status")
    )
    cox = need("mrdtrack.survival:cox_ph")
    common = {
        "rows": d.height,
        "patients": d["patient_id"].n_unique(),
        "rows_without_status": unknown.height,
        "events_without_status": int(unknown["event"].sum()),
        "lag_days": 0,
        "person_time": {
            r["mrd_status"]: {
                "person_time": r["person_time"],
                "events": r["events"],
                "patients": r["patients"],
            }
            for r in pt.to_dicts()
        },
    }
    try:
        fit = cox(
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
                f"{hr['display']}; LRT p = {p_value(p_lrt)}",
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
            f"Person-time ({unit}) and PFS events by current MRD status",
            pt.with_columns(
                pl.col("mrd_status").replace_strict(
                    _mrd.STATUS_LABELS, default=pl.col("mrd_status")
                )
            ),
            {
                "mrd_status": ("Current status", "text"),
                "patients": ("Patients", "int"),
                "person_time": (f"Person-time ({unit})", "f1"),
                "events": ("Events", "int"),
                "rate": (f"Events per {unit[:-1]}", "f4"),
            },
        )
    )


SECTION = Section(
    key="timedep",
    title="Time-dependent MRD",
    requires=("mrdtrack.mrd:time_dependent_data", "mrdtrack.survival:cox_ph"),
    compute=compute,
)
