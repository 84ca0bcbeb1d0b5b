"""Section 3: median follow-up by the reverse Kaplan-Meier method, with CI and IQR.

Reverse KM (Schemper & Smith, Control Clin Trials 1996): censoring is the "event" and
progression or death censors; R ``survfit(Surv(time, 1 - event) ~ 1)``, or
``prodlim::prodlim(reverse = TRUE)``. Population: patients evaluable for PFS.
"""

from __future__ import annotations

from typing import Any

from mrdtrack.report.fmt import estimate_ci, num
from mrdtrack.report.sections import _surv
from mrdtrack.report.sections._base import Context, Section, SectionResult, SectionSkipped
from mrdtrack.survival import median_followup


def compute(ctx: Context, res: SectionResult) -> None:
    pfs = _surv.pfs_frame(ctx)
    if pfs.height == 0:
        raise SectionSkipped("no patient evaluable for PFS")
    fu = median_followup(pfs, "time", "event", conf_level=ctx.config.conf_level)
    r = fu.table().to_dicts()[0]
    unit = ctx.config.time_unit
    values: dict[str, Any] = {
        "population": "evaluable for PFS",
        "n": pfs.height,
        "method": "reverse Kaplan-Meier",
        "unit": unit,
        "median": r["median"],
        "lower": r["lower"],
        "upper": r["upper"],
        "q1": r["q1"],
        "q3": r["q3"],
        "still_in_followup": int(r["n_censored"]),
        "max_observed": float(pfs["time"].max()),
    }
    res.values.update(values)
    lvl = round(100 * ctx.config.conf_level)
    res.highlights += [
        (
            f"Median follow-up ({unit}, {lvl}% CI)",
            estimate_ci(r["median"], r["lower"], r["upper"]),
        ),
        (f"Interquartile range ({unit})", f"{num(r['q1'])}–{num(r['q3'])}"),
        (
            "Censored for PFS (alive and progression-free at last contact)",
            f"{int(r['n_censored'])}",
        ),
    ]
    res.paragraphs.append(
        f"Median follow-up of the {pfs.height} patients evaluable for PFS, estimated by the "
        "reverse Kaplan-Meier method (censoring as the event; progression or death end "
        "follow-up); confidence interval with the log transform and quartiles as R "
        "quantile(survfit(Surv(time, 1 - event) ~ 1))."
    )


SECTION = Section(
    key="followup",
    title="Follow-up",
    compute=compute,
)
