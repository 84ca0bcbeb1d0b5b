"""Validation of study tables: every rule, its severity, its message and its hint.

All readers end here, through `mrdtrack.cohort.Cohort.from_frames`: `check_tables` takes the
four raw tables (pandas or polars; text or typed columns), parses every column into the type
`mrdtrack.schema` declares, converts declared calendar-date columns into study days, applies
every rule, and either raises one `StudyValidationError` listing *all* errors or returns the
`ValidatedTables` of which the `Cohort` is made, whose ``exclusions`` list every record it did
not keep. This module sits below `mrdtrack.cohort` (it never imports it).

Severity, decided per rule (``RULES``):

- ``error``: nothing is built. Structural problems (missing table/column, unreadable file) and
  every problem in a *patient-level* table (``patients``, ``outcomes``): excluding a patient
  would silently change the denominators of every rate and survival curve.
- ``warning``: the *record* is excluded and listed in ``cohort.exclusions`` with its rule and
  reason. Used for record-level tables (``mrd``, ``adverse_events``).
- ``note``: nothing is excluded; a value was interpreted (partial date imputed, SAS special
  missing value read as missing, column ignored). Listed in ``cohort.metadata["notes"]``.

Messages and hints never contain identifiers, dates or cell values: only file, row, column,
rule and schema-level facts (column types, code lists).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.errors import Problem, StudyValidationError
from mrdtrack.notation import lab_number_expr, read_notation
from mrdtrack.schema import EXCLUSIONS_SCHEMA, REQUIRED_TABLES, TABLES, Column, TableSpec

ROW = "__row"
FILE = "__file"
ORIGIN_DATE = "origin_date"
PATIENT_LEVEL = ("patients", "outcomes")
DEFAULT_NULL_TOKENS = ("", "NA", ".")
DEFAULT_PRE_ORIGIN_DAYS = 30
DEFAULT_PLAUSIBLE_YEARS = (1900, 2100)
DEFAULT_MAX_STUDY_DAYS = 18262  # 50 years of 365.25 days
NOTES_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "row": pl.Int64(),
    "column": pl.String(),
    "rule": pl.String(),
    "message": pl.String(),
}


@dataclass(frozen=True)
class Rule:
    """A validation rule: severity ("error", "warning", "note" or "table": error in
    patient-level tables, warning with exclusion in record-level tables), message, hint."""

    name: str
    severity: str
    message: str
    hint: str = ""


_RULE_LIST = (
    # ---- structure (always errors) ----
    Rule(
        "missing_table",
        "error",
        "required table {table!r} is missing",
        "provide {table}.csv, .parquet or .xlsx, or name its file in the study map",
    ),
    Rule(
        "not_a_folder",
        "error",
        "a study folder was expected, but this is a file",
        "give the folder that holds the study's tables (or its ADaM .xpt/.sas7bdat files)",
    ),
    Rule(
        "ambiguous_table",
        "error",
        "more than one file was found for table {table!r}",
        "keep one file per table, or name the file in the study map",
    ),
    Rule(
        "empty_file",
        "error",
        "file is empty (no header row)",
        "export the table again with its header row",
    ),
    Rule(
        "empty_table",
        "error",
        "table {table!r} has no data rows",
        "a study needs at least one patient, outcomes row and MRD assessment",
    ),
    Rule(
        "bad_encoding",
        "error",
        "file is not valid {encoding} text",
        'save the file as UTF-8, or declare encoding = "latin-1" (or the right one) in the '
        "study map",
    ),
    Rule(
        "malformed_file",
        "error",
        "file cannot be parsed as {format}",
        "open the file in its program and export it again",
    ),
    Rule(
        "malformed_row",
        "error",
        "row has a different number of fields than the header",
        "check quoting and delimiters in this row",
    ),
    Rule(
        "invalid_mapping",
        "error",
        "study map is invalid: {detail}",
        "see docs/data-format.md, section 'Study map'",
    ),
    Rule(
        "missing_column",
        "error",
        "required column {column!r} is missing",
        "rename the column in the file, or map it under [tables.{table}.columns] in the study map",
    ),
    Rule(
        "duplicate_column",
        "error",
        "column name appears more than once",
        "rename or remove the repeated column",
    ),
    Rule(
        "wrong_type",
        "error",
        "column has a data type that cannot be read as {expected}",
        "store the column as text or numbers",
    ),
    # ---- values (error in patients/outcomes, exclusion in mrd/adverse_events) ----
    Rule(
        "missing_value",
        "table",
        "required value is missing",
        "fill the value, or remove the record",
    ),
    Rule(
        "unparsable_value",
        "table",
        "value cannot be read as {expected}",
        "correct the value, or declare it as a null token in the study map",
    ),
    Rule(
        "unparsable_date",
        "table",
        "value is not a date in the declared format {format}",
        "correct the date, or declare its format under [tables.{table}.dates] in the study map",
    ),
    Rule(
        "partial_date",
        "table",
        "date is partial and no imputation rule is set",
        'complete the date, or set partial_dates = "first" or "middle" in the study map',
    ),
    Rule(
        "unknown_code",
        "table",
        "value is not one of the codes {codes}",
        "recode it under [tables.{table}.codes.{column}] in the study map",
    ),
    Rule(
        "implausible_value",
        "table",
        "value is outside the plausible range {range}",
        "check the value and its unit",
    ),
    Rule(
        "two_digit_year",
        "table",
        "date has a two-digit year, whose century is ambiguous",
        "write four-digit years, or set two_digit_year_pivot (e.g. 1950: 50-99 -> 1900s, "
        "00-49 -> 2000s) under [study] in the study map",
    ),
    Rule(
        "implausible_date",
        "table",
        "date is outside the plausible years {range}",
        "check the date and its format, or widen plausible_years under [study] in the study map",
    ),
    Rule(
        "implausible_day",
        "table",
        "study day is outside the plausible range {range}",
        "check the value (study days count from the time origin), or raise max_study_days "
        "under [study] in the study map",
    ),
    Rule(
        "conflicting_level",
        "warning",
        "the result notation states a level that differs from column {other!r}",
        "keep the level in one place, or make both agree",
    ),
    Rule(
        "all_records_excluded",
        "error",
        "every record of table {table!r} was excluded ({summary})",
        "fix the excluded records (run validate --exclusions to list them); a study needs at "
        "least one kept record in each required table",
    ),
    Rule(
        "unknown_patient",
        "table",
        "patient_id does not match any patient in the patients table",
        "add the patient to the patients table, or remove the record",
    ),
    # ---- patients ----
    Rule(
        "duplicate_patient",
        "error",
        "patient_id repeats an earlier row",
        "each patient must appear once in the patients table",
    ),
    Rule(
        "cutoff_before_origin",
        "error",
        "data cutoff is before the time origin",
        "check the cutoff and the origin (start of maintenance)",
    ),
    # ---- outcomes ----
    Rule(
        "missing_outcome",
        "error",
        "patient has no outcomes row",
        "add an outcomes row with at least last_contact_day for every patient",
    ),
    Rule(
        "duplicate_outcome",
        "error",
        "patient has more than one outcomes row",
        "merge the rows into one row per patient",
    ),
    Rule(
        "before_origin",
        "error",
        "{column} is before the time origin (day 0)",
        "check the date and the origin (start of maintenance)",
    ),
    Rule("progression_after_death", "error", "progression is after death", "check both dates"),
    Rule(
        "last_contact_before_progression",
        "error",
        "last contact is before progression",
        "last contact is at or after the visit that found progression",
    ),
    Rule(
        "contact_after_death",
        "error",
        "last contact is after death",
        "last contact alive cannot follow death",
    ),
    Rule("treatment_end_after_death", "error", "treatment end is after death", "check both dates"),
    Rule(
        "event_after_cutoff",
        "error",
        "{column} is after the data cutoff",
        "events after the cutoff are not part of this analysis: remove them or move the cutoff",
    ),
    Rule(
        "method_without_progression",
        "error",
        "progression_method is given but progression_day is missing",
        "give the progression day, or remove the method",
    ),
    Rule(
        "cause_without_death",
        "error",
        "death_cause is given but death_day is missing",
        "give the death day, or remove the cause",
    ),
    # ---- mrd ----
    Rule(
        "assessment_before_origin",
        "warning",
        "assessment is more than {window} days before the time origin",
        "pre-treatment samples older than the window are not baseline assessments",
    ),
    Rule(
        "assessment_after_death",
        "warning",
        "assessment is after death",
        "check the sample date and the death date",
    ),
    Rule(
        "after_cutoff",
        "warning",
        "record is after the data cutoff",
        "records after the cutoff are not part of this analysis",
    ),
    Rule(
        "invalid_sensitivity",
        "warning",
        "sensitivity (limit of detection) must be a number between 0 and 1, exclusive",
        "give the limit of detection as a fraction, e.g. 1e-5",
    ),
    Rule(
        "invalid_fraction",
        "warning",
        "clonal_fraction must be between 0 and 1",
        "give the clonal fraction as a fraction of cells, not a percentage",
    ),
    Rule(
        "negative_above_lod",
        "warning",
        "result is negative but clonal_fraction is at or above the limit of detection",
        "check the result, the clonal fraction and the sensitivity of this assay",
    ),
    Rule(
        "conflicting_assessments",
        "error",
        "assessment has the same patient, day, method and specimen as an earlier row but "
        "different values",
        "keep one result per assay and sample",
    ),
    Rule(
        "duplicate_record",
        "warning",
        "record repeats an earlier row (identical values)",
        "remove the repeated row",
    ),
    # ---- adverse events ----
    Rule(
        "invalid_grade",
        "warning",
        "grade must be an integer from 1 to 5",
        "use CTCAE v5 grades; leave the cell empty when the grade is missing",
    ),
    Rule(
        "onset_before_origin",
        "warning",
        "adverse event started before the time origin",
        "pre-treatment events are medical history, not treatment-emergent events",
    ),
    Rule(
        "onset_after_death",
        "warning",
        "adverse event starts after death",
        "check the onset date and the death date",
    ),
    Rule(
        "fatal_ae_without_death",
        "error",
        "grade 5 (fatal) adverse event but the patient has no death_day",
        "record the death in outcomes, or correct the grade",
    ),
    # ---- CDISC ADaM (mrdtrack.io.adam) ----
    Rule(
        "invalid_cnsr",
        "error",
        "CNSR must be 0 (event) or a positive integer (censored)",
        "check the censoring variable",
    ),
    Rule(
        "inconsistent_censoring",
        "error",
        "CNSR and EVNTDESC disagree",
        "CNSR = 0 needs an event description (progression or death); CNSR > 0 needs a "
        "censoring description",
    ),
    Rule(
        "inconsistent_aval",
        "error",
        "AVAL is neither ADT - STARTDT nor ADT - STARTDT + 1",
        "derive AVAL from the dates, or leave it for mrdtrack to derive",
    ),
    Rule(
        "inconsistent_death",
        "error",
        "death in ADTTE does not match DTHDT in ADSL",
        "check the death date in both datasets",
    ),
    Rule(
        "startdt_not_origin",
        "error",
        "STARTDT differs from TRTSDT (the time origin)",
        "mrdtrack measures time from the start of maintenance (TRTSDT)",
    ),
    Rule(
        "missing_parameter",
        "error",
        "patient has no {param} record in ADTTE",
        "add a {param} record for every patient in ADSL",
    ),
    Rule(
        "duplicate_parameter",
        "error",
        "patient has more than one {param} record in ADTTE",
        "keep one record per patient and parameter",
    ),
    # ---- study metadata: the disease preset (mrdtrack.mrd.presets) ----
    Rule(
        "unknown_disease",
        "error",
        "unknown disease {disease!r}; diseases are {diseases}",
        "set [study] disease in the study map (read_adam: disease=) to one of them; "
        "docs/methods/mrd.md, section 7",
    ),
    Rule(
        "unknown_disease_option",
        "error",
        "unknown option {option!r} of disease {disease!r}; its options are {allowed}",
        "remove it from [study.disease_options] (read_adam: disease_options=); "
        "docs/methods/mrd.md, section 7",
    ),
    Rule(
        "invalid_disease_option",
        "error",
        "option {option!r} of disease {disease!r} has an invalid value",
        "expected {expected}; docs/methods/mrd.md, section 7",
    ),
    # ---- notes (nothing excluded) ----
    Rule("partial_date_imputed", "note", "partial date imputed ({how})"),
    Rule("special_missing", "note", "SAS special missing value read as missing"),
    Rule("blank_row", "note", "row has no values and is not a record"),
    Rule("ignored_column", "note", "column is not part of the table and was ignored"),
    Rule("default_filled", "note", "missing {column} set to its default {default!r}"),
    Rule(
        "lab_notation",
        "note",
        "{n} result(s) written as lab notations were read as result, level and sensitivity",
    ),
    Rule("two_digit_year_pivoted", "note", "two-digit years read with pivot {pivot}"),
)
RULES: dict[str, Rule] = {r.name: r for r in _RULE_LIST}


def problem(
    rule: str,
    file: str,
    row: int | None = None,
    column: str | None = None,
    *,
    table: str = "",
    **fmt: Any,
) -> Problem:
    """Build the `Problem` for ``rule`` with its fixed message and hint."""
    r = RULES[rule]
    values = {"table": table, "column": column, **fmt}
    severity = r.severity
    if severity == "table":
        severity = "error" if table in PATIENT_LEVEL else "warning"
    return Problem(
        file=file,
        row=row,
        column=column,
        rule=rule,
        message=r.message.format(**values),
        hint=r.hint.format(**values),
        severity=severity,
    )


@dataclass(frozen=True)
class ValidationOptions:
    """How raw values are interpreted.

    Attributes
    ----------
    null_tokens : text cells read as missing (after stripping blanks); an empty cell is
        always missing.
    date_columns : per table, our day column -> date format (``None`` = ISO 8601) of the
        calendar-date column that was mapped onto it; converted to study days from the
        patient's ``origin_date``.
    partial_dates : imputation rule for ISO partial dates ("2019-05", "2019"):
        "error" (default), "first" (first day of the month / year) or "middle"
        (15th of the month / 1 July).
    pre_origin_days : MRD assessments up to this many days before the origin are kept
        (screening samples taken just before maintenance start count as baseline).
    two_digit_year_pivot : how a two-digit year is read: with pivot P, ``yy`` is the year in
        ``[P, P + 99]`` ending in ``yy`` (P = 1950: "49" -> 2049, "50" -> 1950). None (default):
        a two-digit year is an error (rule ``two_digit_year``), never guessed.
    plausible_years : calendar dates outside these years (inclusive) are rejected (rule
        ``implausible_date``); default 1900-2100.
    max_study_days : study days whose absolute value exceeds this are rejected (rule
        ``implausible_day``); default 18262 (50 years).
    decimal_comma : read "0,5" as 0.5 in number columns (and "1.000,5" is then unreadable).
    lab_notation : read MRD results as labs write them ("NEG", "not detected", "<1e-5",
        "0.001%", "positive 2x10-4"); see `mrdtrack.notation`.
    """

    null_tokens: tuple[str, ...] = DEFAULT_NULL_TOKENS
    date_columns: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    partial_dates: str = "error"
    pre_origin_days: int = DEFAULT_PRE_ORIGIN_DAYS
    two_digit_year_pivot: int | None = None
    plausible_years: tuple[int, int] = DEFAULT_PLAUSIBLE_YEARS
    max_study_days: int = DEFAULT_MAX_STUDY_DAYS
    decimal_comma: bool = False
    lab_notation: bool = True

    def __post_init__(self) -> None:
        if self.partial_dates not in ("error", "first", "middle"):
            raise ValueError(
                f'partial_dates must be "error", "first" or "middle", got {self.partial_dates!r}'
            )
        if self.pre_origin_days < 0:
            raise ValueError("pre_origin_days must be >= 0")
        if self.max_study_days <= 0:
            raise ValueError("max_study_days must be > 0")
        lo, hi = self.plausible_years
        if not 1 <= lo <= hi <= 9999:
            raise ValueError("plausible_years must be (first, last) with 1 <= first <= last")


_BOOL_TOKENS = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "1.0": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "0": False,
    "0.0": False,
}
_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("patients", "age"): (0.0, 120.0),
    ("patients", "cycles_completed"): (0.0, 1000.0),
}
_DEFAULTS: dict[tuple[str, str], str] = {
    ("patients", "arm"): "all",
    ("mrd", "specimen"): "bone_marrow",
}
_MAX_ABS_INT = 1e9
FRACTION_COLUMNS = ("sensitivity", "clonal_fraction")  # "0.001%" reads as 1e-5 here


_DATA_LIKE = re.compile(r"^[\d\s\-/.:,+eET]*$")


def column_label(name: str, position: int) -> str:
    """How a user's column is cited in messages: its name, unless the name looks like data.

    A file without a header row turns its first record into column names; a name made only
    of digits and date/number punctuation ("001", "2019-01-03", "1e-5") is therefore cited by
    position, so that no identifier or date reaches a message.
    """
    if name == "" or _DATA_LIKE.match(name):
        return f"(column {position})"
    return name


def _norm_code(s: str) -> str:
    return re.sub(r"[\s_\-]+", "_", s.strip().lower())


def _expected(col: Column) -> str:
    if col.dtype in (pl.Int64,):
        return "an integer"
    if col.dtype in (pl.Float64,):
        return "a number"
    if col.dtype in (pl.Boolean,):
        return "true/false (yes/no, Y/N, 1/0)"
    return "text"


# ---------------------------------------------------------------------------------------------
# parsing of one column
# ---------------------------------------------------------------------------------------------


def number_text(e: pl.Expr) -> pl.Expr:
    """Text form of a float column as a person wrote it: whole numbers without ".0".

    SAS stores every number as a float and Excel/Parquet may too, so an identifier 1 arrives
    as 1.0; its text form is "1" (not "1.0"). Fractions keep their shortest decimal form.
    """
    whole = e.is_finite() & (e.round(0) == e) & (e.abs() < 2.0**53)
    return (
        pl.when(whole)
        .then(e.cast(pl.Int64, strict=False).cast(pl.String))
        .otherwise(e.cast(pl.String))
    )


def _as_text(c: str, dtype: pl.DataType, null_tokens: Sequence[str]) -> pl.Expr:
    """Text view of a column: stripped, null tokens and empty cells as null."""
    if dtype == pl.String:
        e = pl.col(c)
    elif dtype.is_float():
        e = number_text(pl.col(c))
    else:
        e = pl.col(c).cast(pl.String)
    e = e.str.strip_chars()
    tokens = sorted({*null_tokens, ""})
    return pl.when(e.is_in(tokens)).then(None).otherwise(e)


_NO = pl.lit(False)


def _parse_column(
    c: str, dt: pl.DataType, col: Column, opts: ValidationOptions
) -> tuple[dict[str, pl.Expr], pl.Expr, pl.Expr, str | None]:
    """Expressions parsing raw column ``c`` (storage type ``dt``) into ``col.dtype``.

    Returns (stage-1 columns, values, failed, rule): the stage-1 columns (text view, number)
    are materialised first so that the value and failure expressions reuse them instead of
    repeating the text pipeline. ``rule`` names the failure ("unparsable_value",
    "unknown_code"); raises `_WrongType` when the storage type cannot be read at all.
    """
    t, f = f"__text_{c}", f"__num_{c}"
    if dt == pl.Null:
        return {}, pl.lit(None, dtype=col.dtype), _NO, None
    if dt.is_nested() or dt == pl.Object or dt == pl.Binary:
        raise _WrongType
    if col.dtype == pl.String:
        if dt.is_temporal():
            raise _WrongType
        stage1 = {t: _as_text(c, dt, opts.null_tokens)}
        if col.codes is None:
            return stage1, pl.col(t), _NO, None
        lookup = {_norm_code(x): x for x in col.codes}
        norm = (
            pl.col(t)
            .str.to_lowercase()
            .str.replace_all(" ", "_", literal=True)
            .str.replace_all("-", "_", literal=True)
        )
        coded = norm.replace_strict(lookup, default=None, return_dtype=pl.String)
        return stage1, coded, pl.col(t).is_not_null() & coded.is_null(), "unknown_code"
    if col.dtype == pl.Boolean:
        if dt == pl.Boolean:
            return {}, pl.col(c), _NO, None
        if dt.is_temporal():
            raise _WrongType
        stage1 = {t: _as_text(c, dt, opts.null_tokens).str.to_lowercase()}
        vals = pl.col(t).replace_strict(_BOOL_TOKENS, default=None, return_dtype=pl.Boolean)
        return stage1, vals, pl.col(t).is_not_null() & vals.is_null(), "unparsable_value"
    integer = col.dtype == pl.Int64
    target = pl.Int64 if integer else pl.Float64
    if dt.is_integer():
        return {}, pl.col(c).cast(target), _NO, None
    if dt == pl.Boolean or dt.is_temporal():
        raise _WrongType
    if dt.is_float():
        stage1 = {t: pl.col(c), f: pl.col(c).cast(pl.Float64)}
    else:
        text = _as_text(c, dt, opts.null_tokens)
        # lab notations of numbers: "10^-5", "2x10-4"; percentages in fraction columns
        number = lab_number_expr(
            text, decimal_comma=opts.decimal_comma, percent=col.name in FRACTION_COLUMNS
        )
        stage1 = {t: text, f: number}
    x = pl.col(f)
    bad = pl.col(t).is_not_null() & (x.is_null() | x.is_nan() | x.is_infinite())
    if integer:
        bad = bad | (
            x.is_not_null()
            & ~x.is_nan()
            & ~x.is_infinite()
            & ((x.round(0) != x) | (x.abs() > _MAX_ABS_INT))
        )
    bad = bad.fill_null(False)
    vals = pl.when(bad).then(None).otherwise(x).cast(target, strict=False)
    return stage1, vals, bad, "unparsable_value"


def _parse_date(df: pl.DataFrame, c: str, fmt: str | None, opts: ValidationOptions) -> pl.DataFrame:
    """Parse calendar-date column ``c`` of ``df``.

    Returns a frame of ``dates`` and the masks ``bad`` (not a date), ``partial``, ``imputed``,
    ``two_digit`` (a two-digit year and no pivot: never guessed), ``pivoted`` (read with the
    study map's pivot) and ``implausible`` (outside ``opts.plausible_years``). Dates of the
    masks other than ``imputed``/``pivoted`` are null.
    """
    dt = df.schema[c]
    n = df.height
    if dt == pl.Null:
        dates = pl.lit(None, dtype=pl.Date)
    elif dt == pl.Date:
        dates = pl.col(c)
    elif isinstance(dt, pl.Datetime):
        dates = pl.col(c).dt.date()
    elif dt.is_nested() or dt == pl.Object or dt == pl.Binary or dt == pl.Boolean:
        raise _WrongType
    else:
        dates = None
    if dates is not None:
        r = _select(df, [dates.alias("dates")]).with_columns(
            bad=pl.repeat(False, n), partial=pl.repeat(False, n), imputed=pl.repeat(False, n)
        )
        return _date_checks(r, False, opts)
    r = _select(df, [_as_text(c, dt, opts.null_tokens).alias("text")])
    r = r.with_columns(partial=pl.repeat(False, n), imputed=pl.repeat(False, n))
    if fmt is None:
        text = pl.col("text")
        length = text.str.len_chars()
        is_month = (length == 7) & (text + "-01").str.to_date(
            "%Y-%m-%d", strict=False
        ).is_not_null()
        is_year = (length == 4) & text.cast(pl.Int32, strict=False).is_not_null()
        r = r.with_columns(
            is_month=is_month.fill_null(False), is_year=is_year.fill_null(False)
        ).with_columns(partial=pl.col("is_month") | pl.col("is_year"))
        if opts.partial_dates != "error":
            month_fill, year_fill = {"first": ("-01", "-01-01"), "middle": ("-15", "-07-01")}[
                opts.partial_dates
            ]
            r = r.with_columns(
                text=pl.when("is_month")
                .then(text + month_fill)
                .when("is_year")
                .then(text + year_fill)
                .otherwise(text),
                imputed=pl.col("partial"),
                partial=pl.repeat(False, n),
            )
        # ISO 8601: a full date, optionally followed by a time ("2019-05-02T10:00")
        sep = text.str.slice(10, 1)
        full = (text.str.len_chars() == 10) | sep.is_in(["T", " "])
        r = r.with_columns(
            dates=pl.when(full.fill_null(False)).then(
                text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
            )
        )
    else:
        # "%y" and a two-digit year under "%Y" both read as years 0-99, then pivoted or refused
        r = r.with_columns(dates=pl.col("text").str.to_date(fmt.replace("%y", "%Y"), strict=False))
    r = r.with_columns(
        bad=(
            pl.col("text").is_not_null() & pl.col("dates").is_null() & ~pl.col("partial")
        ).fill_null(False)
    )
    return _date_checks(r, fmt is not None, opts)


def _date_checks(r: pl.DataFrame, formatted: bool, opts: ValidationOptions) -> pl.DataFrame:
    """Two-digit years (pivot or refuse) and plausible years of parsed ``dates``."""
    year = pl.col("dates").dt.year()
    n = r.height
    if formatted:
        short = (year < 100).fill_null(False)
        if opts.two_digit_year_pivot is not None:
            p = opts.two_digit_year_pivot
            full = year + (p // 100) * 100
            full = pl.when(full < p).then(full + 100).otherwise(full)
            pivoted = pl.date(full, pl.col("dates").dt.month(), pl.col("dates").dt.day())
            r = r.with_columns(
                dates=pl.when(short).then(pivoted).otherwise("dates"),
                pivoted=short,
                two_digit=pl.repeat(False, n),
            )
        else:
            r = r.with_columns(
                dates=pl.when(short).then(None).otherwise("dates"),
                two_digit=short,
                pivoted=pl.repeat(False, n),
            )
    else:
        r = r.with_columns(two_digit=pl.repeat(False, n), pivoted=pl.repeat(False, n))
    lo, hi = opts.plausible_years
    implausible = ((year < lo) | (year > hi)).fill_null(False)
    r = r.with_columns(implausible=implausible).with_columns(
        dates=pl.when("implausible").then(None).otherwise("dates")
    )
    return r.select("dates", "bad", "partial", "imputed", "two_digit", "pivoted", "implausible")


def _select(df: pl.DataFrame, exprs: list[pl.Expr]) -> pl.DataFrame:
    """``df.select(exprs)`` without query optimisation: the plans are small and wide, and
    optimising them costs more than running them (validation runs on many small tables)."""
    return df.lazy().select(exprs).collect(optimizations=pl.QueryOptFlags.none())


class _WrongType(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# the table-level state
# ---------------------------------------------------------------------------------------------


@dataclass
class _Table:
    spec: TableSpec
    df: pl.DataFrame  # typed columns + ROW + FILE
    rows_read: int
    file: str
    excluded: dict[int, tuple[str, str | None, str]] = field(default_factory=dict)
    broken: bool = False  # structural problem: row-level checks skipped
    failed: dict[str, set[int]] = field(default_factory=dict)  # column -> rows with an error
    # rows whose dates could not become study days because their patient's origin failed
    # (reported there): no further rule looks at them, so one error is not reported five times
    skip: set[int] = field(default_factory=set)

    def exclude(self, idx: Iterable[int], rule: str, column: str | None, reason: str) -> list[int]:
        """Mark records (0-based positions) excluded by ``rule`` unless already excluded."""
        new = [i for i in idx if i not in self.excluded]
        for i in new:
            self.excluded[i] = (rule, column, reason)
        return new


class Collector:
    """The problems found so far: errors and warnings in ``problems``, notes in ``notes``."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []

    def add(self, p: Problem) -> None:
        (self.notes if p.severity == "note" else self.problems).append(p)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _report_rows(
    t: _Table,
    mask: pl.Series,
    rule: str,
    column: str | None,
    out: Collector,
    **fmt: Any,
) -> None:
    """Report every row where ``mask`` is true; exclude the record if the rule is a warning."""
    if mask.len() == 0 or not mask.any():
        return
    idx = mask.fill_null(False).arg_true().to_list()
    template = problem(rule, t.file, None, column, table=t.spec.name, **fmt)
    if template.severity == "warning":
        idx = t.exclude(idx, rule, column, template.message)
    elif template.severity == "error" and column is not None:
        t.failed.setdefault(column, set()).update(idx)
    if not idx:
        return
    # only the reported rows are converted to Python (10^6 problems: seconds, not minutes)
    rows = t.df.get_column(ROW).gather(idx).to_list()
    files = t.df.get_column(FILE).gather(idx).to_list()
    msg, hint, sev = template.message, template.hint, template.severity
    target = out.notes if sev == "note" else out.problems
    target.extend(
        [Problem(f, r, column, rule, msg, hint, sev) for f, r in zip(files, rows, strict=True)]
    )


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidatedTables:
    """What validation keeps: the tables of a `Cohort`, its exclusions, metadata and disease."""

    patients: pl.DataFrame
    mrd: pl.DataFrame
    outcomes: pl.DataFrame
    adverse_events: pl.DataFrame
    exclusions: pl.DataFrame
    metadata: dict[str, Any]
    disease: str
    disease_options: dict[str, Any]


def check_tables(
    tables: Mapping[str, Any],
    file_names: Mapping[str, str] | None = None,
    *,
    options: ValidationOptions | None = None,
    problems: Sequence[Problem] = (),
    rows_read: Mapping[str, int] | None = None,
    metadata: Mapping[str, Any] | None = None,
    disease: Any = None,
    disease_options: Mapping[str, Any] | None = None,
    disease_source: str = "<study>",
) -> ValidatedTables:
    """Validate raw study tables: what `Cohort.from_frames` builds a `Cohort` from.

    Parameters
    ----------
    tables : mapping of table name ("patients", "mrd", "outcomes", "adverse_events") to a
        pandas/polars frame or None. Columns may be text (as read from CSV) or typed.
        Optional hidden columns ``__row`` (1-based source row) and ``__file`` (source file
        name) carry provenance for messages; readers set them.
    file_names : table -> file name used in messages (default ``<table>``).
    options : `ValidationOptions` (null tokens, declared date columns, partial dates, window).
    problems : problems already found by a reader (e.g. ragged CSV rows); reported with ours.
    rows_read : records read per table when a reader counted rows before building frames
        (default: rows of each frame).
    metadata : extra entries for ``Cohort.metadata``.
    disease, disease_options : the study's disease preset and its options
        (`mrdtrack.mrd.presets`; None: "myeloma", no options). Checked with the tables: an
        unknown disease or option is an error (rules ``unknown_disease``,
        ``unknown_disease_option``, ``invalid_disease_option``) named in
        ``disease_source`` (the study map's file name, or the reader's argument).

    Returns
    -------
    ValidatedTables

    Raises
    ------
    StudyValidationError
        When any error-level rule fails; ``problems`` holds every finding (errors first).
    """
    opts = options or ValidationOptions()
    names = dict(file_names or {})
    out = Collector()
    for p in problems:
        out.add(p)
    disease, disease_options = check_disease(disease, disease_options, disease_source, out)

    parsed: dict[str, _Table] = {}
    for tname, spec in TABLES.items():
        fname = names.get(tname, f"<{tname}>")
        parsed[tname] = _load_table(tname, spec, tables.get(tname), fname, opts, out, rows_read)

    if not parsed["patients"].broken:
        _resolve_dates(parsed, opts, out)
    for t in parsed.values():
        _check_days(t, opts, out)
    _check_patients(parsed, out)
    _check_outcomes(parsed, out)
    _check_mrd(parsed, opts, out)
    _check_adverse_events(parsed, out)

    _check_emptied(parsed, out)
    errors = out.errors
    warnings = [p for p in out.problems if p.severity != "error"]
    if errors:
        raise StudyValidationError(errors + warnings)

    kept = {t: _kept(parsed[t]) for t in TABLES}
    exclusions = _exclusions(parsed)
    notes = pl.DataFrame(
        [
            {"file": p.file, "row": p.row, "column": p.column, "rule": p.rule, "message": p.message}
            for p in out.notes
        ],
        schema=NOTES_SCHEMA,
    )
    meta: dict[str, Any] = {
        "rows_read": {t: parsed[t].rows_read for t in TABLES},
        "notes": notes,
        "warnings": tuple(warnings),
        "options": {
            "null_tokens": list(opts.null_tokens),
            "partial_dates": opts.partial_dates,
            "pre_origin_days": opts.pre_origin_days,
            "two_digit_year_pivot": opts.two_digit_year_pivot,
            "plausible_years": list(opts.plausible_years),
            "max_study_days": opts.max_study_days,
            "decimal_comma": opts.decimal_comma,
            "lab_notation": opts.lab_notation,
        },
    }
    meta.update(metadata or {})
    return ValidatedTables(
        patients=kept["patients"],
        mrd=kept["mrd"],
        outcomes=kept["outcomes"],
        adverse_events=kept["adverse_events"],
        exclusions=exclusions,
        metadata=meta,
        disease=disease,
        disease_options=disease_options,
    )


def check_disease(
    disease: Any, options: Mapping[str, Any] | None, source: str, out: Collector
) -> tuple[str, dict[str, Any]]:
    """The study's disease (lower case, default "myeloma") and options; problems to ``out``."""
    # imported here, not at the top: importing mrdtrack.mrd.presets loads the mrd package (its
    # numba kernels), and reading or validating a study must stay light (`import mrdtrack`)
    from mrdtrack.mrd.presets import disease_problems

    disease = "myeloma" if disease is None else disease
    options = dict(options or {})
    for rule, details in disease_problems(disease, options):
        column = "disease" if rule == "unknown_disease" else f"disease_options.{details['option']}"
        out.add(problem(rule, source, None, column, **details))
    name = disease.strip().lower() if isinstance(disease, str) else "myeloma"
    return name, options


def _load_table(
    tname: str,
    spec: TableSpec,
    data: Any,
    fname: str,
    opts: ValidationOptions,
    out: Collector,
    rows_read: Mapping[str, int] | None,
) -> _Table:
    """Structure checks and parsing of one table into a `_Table`."""
    empty = pl.DataFrame(
        {ROW: pl.Series([], dtype=pl.Int64), FILE: pl.Series([], dtype=pl.String)}
    ).with_columns(**{c.name: pl.lit(None, dtype=c.dtype) for c in spec.columns})
    n_read = (rows_read or {}).get(tname)
    if data is None:
        if tname in REQUIRED_TABLES:
            out.add(problem("missing_table", fname, table=tname))
            return _Table(spec, empty, n_read or 0, fname, broken=True)
        return _Table(spec, empty, n_read or 0, fname)
    try:
        df = to_polars(data)
    except TypeError:
        out.add(problem("malformed_file", fname, table=tname, format="a table"))
        return _Table(spec, empty, n_read or 0, fname, broken=True)
    except Exception:
        # a pandas column of mixed Python objects that Arrow cannot type: name the column
        bad = _unconvertible_columns(data)
        for c in bad:
            out.add(
                problem(
                    "wrong_type",
                    fname,
                    None,
                    c,
                    table=tname,
                    expected=_expected(spec.column(c))
                    if c in spec.polars_schema
                    else "a known type",
                )
            )
        if not bad:
            out.add(problem("malformed_file", fname, table=tname, format="a table"))
        return _Table(spec, empty, n_read or len(data), fname, broken=True)
    n = df.height
    if ROW not in df.columns:
        df = df.with_columns(pl.Series(ROW, range(1, n + 1), dtype=pl.Int64))
    if FILE not in df.columns:
        df = df.with_columns(pl.lit(fname, dtype=pl.String).alias(FILE))
    df = df.with_columns(pl.col(ROW).cast(pl.Int64), pl.col(FILE).cast(pl.String))
    conflicts: dict[str, pl.Series] = {}
    if tname == "mrd" and opts.lab_notation and "result" in df.columns:
        df, conflicts, n_read_notation = _read_notations(df, opts)
        if n_read_notation:
            out.add(problem("lab_notation", fname, None, "result", table=tname, n=n_read_notation))
    t = _Table(spec, df, n if n_read is None else n_read, fname)
    for other, mask in conflicts.items():
        _report_rows(t, mask, "conflicting_level", "result", out, other=other)

    date_cols = dict(opts.date_columns.get(tname, {}))
    present = set(df.columns)
    for c in spec.required:
        if c not in present:
            out.add(problem("missing_column", fname, None, c, table=tname))
            t.broken = True
    if tname == "patients" and any(opts.date_columns.values()) and ORIGIN_DATE not in present:
        out.add(problem("missing_column", fname, None, ORIGIN_DATE, table=tname))
        t.broken = True
    known = {c.name for c in spec.columns} | {ROW, FILE}
    if tname == "patients":
        known.add(ORIGIN_DATE)
    for i, c in enumerate(df.columns, start=1):
        if c not in known:
            out.add(problem("ignored_column", fname, None, column_label(c, i), table=tname))
    if n == 0 and tname in REQUIRED_TABLES and not t.broken:
        out.add(problem("empty_table", fname, table=tname))
        t.broken = True
    if t.broken:
        t.df = empty
        return t

    stage1: dict[str, pl.Expr] = {}
    exprs: list[pl.Expr] = [pl.col(ROW), pl.col(FILE)]
    fails: list[tuple[str, str, dict[str, Any]]] = []
    for col in spec.columns:
        if col.name not in present:
            exprs.append(pl.lit(None, dtype=col.dtype).alias(col.name))
            continue
        if col.name in date_cols:
            exprs.append(pl.col(col.name))  # converted to study days once origins are known
            continue
        try:
            first, vals, bad, rule = _parse_column(col.name, df.schema[col.name], col, opts)
        except _WrongType:
            out.add(
                problem("wrong_type", fname, None, col.name, table=tname, expected=_expected(col))
            )
            t.broken = True
            continue
        stage1.update(first)
        exprs.append(vals.alias(col.name))
        if rule is not None:
            fmt = {"expected": _expected(col), "codes": ", ".join(col.codes or ())}
            exprs.append(bad.alias(f"__bad_{col.name}"))
            fails.append((rule, col.name, fmt))
    if tname == "patients" and ORIGIN_DATE in present:
        exprs.append(pl.col(ORIGIN_DATE))
    if t.broken:
        t.df = empty
        return t
    if stage1:
        df = df.lazy().with_columns(**stage1).collect(optimizations=pl.QueryOptFlags.none())
    parsed = _select(df, exprs)
    bad_cols = [f"__bad_{c}" for _, c, _ in fails]
    t.df = parsed.drop(bad_cols)
    for rule, cname, fmt in fails:
        _report_rows(t, parsed.get_column(f"__bad_{cname}"), rule, cname, out, **fmt)
    return t


def _read_notations(
    df: pl.DataFrame, opts: ValidationOptions
) -> tuple[pl.DataFrame, dict[str, pl.Series], int]:
    """Read MRD results written as lab notations (`mrdtrack.notation`).

    A result such as "positive 2x10-4" becomes ``positive`` with clonal_fraction 2e-4; "<1e-5"
    becomes ``negative`` with sensitivity 1e-5. The level / sensitivity fills an empty cell;
    a cell that states another value is a conflict (the record is excluded, never overwritten).
    Returns the frame, conflict masks by column, and the number of results read.
    """
    dt = df.schema["result"]
    if dt != pl.String:
        return df, {}, 0
    text = df.select(_as_text("result", dt, opts.null_tokens).alias("t")).to_series()
    known = {_norm_code(x) for x in TABLES["mrd"].column("result").codes or ()}
    rows = []
    for u in text.drop_nulls().unique().to_list():
        if _norm_code(u) in known:
            continue
        r = read_notation(u, decimal_comma=opts.decimal_comma)
        if r is not None:
            rows.append((u, r.result, r.level, r.sensitivity))
    if not rows:
        return df, {}, 0
    lookup = pl.DataFrame(
        rows,
        schema={"t": pl.String, "__nres": pl.String, "__nlvl": pl.Float64, "__nsens": pl.Float64},
        orient="row",
    )
    j = pl.DataFrame({"t": text}).join(lookup, on="t", how="left", maintain_order="left")
    n_read = int(j.get_column("__nres").is_not_null().sum())
    df = df.with_columns(pl.coalesce(j.get_column("__nres"), pl.col("result")).alias("result"))
    conflicts: dict[str, pl.Series] = {}
    for cname, src in (("clonal_fraction", "__nlvl"), ("sensitivity", "__nsens")):
        stated = j.get_column(src)
        if not stated.is_not_null().any():
            continue
        if cname not in df.columns:
            df = df.with_columns(stated.alias(cname))
            continue
        cdt = df.schema[cname]
        if cdt == pl.String:
            cell = _as_text(cname, cdt, opts.null_tokens)
            have = df.select(
                cell.alias("c"),
                lab_number_expr(cell, decimal_comma=opts.decimal_comma, percent=True).alias("x"),
            )
            fill = stated.map_elements(repr, return_dtype=pl.String)
            df = df.with_columns(pl.coalesce(have.get_column("c"), fill).alias(cname))
        elif cdt.is_numeric() or cdt == pl.Null:
            have = df.select(pl.col(cname).alias("c"), pl.col(cname).cast(pl.Float64).alias("x"))
            df = df.with_columns(pl.coalesce(pl.col(cname).cast(pl.Float64), stated).alias(cname))
        else:
            continue
        x = have.get_column("x")
        differ = have.get_column("c").is_not_null() & stated.is_not_null()
        differ = differ & ((x - stated).abs() > 1e-9 * stated.abs()).fill_null(True)
        if differ.any():
            conflicts[cname] = differ
    return df, conflicts, n_read


def _unconvertible_columns(data: Any) -> list[str]:
    """Columns of a pandas frame that polars cannot convert (mixed Python objects)."""
    bad = []
    for c in getattr(data, "columns", []):
        try:
            pl.from_pandas(data[[c]])
        except Exception:
            bad.append(str(c))
    return bad


def _resolve_dates(parsed: dict[str, _Table], opts: ValidationOptions, out: Collector) -> None:
    """Convert declared calendar-date columns into study days from each patient's origin."""
    if not any(opts.date_columns.values()):
        return
    pt = parsed["patients"]
    origin = _parse_date_safe(
        pt, ORIGIN_DATE, opts.date_columns.get("patients", {}).get(ORIGIN_DATE), opts, out
    )
    if origin is None:
        return
    pt.df = pt.df.with_columns(origin.alias(ORIGIN_DATE))
    failed = pt.failed.get(ORIGIN_DATE, set())
    no_origin = origin.is_null() & pt.df.get_column("patient_id").is_not_null()
    if failed:
        no_origin = no_origin & ~pl.Series([i in failed for i in range(pt.df.height)])
    _report_rows(pt, no_origin, "missing_value", ORIGIN_DATE, out)
    origins = (
        pt.df.select("patient_id", ORIGIN_DATE, pl.lit(True).alias("__known"))
        .filter(pl.col("patient_id").is_not_null())
        .unique("patient_id", keep="first", maintain_order=True)
    )
    for tname, t in parsed.items():
        if t.broken:
            continue
        for cname, _fmt in opts.date_columns.get(tname, {}).items():
            if cname == ORIGIN_DATE or cname not in t.df.columns:
                continue
            dates = _parse_date_safe(t, cname, _fmt, opts, out)
            if dates is None:
                t.df = t.df.with_columns(pl.lit(None, dtype=pl.Int64).alias(cname))
                continue
            o = t.df.select("patient_id").join(
                origins, on="patient_id", how="left", maintain_order="left"
            )
            days = (dates - o.get_column(ORIGIN_DATE)).dt.total_days().cast(pl.Int64)
            t.df = t.df.with_columns(days.alias(cname))
            # a date whose patient has no readable origin: that origin is the reported problem
            no_day = dates.is_not_null() & days.is_null()
            orphan = no_day.arg_true().to_list()
            if orphan:
                t.failed.setdefault(cname, set()).update(orphan)
                # a known patient whose origin failed: nothing more to check on this record
                # (an unknown patient's record is excluded by its own rule)
                known = o.get_column("__known").fill_null(False)
                t.skip.update((no_day & known).arg_true().to_list())
    if ORIGIN_DATE in pt.df.columns:
        pt.df = pt.df.drop(ORIGIN_DATE)


def _parse_date_safe(
    t: _Table, cname: str, fmt: str | None, opts: ValidationOptions, out: Collector
) -> pl.Series | None:
    try:
        r = _parse_date(t.df, cname, fmt, opts)
    except _WrongType:
        out.add(problem("wrong_type", t.file, None, cname, table=t.spec.name, expected="a date"))
        t.broken = True
        return None
    _report_rows(
        t,
        r.get_column("bad"),
        "unparsable_date",
        cname,
        out,
        format=fmt or "ISO 8601 (YYYY-MM-DD)",
    )
    _report_rows(t, r.get_column("partial"), "partial_date", cname, out)
    _report_rows(
        t, r.get_column("imputed"), "partial_date_imputed", cname, out, how=opts.partial_dates
    )
    _report_rows(t, r.get_column("two_digit"), "two_digit_year", cname, out)
    if r.get_column("pivoted").any():
        out.add(
            problem(
                "two_digit_year_pivoted",
                t.file,
                None,
                cname,
                table=t.spec.name,
                pivot=opts.two_digit_year_pivot,
            )
        )
    lo, hi = opts.plausible_years
    _report_rows(t, r.get_column("implausible"), "implausible_date", cname, out, range=f"{lo}-{hi}")
    return r.get_column("dates").cast(pl.Date)


def _ok(t: _Table) -> pl.Series:
    """Mask of records not (yet) excluded."""
    keep = np.ones(t.df.height, dtype=bool)
    if t.excluded:
        keep[np.fromiter(t.excluded, dtype=np.int64, count=len(t.excluded))] = False
    if t.skip:
        keep[np.fromiter(t.skip, dtype=np.int64, count=len(t.skip))] = False
    return pl.Series(keep, dtype=pl.Boolean)


def _with_patient(t: _Table, parsed: dict[str, _Table], cols: Sequence[str]) -> pl.DataFrame:
    """The table joined (row-aligned) with per-patient columns from patients/outcomes."""
    pt = (
        parsed["patients"]
        .df.select("patient_id", "cutoff_day")
        .unique("patient_id", keep="first", maintain_order=True)
    )
    oc = parsed["outcomes"]
    if not oc.broken and oc.df.height:
        o = oc.df.select("patient_id", "death_day", "progression_day").unique(
            "patient_id", keep="first", maintain_order=True
        )
        pt = pt.join(o, on="patient_id", how="left")
    else:
        pt = pt.with_columns(
            pl.lit(None, dtype=pl.Int64).alias("death_day"),
            pl.lit(None, dtype=pl.Int64).alias("progression_day"),
        )
    pt = pt.with_columns(pl.lit(True).alias("__known"))
    joined = t.df.select("patient_id").join(pt, on="patient_id", how="left", maintain_order="left")
    return joined.select("__known", *cols)


def _check_required(t: _Table, out: Collector) -> None:
    """Required values are present (a value already reported as unreadable is not re-reported)."""
    for col in t.spec.columns:
        if not col.nullable and col.name in t.df.columns:
            mask = t.df.get_column(col.name).is_null() & _ok(t)
            failed = t.failed.get(col.name)
            if failed:
                mask = mask & ~pl.Series([i in failed for i in range(t.df.height)])
            _report_rows(t, mask, "missing_value", col.name, out)


def _fill_defaults(t: _Table, out: Collector) -> None:
    """Fill documented defaults (arm "all", specimen "bone_marrow"); one note per column."""
    for (tname, cname), default in _DEFAULTS.items():
        if tname != t.spec.name or t.broken:
            continue
        s = t.df.get_column(cname)
        if s.null_count():
            t.df = t.df.with_columns(s.fill_null(default))
            out.add(problem("default_filled", t.file, None, cname, table=tname, default=default))


def _check_range(t: _Table, out: Collector) -> None:
    for (tname, cname), (lo, hi) in _RANGES.items():
        if tname == t.spec.name:
            s = t.df.get_column(cname)
            _report_rows(
                t,
                ((s < lo) | (s > hi)) & _ok(t),
                "implausible_value",
                cname,
                out,
                range=f"[{lo:g}, {hi:g}]",
            )


def _check_days(t: _Table, opts: ValidationOptions, out: Collector) -> None:
    """Study days beyond +-``opts.max_study_days`` (e.g. a year 0016 date, a typo 999999)."""
    if t.broken or t.df.height == 0:
        return
    m = opts.max_study_days
    for col in t.spec.columns:
        if (col.name == "day" or col.name.endswith("_day")) and t.df.schema.get(
            col.name
        ) == pl.Int64:
            s = t.df.get_column(col.name)
            _report_rows(t, s.abs() > m, "implausible_day", col.name, out, range=f"[-{m}, {m}]")
            # no later rule reads the implausible value (it is reported once, here)
            t.df = t.df.with_columns(
                pl.when(pl.col(col.name).abs() > m).then(None).otherwise(pl.col(col.name))
            )


def _check_emptied(parsed: dict[str, _Table], out: Collector) -> None:
    """A required table that had records but kept none makes the study invalid."""
    for tname in REQUIRED_TABLES:
        t = parsed[tname]
        if t.broken or t.df.height == 0 or len(t.excluded) < t.df.height:
            continue
        counts: dict[str, int] = {}
        for rule, _column, _reason in t.excluded.values():
            counts[rule] = counts.get(rule, 0) + 1
        summary = ", ".join(f"{r}: {n}" for r, n in sorted(counts.items(), key=lambda x: -x[1]))
        out.add(problem("all_records_excluded", t.file, table=tname, summary=summary))


def _check_patients(parsed: dict[str, _Table], out: Collector) -> None:
    t = parsed["patients"]
    if t.broken:
        return
    _check_required(t, out)
    _fill_defaults(t, out)
    pid = t.df.get_column("patient_id")
    _report_rows(
        t,
        pid.is_not_null() & pid.is_duplicated() & ~pid.is_first_distinct(),
        "duplicate_patient",
        "patient_id",
        out,
    )
    _report_rows(t, t.df.get_column("cutoff_day") < 0, "cutoff_before_origin", "cutoff_day", out)
    _check_range(t, out)


def _unknown_patient(t: _Table, parsed: dict[str, _Table], out: Collector) -> None:
    known = set(parsed["patients"].df.get_column("patient_id").drop_nulls().to_list())
    pid = t.df.get_column("patient_id")
    _report_rows(
        t, pid.is_not_null() & ~pid.is_in(list(known)), "unknown_patient", "patient_id", out
    )


def _check_outcomes(parsed: dict[str, _Table], out: Collector) -> None:
    t = parsed["outcomes"]
    pt = parsed["patients"]
    if t.broken or pt.broken:
        return
    _unknown_patient(t, parsed, out)
    _check_required(t, out)
    ok = _ok(t)
    pid = t.df.get_column("patient_id")
    _report_rows(
        t,
        ok & pid.is_not_null() & pid.is_duplicated() & ~pid.is_first_distinct(),
        "duplicate_outcome",
        "patient_id",
        out,
    )
    have = set(pid.drop_nulls().to_list())  # outcomes rows are never excluded (errors)
    ppid = pt.df.get_column("patient_id")
    _report_rows(
        pt,
        ppid.is_not_null() & ~ppid.is_in(list(have)) & ppid.is_first_distinct(),
        "missing_outcome",
        "patient_id",
        out,
    )
    d = t.df
    j = _with_patient(t, parsed, ["cutoff_day"])
    cutoff = j.get_column("cutoff_day")
    day_cols = ("progression_day", "death_day", "last_contact_day", "treatment_end_day")
    for c in day_cols:
        _report_rows(t, ok & (d.get_column(c) < 0), "before_origin", c, out)
    prog, death = d.get_column("progression_day"), d.get_column("death_day")
    contact, tend = d.get_column("last_contact_day"), d.get_column("treatment_end_day")
    _report_rows(t, ok & (prog > death), "progression_after_death", "progression_day", out)
    _report_rows(
        t, ok & (contact < prog), "last_contact_before_progression", "last_contact_day", out
    )
    _report_rows(t, ok & (contact > death), "contact_after_death", "last_contact_day", out)
    _report_rows(t, ok & (tend > death), "treatment_end_after_death", "treatment_end_day", out)
    for c in ("progression_day", "death_day"):
        _report_rows(t, ok & (d.get_column(c) > cutoff), "event_after_cutoff", c, out)
    _report_rows(
        t,
        ok & d.get_column("progression_method").is_not_null() & prog.is_null(),
        "method_without_progression",
        "progression_method",
        out,
    )
    _report_rows(
        t,
        ok & d.get_column("death_cause").is_not_null() & death.is_null(),
        "cause_without_death",
        "death_cause",
        out,
    )


def _check_mrd(parsed: dict[str, _Table], opts: ValidationOptions, out: Collector) -> None:
    t = parsed["mrd"]
    if t.broken or parsed["patients"].broken:
        return
    _unknown_patient(t, parsed, out)
    _check_required(t, out)
    _fill_defaults(t, out)
    d = t.df
    j = _with_patient(t, parsed, ["cutoff_day", "death_day"])
    day = d.get_column("day")
    _report_rows(
        t,
        _ok(t) & (day < -opts.pre_origin_days),
        "assessment_before_origin",
        "day",
        out,
        window=opts.pre_origin_days,
    )
    _report_rows(
        t, _ok(t) & (day > j.get_column("death_day")), "assessment_after_death", "day", out
    )
    _report_rows(t, _ok(t) & (day > j.get_column("cutoff_day")), "after_cutoff", "day", out)
    sens = d.get_column("sensitivity")
    _report_rows(t, _ok(t) & ((sens <= 0) | (sens >= 1)), "invalid_sensitivity", "sensitivity", out)
    frac = d.get_column("clonal_fraction")
    _report_rows(t, _ok(t) & ((frac < 0) | (frac > 1)), "invalid_fraction", "clonal_fraction", out)
    neg_above = (d.get_column("result") == "negative") & (frac >= sens)
    _report_rows(t, _ok(t) & neg_above, "negative_above_lod", "clonal_fraction", out)
    _check_duplicates(t, out, key=list(t.spec.key), conflict_rule="conflicting_assessments")


def _check_duplicates(t: _Table, out: Collector, key: list[str], conflict_rule: str | None) -> None:
    """Exact repeats of a kept record are excluded; same key with other values is an error."""
    values = [c.name for c in t.spec.columns]
    ok = _ok(t)
    d = t.df.with_columns(ok.alias("__ok"), pl.int_range(pl.len()).alias("__i")).filter("__ok")
    if d.height == 0:
        return
    exact = _repeats(d, values)
    mask = [False] * t.df.height
    for i in d.get_column("__i").filter(exact).to_list():
        mask[i] = True
    _report_rows(t, pl.Series(mask, dtype=pl.Boolean), "duplicate_record", None, out)
    if conflict_rule and key:
        d2 = d.filter(~exact)
        conflict = _repeats(d2, key)
        mask = [False] * t.df.height
        for i in d2.get_column("__i").filter(conflict).to_list():
            mask[i] = True
        _report_rows(t, pl.Series(mask, dtype=pl.Boolean), conflict_rule, None, out)


def _repeats(d: pl.DataFrame, cols: Sequence[str]) -> pl.Series:
    """Rows whose values in ``cols`` equal those of an earlier row (nulls compare equal)."""
    return d.select(pl.struct(cols).is_first_distinct().not_()).to_series()


def _check_adverse_events(parsed: dict[str, _Table], out: Collector) -> None:
    t = parsed["adverse_events"]
    if t.broken or parsed["patients"].broken or t.df.height == 0:
        return
    _unknown_patient(t, parsed, out)
    _check_required(t, out)
    d = t.df
    t.df = d.with_columns(pl.coalesce("decod", "term").alias("decod"))
    d = t.df
    grade = d.get_column("grade")
    _report_rows(t, _ok(t) & ((grade < 1) | (grade > 5)), "invalid_grade", "grade", out)
    j = _with_patient(t, parsed, ["cutoff_day", "death_day"])
    onset = d.get_column("onset_day")
    _report_rows(t, _ok(t) & (onset < 0), "onset_before_origin", "onset_day", out)
    _report_rows(
        t, _ok(t) & (onset > j.get_column("death_day")), "onset_after_death", "onset_day", out
    )
    _report_rows(t, _ok(t) & (onset > j.get_column("cutoff_day")), "after_cutoff", "onset_day", out)
    if not parsed["outcomes"].broken:
        no_death = j.get_column("__known").fill_null(False) & j.get_column("death_day").is_null()
        _report_rows(t, _ok(t) & (grade == 5) & no_death, "fatal_ae_without_death", "grade", out)
    _check_duplicates(t, out, key=[], conflict_rule=None)


_SORT = {
    "patients": ["patient_id"],
    "mrd": ["patient_id", "day", "method", "specimen"],
    "outcomes": ["patient_id"],
}


def _kept(t: _Table) -> pl.DataFrame:
    cols = [c.name for c in t.spec.columns]
    d = t.df.filter(_ok(t)).select(cols) if t.df.height else t.df.select(cols)
    d = d.cast({c.name: c.dtype for c in t.spec.columns})
    by = _SORT.get(t.spec.name, cols)
    return d.sort(by, nulls_last=True, maintain_order=True)


def _exclusions(parsed: dict[str, _Table]) -> pl.DataFrame:
    rows = []
    for tname, t in parsed.items():
        if not t.excluded:
            continue
        r = t.df.get_column(ROW).to_list()
        f = t.df.get_column(FILE).to_list()
        for i, (rule, column, reason) in sorted(t.excluded.items()):
            rows.append(
                {
                    "table": tname,
                    "file": f[i],
                    "row": r[i],
                    "column": column,
                    "rule": rule,
                    "reason": reason,
                }
            )
    return pl.DataFrame(rows, schema=EXCLUSIONS_SCHEMA)
