"""Section 6: MRD trajectory classes (IMWG 2016) over all follow-up and up to the landmark.

Classes from `mrdtrack.mrd.classify_trajectories` with the report's threshold and confirmation
rule. Classes over the whole follow-up use information from after day 0: they describe the
study but must not group patients in a PFS comparison from day 0 (guarantee-time bias); the
landmark classes (assessments on or before the landmark only) are the ones compared in
section "Landmark analysis".
"""

from __future__ import annotations

import polars as pl

from mrdtrack.report.sections import _mrd
from mrdtrack.report.sections._base import Context, Section, SectionResult, Table


def compute(ctx: Context, res: SectionResult) -> None:
    whole = _mrd.classes(ctx, None)
    lm_day = _mrd.landmark_day(ctx)
    at_lm = _mrd.classes(ctx, lm_day)
    cw, cl = whole.counts(), at_lm.counts()
    merged = (
        cw.select("mrd_class", pl.col("n").alias("n_whole"), pl.col("percent").alias("pct_whole"))
        .join(
            cl.select(
                "mrd_class",
                pl.col("n").alias("n_landmark"),
                pl.col("percent").alias("pct_landmark"),
            ),
            on="mrd_class",
        )
        .with_columns(
            pl.col("mrd_class")
            .replace_strict(_mrd.class_labels(ctx), default=pl.col("mrd_class"))
            .alias("label"),
            (pl.col("pct_whole") / 100).alias("frac_whole"),
            (pl.col("pct_landmark") / 100).alias("frac_landmark"),
        )
    )
    unit = ctx.config.time_unit
    lm = f"{ctx.config.landmark:g} {unit}"
    res.values.update(
        {
            "whole_followup": whole.as_dict(),
            "landmark": at_lm.as_dict(),
            "landmark_day": lm_day,
            "sustained_after_conversion": int(
                whole.table()
                .filter((pl.col("mrd_class") == "sustained_negative") & pl.col("converted"))
                .height
            ),
        }
    )
    counts = whole.as_dict()
    res.highlights += [
        (f"{_mrd.class_labels(ctx)[k]} (whole follow-up)", f"{counts.get(k, 0)}")
        for k in _mrd.preset(ctx).highlight_classes
    ]
    res.tables.append(
        Table.from_frame(
            "class_counts",
            f"Patients by MRD trajectory class: whole follow-up and up to the {lm} landmark "
            f"(day {lm_day}); % of all enrolled",
            merged,
            {
                "label": ("Class", "text"),
                "n_whole": ("Whole follow-up, n", "int"),
                "frac_whole": ("%", "pct"),
                "n_landmark": (f"Up to {lm}, n", "int"),
                "frac_landmark": ("% ", "pct"),
            },
        )
    )
    for name, cls, title in (
        ("whole", whole, "whole follow-up"),
        ("landmark", at_lm, f"up to {lm}"),
    ):
        nc = cls.table().filter(pl.col("mrd_class") == "not_classifiable")
        if nc.height:
            reasons = nc.group_by("reason").agg(pl.len().alias("n")).sort("reason")
            res.values[f"not_classifiable_reasons_{name}"] = dict(reasons.iter_rows())
            res.tables.append(
                Table.from_frame(
                    f"not_classifiable_{name}",
                    f"Not classifiable ({title}): reasons",
                    reasons,
                    {"reason": ("Reason", "text"), "n": ("n", "int")},
                )
            )
    c = ctx.config
    res.paragraphs.append(
        f"Status calls at threshold {c.mrd_threshold:g}; sustained negativity = MRD-negative "
        f"assessments at least {c.confirmation_days - c.confirmation_tolerance_days} days apart "
        f"({c.confirmation_days} days minus a tolerance of {c.confirmation_tolerance_days}) "
        "with no "
        "positive in between (IMWG 2016). Assessments after progression are not used. Classes "
        "over the whole follow-up use post-baseline information and are descriptive only."
    )


SECTION = Section(
    key="trajectories",
    title="MRD trajectory classes",
    requires=("mrdtrack.mrd:classify_trajectories",),
    compute=compute,
)
