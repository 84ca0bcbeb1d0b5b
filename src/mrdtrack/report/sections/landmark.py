"""Section 7: landmark analysis of PFS by MRD trajectory class (no guarantee-time bias).

Landmark method (Anderson, Cain & Gelber 1983) via `mrdtrack.mrd.landmark_data`: patients
evaluable for PFS who are alive, progression-free and followed after the landmark; classes
from assessments on or before the landmark only; time reset to the landmark. For each pairwise
comparison the founding study made (loss of negativity vs sustained negativity, and vs
persistent positivity): Cox HR (ML, Wald CI, LRT p) and log-rank p. When the ML likelihood is
monotone (no events in one group) the HR is shown as "∞ (no events in reference)" — never as a
large number — together with Firth's penalised estimate with a profile-likelihood CI and the
penalised likelihood-ratio p (Heinze & Schemper 2001; R coxphf).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import polars as pl

from mrdtrack.errors import EstimationError
from mrdtrack.mrd import landmark_data
from mrdtrack.report.fmt import p_text, p_value
from mrdtrack.report.labels import label
from mrdtrack.report.sections import _mrd, _surv, disposition
from mrdtrack.report.sections._base import (
    Column,
    Context,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)
from mrdtrack.survival import logrank_test

# (key, group, reference) as in the founding study's landmark comparisons
COMPARISONS = (
    ("lost_vs_sustained", "loss_of_negativity", "sustained_negative"),
    ("lost_vs_persistent", "loss_of_negativity", "persistent_positive"),
)
# every class at risk is plotted and counted, "not classifiable" included (the risk table must
# add up to the patients at risk at the landmark)
PLOT_ORDER = (
    "sustained_negative",
    "conversion",
    "persistent_positive",
    "loss_of_negativity",
    "not_classifiable",
)


def _ml_comparison(ctx: Context, d: pl.DataFrame, group: str, ref: str) -> dict[str, Any]:
    """ML Cox HR of ``group`` vs ``ref`` and the log-rank test, as plain numbers."""
    sub = d.filter(pl.col("mrd_class").is_in([group, ref]))
    counts = {
        g: {
            "n": int((sub["mrd_class"] == g).sum()),
            "events": int(sub.filter(pl.col("mrd_class") == g)["event"].sum()),
        }
        for g in (group, ref)
    }
    out: dict[str, Any] = {"group": group, "reference": ref, "counts": counts}
    if counts[group]["n"] == 0 or counts[ref]["n"] == 0:
        out["status"] = "not estimable: a group has no patient at risk at the landmark"
        return out
    if counts[group]["events"] + counts[ref]["events"] == 0:
        out["status"] = "not estimable: no event after the landmark in either group"
        return out
    lr = logrank_test(sub, "time", "event", "mrd_class")
    out["logrank"] = {
        "statistic": _surv._f(lr.statistic),
        "df": _surv._f(lr.df),
        "p": _surv._f(lr.p_value),
    }
    try:
        with warnings.catch_warnings():
            # monotone likelihood is reported through fit.monotone, not as a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            fit, _ = _surv.cox_two_groups(ctx, sub, "mrd_class", ref, group)
    except EstimationError as e:
        out["status"] = f"not estimable: {e}"
        return out
    out["cox_ml"] = _surv.hr_values(fit, ctx.config.conf_level)
    out["status"] = "ok"
    try:
        firth_fit, _ = _surv.cox_two_groups(ctx, sub, "mrd_class", ref, group, firth=True)
        fv = _surv.hr_values(firth_fit, ctx.config.conf_level, method="profile")
    except EstimationError as e:
        out["firth_note"] = f"Firth estimate not estimable: {e}"
        return out
    out["cox_firth"] = fv
    return out


def _lrt_p(v: dict[str, Any] | None) -> float | None:
    if not v:
        return None
    t = v.get("tests", {})
    for key in ("likelihood_ratio", "penalized_likelihood_ratio", "penalised_likelihood_ratio"):
        if key in t:
            return t[key]["p"]
    return None


def compute(ctx: Context, res: SectionResult) -> None:
    cfg = ctx.config
    lm_day = _mrd.landmark_day(ctx)
    ld = landmark_data(
        ctx.cohort,
        at=lm_day,
        threshold=cfg.mrd_threshold,
        unit=cfg.time_unit,
        confirm_days=cfg.confirmation_days,
        tolerance_days=cfg.confirmation_tolerance_days,
        methods=cfg.mrd_methods or None,
    )
    evaluable = disposition.evaluable_ids(ctx).implode()
    d = ld.data.filter(pl.col("patient_id").is_in(evaluable))
    excluded = ld.excluded.filter(pl.col("patient_id").is_in(evaluable))
    if d.height == 0:
        raise SectionSkipped(f"no evaluable patient is at risk at the landmark (day {lm_day})")
    unit = cfg.time_unit
    lm_text = f"{cfg.landmark:g} {unit}"
    counts = (
        d.group_by("mrd_class")
        .agg(pl.len().alias("n"), pl.col("event").sum().cast(pl.Int64).alias("events"))
        .with_columns(
            pl.col("mrd_class")
            .replace_strict(_mrd.class_labels(ctx), default=pl.col("mrd_class"))
            .alias("label"),
            pl.col("mrd_class")
            .replace_strict({g: i for i, g in enumerate(PLOT_ORDER)}, default=len(PLOT_ORDER))
            .alias("_order"),
        )
        .sort("_order", "mrd_class")
        .drop("_order")
    )
    excl = (
        excluded.group_by("reason")
        .agg(pl.len().alias("n"))
        .sort("reason")
        .with_columns(
            pl.col("reason").map_elements(label, return_dtype=pl.String).alias("reason_label")
        )
    )
    res.values.update(
        {
            "landmark_day": lm_day,
            "at_risk": d.height,
            "events_after_landmark": int(d["event"].sum()),
            "by_class": {
                r["mrd_class"]: {"n": r["n"], "events": r["events"]} for r in counts.to_dicts()
            },
            "excluded": dict(excl.select("reason", "n").iter_rows()),
        }
    )
    res.paragraphs.append(
        f"Landmark at {lm_text} (study day {lm_day}): {d.height} patients evaluable for PFS were "
        f"alive, progression-free and in follow-up after the landmark; {excluded.height} were "
        "not (reasons below). Classes use only MRD assessments on or before the landmark; PFS "
        "time is counted from the landmark."
    )
    res.tables.append(
        Table.from_frame(
            "landmark_classes",
            f"Patients at risk at the {lm_text} landmark and PFS events after it, by MRD class",
            pl.concat(
                [
                    counts.select("label", "n", "events"),
                    pl.DataFrame(
                        {"label": ["Total"], "n": [d.height], "events": [int(d["event"].sum())]},
                        schema={"label": pl.String, "n": pl.Int64, "events": pl.Int64},
                    ),
                ],
                how="vertical_relaxed",
            ),
            {
                "label": ("Class at landmark", "text"),
                "n": ("At risk", "int"),
                "events": ("Events", "int"),
            },
        )
    )
    if excl.height:
        res.tables.append(
            Table.from_frame(
                "landmark_excluded",
                "Evaluable patients not at risk at the landmark",
                excl,
                {"reason_label": ("Reason", "text"), "n": ("Patients", "int")},
            )
        )

    comparisons: dict[str, Any] = {}
    rows = []
    labels = _mrd.class_labels(ctx)
    comparison_list = _mrd.preset(ctx).comparisons  # COMPARISONS for myeloma
    for key, group, ref in comparison_list:
        c = _ml_comparison(ctx, d, group, ref)
        comparisons[key] = c
        ml, fi = c.get("cox_ml"), c.get("cox_firth")
        rows.append(
            {
                "comparison": f"{labels[group]} vs {labels[ref]}",
                "n": f"{c['counts'][group]['n']} vs {c['counts'][ref]['n']}",
                "events": f"{c['counts'][group]['events']} vs {c['counts'][ref]['events']}",
                "hr_ml": ml["display"] if ml else c["status"],
                "p_lrt": p_value(_lrt_p(ml)) if ml else "—",
                "p_logrank": p_value(c["logrank"]["p"]) if "logrank" in c else "—",
                "hr_firth": fi["display"] if fi else c.get("firth_note", "—"),
                "p_firth": p_value(_lrt_p(fi)) if fi else "—",
            }
        )
        if ml:
            res.highlights.append(
                (
                    f"HR {labels[group]} vs {labels[ref]}",
                    f"{ml['display']}; log-rank {p_text(c['logrank']['p'])}"
                    + (f"; Firth {fi['display']}, {p_text(_lrt_p(fi))}" if fi else ""),
                )
            )
    res.values["comparisons"] = comparisons
    if ctx.is_demo:
        res.notes.append(
            "Demo study: its 108 patients are SIMULATED and were selected on published counts "
            "only (enrolled, evaluable, baseline MRD, IMWG classes, on maintenance, deaths, "
            "safety counts). These 24-month landmark comparisons come from the simulation model, "
            "not from the paper (published: HR 5.88, p = 0.015; infinite HR vs sustained "
            "negativity; Diamond et al., Lancet Haematol 2021): see the published-vs-demo table "
            "in section 1."
        )
    lvl = round(100 * cfg.conf_level)
    res.tables.append(
        Table(
            "landmark_comparisons",
            f"Cox hazard ratios after the {lm_text} landmark ({lvl}% CI; {cfg.ties} ties)",
            tuple(
                Column(k, label, "text")
                for k, label in (
                    ("comparison", "Comparison"),
                    ("n", "At risk"),
                    ("events", "Events"),
                    ("hr_ml", "HR (ML, Wald CI)"),
                    ("p_lrt", "p (LRT)"),
                    ("p_logrank", "p (log-rank)"),
                    ("hr_firth", "HR (Firth, profile CI)"),
                    ("p_firth", "p (penalised LRT)"),
                )
            ),
            tuple(rows),
            notes=(
                "∞: no progression or death after the landmark in the reference group, so the "
                "Cox likelihood is monotone and the ML hazard ratio is infinite; Firth's "
                "penalised likelihood gives a finite estimate.",
            ),
        )
    )
    order = PLOT_ORDER if _mrd.preset(ctx).name == "myeloma" else _mrd.preset(ctx).classes
    plot_groups = [g for g in order if g in res.values["by_class"]]
    if plot_groups:
        key0, group0, ref0 = comparison_list[0]
        lost = comparisons[key0].get("cox_ml")
        ann = None
        if lost:
            ann = (
                "Loss vs sustained negativity: HR " + lost["display"]
                if key0 == "lost_vs_sustained"
                else f"{labels[group0]} vs {labels[ref0]}: HR {lost['display']}"
            )
        _surv.km_section(
            ctx,
            res,
            d.filter(pl.col("mrd_class").is_in(plot_groups)),
            name="landmark_pfs_by_class",
            by="mrd_class",
            order=plot_groups,
            labels={g: labels[g] for g in plot_groups},
            title=f"PFS from the {lm_text} landmark by MRD class at the landmark",
            annotation=ann,
            time_offset=cfg.landmark,
        )
    landmark_series(ctx, res)


def landmark_series(ctx: Context, res: SectionResult) -> None:
    """The landmark analysis repeated at each of ``config.landmarks`` (default 12, 24, 36
    months): patients at risk by class (events after the landmark) and the two published
    comparisons (ML Cox HR, log-rank p), each by the same engines as the main landmark."""
    cfg = ctx.config
    evaluable = disposition.evaluable_ids(ctx).implode()
    unit = cfg.time_unit
    series: dict[str, Any] = {}
    rows = []
    preset = _mrd.preset(ctx)
    labels = _mrd.class_labels(ctx)
    order = PLOT_ORDER if preset.name == "myeloma" else (*preset.classes, "not_classifiable")
    order = tuple(dict.fromkeys(order))
    comparison_list = preset.comparisons
    for t in cfg.landmarks:
        day = math.floor(t * cfg.days_per_unit + 1e-9)
        ld = landmark_data(
            ctx.cohort,
            at=day,
            threshold=cfg.mrd_threshold,
            unit=unit,
            confirm_days=cfg.confirmation_days,
            tolerance_days=cfg.confirmation_tolerance_days,
            methods=cfg.mrd_methods or None,
        )
        d = ld.data.filter(pl.col("patient_id").is_in(evaluable))
        by_class = {
            g: {
                "n": int((d["mrd_class"] == g).sum()),
                "events": int(d.filter(pl.col("mrd_class") == g)["event"].sum()),
            }
            for g in order
        }
        entry: dict[str, Any] = {
            "landmark_day": day,
            "at_risk": d.height,
            "events_after_landmark": int(d["event"].sum()) if d.height else 0,
            "by_class": by_class,
        }
        row: dict[str, Any] = {"landmark": f"{t:g}", "at_risk": d.height}
        for g in order:
            row[g] = f"{by_class[g]['n']} ({by_class[g]['events']})"
        for key, group, ref in comparison_list:
            c = _ml_comparison(ctx, d, group, ref) if d.height else {"status": "no patient"}
            c.pop("cox_firth", None)
            c.pop("firth_note", None)
            entry[key] = c
            ml = c.get("cox_ml")
            row[key] = (
                f"{ml['display']}; {p_text(c['logrank']['p'])}"
                if ml
                else "not estimable (" + c["status"].split(": ", 1)[-1] + ")"
            )
        series[f"{t:g}"] = entry
        rows.append(row)
    res.values["series"] = series
    few = [
        f"{t}"
        for t, e in series.items()
        if e["at_risk"] and e["by_class"].get("not_classifiable", {}).get("n") == e["at_risk"]
    ]
    if few:
        res.notes.append(
            f"At the {', '.join(few)} {unit} landmark no patient is classifiable yet: a class "
            "needs at least two evaluable assessments (sustained negativity: one year apart), "
            "and yearly assessment gives most patients only the baseline one by then."
        )
    res.tables.append(
        Table(
            "landmark_series",
            f"Landmarks at {', '.join(f'{t:g}' for t in cfg.landmarks)} {unit}: patients at "
            "risk by MRD class at the landmark, n (PFS events after it), and the hazard ratios "
            "between classes (ML Cox, Wald CI; log-rank p)",
            (
                Column("landmark", f"Landmark ({unit})", "text"),
                Column("at_risk", "At risk", "int"),
                *(Column(g, labels.get(g, g), "text") for g in order),
                *(
                    Column(key, f"HR {labels[group]} vs {labels[ref]}", "text")
                    for key, group, ref in comparison_list
                ),
            ),
            tuple(rows),
            notes=(
                "Each landmark uses only MRD assessments on or before it and counts PFS from "
                "it; the same patients appear at several landmarks, so the rows are not "
                "independent.",
            ),
        )
    )


SECTION = Section(
    key="landmark",
    title="Landmark analysis by MRD class",
    compute=compute,
)
