"""The study data contract: the tables of a `Cohort`, their columns, types and codes.

Every reader (CSV/Parquet/Excel folder, CDISC ADaM) and the simulator produce these tables;
everything downstream reads only these. Times are integer **study days** from the time origin
(day 0 = start of maintenance, ADaM ``TRTSDT``); calendar dates are used only at ingest and are
not kept. ``docs/data-format.md`` documents each column for users; this module is its source.

Conventions
-----------
- Study day: ``date - origin_date`` in days (day 0 is the origin; no ADaM "+1 day, no day 0"
  rule). Months are ``days / 30.4375`` (``DAYS_PER_MONTH``), years ``days / 365.25``.
- Identifiers are text (``"001"`` stays ``"001"``).
- Missing values are nulls; code lists are closed (unknown codes are validation errors).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

DAYS_PER_MONTH = 30.4375
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Column:
    """One column of a study table."""

    name: str
    dtype: type[pl.DataType] | pl.DataType
    required: bool
    description: str
    codes: tuple[str, ...] | None = None  # closed code list for text columns
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """One table of a study: its name, the file stem readers look for, its columns, its key."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}


RESULT_CODES = ("negative", "positive", "indeterminate", "not_evaluable")
METHOD_CODES = ("NGF", "NGS", "ASO-PCR", "PET-CT", "other")
SPECIMEN_CODES = ("bone_marrow", "peripheral_blood", "imaging")
SEX_CODES = ("F", "M")
CYTO_RISK_CODES = ("standard", "high")
ISS_CODES = ("I", "II", "III")
PROGRESSION_METHOD_CODES = ("IMWG_laboratory", "IMWG_imaging", "clinical", "other")

PATIENTS = TableSpec(
    name="patients",
    description="One row per enrolled patient: time origin, data cutoff, baseline covariates.",
    key=("patient_id",),
    columns=(
        Column("patient_id", pl.String, True, "Patient identifier (text).", nullable=False),
        Column("arm", pl.String, False, "Treatment arm or cohort label; default 'all'."),
        Column("site", pl.String, False, "Enrolling site."),
        Column(
            "cutoff_day",
            pl.Int64,
            True,
            "Data cutoff as study day (follow-up of this patient cannot extend past it).",
            nullable=False,
        ),
        Column("age", pl.Float64, False, "Age in years at the time origin."),
        Column("sex", pl.String, False, "Sex.", SEX_CODES),
        Column("iss", pl.String, False, "ISS stage at diagnosis.", ISS_CODES),
        Column("riss", pl.String, False, "R-ISS stage at diagnosis.", ISS_CODES),
        Column("cytogenetic_risk", pl.String, False, "IMWG cytogenetic risk.", CYTO_RISK_CODES),
        Column("prior_transplant", pl.Boolean, False, "Autologous transplant before origin."),
        Column("induction", pl.String, False, "Induction regimen (free text)."),
        Column("baseline_response", pl.String, False, "IMWG response at origin (sCR, CR, VGPR…)."),
        Column("cycles_completed", pl.Int64, False, "Maintenance cycles completed."),
    ),
)

MRD = TableSpec(
    name="mrd",
    description="One row per MRD assay result (several assays may share a visit).",
    key=("patient_id", "day", "method", "specimen"),
    columns=(
        Column("patient_id", pl.String, True, "Patient identifier.", nullable=False),
        Column("day", pl.Int64, True, "Study day of the sample.", nullable=False),
        Column("visit", pl.String, False, "Visit label (e.g. BASELINE, YEAR1)."),
        Column("method", pl.String, True, "Assay.", METHOD_CODES, nullable=False),
        Column("specimen", pl.String, False, "Specimen; default bone_marrow.", SPECIMEN_CODES),
        Column(
            "sensitivity",
            pl.Float64,
            False,
            "Limit of detection reached by this sample (e.g. 1e-5); null if not reported.",
        ),
        Column("result", pl.String, True, "Reported result.", RESULT_CODES, nullable=False),
        Column("clonal_fraction", pl.Float64, False, "Clonal cells / total cells when reported."),
        Column("adequate", pl.Boolean, False, "Sample adequacy (false: haemodilute etc.)."),
    ),
)

OUTCOMES = TableSpec(
    name="outcomes",
    description="One row per patient: progression, death, last contact, end of treatment.",
    key=("patient_id",),
    columns=(
        Column("patient_id", pl.String, True, "Patient identifier.", nullable=False),
        Column("progression_day", pl.Int64, False, "Study day of progression (IMWG)."),
        Column(
            "progression_method",
            pl.String,
            False,
            "How progression was assessed.",
            PROGRESSION_METHOD_CODES,
        ),
        Column("death_day", pl.Int64, False, "Study day of death."),
        Column("death_cause", pl.String, False, "Cause of death (free text)."),
        Column(
            "last_contact_day",
            pl.Int64,
            True,
            "Study day of last contact known alive and progression-free status assessed.",
            nullable=False,
        ),
        Column("treatment_end_day", pl.Int64, False, "Study day treatment ended (null: ongoing)."),
        Column("treatment_end_reason", pl.String, False, "Why treatment ended."),
    ),
)

ADVERSE_EVENTS = TableSpec(
    name="adverse_events",
    description="One row per adverse event.",
    key=(),
    columns=(
        Column("patient_id", pl.String, True, "Patient identifier.", nullable=False),
        Column("term", pl.String, True, "Verbatim term (AETERM).", nullable=False),
        Column("decod", pl.String, False, "Preferred term (AEDECOD); defaults to term."),
        Column("body_system", pl.String, False, "System organ class (AEBODSYS)."),
        Column("grade", pl.Int64, False, "CTCAE v5 grade 1-5; null = missing (listed)."),
        Column("serious", pl.Boolean, False, "Serious adverse event (AESER)."),
        Column("onset_day", pl.Int64, False, "Study day of onset."),
        Column("related", pl.Boolean, False, "Attributed to study treatment."),
    ),
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (PATIENTS, MRD, OUTCOMES, ADVERSE_EVENTS)}
REQUIRED_TABLES = ("patients", "mrd", "outcomes")

EXCLUSIONS_SCHEMA: dict[str, pl.DataType] = {
    "table": pl.String(),
    "file": pl.String(),
    "row": pl.Int64(),
    "column": pl.String(),
    "rule": pl.String(),
    "reason": pl.String(),
}
