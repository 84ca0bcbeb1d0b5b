"""Section 0: the study and its data source — what the data are and where they come from.

For every study: the population counts of each analysis and why they differ. For the embedded
demo study (simulated patients) also: the trial it imitates (NCT02538198; Diamond et al., Lancet
Haematol 2021), how it was built (`mrdtrack.simulate.demo`: 3,000 patients simulated from the
calibrated model, 108 selected on the published counts only) and the "Published vs demo" table:
each figure, its published value, the demo's, and its basis — "by selection" (a count the
selection made equal) or "model" (hazard ratios, p-values, PFS, follow-up: what the model gave).
The published figures are package data (`published.toml`, citing the paper); the demo's values
are read from the other sections' results, never recomputed here — so this section runs after
them and is shown first.
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
        "selection": prov.get("selection", "counts only"),
        "params_version": prov.get("params_version"),
    }
    res.paragraphs[:0] = [
        "All patients in this report are SIMULATED. The demo study imitates the phase 2 trial "
        f"{pub['registration']} of lenalidomide maintenance with yearly MRD assessment "
        f"({pub['citation']}). No patient record of that trial is used.",
        f"How the demo was built (mrdtrack.simulate.demo, seed {prov['seed']}): "
        f"{prov['pool_size']:,} patients were simulated from the model calibrated to the "
        f"published figures (calibration version {prov.get('params_version', '1')}); "
        f"{ctx.cohort.n_patients} of them were then selected (a search of {prov['swaps']:,} "
        "swaps) on the published COUNTS ONLY: enrolled, evaluable, baseline MRD split, IMWG "
        "classes, on maintenance at cutoff, deaths and three safety counts. Nothing else was "
        "selected on: median follow-up, PFS, the landmark hazard ratios and p-values are what "
        "the simulation model gave, and may differ from the published ones as another trial of "
        'the same design would (table below, basis "model"). They show what the software '
        "computes, not the paper's findings.",
    ]
    rows = []
    values: dict[str, Any] = {}
    for f in pub["fact"]:
        got = _lookup(ctx.results, f["path"])
        shown = _shown(got, f["format"])
        last = _lookup(ctx.results, f["fallback"]) if "fallback" in f and got is None else None
        if last and last.get("surv") is not None:
            got = last["surv"]
            shown = f"{_shown(got, f['format'])} (at {num(last['time'])} months, last follow-up)"
        values[f["label"]] = {"published": f["published"], "demo": got, "basis": f["match"]}
        rows.append(
            {"label": f["label"], "published": f["published"], "demo": shown, "match": f["match"]}
        )
    res.values["published_vs_demo"] = values
    res.tables.append(
        Table(
            "published_vs_demo",
            f"Published vs demo: {pub['short']} and the demo study (simulated; selected on "
            "counts only)",
            (
                Column("label", "Quantity", "text"),
                Column("published", "Published", "text"),
                Column("demo", "Demo (simulated)", "text"),
                Column("match", "Basis", "text"),
            ),
            tuple(rows),
            notes=(
                "by selection: the demo's 108 patients were chosen among 3,000 simulated ones so "
                "that this count equals the published one; model: not selected on — the value "
                "the simulation model gave for these patients (a draw, not the paper's finding).",
            ),
        )
    )


SECTION = Section(
    key="study",
    title="Study, data source and populations",
    compute=compute,
    runs_last=True,
)
