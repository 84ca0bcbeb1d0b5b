"""The validated, immutable study at the centre of mrdtrack.

A `Cohort` is built only by `Cohort.from_frames` (which validates) or by the readers in
`mrdtrack.io` (which call it). Its tables follow `mrdtrack.schema`; times are study days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from mrdtrack.schema import DAYS_PER_MONTH, DAYS_PER_YEAR, EXCLUSIONS_SCHEMA

_UNITS = {"days": 1.0, "months": DAYS_PER_MONTH, "years": DAYS_PER_YEAR}


@dataclass(frozen=True)
class SourceFile:
    """An input file: where it came from, its SHA-256, which table, how many data rows were read."""

    path: str
    sha256: str
    table: str
    rows_read: int


@dataclass(frozen=True)
class Cohort:
    """A validated study: patients, MRD assessments, outcomes, adverse events and exclusions.

    Attributes
    ----------
    patients, mrd, outcomes, adverse_events : polars.DataFrame
        Tables as specified in `mrdtrack.schema` (study days, text identifiers).
    exclusions : polars.DataFrame
        Every record read but not kept: table, file, row, column, rule, reason.
        For each table, records read = records kept + records excluded.
    sources : tuple of SourceFile
        Input files with checksums (empty for frames passed in memory).
    name : str
        Study label used in outputs.
    """

    patients: pl.DataFrame
    mrd: pl.DataFrame
    outcomes: pl.DataFrame
    adverse_events: pl.DataFrame
    exclusions: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EXCLUSIONS_SCHEMA))
    sources: tuple[SourceFile, ...] = ()
    name: str = "study"
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_frames(
        cls,
        patients: Any,
        mrd: Any,
        outcomes: Any,
        adverse_events: Any = None,
        *,
        name: str = "study",
        sources: tuple[SourceFile, ...] = (),
        file_names: dict[str, str] | None = None,
    ) -> Cohort:
        """Validate in-memory tables (pandas or polars) and build a Cohort.

        Raises `StudyValidationError` listing every error; records failing warning-level rules
        are excluded and listed in ``exclusions``.
        """
        from mrdtrack.io.validate import validate_tables

        return validate_tables(
            {
                "patients": patients,
                "mrd": mrd,
                "outcomes": outcomes,
                "adverse_events": adverse_events,
            },
            name=name,
            sources=sources,
            file_names=file_names,
        )

    # ---- derived quantities -------------------------------------------------------------

    @property
    def n_patients(self) -> int:
        return self.patients.height

    def pfs(self, unit: str = "days") -> pl.DataFrame:
        """Progression-free survival per patient: ``patient_id, time, event, event_type``.

        Event = progression or death from any cause, whichever comes first (IMWG/FDA PFS);
        otherwise censored at last contact, truncated at the data cutoff. ``time`` is in
        ``unit`` ("days", "months" = days/30.4375, "years" = days/365.25).
        """
        return self._time_to_event(("progression_day", "death_day"), unit)

    def os(self, unit: str = "days") -> pl.DataFrame:
        """Overall survival per patient: death from any cause; censored at last contact/cutoff."""
        return self._time_to_event(("death_day",), unit)

    def _time_to_event(self, event_cols: tuple[str, ...], unit: str) -> pl.DataFrame:
        if unit not in _UNITS:
            raise ValueError(f"unit must be one of {sorted(_UNITS)}, got {unit!r}")
        o = self.outcomes.join(
            self.patients.select("patient_id", "cutoff_day"), on="patient_id", how="inner"
        )
        first_event = pl.min_horizontal(*[pl.col(c) for c in event_cols])
        censor_day = pl.min_horizontal(pl.col("last_contact_day"), pl.col("cutoff_day"))
        event_type = pl.when(first_event.is_null()).then(pl.lit("censored"))
        for c in event_cols:
            label = c.removesuffix("_day")
            event_type = event_type.when(pl.col(c) == first_event).then(pl.lit(label))
        out = o.select(
            "patient_id",
            (pl.coalesce(first_event, censor_day).cast(pl.Float64) / _UNITS[unit]).alias("time"),
            first_event.is_not_null().cast(pl.Int8).alias("event"),
            event_type.alias("event_type"),
        )
        return out.sort("patient_id")
