"""Section 10: methods paragraph generated from the options in force, and the software used.

The provenance block (input checksums, command, start/end time) is rendered from the run record
beside this section; it is not part of results.json's stable content except the checksums,
versions and seed.
"""

from __future__ import annotations

from mrdtrack.report.sections import _mrd
from mrdtrack.report.sections._base import Context, Section, SectionResult

_CONF = {
    "log": "log transform (R survfit default)",
    "log-log": "log-log transform (SAS PROC LIFETEST default)",
    "plain": "plain (linear) intervals",
}
_TIES = {
    "efron": "Efron's approximation for ties (R coxph default)",
    "breslow": "Breslow's approximation for ties (SAS PROC PHREG default)",
}


def methods_text(ctx: Context) -> list[str]:
    c = ctx.config
    lvl = round(100 * c.conf_level)
    methods = ", ".join(c.mrd_methods) if c.mrd_methods else "all assays, combined per visit"
    text = [
        "Time is measured in study days from the start of maintenance (day 0) and shown in "
        f"{c.time_unit} (1 month = 30.4375 days, 1 year = 365.25 days). "
        "Progression-free survival (PFS) counts progression (IMWG) or death from any cause, "
        "censored at last contact or the data cutoff, in patients who completed at least "
        f"{c.evaluable_min_cycles} maintenance cycles.",
        "Survival curves are Kaplan-Meier estimates with Greenwood variance and "
        f"{lvl}% confidence intervals by the {_CONF[c.conf_type]}; medians and their intervals "
        "follow R print.survfit; the number at risk is given at each time (R summary(fit, "
        "times=)). Median follow-up uses the reverse Kaplan-Meier method (Schemper & Smith "
        "1996). Groups are compared with the log-rank test and Cox proportional-hazards "
        f"models with {_TIES[c.ties]}, Wald {lvl}% intervals and likelihood-ratio tests.",
        f"MRD status is called per assessment at a threshold of {c.mrd_threshold:g} "
        f"({methods}): a negative result counts only if the sample reached that sensitivity. "
        "Trajectory classes follow IMWG 2016 (Kumar et al., Lancet Oncol 2016): sustained "
        f"negativity needs negative assessments at least {c.confirmation_days} days apart "
        f"(tolerance {c.confirmation_tolerance_days} days) with no positive in between; loss of "
        "negativity is a positive after a negative; conversion a negative after a positive.",
        f"To avoid guarantee-time bias, classes are compared only at a landmark of "
        f"{c.landmark:g} {c.time_unit} (Anderson, Cain & Gelber 1983): patients alive, "
        "progression-free and under follow-up at the landmark, classes from assessments up to "
        "the landmark, time reset to the landmark; and with MRD status as a time-dependent "
        "covariate in a (start, stop] Cox model. When a comparison has no event in the "
        "reference group the Cox likelihood is monotone and the HR is infinite; Firth's "
        "penalised likelihood (Heinze & Schemper 2001) then gives a finite estimate with a "
        "profile-likelihood interval and a penalised likelihood-ratio test, as R coxphf.",
        "MRD dynamics are summarised by a continuous-time Markov model for panel data "
        "(Kalbfleisch & Lawless 1985; R msm). Adverse events are counted once per patient and "
        "preferred term at the highest CTCAE grade; records with a missing grade are listed.",
    ]
    disease_text = _mrd.disease_methods_text(ctx)  # CLL / AML / ALL: the preset's rules
    if disease_text:
        text[3] = disease_text
    return text


def compute(ctx: Context, res: SectionResult) -> None:
    res.paragraphs += methods_text(ctx)
    res.values["options"] = ctx.config.as_dict()


SECTION = Section(key="methods", title="Methods and provenance", compute=compute)
