"""Section 2: baseline characteristics (Table 1), overall and by baseline MRD status.

Continuous variables: median (range); categorical: n (% of the column's patients), missing
values shown as their own row, never dropped. Population: all enrolled patients.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mrdtrack.report.labels import LEVEL_ORDER, ordered
from mrdtrack.report.labels import label as code_label
from mrdtrack.report.sections import _mrd
from mrdtrack.report.sections._base import (
    Column,
    Context,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)
from mrdtrack.schema import TABLES

CATEGORICAL = (
    ("sex", "Sex"),
    ("iss", "ISS stage"),
    ("riss", "R-ISS stage"),
    ("cytogenetic_risk", "Cytogenetic risk"),
    ("prior_transplant", "Prior autologous transplant"),
    ("induction", "Induction regimen"),
    ("baseline_response", "Response at start of maintenance"),
    ("site", "Site"),
    ("arm", "Arm"),
)
CONTINUOUS = (("age", "Age, years"),)
MRD_GROUPS = (("negative", "MRD−"), ("positive", "MRD+"), ("not_assessed", "Not assessed"))


def _levels(s: pl.Series, column: str) -> list[Any]:
    values = [v for v in s.unique().to_list() if v is not None]
    spec = TABLES["patients"].column(column) if column in TABLES["patients"].polars_schema else None
    if column in LEVEL_ORDER:
        return ordered(column, values)
    if spec is not None and spec.codes:
        order = {c: i for i, c in enumerate(spec.codes)}
        return sorted(values, key=lambda v: (order.get(v, len(order)), str(v)))
    if s.dtype == pl.Boolean:
        return [v for v in (True, False) if v in values]
    return sorted(values, key=str)


def _fmt_n(n: int, d: int) -> str:
    return f"{n} ({100 * n / d:.1f}%)" if d else "0"


def compute(ctx: Context, res: SectionResult) -> None:
    p = ctx.cohort.patients
    groups: list[tuple[str, str, pl.DataFrame]] = [("overall", "Overall", p)]
    status = _mrd.baseline_status(ctx)
    pm = p.join(status.select("patient_id", "baseline_status"), on="patient_id", how="left")
    pm = pm.with_columns(pl.col("baseline_status").fill_null("not_assessed"))
    for key, label in MRD_GROUPS:
        sub = pm.filter(pl.col("baseline_status") == key)
        if sub.height or key != "not_assessed":
            groups.append((key, label, sub))
    present_cat = [
        (c, lab) for c, lab in CATEGORICAL if c in p.columns and p[c].null_count() < p.height
    ]
    present_cont = [
        (c, lab) for c, lab in CONTINUOUS if c in p.columns and p[c].null_count() < p.height
    ]
    if not present_cat and not present_cont:
        raise SectionSkipped("no baseline covariate is recorded in the patients table")
    # a single arm/site column adds nothing
    present_cat = [
        (c, lab) for c, lab in present_cat if p[c].n_unique() > 1 or c not in ("arm", "site")
    ]

    rows: list[dict[str, Any]] = [
        {"variable": "Patients", "level": "", **{g: f"{d.height}" for g, _, d in groups}}
        | {f"{g}_n": d.height for g, _, d in groups}
    ]
    for col, label in present_cont:
        row: dict[str, Any] = {"variable": label, "level": "median (range)"}
        for g, _, d in groups:
            s = d[col].drop_nulls()
            if s.len():
                med, lo, hi = float(s.median()), float(s.min()), float(s.max())
                row[g] = f"{med:.0f} ({lo:.0f}–{hi:.0f})"
                row |= {f"{g}_median": med, f"{g}_min": lo, f"{g}_max": hi}
            else:
                row[g] = "—"
        rows.append(row)
        n_missing = {g: int(d[col].null_count()) for g, _, d in groups}
        if any(n_missing.values()):
            rows.append(
                {"variable": label, "level": "missing"}
                | {g: f"{n_missing[g]}" for g, _, _ in groups}
                | {f"{g}_n": n_missing[g] for g, _, _ in groups}
            )
    for col, label in present_cat:
        levels = _levels(p[col], col)
        for level in [*levels, None]:
            counts = {
                g: int((d[col].is_null() if level is None else d[col] == level).sum())
                for g, _, d in groups
            }
            if level is None and not any(counts.values()):
                continue
            shown = (
                "missing"
                if level is None
                else ("yes" if level is True else "no" if level is False else code_label(level))
            )
            row = {"variable": label, "level": shown}
            for g, _, d in groups:
                row[g] = _fmt_n(counts[g], d.height)
                row[f"{g}_n"] = counts[g]
                row[f"{g}_pct"] = counts[g] / d.height if d.height else None
            rows.append(row)
    columns = [Column("variable", "Characteristic", "text"), Column("level", "", "text")]
    columns += [Column(g, f"{label} (n={d.height})", "text") for g, label, d in groups]
    res.tables.append(
        Table(
            "table1",
            "Baseline characteristics of all enrolled patients"
            + (", overall and by baseline MRD status" if len(groups) > 1 else ""),
            tuple(columns),
            tuple(rows),
            notes=("Categorical: n (% of column). Continuous: median (range).",),
            collapse=("variable",),
        )
    )
    res.values["n"] = {g: d.height for g, _, d in groups}
    if len(groups) > 1:
        res.highlights.append(
            (
                "Baseline MRD status",
                ", ".join(f"{label} {d.height}" for g, label, d in groups[1:]),
            )
        )


SECTION = Section(key="baseline", title="Baseline characteristics", compute=compute)
