"""Survival quantities shared by the PFS, landmark and time-dependent sections.

Thin adapters over `mrdtrack.survival` that turn its results into plain numbers and the tidy
frames the figures take. All options (CI transform, level, ties) come from the config.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.report import figures
from mrdtrack.report.fmt import estimate_ci, num, p_text
from mrdtrack.report.sections import disposition
from mrdtrack.report.sections._base import Context, Figure, SectionResult, Table
from mrdtrack.survival import CoxFit, FirthCoxFit, KaplanMeier, cox_ph
from mrdtrack.survival import kaplan_meier as km_estimate


def pfs_frame(ctx: Context, evaluable_only: bool = True) -> pl.DataFrame:
    """PFS per patient in the report's time unit (evaluable patients by default)."""
    pfs = ctx.cohort.pfs(unit=ctx.config.time_unit)
    if evaluable_only:
        pfs = pfs.filter(pl.col("patient_id").is_in(disposition.evaluable_ids(ctx).implode()))
    return pfs


def kaplan_meier(
    ctx: Context, data: pl.DataFrame, by: str | None = None, entry: str | None = None
) -> KaplanMeier:
    return km_estimate(
        data,
        time="time",
        event="event",
        by=by,
        start=entry,
        conf_type=ctx.config.conf_type,
        conf_level=ctx.config.conf_level,
    )


def _group_col(frame: pl.DataFrame, by: str | None) -> pl.DataFrame:
    """Name the grouping column ``group`` (text) whatever the engine calls it."""
    if by is None:
        return frame.with_columns(pl.lit("all").alias("group"))
    for name in (by, "group", "strata"):
        if name in frame.columns:
            out = frame.with_columns(pl.col(name).cast(pl.String).alias("group"))
            return out if name == "group" else out.drop(name)
    raise KeyError(f"no group column in {frame.columns}")


def _f(x: Any) -> float | None:
    """A plain float, None for missing/NaN (e.g. an upper limit that was not reached)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def curves(km: Any, by: str | None) -> pl.DataFrame:
    t = _group_col(km.table(), by)
    return t.filter(pl.col("time") > 0).select(
        "group", "time", "surv", "lower", "upper", "n_censor", "n_event", "n_risk"
    )


def medians(km: Any, by: str | None) -> dict[str, dict[str, float | None]]:
    m = _group_col(km.median(), by)
    return {
        r["group"]: {
            "estimate": _f(r["estimate"]),
            "lower": _f(r["lower"]),
            "upper": _f(r["upper"]),
        }
        for r in m.to_dicts()
    }


def survival_at(km: Any, times: list[float], by: str | None) -> pl.DataFrame:
    s = _group_col(km.survival_at(times), by)
    return s


def risk_table(km: Any, times: list[float], by: str | None) -> pl.DataFrame:
    return _group_col(km.risk_table(times), by)


def ticks(ctx: Context, t_max: float) -> list[float]:
    """Risk-table times: 0, step, 2 step, ... up to the last follow-up time."""
    step = ctx.config.risk_table_step
    return [float(x) for x in np.arange(0.0, t_max + 1e-9, step)]


def km_section(
    ctx: Context,
    res: SectionResult,
    data: pl.DataFrame,
    *,
    name: str,
    by: str | None,
    order: list[str],
    labels: dict[str, str],
    title: str,
    annotation: str | None,
    ylabel: str = "Progression-free survival",
    time_offset: float = 0.0,
    entry: str | None = None,
    caption: str | None = None,
    interval_counts: bool = True,
) -> dict[str, Any]:
    """KM by group: figure (with risk table) + risk table + per-group n/events/median values.

    ``time_offset`` shifts the axis labels (landmark analyses plot time since the landmark but
    say so in the axis label).
    """
    km = kaplan_meier(ctx, data, by, entry)
    unit = ctx.config.time_unit
    t_max = float(data["time"].max()) if data.height else 0.0
    tk = ticks(ctx, t_max)
    meds = medians(km, by)
    rt = risk_table(km, tk, by)
    groups = [g for g in order if g in meds]
    per_group: dict[str, Any] = {}
    legend = []
    for g in groups:
        sub = data if by is None else data.filter(pl.col(by).cast(pl.String) == g)
        # (start, stop] rows: count patients, not rows
        n = sub["patient_id"].n_unique() if "patient_id" in sub.columns else sub.height
        ev = int(sub["event"].sum())
        med = meds[g]
        per_group[g] = {"n": n, "events": ev, "median": med}
        legend.append(f"{labels.get(g, g)} (n={n}, {ev} events, median {num(med['estimate'])})")
    fig = figures.km_plot(
        curves(km, by),
        rt.select("group", "time", "n_risk"),
        groups=groups,
        labels=legend,
        ticks=tk,
        xlabel=f"{'Time since landmark' if time_offset else 'Time'} ({unit})",
        ylabel=ylabel,
        annotation=annotation,
    )
    figures.save(fig, ctx.figures_dir, name)
    res.figures.append(
        Figure(
            name,
            caption
            or f"{title}. Kaplan-Meier estimate with {int(100 * ctx.config.conf_level)}% CI "
            f"({ctx.config.conf_type} transform), + = censored; numbers at risk at each time.",
            f"Kaplan-Meier curves: {title}",
        )
    )
    rank = {g: i for i, g in enumerate(order)}
    rt_rows = (
        rt.with_columns(
            pl.col("group")
            .replace_strict(rank, default=len(order), return_dtype=pl.Int64)
            .alias("_rank")
        )
        .sort("_rank", "time", maintain_order=True)
        .drop("_rank")
        .with_columns(pl.col("group").replace_strict(labels, default=pl.col("group")))
    )
    cols = {
        "group": ("Group", "text"),
        "time": (f"Time ({unit})", "f1"),
        "n_risk": ("At risk", "int"),
    }
    for extra, lab in (("n_event", "Events"), ("n_censor", "Censored")):
        if interval_counts and extra in rt_rows.columns:
            cols[extra] = (f"{lab} since previous time", "int")
    res.tables.append(
        Table.from_frame(
            f"{name}_risk_table",
            f"{title}: number at risk at each time"
            + (
                "; events and censorings in the interval since the previous time "
                "(R summary(fit, times=))"
                if interval_counts
                else " (R summary(fit, times=))"
            ),
            rt_rows,
            cols,
        )
    )
    return per_group


def cox_two_groups(
    ctx: Context, data: pl.DataFrame, group: str, reference: str, other: str, firth: bool = False
) -> tuple[CoxFit | FirthCoxFit, pl.DataFrame]:
    """Cox model for ``other`` vs ``reference`` on rows in those two groups (one indicator)."""
    d = data.filter(pl.col(group).is_in([reference, other])).with_columns(
        (pl.col(group) == other).cast(pl.Float64).alias("x")
    )
    kwargs: dict[str, Any] = {"ties": ctx.config.ties}
    if firth:
        kwargs["firth"] = True
    return cox_ph(d, "time", "event", ["x"], **kwargs), d


def hr_values(fit: Any, level: float, **ci_options: Any) -> dict[str, Any]:
    """HR (as `CoxFit.conf_int`: exponentiated), CI, monotone flag and global tests."""
    row = fit.conf_int(conf_level=level, **ci_options).to_dicts()[0]
    monotone = bool(getattr(fit, "monotone", None))
    out = {
        "term": row.get("term"),
        "hazard_ratio": _f(row["estimate"]),
        "lower": _f(row["lower"]),
        "upper": _f(row["upper"]),
        "monotone": monotone,
        "n": int(fit.n),
        "events": int(fit.n_events),
        "tests": _tests_dict(fit.tests),
    }
    if monotone:
        # never print the last Newton iterate: the ML estimate does not exist
        direction = fit.monotone.get(out["term"], math.inf)
        out["hazard_ratio"] = math.inf if direction > 0 else 0.0
        out["lower"] = out["upper"] = None
        out["display"] = (
            "∞ (no events in reference)" if direction > 0 else "0 (no events in comparison group)"
        )
    else:
        out["display"] = estimate_ci(out["hazard_ratio"], out["lower"], out["upper"], 2)
    return out


def _tests_dict(tests: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """``{name: CoxTest}`` as plain numbers (statistic, df, p)."""
    return {
        str(k): {"statistic": _f(v.statistic), "df": _f(v.df), "p": _f(v.p_value)}
        for k, v in tests.items()
    }


def hr_text(v: dict[str, Any], p: float | None) -> str:
    return f"HR {v['display']}; {p_text(p)}"
