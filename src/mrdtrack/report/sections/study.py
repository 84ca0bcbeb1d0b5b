"""Section 0: the study and its data source — what the data are and where they come from.

For every study: the population counts of each analysis and why they differ. For the embedded
demo study (simulated patients) also: the trial it imitates (NCT02538198; Diamond et al., Lancet
Haematol 2021), how it was built (`mrdtrack.simulate.demo`: 3,000 simulated patients, 108
selected until published counts and the landmark HR/p matched, so those numbers reproduce the
paper *by construction*) and a published-vs-demo table. The published figures are package data
(`published.toml`, citing the paper); the demo's values are read from the other sections'
results, never recomputed here — so this section runs after them and is shown first.
"""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from typing import Any

from mrdtrack.report.fmt import num, p_value, pct
from mrdtrack.report.sections._base import Column, Context, Section, SectionResult, Table


def published() -> dict[str, Any]:
    """The founding study's published figures (package data, with the citation)."""
    text = (resources.files("mrdtrack.report") / "published.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def demo_provenance() -> dict[str, Any]:
    """Seed, pool size and search length of the shipped demo (data/demo/provenance.toml)."""
    f = resources.files("mrdtrack.data") / "demo" / "provenance.toml"
    return tomllib.loads(f.read_text(encoding="utf-8"))


def _lookup(results: dict[str, Any], path: str) -> Any:
    """``section.key.key`` in the sections' values (None if absent); keys may hold spaces."""
    section, _, rest = path.partition(".")
    node: Any = results.get(section)
    node = getattr(node, "values", None)
    while rest and node is not None:
        for k in sorted(node, key=len, reverse=True) if isinstance(node, dict) else ():
            if rest == k or rest.startswith(k + "."):
                node, rest = node[k], rest[len(k) + 1 :]
                break
        else:
            return None
    return node


def _shown(value: Any, fmt: str) -> str:
    if fmt == "median":
        return "not reached" if value is None else num(value)
    if value is None:
        return "—"
    if fmt == "int":
        return str(int(value))
    if fmt == "pct0":
        return pct(value, 0)
    if fmt == "p":
        return p_value(value)
    if fmt == "hr":
        return "infinite" if math.isinf(value) else f"{value:.2f}"
    return num(value)


def populations(ctx: Context) -> list[str]:
    """Why the analyses have different numbers of patients (from the sections' own counts)."""
    r = ctx.results
    v = {k: s.values for k, s in r.items()}
    out = []
    d = v.get("disposition", {})
    if d:
        out.append(
            f"All {d['enrolled']} enrolled patients: baseline characteristics, MRD over time, "
            f"trajectory classes, dynamic prediction and safety. {d['evaluable_pfs']} evaluable "
            f"for PFS ({d['evaluable_rule']}): follow-up, PFS, overall survival, landmark and "
            "time-dependent analyses."
        )
    td = v.get("timedep", {}).get("time_dependent_cox")
    if td:
        out.append(
            f"Time-dependent Cox model: {td['patients']} of the evaluable patients — those with "
            "at least one evaluable MRD assessment before their PFS event or censoring (follow-up "
            "before a patient's first evaluable assessment has no current MRD status)."
        )
    lm = v.get("landmark", {})
    if lm:
        out.append(
            f"Landmark analysis: the {lm['at_risk']} evaluable patients alive, progression-free "
            "and in follow-up at the landmark, every class counted (including not classifiable)."
        )
    return out


def compute(ctx: Context, res: SectionResult) -> None:
    res.paragraphs += populations(ctx)
    if not ctx.is_demo:
        res.values["data_source"] = "user study"
        return
    pub = published()
    prov = demo_provenance()
    res.values["data_source"] = "embedded demo study (simulated patients)"
    res.values["founding_study"] = {
        "registration": pub["registration"],
        "citation": pub["citation"],
    }
    res.values["demo_construction"] = {
        "seed": prov["seed"],
        "pool_size": prov["pool_size"],
        "selected": ctx.cohort.n_patients,
        "swaps": prov["swaps"],
    }
    res.paragraphs[:0] = [
        "All patients in this report are SIMULATED. The demo study imitates the phase 2 trial "
        f"{pub['registration']} of lenalidomide maintenance with yearly MRD assessment "
        f"({pub['citation']}). No patient record of that trial is used.",
        f"How the demo was built (mrdtrack.simulate.demo, seed {prov['seed']}): "
        f"{prov['pool_size']:,} patients were simulated from a model calibrated to the "
        f"published figures; {ctx.cohort.n_patients} of them were then selected (a search of "
        f"{prov['swaps']:,} swaps) until the published counts matched exactly and the median "
        "follow-up, 5-year PFS and the 24-month landmark comparisons (published HR 5.88, "
        "p = 0.015 for loss of negativity vs persistent positivity; infinite HR vs sustained "
        "negativity) came close. Those numbers therefore reproduce the paper BY CONSTRUCTION: "
        "they show that the software computes them as published, not that the finding "
        "replicates.",
    ]
    rows = []
    values: dict[str, Any] = {}
    for f in pub["fact"]:
        got = _lookup(ctx.results, f["path"])
        values[f["label"]] = {"published": f["published"], "demo": got, "match": f["match"]}
        rows.append(
            {
                "label": f["label"],
                "published": f["published"],
                "demo": _shown(got, f["format"]),
                "match": f["match"],
            }
        )
    res.values["published_vs_demo"] = values
    res.tables.append(
        Table(
            "published_vs_demo",
            f"Published figures ({pub['short']}) and the demo study's",
            (
                Column("label", "Quantity", "text"),
                Column("published", "Published", "text"),
                Column("demo", "Demo (simulated)", "text"),
                Column("match", "How the demo matches", "text"),
            ),
            tuple(rows),
            notes=(
                "exact (selected): the demo's 108 patients were chosen among 3,000 simulated "
                "ones so that this count equals the published one; close (selected): the "
                "selection moved this figure towards the published value; not targeted: an "
                "independent check of the simulation model.",
            ),
        )
    )


SECTION = Section(
    key="study",
    title="Study, data source and populations",
    compute=compute,
    runs_last=True,
)
