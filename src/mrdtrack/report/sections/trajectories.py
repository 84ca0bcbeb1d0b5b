"""Section 6: MRD trajectory classes (IMWG 2016) over all follow-up and up to the landmark.

Classes from `mrdtrack.mrd.classify_trajectories` with the report's threshold and confirmation
rule. Classes over the whole follow-up use information from after day 0: they describe the
study but must not group patients in a PFS comparison from day 0 (guarantee-time bias); the
landmark classes (assessments on or before the landmark only) are the ones compared in
section "Landmark analysis".
"""

from __future__ import annotations

import polars as pl

from mrdtrack.report.labels import label
from mrdtrack.report.sections import _mrd
from mrdtrack.report.sections._base import Context, Section, SectionResult, Table
from mrdtrack.report.sections._props import ci_text, clopper_pearson


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
    n_all = ctx.cohort.n_patients
    lvl = ctx.config.conf_level
    ci_cols = {}
    for col in ("n_whole", "n_landmark"):
        cis = [clopper_pearson(int(n), n_all, lvl) for n in merged[col].to_list()]
        ci_cols[f"{col}_lower"] = [c[0] for c in cis]
        ci_cols[f"{col}_upper"] = [c[1] for c in cis]
        ci_cols[f"{col}_ci"] = [ci_text(*c) for c in cis]
    merged = merged.with_columns(
        *[pl.Series(k, v) for k, v in ci_cols.items()],
    )
    res.values["class_proportions_ci"] = {
        r["mrd_class"]: {
            "whole": {"lower": r["n_whole_lower"], "upper": r["n_whole_upper"]},
            "landmark": {"lower": r["n_landmark_lower"], "upper": r["n_landmark_upper"]},
            "method": "Clopper-Pearson",
        }
        for r in merged.to_dicts()
    }
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
    lm_counts = at_lm.as_dict()
    conv_then_sust = res.values["sustained_after_conversion"]
    conv_then_sust_lm = int(
        at_lm.table()
        .filter((pl.col("mrd_class") == "sustained_negative") & pl.col("converted"))
        .height
    )
    res.values["sustained_after_conversion_landmark"] = conv_then_sust_lm
    res.values["conversion_rule"] = (
        "a conversion (MRD- after MRD+) followed by MRD- assessments confirming sustained "
        "negativity is counted as sustained negativity"
    )
    c0 = ctx.config
    res.paragraphs.append(
        f"Conversion and sustained negativity: a patient who converts (MRD− after MRD+) and then "
        f"has negative assessments at least {c0.confirmation_days - c0.confirmation_tolerance_days}"
        " days apart with no positive in between is counted under sustained negativity, not "
        f"conversion (IMWG 2016 defines sustained negativity by the negatives). Over the whole "
        f"follow-up {conv_then_sust} of the {counts.get('sustained_negative', 0)} sustained "
        f"negatives had converted, leaving {counts.get('conversion', 0)} patients counted as "
        f"conversion; up to the {ctx.config.landmark:g} {ctx.config.time_unit} landmark only "
        f"{conv_then_sust_lm} converters already had the confirming negative, so "
        f"{lm_counts.get('conversion', 0)} are counted as conversion there."
    )
    res.highlights += [
        (f"{_mrd.class_labels(ctx)[k]} (whole follow-up)", f"{counts.get(k, 0)}")
        for k in _mrd.preset(ctx).highlight_classes
    ]
    res.tables.append(
        Table.from_frame(
            "class_counts",
            f"Patients by MRD trajectory class: whole follow-up and up to the {lm} landmark "
            f"(day {lm_day}); % of all enrolled with Clopper-Pearson (exact) CI",
            merged,
            {
                "label": ("Class", "text"),
                "n_whole": ("Whole follow-up, n", "int"),
                "frac_whole": ("%", "pct"),
                "n_whole_ci": (f"{round(100 * lvl)}% CI, %", "text"),
                "n_landmark": (f"Up to {lm}, n", "int"),
                "frac_landmark": ("% ", "pct"),
                "n_landmark_ci": (f"{round(100 * lvl)}% CI, % ", "text"),
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
                    reasons.with_columns(
                        pl.col("reason").map_elements(label, return_dtype=pl.String).alias("shown")
                    ),
                    {"shown": ("Reason", "text"), "n": ("n", "int")},
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
    compute=compute,
)
