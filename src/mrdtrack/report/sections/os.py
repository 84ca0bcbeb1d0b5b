"""Section: overall survival — Kaplan-Meier with CI and risk table, median, OS at fixed times.

OS: death from any cause, censored at last contact or data cutoff (`Cohort.os`). Population: all
enrolled patients (intention to treat; every patient started maintenance at day 0). R
equivalent: ``survfit(Surv(os_time, death) ~ 1)``.
"""

from __future__ import annotations

from typing import Any

from mrdtrack.report.fmt import estimate_ci
from mrdtrack.report.sections import _surv
from mrdtrack.report.sections._base import Context, Section, SectionResult, SectionSkipped


def compute(ctx: Context, res: SectionResult) -> None:
    cfg = ctx.config
    os_ = ctx.cohort.os(unit=cfg.time_unit)
    if os_.height == 0:
        raise SectionSkipped("no patients")
    overall = _surv.km_section(
        ctx,
        res,
        os_,
        name="os_overall",
        by=None,
        order=["all"],
        labels={"all": "All enrolled"},
        title="Overall survival, all enrolled patients",
        annotation=None,
        ylabel="Overall survival",
    )["all"]
    km = _surv.kaplan_meier(ctx, os_)
    t_last = float(os_["time"].max())
    rows = {
        float(r["time"]): r for r in _surv.survival_at(km, list(cfg.pfs_times), None).to_dicts()
    }
    at: dict[str, Any] = {}
    for t in cfg.pfs_times:
        r = rows[float(t)]
        at[f"{t:g}"] = {k: _surv._f(r[k]) for k in ("surv", "lower", "upper", "n_risk")}
        if t > t_last:
            at[f"{t:g}"]["beyond_follow_up"] = True
    res.values.update(
        {
            "population": "all enrolled",
            "n": overall["n"],
            "deaths": overall["events"],
            "median": overall["median"],
            "at": at,
        }
    )
    med = overall["median"]
    res.highlights.append(
        (
            f"Median OS ({cfg.time_unit})",
            "not reached"
            if med["estimate"] is None
            else estimate_ci(med["estimate"], med["lower"], med["upper"]),
        )
    )
    res.highlights.append(("Deaths (all enrolled)", f"{overall['events']} of {overall['n']}"))
    for t in cfg.pfs_times:
        e = at[f"{t:g}"]
        if not e.get("beyond_follow_up") and e["surv"] is not None:
            res.highlights.append(
                (
                    f"OS at {t:g} {cfg.time_unit}",
                    estimate_ci(e["surv"], e["lower"], e["upper"], as_pct=True),
                )
            )


SECTION = Section(
    key="os",
    title="Overall survival",
    compute=compute,
)
