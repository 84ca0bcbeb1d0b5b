"""Section 5: MRD over time — assessments and state prevalence by yearly visit, visit-to-visit
transitions, state prevalence figure, alluvial diagram and swimmer plot.

All from `mrdtrack.mrd.transitions` and `mrdtrack.mrd.figures` at the report's threshold:
nominal yearly visits (baseline = visit 0) with a ±90-day window; the state at a visit is the
call of the assessment closest to the nominal day, or progressed / died / follow-up ended /
not assessed (shown, not dropped). Prevalence is over all patients (intention to treat) with
the MRD-negative percentage among evaluable calls; transitions carry row percentages.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mrdtrack.mrd import transitions
from mrdtrack.mrd.figures import alluvial_plot, swimmer_plot
from mrdtrack.report import figures
from mrdtrack.report.fmt import share
from mrdtrack.report.labels import label
from mrdtrack.report.sections import _mrd
from mrdtrack.report.sections._base import (
    Context,
    Figure,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)
from mrdtrack.report.sections._props import ci_text, clopper_pearson

STATE_LABELS = {
    "negative": "MRD−",
    "positive": "MRD+",
    "not_evaluable": "Not evaluable",
    "missing": "Not assessed",
    "progressed": "Progressed",
    "died": "Died",
    "censored": "Follow-up ended",
}
MAX_SWIMMER_LANES = 150
#: width of the PDF's text block (16 cm) in inches: figures drawn at this width print at 100%
PRINT_WIDTH_IN = 16 / 2.54


def _visit_label(v: int) -> str:
    return "Baseline" if v == 0 else f"Year {v}"


def compute(ctx: Context, res: SectionResult) -> None:
    cfg = ctx.config
    if ctx.cohort.mrd.height == 0:
        raise SectionSkipped("no MRD assessment in this study")
    t = transitions(ctx.cohort, cfg.mrd_threshold, methods=cfg.mrd_methods or None)
    prev = t.prevalence
    wide = prev.pivot(on="state", index="visit", values="n").fill_null(0).sort("visit")
    for s in STATE_LABELS:
        if s not in wide.columns:
            wide = wide.with_columns(pl.lit(0, pl.Int64).alias(s))
    wide = wide.with_columns(
        (pl.col("negative") + pl.col("positive") + pl.col("not_evaluable")).alias("assessed"),
        pl.col("visit").map_elements(_visit_label, return_dtype=pl.String).alias("label"),
    ).with_columns(
        pl.when(pl.col("negative") + pl.col("positive") > 0)
        .then(pl.col("negative") / (pl.col("negative") + pl.col("positive")))
        .otherwise(None)
        .alias("negative_fraction_evaluable")
    )
    lvl = cfg.conf_level
    cis = [
        clopper_pearson(int(r["negative"]), int(r["negative"] + r["positive"]), lvl)
        for r in wide.to_dicts()
    ]
    wide = wide.with_columns(
        pl.Series("negative_fraction_lower", [c[0] for c in cis], dtype=pl.Float64),
        pl.Series("negative_fraction_upper", [c[1] for c in cis], dtype=pl.Float64),
    )
    wide = wide.with_columns(
        pl.Series("negative_ci_text", [ci_text(lo, hi) for lo, hi in cis], dtype=pl.String)
    )
    res.values["threshold"] = cfg.mrd_threshold
    res.values["visit_window_days"] = t.visit_window_days
    res.values["by_visit"] = {
        str(r["visit"]): {
            k: r[k]
            for k in (
                "assessed",
                *STATE_LABELS,
                "negative_fraction_evaluable",
                "negative_fraction_lower",
                "negative_fraction_upper",
            )
        }
        for r in wide.to_dicts()
    }
    calls = _mrd.calls(ctx)
    res.values["assessments"] = calls.visits.height
    res.highlights += [
        ("MRD assessments (visits with a sample)", f"{calls.visits.height}"),
        ("Patients with at least one assessment", f"{calls.visits['patient_id'].n_unique()}"),
    ]
    _assays(ctx, res)
    labels: dict[str, Any] = {"label": ("Visit", "text"), "assessed": ("Assessed", "int")}
    labels |= {s: (lab, "int") for s, lab in STATE_LABELS.items()}
    labels["negative_fraction_evaluable"] = ("% MRD− of evaluable", "pct")
    labels["negative_ci_text"] = (f"{round(100 * lvl)}% CI (Clopper-Pearson), %", "text")
    res.tables.append(
        Table.from_frame(
            "state_by_visit",
            f"MRD state of all {ctx.cohort.n_patients} patients at each yearly visit "
            f"(window ±{t.visit_window_days} days; threshold {cfg.mrd_threshold:g})",
            wide,
            labels,
        )
    )
    tr = t.transitions.filter(pl.col("from_state").is_in(["negative", "positive"])).with_columns(
        pl.format(
            "{} → {}",
            pl.col("from_visit").map_elements(_visit_label, return_dtype=pl.String),
            pl.col("to_visit").map_elements(_visit_label, return_dtype=pl.String),
        ).alias("interval"),
        pl.col("from_state").replace_strict(STATE_LABELS).alias("from"),
        pl.col("to_state").replace_strict(STATE_LABELS).alias("to"),
        (pl.col("row_percent") / 100).alias("row_fraction"),
    )
    res.values["transitions"] = tr.select(
        "from_visit", "to_visit", "from_state", "to_state", "n", "row_percent"
    ).to_dicts()
    res.tables.append(
        Table.from_frame(
            "yearly_transitions",
            "MRD state from one yearly visit to the next, for patients MRD− or MRD+ at the first "
            "(row %)",
            tr,
            {
                "interval": ("Visits", "text"),
                "from": ("From", "text"),
                "to": ("To", "text"),
                "n": ("n", "int"),
                "row_fraction": ("Row %", "pct"),
            },
            collapse=("interval", "from"),
        )
    )
    _mrd_figures(ctx, res, wide)


#: Okabe-Ito colours (colour-blind safe), as the MRD figures of `mrdtrack.mrd.figures`.
STATE_COLOURS = {
    "negative": "#0072B2",
    "positive": "#D55E00",
    "not_evaluable": "#E69F00",
    "missing": "#E5E5E5",
    "progressed": "#000000",
    "died": "#CC79A7",
    "censored": "#999999",
}


def negative_share_labels(wide: pl.DataFrame) -> list[str]:
    """Bar labels of the state figure: MRD− as % of evaluable calls (MRD− + MRD+), with counts;
    the same fraction as the table's "% MRD− of evaluable" column (one helper, `fmt.share`)."""
    return [
        "MRD−\n"
        + share(int(r["negative"]), int(r["negative"] + r["positive"])).replace(" (", "\n(")
        for r in wide.sort("visit").to_dicts()
    ]


def _assays(ctx: Context, res: SectionResult) -> None:
    """Method, specimen and sensitivity behind every "MRD−" (CONVENTIONS: always shown)."""
    a = (
        ctx.cohort.mrd.with_columns(pl.col("specimen").fill_null("bone_marrow"))
        .group_by("method", "specimen")
        .agg(
            pl.len().alias("assays"),
            pl.col("sensitivity").min().alias("best_sensitivity"),
            pl.col("sensitivity").max().alias("worst_sensitivity"),
            pl.col("sensitivity").is_null().sum().cast(pl.Int64).alias("sensitivity_missing"),
            (pl.col("sensitivity") > ctx.config.mrd_threshold)
            .sum()
            .cast(pl.Int64)
            .alias("above_threshold"),
        )
        .sort("method", "specimen")
        .with_columns(
            pl.col("specimen").map_elements(label, return_dtype=pl.String).alias("specimen_label")
        )
    )
    res.values["assays"] = a.to_dicts()
    res.tables.append(
        Table.from_frame(
            "assays",
            f"Assays behind the MRD calls: a negative counts only at a sensitivity of "
            f"{ctx.config.mrd_threshold:g} or better",
            a,
            {
                "method": ("Method", "text"),
                "specimen_label": ("Specimen", "text"),
                "assays": ("Assays", "int"),
                "best_sensitivity": ("Best sensitivity", "sci"),
                "worst_sensitivity": ("Worst sensitivity", "sci"),
                "above_threshold": ("Worse than threshold", "int"),
                "sensitivity_missing": ("Not reported", "int"),
            },
        )
    )


def _mrd_figures(ctx: Context, res: SectionResult, wide: pl.DataFrame) -> None:
    thr = ctx.config.mrd_threshold
    n = ctx.cohort.n_patients
    lanes = min(n, MAX_SWIMMER_LANES)
    with figures.style():
        drawn = [
            (
                "mrd_prevalence",
                figures.prevalence_bars(
                    [_visit_label(v) for v in wide.sort("visit")["visit"].to_list()],
                    {s: wide.sort("visit")[s].to_list() for s in STATE_LABELS},
                    labels=STATE_LABELS,
                    colours=STATE_COLOURS,
                    top_labels=negative_share_labels(wide),
                ),
                "MRD state at each yearly visit: bars are % of all enrolled patients; above each "
                "bar, MRD− as % of evaluable calls (MRD− or MRD+) with n/N, as in the table "
                "of states by visit.",
                "Stacked bars of MRD states per yearly visit.",
            ),
            (
                "mrd_alluvial",
                # drawn at print size (6.3 in = the PDF's 16 cm text width): 6 pt stays 6 pt
                alluvial_plot(ctx.cohort, thr, figsize=(PRINT_WIDTH_IN, 3.8))[0],
                "MRD states across yearly visits (alluvial diagram); bands carry patients.",
                "Alluvial diagram of MRD state flows between yearly visits.",
            ),
            (
                "mrd_swimmer",
                swimmer_plot(
                    ctx.cohort,
                    thr,
                    max_patients=lanes,
                    lane_labels="none",
                    figsize=(PRINT_WIDTH_IN, min(9.0, 1.5 + 0.12 * lanes)),
                )[0],
                "One lane per patient: MRD assessments coloured by status, thick bar = on "
                "treatment, markers for progression, death and censoring"
                + (f" (first {lanes} of {n} patients by identifier)." if lanes < n else "."),
                "Swimmer plot of MRD assessments and outcomes per patient.",
            ),
        ]
    # the alluvial diagram and the swimmer plot (a page-high float) follow the table of states
    after = {"mrd_alluvial": "state_by_visit", "mrd_swimmer": "state_by_visit"}
    for name, fig, caption, alt in drawn:
        figures.save(fig, ctx.figures_dir, name)
        res.figures.append(Figure(name, caption, alt, after_table=after.get(name)))


SECTION = Section(
    key="mrd_over_time",
    title="MRD over time",
    compute=compute,
)
