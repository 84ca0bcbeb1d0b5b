"""Section 4: progression-free survival — KM with CI and risk table, median, PFS at fixed times,
and PFS by baseline MRD status (log-rank test and Cox HR, MRD+ vs MRD−).

PFS: progression (IMWG) or death from any cause, censored at last contact or data cutoff
(`Cohort.pfs`). Baseline MRD status is known at day 0, so comparing PFS by it is free of
guarantee-time bias. Population: patients evaluable for PFS.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mrdtrack.errors import EstimationError
from mrdtrack.report.fmt import estimate_ci, p_text
from mrdtrack.report.sections import _mrd, _surv
from mrdtrack.report.sections._base import (
    Context,
    MissingModule,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
    need,
)


def compute(ctx: Context, res: SectionResult) -> None:
    cfg = ctx.config
    pfs = _surv.pfs_frame(ctx)
    if pfs.height == 0:
        raise SectionSkipped("no patient evaluable for PFS")
    unit = cfg.time_unit
    overall = _surv.km_section(
        ctx,
        res,
        pfs,
        name="pfs_overall",
        by=None,
        order=["all"],
        labels={"all": "All evaluable"},
        title="Progression-free survival, all evaluable patients",
        annotation=None,
    )["all"]
    km = _surv.kaplan_meier(ctx, pfs)
    t_last = float(pfs["time"].max())
    # survival_at sorts its times: match rows by time, not by position
    rows_at = {
        float(r["time"]): r
        for r in _surv.survival_at(km, [*cfg.pfs_times, t_last], None).to_dicts()
    }
    last = rows_at[t_last]
    at = [rows_at[float(t)] for t in cfg.pfs_times]
    estimates: dict[str, Any] = {}
    for t, r in zip(cfg.pfs_times, at, strict=True):
        e: dict[str, Any] = {k: _surv._f(r[k]) for k in ("surv", "lower", "upper", "n_risk")}
        if t > t_last:
            # as R summary(fit, times=) with extend=FALSE: no estimate past the last follow-up
            e["beyond_follow_up"] = True
        estimates[f"{t:g}"] = e
    last_values = {k: _surv._f(last[k]) for k in ("surv", "lower", "upper")}
    res.values.update(
        {
            "n": overall["n"],
            "events": overall["events"],
            "median": overall["median"],
            "at": estimates,
            "last_follow_up": {"time": t_last, **last_values},
        }
    )
    med = overall["median"]
    res.highlights.append(
        (
            f"Median PFS ({unit})",
            "not reached"
            + (
                f" (lower {int(100 * cfg.conf_level)}% limit {med['lower']:.1f})"
                if med["lower"]
                else ""
            )
            if med["estimate"] is None
            else estimate_ci(med["estimate"], med["lower"], med["upper"]),
        )
    )
    rows = []
    for t in cfg.pfs_times:
        e = estimates[f"{t:g}"]
        if e.get("beyond_follow_up"):
            then = estimate_ci(
                last_values["surv"], last_values["lower"], last_values["upper"], as_pct=True
            )
            shown = f"not estimable: follow-up ends at {t_last:.1f} {unit} (PFS then {then})"
        else:
            shown = estimate_ci(e["surv"], e["lower"], e["upper"], as_pct=True)
        res.highlights.append((f"PFS at {t:g} {unit}", shown))
        rows.append(
            {
                "time": t,
                "surv": e["surv"],
                "lower": e["lower"],
                "upper": e["upper"],
                "n_risk": e["n_risk"],
            }
        )
    res.tables.append(
        Table.from_frame(
            "pfs_at_times",
            f"PFS at fixed times ({int(100 * cfg.conf_level)}% CI, {cfg.conf_type} transform); "
            "blank past the last follow-up (R summary(fit, times=), extend = FALSE)",
            pl.DataFrame(
                rows,
                schema={
                    "time": pl.Float64,
                    "surv": pl.Float64,
                    "lower": pl.Float64,
                    "upper": pl.Float64,
                    "n_risk": pl.Float64,
                },
            ),
            {
                "time": (f"Time ({unit})", "f1"),
                "n_risk": ("At risk", "int"),
                "surv": ("PFS", "pct"),
                "lower": ("Lower", "pct"),
                "upper": ("Upper", "pct"),
            },
        )
    )
    try:
        _by_baseline_mrd(ctx, res, pfs)
    except MissingModule as e:
        res.notes.append(f"PFS by baseline MRD status not shown: {e}.")


def _by_baseline_mrd(ctx: Context, res: SectionResult, pfs: pl.DataFrame) -> None:
    status = _mrd.baseline_status(ctx)
    d = pfs.join(status.select("patient_id", "baseline_status"), on="patient_id", how="left")
    d = d.filter(pl.col("baseline_status").is_in(["negative", "positive"]))
    groups = sorted(set(d["baseline_status"].to_list()))
    if groups != ["negative", "positive"]:
        res.notes.append(
            "PFS by baseline MRD status not shown: both MRD− and MRD+ patients are needed."
        )
        return
    logrank = need("mrdtrack.survival:logrank_test")
    lr = logrank(d, "time", "event", "baseline_status")
    if int(d["event"].sum()) == 0:
        res.notes.append("PFS by baseline MRD status: no PFS event, nothing to compare.")
        return
    try:
        fit, _ = _surv.cox_two_groups(ctx, d, "baseline_status", "negative", "positive")
    except EstimationError as e:
        res.notes.append(f"PFS by baseline MRD status: Cox model not estimable: {e}")
        return
    hr = _surv.hr_values(fit, ctx.config.conf_level)
    annotation = f"MRD+ vs MRD−: {_surv.hr_text(hr, lr.p_value)} (log-rank)"
    per_group = _surv.km_section(
        ctx,
        res,
        d,
        name="pfs_by_baseline_mrd",
        by="baseline_status",
        order=["negative", "positive"],
        labels={"negative": "MRD−", "positive": "MRD+"},
        title="PFS by baseline MRD status",
        annotation=annotation,
    )
    values: dict[str, Any] = {
        "groups": per_group,
        "logrank": {
            "statistic": _surv._f(lr.statistic),
            "df": _surv._f(lr.df),
            "p": _surv._f(lr.p_value),
        },
        "cox": {"comparison": "positive vs negative", "ties": ctx.config.ties, **hr},
    }
    res.values["by_baseline_mrd"] = values
    res.highlights.append(("PFS by baseline MRD (MRD+ vs MRD−)", annotation.split(": ", 1)[1]))
    res.paragraphs.append(
        f"Baseline MRD status is known at the start of maintenance, so this comparison has no "
        f"guarantee-time bias. Log-rank {p_text(lr.p_value)}; Cox HR with "
        f"{ctx.config.ties.capitalize()} ties."
    )


SECTION = Section(
    key="pfs",
    title="Progression-free survival",
    requires=("mrdtrack.survival:kaplan_meier",),
    compute=compute,
)
