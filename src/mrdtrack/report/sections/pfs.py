"""Section 4: progression-free survival — KM with CI and risk table, median, PFS at fixed times,
and PFS by baseline MRD status (log-rank test and Cox HR, MRD+ vs MRD−).

PFS: progression (IMWG) or death from any cause, censored at last contact or data cutoff
(`Cohort.pfs`). Baseline MRD samples are taken after day 0 (days 0-28 in the demo), so the
comparison by baseline status carries a short guarantee time; the section states its size from
the data. Population: patients evaluable for PFS.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mrdtrack.errors import EstimationError
from mrdtrack.report.fmt import estimate_ci, n_pct, num, p_text
from mrdtrack.report.labels import label as code_label
from mrdtrack.report.sections import _mrd, _surv
from mrdtrack.report.sections._base import (
    Column,
    Context,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)
from mrdtrack.survival import cox_ph, logrank_test


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
    ttet01(ctx, res, pfs, km)
    _by_baseline_mrd(ctx, res, pfs)
    multivariable(ctx, res, pfs)


def ttet01(ctx: Context, res: SectionResult, pfs: pl.DataFrame, km: Any) -> None:
    """Time-to-event summary in the tern TTET01 shell: patients with an event by earliest
    contributing event type, patients without, median and quartiles (KM, Brookmeyer-Crowley CI
    as R ``quantile(survfit)``) and range."""
    n = pfs.height
    by_type = {t: int((pfs["event_type"] == t).sum()) for t in ("progression", "death")}
    n_ev = int(pfs["event"].sum())
    q = {round(r["p"], 2): r for r in km.quantile([0.25, 0.5, 0.75]).to_dicts()}
    unit = ctx.config.time_unit
    lvl = round(100 * ctx.config.conf_level)
    times = pfs["time"]
    censored_max = bool(pfs.filter(pl.col("time") == times.max())["event"].max() == 0)
    rng = f"{times.min():.1f} to {times.max():.1f}" + ("+" if censored_max else "")

    def q_text(p: float) -> str:
        v = q[p]["estimate"]
        return "NE (not reached)" if v is None else num(v)

    med = q[0.5]
    rows = [
        ("Patients with event (%)", n_pct(n_ev, n)),
        ("Earliest contributing event", ""),
        ("    Progression", str(by_type["progression"])),
        ("    Death without prior progression", str(by_type["death"])),
        ("Patients without event (%)", n_pct(n - n_ev, n)),
        (f"Time to event ({unit})", ""),
        ("    Median", q_text(0.5)),
        (
            f"    {lvl}% CI of the median",
            f"{num(med['lower']) if med['lower'] is not None else 'NE'}, "
            f"{num(med['upper']) if med['upper'] is not None else 'NE'}",
        ),
        ("    25% and 75%-ile", f"{q_text(0.25)}, {q_text(0.75)}"),
        ("    Range", rng),
    ]
    res.values["events_by_type"] = {"events": n_ev, **by_type, "censored": n - n_ev}
    res.values["quartiles"] = {
        f"q{int(100 * p)}": {
            "estimate": q[p]["estimate"],
            "lower": q[p]["lower"],
            "upper": q[p]["upper"],
        }
        for p in (0.25, 0.5, 0.75)
    }
    res.values["range"] = {
        "min": float(times.min()),
        "max": float(times.max()),
        "max_censored": censored_max,
    }
    res.tables.append(
        Table(
            "pfs_ttet01",
            f"Progression-free survival: events and time to event (TTET01 layout; {n} patients "
            "evaluable for PFS)",
            (Column("stat", "", "text"), Column("value", f"All evaluable (N={n})", "text")),
            tuple({"stat": a, "value": b} for a, b in rows),
            notes=(
                "NE: not estimable (the Kaplan-Meier curve does not reach the quantile). "
                "+: censored observation. Quartiles and CI as R quantile(survfit(...)).",
            ),
        )
    )


#: Baseline factors of the multivariable model: (column, label, reference level)
BASELINE_FACTORS = (
    ("age10", "Age (per 10 years)", None),
    ("sex", "Sex", "F"),
    ("iss", "ISS stage", "I"),
    ("cytogenetic_risk", "Cytogenetic risk", "standard"),
    ("prior_transplant", "Prior autologous transplant", None),
    ("baseline_status", "Baseline MRD", "negative"),
)


def multivariable(ctx: Context, res: SectionResult, pfs: pl.DataFrame) -> None:
    """Cox model of PFS on the baseline factors present in the data (complete cases), with
    the proportional-hazards test of R ``cox.zph`` (`CoxFit.ph_test`, KM transform)."""
    p = ctx.cohort.patients
    status = _mrd.baseline_status(ctx).select("patient_id", "baseline_status")
    d = pfs.join(p, on="patient_id", how="left").join(status, on="patient_id", how="left")
    d = d.with_columns(
        pl.when(pl.col("baseline_status").is_in(["negative", "positive"]))
        .then(pl.col("baseline_status"))
        .otherwise(None)
        .alias("baseline_status")
    )
    if "age" in d.columns:
        d = d.with_columns((pl.col("age") / 10).alias("age10"))
    present = [
        (c, lab, ref)
        for c, lab, ref in BASELINE_FACTORS
        if c in d.columns and d[c].null_count() < d.height and d[c].drop_nulls().n_unique() > 1
    ]
    if not present:
        res.notes.append("Multivariable Cox model not fitted: no baseline factor varies.")
        return
    cols = [c for c, _, _ in present]
    cc = d.drop_nulls(cols)
    if "prior_transplant" in cols:
        cc = cc.with_columns(pl.col("prior_transplant").cast(pl.Float64))
    reference = {c: ref for c, _, ref in present if ref is not None and ref in cc[c].to_list()}
    try:
        fit = cox_ph(cc, "time", "event", cols, ties=ctx.config.ties, reference=reference)
        zph = fit.ph_test()
    except EstimationError as e:
        res.notes.append(f"Multivariable Cox model not estimable: {e}")
        return
    lvl = ctx.config.conf_level
    ci = {r["term"]: r for r in fit.conf_int(conf_level=lvl).to_dicts()}
    tab = {r["term"]: r for r in fit.table(conf_level=lvl).to_dicts()}
    labels = {c: lab for c, lab, _ in present}

    def term_label(term: str) -> str:
        for c in sorted(labels, key=len, reverse=True):
            if term.startswith(c):
                level = term[len(c) :]
                base = labels[c]
                if not level:
                    return base
                return f"{base}: {code_label(level)} vs {code_label(reference.get(c, ''))}"
        return code_label(term)

    rows = []
    for term in fit.names:
        r = ci[term]
        p_wald = next((tab[term][k] for k in ("p_value", "p", "pvalue") if k in tab[term]), None)
        rows.append(
            {
                "term": term,
                "label": term_label(term),
                "hazard_ratio": _surv._f(r["estimate"]),
                "lower": _surv._f(r["lower"]),
                "upper": _surv._f(r["upper"]),
                "p": _surv._f(p_wald),
                "hr_text": estimate_ci(r["estimate"], r["lower"], r["upper"], 2),
            }
        )
    zt = zph.table().to_dicts()
    res.values["multivariable_cox"] = {
        "n": int(fit.n),
        "events": int(fit.n_events),
        "excluded_incomplete": d.height - cc.height,
        "ties": ctx.config.ties,
        "terms": rows,
        "tests": _surv._tests_dict(fit.tests),
        "ph_test": {
            "transform": zph.transform,
            "terms": {
                r["term"]: {
                    "chisq": _surv._f(r["chisq"]),
                    "df": int(r["df"]),
                    "p": _surv._f(r["p_value"]),
                }
                for r in zt
            },
        },
    }
    res.tables.append(
        Table(
            "pfs_multivariable_cox",
            f"Multivariable Cox model of PFS on baseline factors ({fit.n} patients with complete "
            f"data, {fit.n_events} events; {round(100 * lvl)}% Wald CI; {ctx.config.ties} ties)",
            (
                Column("label", "Factor", "text"),
                Column("hr_text", f"HR ({round(100 * lvl)}% CI)", "text"),
                Column("p", "p (Wald)", "p"),
            ),
            tuple(rows),
            notes=(
                f"{d.height - cc.height} evaluable patients with a missing factor (e.g. baseline "
                "MRD not assessed) are left out. Exploratory: about "
                f"{fit.n_events / max(len(rows), 1):.1f} events per term.",
            ),
        )
    )
    res.tables.append(
        Table(
            "pfs_ph_test",
            "Test of proportional hazards of the multivariable model (R cox.zph, "
            f"{zph.transform.upper()} time transform)",
            (
                Column("term", "Term", "text"),
                Column("chisq", "Chi-square", "f2"),
                Column("df", "df", "int"),
                Column("p_value", "p", "p"),
            ),
            tuple(
                {
                    **r,
                    "term": "Global"
                    if r["term"] == "GLOBAL"
                    else labels.get(r["term"], term_label(r["term"])),
                }
                for r in zt
            ),
        )
    )


def _by_baseline_mrd(ctx: Context, res: SectionResult, pfs: pl.DataFrame) -> None:
    status = _mrd.baseline_status(ctx)
    d = pfs.join(
        status.select("patient_id", "baseline_status", pl.col("day").alias("baseline_day")),
        on="patient_id",
        how="left",
    )
    d = d.filter(pl.col("baseline_status").is_in(["negative", "positive"]))
    groups = sorted(set(d["baseline_status"].to_list()))
    if groups != ["negative", "positive"]:
        res.notes.append(
            "PFS by baseline MRD status not shown: both MRD− and MRD+ patients are needed."
        )
        return
    lr = logrank_test(d, "time", "event", "baseline_status")
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
        "baseline_sample_timing": _baseline_timing(ctx, d),
    }
    res.values["by_baseline_mrd"] = values
    res.highlights.append(("PFS by baseline MRD (MRD+ vs MRD−)", annotation.split(": ", 1)[1]))
    res.paragraphs.append(
        f"{_baseline_timing_text(values['baseline_sample_timing'])} "
        f"Log-rank {p_text(lr.p_value)}; Cox HR with {ctx.config.ties.capitalize()} ties."
    )


def _baseline_timing(ctx: Context, d: pl.DataFrame) -> dict[str, Any]:
    """When the baseline results became known, and how many PFS events came before that.

    PFS is counted from day 0 while the baseline sample is taken on a later study day, so the
    comparison carries a short guarantee time: a patient with an event before the sample day
    could not have been classified. The numbers state its size from the data.
    """
    days = d["baseline_day"].drop_nulls()
    if days.len() == 0:
        return {"min_day": None, "max_day": None, "median_day": None, "events_before": None}
    pfs_days = ctx.cohort.pfs(unit="days").select("patient_id", pl.col("time").alias("t_days"))
    e = d.join(pfs_days, on="patient_id", how="left")
    early = e.filter((pl.col("event") == 1) & (pl.col("t_days") <= pl.col("baseline_day"))).height
    return {
        "min_day": int(days.min()),
        "max_day": int(days.max()),
        "median_day": float(days.median()),
        "events_before": early,
    }


def _baseline_timing_text(t: dict[str, Any]) -> str:
    if t["max_day"] is None:
        return "The day of the baseline MRD samples is not recorded."
    if t["max_day"] <= 0:
        return (
            "Every baseline MRD sample was taken on day 0, so baseline status is known at the "
            "start of maintenance and this comparison has no guarantee-time bias."
        )
    early = t["events_before"]
    before = (
        "No PFS event occurred"
        if early == 0
        else f"{early} PFS event{'s' if early != 1 else ''} occurred"
    )
    return (
        f"Baseline MRD samples were taken on study days {t['min_day']}–{t['max_day']} "
        f"(median {t['median_day']:g}), so baseline status is not known at the start of "
        f"maintenance: PFS is counted from day 0 and the comparison carries a guarantee time of "
        f"up to {t['max_day']} days. {before} on or before a patient's own baseline sample day."
    )


SECTION = Section(
    key="pfs",
    title="Progression-free survival",
    compute=compute,
)
