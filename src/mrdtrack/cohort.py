"""The validated, immutable study at the centre of mrdtrack.

A `Cohort` is built only by `Cohort.from_frames`, which validates the tables
(`mrdtrack.validation`), directly or through the readers of `mrdtrack.io`. Its tables follow
`mrdtrack.schema`; times are study days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import polars as pl

from mrdtrack.errors import Problem, StudyValidationError
from mrdtrack.privacy import pseudonymise
from mrdtrack.schema import DAYS_PER_MONTH, DAYS_PER_YEAR, EXCLUSIONS_SCHEMA
from mrdtrack.validation import Collector, ValidationOptions, check_disease, check_tables

_UNITS = {"days": 1.0, "months": DAYS_PER_MONTH, "years": DAYS_PER_YEAR}


@dataclass(frozen=True)
class SourceFile:
    """An input file: where it came from, its SHA-256, which table, how many data rows were read."""

    path: str
    sha256: str
    table: str
    rows_read: int


@dataclass(frozen=True, eq=False, repr=False)
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
    metadata : dict
        Reader details: ``rows_read`` per table, ``notes`` (values interpreted, e.g. partial
        dates imputed), ``warnings`` (the excluded-record problems), options used.
    disease : str
        The study's disease preset (`mrdtrack.mrd.presets`: "myeloma", "cll", "aml", "all"),
        which MRD rules apply. Validated study metadata: set by the readers (``[study]
        disease`` of the study map; ``read_adam(disease=...)``), "myeloma" by default
        (simulated studies included); change it with `with_disease`.
    disease_options : mapping (read-only)
        The preset's options (``[study.disease_options]``), validated with it.

    ``repr`` shows sizes only (no identifiers). Two cohorts are equal (``==``) when their
    four tables are equal and they excluded the same number of records per table, column and
    rule; name, sources and metadata (which name the input files) are not compared, nor the
    disease preset (the same data read under two presets are equal data).
    """

    patients: pl.DataFrame
    mrd: pl.DataFrame
    outcomes: pl.DataFrame
    adverse_events: pl.DataFrame
    exclusions: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EXCLUSIONS_SCHEMA))
    sources: tuple[SourceFile, ...] = ()
    name: str = "study"
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    disease: str = "myeloma"
    disease_options: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # the options are read-only; the disease and options were checked by the validator
        object.__setattr__(self, "disease_options", MappingProxyType(dict(self.disease_options)))

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
        file_names: Mapping[str, str] | None = None,
        options: ValidationOptions | None = None,
        disease: str | None = "myeloma",
        disease_options: Mapping[str, Any] | None = None,
        problems: Sequence[Problem] = (),
        rows_read: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        disease_source: str = "<study>",
    ) -> Cohort:
        """Validate in-memory tables (pandas or polars) and build a Cohort.

        Raises `StudyValidationError` listing every error; records failing warning-level rules
        are excluded and listed in ``exclusions``. ``options`` is a
        `mrdtrack.io.ValidationOptions` (null tokens, date columns, pre-origin window);
        ``disease`` / ``disease_options`` the study's disease preset (validated with the tables).
        The readers of `mrdtrack.io` also pass what they found while reading: ``problems``
        (reported with the validator's), ``rows_read`` per table, reader ``metadata`` and
        ``disease_source`` (where the disease was given, for messages); see
        `mrdtrack.validation.check_tables`.
        """
        v = check_tables(
            {
                "patients": patients,
                "mrd": mrd,
                "outcomes": outcomes,
                "adverse_events": adverse_events,
            },
            file_names,
            options=options,
            problems=problems,
            rows_read=rows_read,
            metadata=metadata,
            disease=disease,
            disease_options=disease_options,
            disease_source=disease_source,
        )
        return cls(
            patients=v.patients,
            mrd=v.mrd,
            outcomes=v.outcomes,
            adverse_events=v.adverse_events,
            exclusions=v.exclusions,
            sources=tuple(sources),
            name=name,
            metadata=v.metadata,
            disease=v.disease,
            disease_options=v.disease_options,
        )

    def with_disease(self, disease: str, options: Mapping[str, Any] | None = None) -> Cohort:
        """The same study under another disease preset (e.g. the CLI's ``--disease``).

        ``options`` default: the study's own options when ``disease`` is its disease, else none
        (the preset's defaults). Checked by the validator's rules (``unknown_disease``,
        ``unknown_disease_option``, ``invalid_disease_option``): `StudyValidationError`.
        """
        if options is None:
            same = isinstance(disease, str) and disease.strip().lower() == self.disease
            options = self.disease_options if same else {}
        out = Collector()
        name, opts = check_disease(disease, options, "with_disease(...)", out)
        if out.problems:
            raise StudyValidationError(out.problems)
        return replace(self, disease=name, disease_options=opts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cohort):
            return NotImplemented
        tables = ("patients", "mrd", "outcomes", "adverse_events")
        if not all(getattr(self, t).equals(getattr(other, t)) for t in tables):
            return False
        return self.exclusion_counts().equals(other.exclusion_counts())

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        # sizes only: the default dataclass repr would print identifiers from the tables
        return (
            f"Cohort(name={self.name!r}, patients={self.patients.height}, "
            f"mrd={self.mrd.height}, outcomes={self.outcomes.height}, "
            f"adverse_events={self.adverse_events.height}, "
            f"exclusions={self.exclusions.height})"
        )

    # ---- accounting ----------------------------------------------------------------------

    def exclusion_counts(self) -> pl.DataFrame:
        """Excluded records per table, column and rule: ``table, column, rule, n``."""
        return (
            self.exclusions.group_by("table", "column", "rule")
            .agg(pl.len().cast(pl.Int64).alias("n"))
            .sort("table", "column", "rule", nulls_last=True)
        )

    def accounting(self) -> pl.DataFrame:
        """Records read, kept and excluded per table (read = kept + excluded, always)."""
        read = self.metadata.get("rows_read", {})
        rows = []
        for t in ("patients", "mrd", "outcomes", "adverse_events"):
            kept = getattr(self, t).height
            excluded = self.exclusions.filter(pl.col("table") == t).height
            rows.append(
                {"table": t, "read": int(read.get(t, kept + excluded)), "kept": kept,
                 "excluded": excluded}
            )  # fmt: skip
        return pl.DataFrame(rows)

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

    def disposition(self) -> pl.DataFrame:
        """Status of each patient at the data cutoff.

        ``status`` is the first that applies: "progressed" (progression on or before the
        cutoff), "died" (death without progression), "on_treatment" (no treatment end, or
        treatment end after the cutoff), "off_treatment" (treatment ended, alive and
        progression-free). Columns: ``patient_id, status, treatment_end_reason``.
        """
        o = self.outcomes.join(
            self.patients.select("patient_id", "cutoff_day"), on="patient_id", how="inner"
        )
        status = (
            pl.when(pl.col("progression_day").is_not_null())
            .then(pl.lit("progressed"))
            .when(pl.col("death_day").is_not_null())
            .then(pl.lit("died"))
            .when(
                pl.col("treatment_end_day").is_null()
                | (pl.col("treatment_end_day") > pl.col("cutoff_day"))
            )
            .then(pl.lit("on_treatment"))
            .otherwise(pl.lit("off_treatment"))
        )
        return o.select("patient_id", status.alias("status"), "treatment_end_reason").sort(
            "patient_id"
        )

    def on_treatment_at_cutoff(self) -> pl.DataFrame:
        """Patients still on maintenance at the cutoff: ``patient_id, on_treatment`` (bool)."""
        d = self.disposition()
        return d.select("patient_id", (pl.col("status") == "on_treatment").alias("on_treatment"))

    def evaluable(self, min_cycles: int = 4) -> Cohort:
        """The cohort restricted to patients who completed at least ``min_cycles`` cycles.

        The founding study's PFS population ("completed at least 4 cycles"). Patients with a
        missing ``cycles_completed`` are not evaluable. The restriction is an analysis
        population, not an exclusion: it is recorded in ``metadata["population"]``.
        """
        cycles = self.patients.get_column("cycles_completed")
        if cycles.null_count() == cycles.len() and cycles.len() > 0:
            raise ValueError(
                "cycles_completed is missing for all patients; evaluability cannot be decided"
            )
        ids = self.patients.filter(pl.col("cycles_completed") >= min_cycles).get_column(
            "patient_id"
        )
        keep = pl.col("patient_id").is_in(ids.implode())
        meta = dict(self.metadata)
        meta["population"] = f"evaluable: completed >= {min_cycles} cycles"
        return replace(
            self,
            patients=self.patients.filter(keep),
            mrd=self.mrd.filter(keep),
            outcomes=self.outcomes.filter(keep),
            adverse_events=self.adverse_events.filter(keep),
            metadata=meta,
        )

    def pseudonymise(self, salt: str | bytes) -> Cohort:
        """The same cohort with patient ids replaced by stable keyed pseudonyms.

        See `mrdtrack.privacy.pseudonymise` (HMAC-SHA256 of the id under ``salt``).
        """
        return pseudonymise(self, salt)

    def counts(self) -> dict[str, Any]:
        """Headline counts (for summaries and ``--json``): patients, assessments, events…"""
        pfs = self.pfs()
        os_ = self.os()
        ae = self.adverse_events
        excl = self.exclusions.group_by("rule").agg(pl.len()).sort("rule")
        return {
            "patients": self.patients.height,
            "mrd_assessments": self.mrd.height,
            "patients_with_mrd": self.mrd.get_column("patient_id").n_unique(),
            "pfs_events": int(pfs.get_column("event").sum() or 0),
            "progressions": int((pfs.get_column("event_type") == "progression").sum() or 0),
            "deaths": int(os_.get_column("event").sum() or 0),
            "adverse_events": ae.height,
            "patients_with_ae": ae.get_column("patient_id").n_unique(),
            "serious_adverse_events": int(ae.get_column("serious").sum() or 0),
            "on_treatment_at_cutoff": int(
                self.on_treatment_at_cutoff().get_column("on_treatment").sum() or 0
            ),
            "exclusions": self.exclusions.height,
            "exclusions_by_rule": dict(
                zip(
                    excl.get_column("rule").to_list(), excl.get_column("len").to_list(), strict=True
                )
            ),
        }

    def summary(self) -> str:
        """Human-readable summary: sizes, events, exclusions by reason."""
        c = self.counts()
        lines = [
            f"Study {self.name!r}",
            f"  patients                 {c['patients']}",
            f"  MRD assessments          {c['mrd_assessments']} "
            f"({c['patients_with_mrd']} patients)",
            f"  PFS events               {c['pfs_events']} "
            f"({c['progressions']} progressions, {c['pfs_events'] - c['progressions']} deaths "
            "without progression)",
            f"  deaths                   {c['deaths']}",
            f"  on treatment at cutoff   {c['on_treatment_at_cutoff']}",
            f"  adverse events           {c['adverse_events']} "
            f"({c['patients_with_ae']} patients, {c['serious_adverse_events']} serious)",
            f"  records excluded         {c['exclusions']}",
        ]
        for rule, n in c["exclusions_by_rule"].items():
            lines.append(f"    {rule:<26}{n}")
        return "\n".join(lines)
