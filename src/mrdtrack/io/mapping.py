"""The study map: a small TOML file that maps a user's tables onto mrdtrack's.

A study map renames columns (``our = "theirs"``), recodes values (``"theirs" = "ours"``),
declares calendar-date columns and their formats (converted to study days from each patient's
origin date at ingest, then dropped), null tokens, text encoding, delimiter and the imputation
rule for ISO partial dates. ``docs/data-format.md`` documents every key; example::

    [study]
    name = "LEN-MRD"
    encoding = "utf-8"
    null_tokens = ["", "NA", ".", "ND"]
    partial_dates = "first"          # "error" (default) | "first" | "middle"
    date_format = "%d/%m/%Y"         # default for date columns; omit for ISO 8601

    [tables.patients]
    file = "subjects.csv"
    columns = { patient_id = "SUBJECT", age = "AGE_YRS" }
    dates = { origin_date = "MAINT_START", cutoff_day = "CUTOFF" }

    [tables.patients.codes.sex]
    Male = "M"
    Female = "F"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from mrdtrack.errors import Problem, StudyValidationError
from mrdtrack.schema import TABLES
from mrdtrack.validation import (
    DEFAULT_NULL_TOKENS,
    DEFAULT_PRE_ORIGIN_DAYS,
    FILE,
    ORIGIN_DATE,
    ROW,
    ValidationOptions,
    column_label,
    problem,
)

MAP_FILE_NAMES = ("study.toml",)
_STUDY_KEYS = {
    "name",
    "disease",  # [study] disease / [study.disease_options]: `mrdtrack.mrd.presets`
    "disease_options",
    "encoding",
    "null_tokens",
    "partial_dates",
    "pre_origin_days",
    "date_format",
    "delimiter",
    # no silent change of data (see docs/data-format.md, "Plausibility and notations")
    "two_digit_year_pivot",
    "plausible_years",
    "max_study_days",
    "decimal_comma",
    "lab_notation",
}
_TABLE_KEYS = {"file", "columns", "dates", "codes", "date_format"}


@dataclass(frozen=True)
class DateSpec:
    """A calendar-date column mapped onto one of our day columns (or ``origin_date``)."""

    column: str
    format: str | None = None  # strftime format; None = ISO 8601 (partial dates handled)


@dataclass(frozen=True)
class TableMap:
    file: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # ours -> theirs
    dates: Mapping[str, DateSpec] = field(default_factory=dict)  # ours -> their date column
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # ours -> {theirs: ours}


@dataclass(frozen=True)
class StudyMap:
    """A parsed study map (see module docstring). ``StudyMap()`` is the identity map."""

    name: str | None = None
    encoding: str = "utf-8"
    null_tokens: tuple[str, ...] = DEFAULT_NULL_TOKENS
    partial_dates: str = "error"
    pre_origin_days: int = DEFAULT_PRE_ORIGIN_DAYS
    delimiter: str | None = None
    # [study] disease / [study.disease_options], as written: validated with the tables
    # (`mrdtrack.validation`, rules unknown_disease, unknown_disease_option, ...)
    disease: Any = None
    disease_options: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, TableMap] = field(default_factory=dict)
    source: str = "<study map>"
    extra: Mapping[str, Any] = field(default_factory=dict)  # further ValidationOptions fields

    def options(self) -> ValidationOptions:
        dates = {
            t: {ours: spec.format for ours, spec in m.dates.items()}
            for t, m in self.tables.items()
            if m.dates
        }
        return ValidationOptions(
            null_tokens=self.null_tokens,
            date_columns=dates,
            partial_dates=self.partial_dates,
            pre_origin_days=self.pre_origin_days,
            **self.extra,
        )

    def table(self, name: str) -> TableMap:
        return self.tables.get(name, TableMap())


def _invalid(source: str, detail: str) -> StudyValidationError:
    return StudyValidationError([problem("invalid_mapping", source, detail=detail)])


def load_mapping(mapping: str | Path | Mapping[str, Any] | StudyMap | None) -> StudyMap:
    """Read a study map from a TOML file, a dict of the same shape, or pass a `StudyMap` on.

    Raises `StudyValidationError` (rule ``invalid_mapping``) naming the offending key.
    """
    if mapping is None:
        return StudyMap()
    if isinstance(mapping, StudyMap):
        return mapping
    source = "<study map>"
    if isinstance(mapping, str | Path):
        source = Path(mapping).name
        try:
            data = tomllib.loads(Path(mapping).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise _invalid(source, f"file cannot be read ({type(exc).__name__})") from None
        except tomllib.TOMLDecodeError as exc:
            raise _invalid(source, f"not valid TOML ({exc})") from None
    else:
        data = dict(mapping)
    return _with_disease(_parse(data, source), data)


def _with_disease(smap: StudyMap, data: Mapping[str, Any]) -> StudyMap:
    """``[study] disease`` and ``[study.disease_options]`` as written (checked at validation)."""
    study = data.get("study", {})
    options = study.get("disease_options", {})
    if not isinstance(options, Mapping):
        raise _invalid(smap.source, "[study.disease_options] must be a table")
    return replace(smap, disease=study.get("disease"), disease_options=dict(options))


def _parse(data: Mapping[str, Any], source: str) -> StudyMap:
    unknown = set(data) - {"study", "tables"}
    if unknown:
        raise _invalid(source, f"unknown top-level key(s) {sorted(unknown)}")
    study = data.get("study", {})
    if not isinstance(study, Mapping):
        raise _invalid(source, "[study] must be a table")
    bad = set(study) - _STUDY_KEYS
    if bad:
        raise _invalid(source, f"unknown key(s) in [study]: {sorted(bad)}")
    default_fmt = study.get("date_format")
    tables: dict[str, TableMap] = {}
    raw_tables = data.get("tables", {})
    if not isinstance(raw_tables, Mapping):
        raise _invalid(source, "[tables] must be a table")
    for tname, tm in raw_tables.items():
        if tname not in TABLES:
            raise _invalid(source, f"unknown table [tables.{tname}]; tables are {list(TABLES)}")
        if not isinstance(tm, Mapping):
            raise _invalid(source, f"[tables.{tname}] must be a table")
        bad = set(tm) - _TABLE_KEYS
        if bad:
            raise _invalid(source, f"unknown key(s) in [tables.{tname}]: {sorted(bad)}")
        ours = {c.name for c in TABLES[tname].columns}
        columns = _str_map(tm.get("columns", {}), f"tables.{tname}.columns", source)
        for k in columns:
            if k not in ours:
                raise _invalid(source, f"[tables.{tname}.columns] has unknown column {k!r}")
        fmt_t = tm.get("date_format", default_fmt)
        dates: dict[str, DateSpec] = {}
        raw_dates = tm.get("dates", {})
        if not isinstance(raw_dates, Mapping):
            raise _invalid(source, f"[tables.{tname}.dates] must be a table")
        allowed_dates = {c for c in ours if c.endswith("_day") or c == "day"}
        if tname == "patients":
            allowed_dates.add(ORIGIN_DATE)
        for k, v in raw_dates.items():
            if k not in allowed_dates:
                raise _invalid(
                    source,
                    f"[tables.{tname}.dates] key {k!r} is not a day column "
                    f"({sorted(allowed_dates)})",
                )
            if isinstance(v, str):
                dates[k] = DateSpec(v, fmt_t)
            elif isinstance(v, Mapping) and isinstance(v.get("column"), str):
                fmt = v.get("format", fmt_t)
                if fmt is not None and not isinstance(fmt, str):
                    raise _invalid(source, f"[tables.{tname}.dates.{k}] format must be text")
                dates[k] = DateSpec(v["column"], fmt)
            else:
                raise _invalid(
                    source,
                    f"[tables.{tname}.dates] {k!r} must be a column name or "
                    "{ column = ..., format = ... }",
                )
            if k in columns:
                raise _invalid(source, f"column {k!r} is both in columns and dates of {tname}")
        codes: dict[str, dict[str, str]] = {}
        raw_codes = tm.get("codes", {})
        if not isinstance(raw_codes, Mapping):
            raise _invalid(source, f"[tables.{tname}.codes] must be a table")
        for k, v in raw_codes.items():
            if k not in ours:
                raise _invalid(source, f"[tables.{tname}.codes] has unknown column {k!r}")
            codes[k] = _str_map(v, f"tables.{tname}.codes.{k}", source, values_any=True)
        file = tm.get("file")
        if file is not None and not isinstance(file, str):
            raise _invalid(source, f"[tables.{tname}] file must be text")
        tables[tname] = TableMap(file=file, columns=columns, dates=dates, codes=codes)
    nulls = study.get("null_tokens", list(DEFAULT_NULL_TOKENS))
    if not isinstance(nulls, list) or not all(isinstance(x, str) for x in nulls):
        raise _invalid(source, "[study] null_tokens must be a list of text")
    partial = study.get("partial_dates", "error")
    if partial not in ("error", "first", "middle"):
        raise _invalid(source, '[study] partial_dates must be "error", "first" or "middle"')
    window = study.get("pre_origin_days", DEFAULT_PRE_ORIGIN_DAYS)
    if not isinstance(window, int) or isinstance(window, bool) or window < 0:
        raise _invalid(source, "[study] pre_origin_days must be a non-negative integer")
    encoding = study.get("encoding", "utf-8")
    delimiter = study.get("delimiter")
    if not isinstance(encoding, str):
        raise _invalid(source, "[study] encoding must be text")
    try:
        "".encode(encoding)
    except LookupError:
        raise _invalid(source, "[study] encoding is not a known text encoding") from None
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise _invalid(source, "[study] delimiter must be one character")
    name = study.get("name")
    if name is not None and not isinstance(name, str):
        raise _invalid(source, "[study] name must be text")
    extra = _plausibility_keys(study, source)
    return StudyMap(
        name=name,
        encoding=encoding,
        null_tokens=tuple(nulls),
        partial_dates=partial,
        pre_origin_days=window,
        delimiter=delimiter,
        tables=tables,
        source=source,
        extra=extra,
    )


def _plausibility_keys(study: Mapping[str, Any], source: str) -> dict[str, Any]:
    """[study] keys against silent changes: pivot, plausible years/days, decimal comma."""
    extra: dict[str, Any] = {}
    pivot = study.get("two_digit_year_pivot")
    if pivot is not None:
        if not isinstance(pivot, int) or isinstance(pivot, bool) or not 1000 <= pivot <= 9900:
            raise _invalid(source, "[study] two_digit_year_pivot must be a year, e.g. 1950")
        extra["two_digit_year_pivot"] = pivot
    years = study.get("plausible_years")
    if years is not None:
        if (
            not isinstance(years, list)
            or len(years) != 2
            or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
            or not 1 <= years[0] <= years[1] <= 9999
        ):
            raise _invalid(
                source, "[study] plausible_years must be [first, last], e.g. [1990, 2040]"
            )
        extra["plausible_years"] = (years[0], years[1])
    days = study.get("max_study_days")
    if days is not None:
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            raise _invalid(source, "[study] max_study_days must be a positive integer")
        extra["max_study_days"] = days
    for key in ("decimal_comma", "lab_notation"):
        v = study.get(key)
        if v is not None:
            if not isinstance(v, bool):
                raise _invalid(source, f"[study] {key} must be true or false")
            extra[key] = v
    return extra


def _str_map(v: Any, where: str, source: str, values_any: bool = False) -> dict[str, str]:
    if not isinstance(v, Mapping):
        raise _invalid(source, f"[{where}] must be a table")
    out: dict[str, str] = {}
    for k, x in v.items():
        if values_any and isinstance(x, bool | int | float):
            x = str(x)
        if not isinstance(x, str):
            raise _invalid(source, f"[{where}] value of {k!r} must be text")
        out[str(k)] = x
    return out


def apply_mapping(
    tname: str, df: pl.DataFrame, tm: TableMap, file: str
) -> tuple[pl.DataFrame, list[Problem]]:
    """Rename and recode one raw table; returns the table in our names and any problems.

    A mapped column absent from the file is reported as ``missing_column`` under the user's
    column name. Recoding is exact on the stripped text; other values pass unchanged (the
    validator then reports codes that are still unknown).
    """
    problems: list[Problem] = []
    rename: dict[str, str] = {}
    targets = {**tm.columns, **{k: d.column for k, d in tm.dates.items()}}
    for ours, theirs in targets.items():
        if theirs not in df.columns:
            problems.append(problem("missing_column", file, None, theirs, table=tname))
            continue
        if theirs != ours:
            rename[theirs] = ours
    clash = [o for o in rename.values() if o in df.columns and o not in rename]
    for c in clash:
        label = column_label(c, df.columns.index(c) + 1)
        problems.append(problem("duplicate_column", file, None, label, table=tname))
    if problems:
        return df, problems
    # a column mapped twice (two of ours from one of theirs) is copied, not renamed
    extra = {
        ours: pl.col(theirs)
        for ours, theirs in targets.items()
        if theirs in df.columns and ours != theirs and rename.get(theirs) != ours
    }
    out = df.rename(rename)
    if extra:
        out = out.with_columns(**{k: v for k, v in extra.items()})
    for col, recode in tm.codes.items():
        if col in out.columns and recode:
            s = out.get_column(col)
            if s.dtype != pl.String:
                s = s.cast(pl.String)
            stripped = s.str.strip_chars()
            out = out.with_columns(stripped.replace(recode).alias(col))
    keep_order = [c for c in out.columns if c not in (ROW, FILE)] + [
        c for c in (ROW, FILE) if c in out.columns
    ]
    return out.select(keep_order), problems
