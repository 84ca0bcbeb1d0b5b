"""Section 1: disposition (enrolled, evaluable, on treatment at cutoff, reasons off treatment),
a CONSORT-style flow, and the records excluded at validation with their reasons."""

from __future__ import annotations

import polars as pl

from mrdtrack.report import figures
from mrdtrack.report.fmt import n_pct
from mrdtrack.report.labels import label
from mrdtrack.report.sections._base import Context, Figure, Section, SectionResult, Table


def evaluable_ids(ctx: Context) -> pl.Series:
    """Patients evaluable for PFS: completed at least ``min_cycles`` maintenance cycles.

    When no cycle counts are recorded at all, every enrolled patient is evaluable (stated).
    """
    p = ctx.cohort.patients
    k = ctx.config.evaluable_min_cycles
    if "cycles_completed" not in p.columns or p["cycles_completed"].null_count() == p.height:
        return p["patient_id"]
    return p.filter(pl.col("cycles_completed") >= k)["patient_id"]


def compute(ctx: Context, res: SectionResult) -> None:
    cohort = ctx.cohort
    p = cohort.patients.join(cohort.outcomes, on="patient_id", how="left")
    n = p.height
    k = ctx.config.evaluable_min_cycles
    evaluable = evaluable_ids(ctx)
    n_eval = evaluable.len()
    cycles_recorded = (
        "cycles_completed" in p.columns and p["cycles_completed"].null_count() < p.height
    )
    n_cycles_missing = int(p["cycles_completed"].null_count()) if cycles_recorded else n
    ongoing = pl.col("treatment_end_day").is_null() | (
        pl.col("treatment_end_day") > pl.col("cutoff_day")
    )
    n_on = p.filter(ongoing).height
    off = p.filter(~ongoing)
    reasons = (
        off.with_columns(pl.col("treatment_end_reason").fill_null("not recorded"))
        .group_by("treatment_end_reason")
        .agg(pl.len().alias("n"))
        .sort(["n", "treatment_end_reason"], descending=[True, False])
        .with_columns((pl.col("n") / n).alias("fraction"))
        .rename({"treatment_end_reason": "reason"})
    )
    n_prog = p.filter(pl.col("progression_day").is_not_null()).height
    n_death = p.filter(pl.col("death_day").is_not_null()).height

    res.values.update(
        {
            "enrolled": n,
            "evaluable_pfs": n_eval,
            "not_evaluable_pfs": n - n_eval,
            "evaluable_rule": f"completed >= {k} cycles" if cycles_recorded else "all enrolled",
            "cycles_not_recorded": n_cycles_missing if cycles_recorded else None,
            "on_treatment_at_cutoff": n_on,
            "off_treatment": off.height,
            "progressions": n_prog,
            "deaths": n_death,
            "records_excluded": cohort.exclusions.height,
        }
    )
    res.highlights += [
        ("Enrolled", f"{n}"),
        ("Evaluable for PFS", n_pct(n_eval, n)),
        ("On treatment at data cutoff", n_pct(n_on, n)),
        ("Records excluded at validation", f"{cohort.exclusions.height}"),
    ]
    if cycles_recorded:
        res.paragraphs.append(
            f"Patients who completed at least {k} maintenance cycles are evaluable for PFS "
            f"(protocol rule of the founding study); {n - n_eval} are not"
            + (f", of whom {n_cycles_missing} have no cycle count." if n_cycles_missing else ".")
        )
    else:
        res.paragraphs.append("No cycle counts recorded: every enrolled patient is evaluable.")
    res.tables.append(
        Table.from_frame(
            "off_treatment_reasons",
            "Reasons off treatment (% of enrolled)",
            reasons,
            {"reason": ("Reason", "text"), "n": ("n", "int"), "fraction": ("%", "pct")},
        )
    )
    excl = cohort.exclusions
    if excl.height:
        summary = (
            excl.group_by("table", "rule", "reason")
            .agg(pl.len().alias("records"))
            .sort(["table", "rule", "reason"])
            .with_columns(
                pl.col("table").map_elements(label, return_dtype=pl.String),
                pl.col("rule").map_elements(label, return_dtype=pl.String),
            )
        )
        res.tables.append(
            Table.from_frame(
                "exclusions",
                "Records excluded at validation, by table and rule",
                summary,
                {
                    "table": ("Table", "text"),
                    "rule": ("Rule", "text"),
                    "reason": ("Reason", "text"),
                    "records": ("Records", "int"),
                },
            )
        )
    else:
        res.notes.append("No record was excluded at validation.")

    flow = consort_counts(ctx)
    res.values["consort"] = flow
    figures.save(figures.consort(flow), ctx.figures_dir, "disposition_flow")
    res.figures.append(
        Figure(
            "disposition_flow",
            "Patient flow (CONSORT style). Reasons are the recorded reasons for ending "
            "treatment; treatment status at the data cutoff is shown for the evaluable patients. "
            "Safety analyses use all enrolled patients.",
            f"Flow chart: {n} enrolled, {n_eval} evaluable for PFS, {flow['not_evaluable']} not "
            f"evaluable, {flow['evaluable_on']} evaluable patients on treatment at cutoff.",
        )
    )


def _reason_counts(frame: pl.DataFrame) -> dict[str, int]:
    r = (
        frame.with_columns(pl.col("treatment_end_reason").fill_null("reason not recorded"))
        .group_by("treatment_end_reason")
        .agg(pl.len().alias("n"))
        .sort(["n", "treatment_end_reason"], descending=[True, False])
    )
    return {str(k): int(v) for k, v in r.iter_rows()}


def consort_counts(ctx: Context) -> dict:
    """The CONSORT flow as counts, reasons taken from the data (``treatment_end_reason``):
    enrolled; not evaluable (with reasons); evaluable; of the evaluable, on / off treatment at
    the data cutoff (with reasons). Every count is of a box's own patients, so children add up
    to their parent."""
    p = ctx.cohort.patients.join(ctx.cohort.outcomes, on="patient_id", how="left")
    ev_ids = evaluable_ids(ctx)
    ev = p.filter(pl.col("patient_id").is_in(ev_ids.implode()))
    not_ev = p.filter(~pl.col("patient_id").is_in(ev_ids.implode()))
    ongoing = pl.col("treatment_end_day").is_null() | (
        pl.col("treatment_end_day") > pl.col("cutoff_day")
    )
    k = ctx.config.evaluable_min_cycles
    return {
        "enrolled": p.height,
        "evaluable": ev.height,
        "not_evaluable": not_ev.height,
        "rule_short": f"fewer than {k} cycles completed",
        "not_evaluable_reasons": _reason_counts(not_ev) if not_ev.height else {},
        "evaluable_on": ev.filter(ongoing).height,
        "evaluable_off": ev.filter(~ongoing).height,
        "evaluable_off_reasons": _reason_counts(ev.filter(~ongoing)),
    }


SECTION = Section(
    key="disposition",
    title="Disposition",
    compute=compute,
)
