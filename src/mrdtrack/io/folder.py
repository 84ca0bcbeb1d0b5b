"""Read a study from a folder of CSV / Parquet / Excel tables (optionally with a study map).

The folder holds one file per table, named after the table (``patients.csv``, ``mrd.parquet``,
``outcomes.xlsx``, ``adverse_events.csv``) unless the study map names the file. A study map
``study.toml`` in the folder is used when no other map is given.

Text files are read with every column as text (identifiers keep their leading zeros; nothing
is guessed): the validator parses each column into its declared type. Blank lines and rows
with no value at all are not records (a note lists the latter).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from mrdtrack._frames import to_polars
from mrdtrack.cohort import Cohort, SourceFile
from mrdtrack.errors import Problem, StudyValidationError
from mrdtrack.io.mapping import MAP_FILE_NAMES, StudyMap, apply_mapping, load_mapping
from mrdtrack.schema import TABLES
from mrdtrack.validation import FILE, ROW, column_label, problem

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
SUFFIXES = (*TEXT_SUFFIXES, ".parquet", ".xlsx", ".xls")


def read_study(
    path: str | Path | Mapping[str, Any],
    mapping: str | Path | Mapping[str, Any] | StudyMap | None = None,
    *,
    name: str | None = None,
) -> Cohort:
    """Read, map and validate a study; return a `Cohort`.

    Parameters
    ----------
    path : folder of table files, or a dict ``{table: pandas/polars frame}`` (the study map
        is applied to frames the same way).
    mapping : study map (TOML path, dict, `StudyMap`); default: ``study.toml`` in the folder
        if present, else the identity map (files and columns already use our names).
    name : study label; default: the map's ``[study] name``, else the folder name.

    Raises
    ------
    StudyValidationError
        Listing every problem (file, row, column, rule, hint), when any error-level rule fails.
    """
    if isinstance(path, Mapping):
        unknown = sorted(set(path) - set(TABLES))
        if unknown:
            raise ValueError(f"unknown table name(s) {unknown}; tables are {list(TABLES)}")
        smap = load_mapping(mapping)
        return _from_frames(path, smap, name)
    folder = Path(path)
    if folder.is_file():
        raise StudyValidationError([problem("not_a_folder", folder.name)])
    if not folder.is_dir():
        raise StudyValidationError(
            [problem("missing_table", folder.name or str(folder), table="patients")]
        )
    if mapping is None:
        for cand in MAP_FILE_NAMES:
            if (folder / cand).is_file():
                mapping = folder / cand
                break
    smap = load_mapping(mapping)
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    label = name or smap.name or folder.resolve().name
    return read_files(files, smap, name=label, base=str(folder))


def read_files(
    files: Mapping[str, bytes], smap: StudyMap | None = None, *, name: str = "study", base: str = ""
) -> Cohort:
    """Read a study from file contents ``{file name: bytes}`` (the core of `read_study`)."""
    smap = smap or StudyMap()
    problems: list[Problem] = []
    frames: dict[str, pl.DataFrame | None] = {}
    file_names: dict[str, str] = {}
    rows_read: dict[str, int] = {}
    sources: list[SourceFile] = []
    lower: dict[str, list[str]] = {}
    for n in files:
        lower.setdefault(n.lower(), []).append(n)
    for tname in TABLES:
        tm = smap.table(tname)
        if tm.file is not None:
            chosen = lower.get(tm.file.lower(), [])
            if not chosen:
                # a file the study map names must exist, even for an optional table
                file_names[tname] = tm.file
                problems.append(problem("missing_table", tm.file, table=tname))
                frames[tname] = _Broken
                continue
        else:
            chosen = [n for s in SUFFIXES for n in lower.get(tname + s, [])]
        if not chosen:
            frames[tname] = None
            file_names[tname] = tname + ".csv"
            continue
        if len(chosen) > 1:
            problems.append(problem("ambiguous_table", chosen[0], table=tname))
            frames[tname] = _Broken
            file_names[tname] = chosen[0]
            continue
        fname = chosen[0]
        file_names[tname] = fname
        data = files[fname]
        df, probs = parse_table_bytes(data, fname, tname, smap)
        problems += probs
        if df is None:
            frames[tname] = _Broken
            continue
        n = df.height
        rows_read[tname] = n
        path = f"{base}/{fname}" if base else fname
        sources.append(SourceFile(path, hashlib.sha256(data).hexdigest(), tname, n))
        df, probs = apply_mapping(tname, df, tm, fname)
        problems += probs
        frames[tname] = _Broken if any(p.severity == "error" for p in probs) else df
    tables = {t: (None if f is _Broken else f) for t, f in frames.items()}
    broken = [t for t, f in frames.items() if f is _Broken]
    return _validate(tables, smap, name, file_names, problems, rows_read, sources, broken)


class _BrokenType:
    pass


_Broken: Any = _BrokenType()


def _validate(
    tables: dict[str, Any],
    smap: StudyMap,
    name: str,
    file_names: dict[str, str],
    problems: list[Problem],
    rows_read: dict[str, int],
    sources: list[SourceFile],
    broken: list[str],
) -> Cohort:
    """Validate the readable tables together with the reader's problems (all at once)."""
    for t in broken:
        tables[t] = None
    try:
        return Cohort.from_frames(
            tables.get("patients"),
            tables.get("mrd"),
            tables.get("outcomes"),
            tables.get("adverse_events"),
            name=name,
            sources=tuple(sources),
            file_names=file_names,
            options=smap.options(),
            problems=problems,
            rows_read=rows_read,
            disease=smap.disease,  # [study] disease: validated with the tables
            disease_options=smap.disease_options,
            disease_source=smap.source,
        )
    except StudyValidationError as exc:
        if not broken:
            raise
        # a table that exists but could not be read is reported by its own problem
        unreadable = {file_names[t] for t in broken}
        ours = {id(p) for p in problems}
        found = [
            p
            for p in exc.problems
            if id(p) in ours or not (p.rule == "missing_table" and p.file in unreadable)
        ]
        raise StudyValidationError(found) from None


def _from_frames(frames: Mapping[str, Any], smap: StudyMap, name: str | None) -> Cohort:
    problems: list[Problem] = []
    tables: dict[str, Any] = {}
    file_names = {t: f"<{t}>" for t in TABLES}
    broken: list[str] = []
    for t in TABLES:
        data = frames.get(t)
        if data is None:
            tables[t] = None
            continue
        df = to_polars(data)
        df, probs = apply_mapping(t, df, smap.table(t), file_names[t])
        problems += probs
        if any(p.severity == "error" for p in probs):
            broken.append(t)
            df = None
        tables[t] = df
    return _validate(
        tables, smap, name or smap.name or "study", file_names, problems, {}, [], broken
    )


# ---------------------------------------------------------------------------------------------
# file parsing
# ---------------------------------------------------------------------------------------------


def parse_table_bytes(
    data: bytes, fname: str, tname: str, smap: StudyMap
) -> tuple[pl.DataFrame | None, list[Problem]]:
    """Parse one file's bytes into a frame (text columns for text files) plus problems."""
    suffix = Path(fname).suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return _parse_text(data, fname, tname, smap, delimiter="\t" if suffix == ".tsv" else None)
    if len(data) == 0:
        return None, [problem("empty_file", fname, table=tname)]
    if suffix == ".parquet":
        try:
            df = pl.read_parquet(io.BytesIO(data))
        except Exception:
            return None, [problem("malformed_file", fname, table=tname, format="Parquet")]
        return _with_rows(df, fname), []
    return _parse_excel(data, fname, tname)


def _parse_excel(data: bytes, fname: str, tname: str) -> tuple[pl.DataFrame | None, list[Problem]]:
    """First sheet of a workbook, every cell as text; row numbers count blank rows.

    ``row`` is the data row under the header (sheet row - 1 when the header is on row 1), so
    a blank row above a record is counted and messages cite the row the user sees. Rows with
    no value are not records (a note lists them). A whole-number cell reads as "7", not "7.0".
    """
    import fastexcel  # Excel files only: loaded on use (`import mrdtrack` stays light)

    try:
        sheet = fastexcel.read_excel(data).load_sheet(0, dtypes="string")
        df = sheet.to_polars()
    except Exception:
        return None, [problem("malformed_file", fname, table=tname, format="Excel")]
    df = df.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW))
    values = [c for c in df.columns if c != ROW]
    if not values:
        return None, [problem("empty_file", fname, table=tname)]
    blank = df.select(
        pl.all_horizontal(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in values)
    ).to_series()
    problems = [
        problem("blank_row", fname, int(r), table=tname) for r in df.get_column(ROW).filter(blank)
    ]
    df = df.filter(~blank).with_columns(pl.lit(fname, dtype=pl.String).alias(FILE))
    return df, problems


def _with_rows(df: pl.DataFrame, fname: str) -> pl.DataFrame:
    return df.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW),
        pl.lit(fname, dtype=pl.String).alias(FILE),
    )


def _decode(data: bytes, encoding: str) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data, encoding = data[3:], "utf-8"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _parse_text(
    data: bytes, fname: str, tname: str, smap: StudyMap, delimiter: str | None
) -> tuple[pl.DataFrame | None, list[Problem]]:
    text = _decode(data, smap.encoding)
    if text is None:
        return None, [problem("bad_encoding", fname, table=tname, encoding=smap.encoding)]
    if "\x00" in text:
        return None, [problem("malformed_file", fname, table=tname, format="delimited text")]
    first = text.split("\n", 1)[0]
    if not first.strip():
        return None, [problem("empty_file", fname, table=tname)]
    delim = smap.delimiter or delimiter or _sniff(first)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    except csv.Error:
        return None, [problem("malformed_file", fname, table=tname, format="delimited text")]
    header = [h.strip() for h in rows[0]]
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, h in enumerate(header):
        if h == "":
            header[i] = f"(unnamed column {i + 1})"
        elif h in seen:
            label = column_label(h, i + 1)
            problems.append(problem("duplicate_column", fname, None, label, table=tname))
        seen.add(header[i])
    if problems:
        return None, problems
    width = len(header)
    records: list[list[str]] = []
    row_numbers: list[int] = []
    for i, r in enumerate(rows[1:], start=1):
        if not r:
            continue  # a blank line is not a record
        if len(r) == width and "".join(r).strip():
            records.append(r)
            row_numbers.append(i)
        elif not "".join(r).strip():  # every field blank
            problems.append(problem("blank_row", fname, i, table=tname))
        else:
            problems.append(problem("malformed_row", fname, i, table=tname))
    columns = list(zip(*records, strict=True)) if records else [()] * width
    df = pl.DataFrame(
        {h: pl.Series(h, v, dtype=pl.String) for h, v in zip(header, columns, strict=True)}
        | {ROW: pl.Series(ROW, row_numbers, dtype=pl.Int64)},
    ).with_columns(pl.lit(fname, dtype=pl.String).alias(FILE))
    return df, problems


def _sniff(header: str) -> str:
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","
