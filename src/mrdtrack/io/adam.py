"""CDISC ADaM in and out: ADSL, ADTTE (PFS, OS), ADAE and an MRD BDS dataset (ADMRD).

Reading uses pyreadstat only (the SAS reader of pandas misreads SAS files; see CONVENTIONS), for SAS
transport ``.xpt`` and ``.sas7bdat``. Writing produces SAS transport version 5 files (the FDA
submission format) through ``pyreadstat.write_xport``. The layout is documented in
``docs/data-format.md`` ("CDISC ADaM"); in short:

- **ADSL** (one row per subject): ``USUBJID``; ``TRTSDT`` = time origin (day 0);
  ``DCUTDT`` data cutoff; ``LSTALVDT`` last contact; ``DTHDT``, ``DTHCAUS``; ``TRTEDT``,
  ``DCTREAS`` end of treatment; ``ARM``, ``SITEID``, ``AGE``, ``SEX``; sponsor variables
  ``ISS``, ``RISS``, ``CYTORISK``, ``PRIORSCT`` (Y/N), ``INDREG``, ``BLRESP``, ``CYCCOMP``.
- **ADTTE** (one row per subject and ``PARAMCD`` in PFS, OS): ``STARTDT``, ``ADT``, ``AVAL``
  (``ADT - STARTDT`` days; ``+1`` is accepted on reading), ``CNSR`` (0 event, 1 censored at
  last contact, 2 censored at data cutoff), ``EVNTDESC``, ``CNSDTDSC``; sponsor ``PDMETH``
  (how progression was assessed) on PFS progression records.
- **ADAE**: ``AETERM``, ``AEDECOD``, ``AEBODSYS``, ``AETOXGR`` (or ``ATOXGR``), ``AESER``,
  ``ASTDT``, ``ASTDY``, ``AEREL`` (``RELATED`` / ``NOT RELATED``, or Y/N).
- **ADMRD** (BDS, one row per assay result): ``PARAMCD`` = ``MRDNGF``, ``MRDNGS``,
  ``MRDPCR``, ``MRDPET`` or ``MRDOTH`` (the method); ``AVALC`` = ``NEGATIVE``, ``POSITIVE``,
  ``INDETERMINATE``, ``NOT EVALUABLE``; ``AVAL`` = clonal fraction; ``ADT``, ``ADY``,
  ``AVISIT``, ``SPEC`` (``BONE MARROW``, ``PERIPHERAL BLOOD``, ``IMAGING``); sponsor
  ``MRDLOD`` (limit of detection reached) and ``ADEQFL`` (sample adequate, Y/N).

Study days: mrdtrack uses ``date - TRTSDT`` (day 0 = origin). ADaM ``ADY``/``ASTDY`` follow the
ADaM rule (no day 0: ``date - TRTSDT + 1`` on or after the origin); mrdtrack converts them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort, SourceFile
from mrdtrack.errors import Problem, StudyValidationError
from mrdtrack.validation import (
    FILE,
    ORIGIN_DATE,
    ROW,
    ValidationOptions,
    number_text,
    problem,
)

DATASETS = ("adsl", "adtte", "adae", "admrd")
REQUIRED_DATASETS = ("adsl", "adtte", "admrd")
SUFFIXES = (".xpt", ".sas7bdat")
EXTRA_DATE_FORMATS = ("MMYY", "YEAR", "MONYY", "DDMMYY", "MMDDYY", "YYMMDD", "E8601DA")

METHOD_PARAMCD = {
    "NGF": "MRDNGF",
    "NGS": "MRDNGS",
    "ASO-PCR": "MRDPCR",
    "PET-CT": "MRDPET",
    "other": "MRDOTH",
}
METHOD_PARAM = {
    "NGF": "MRD by next-generation flow cytometry",
    "NGS": "MRD by next-generation sequencing",
    "ASO-PCR": "MRD by ASO quantitative PCR",
    "PET-CT": "Imaging MRD by PET-CT",
    "other": "MRD by other method",
}
SPEC = {"bone_marrow": "BONE MARROW", "peripheral_blood": "PERIPHERAL BLOOD", "imaging": "IMAGING"}
AVALC = {
    "negative": "NEGATIVE",
    "positive": "POSITIVE",
    "indeterminate": "INDETERMINATE",
    "not_evaluable": "NOT EVALUABLE",
}
PFS_EVENT = {"progression": "PROGRESSIVE DISEASE", "death": "DEATH"}
CENSOR_LAST_CONTACT = (1, "LAST CONTACT")
CENSOR_CUTOFF = (2, "DATA CUTOFF")
DEFAULT_ORIGIN = dt.date(2016, 1, 4)


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------


def write_adam(
    cohort: Cohort,
    folder: str | Path,
    *,
    origin_dates: Mapping[str, dt.date] | dt.date | None = None,
    study_id: str | None = None,
    timestamp: dt.datetime | None = None,
) -> dict[str, Path]:
    """Write a `Cohort` as ADaM SAS transport (v5) files ``adsl.xpt``, ``adtte.xpt``,
    ``adae.xpt``, ``admrd.xpt`` in ``folder``.

    mrdtrack keeps study days only, so calendar dates are rebuilt from ``origin_dates``
    (patient id -> date of day 0, or one date for all; default 4 January 2016): a synthetic
    calendar, stated in each file's label. `read_adam` on the result gives an equal Cohort.

    ``timestamp`` fixes the created/modified stamps of the transport headers (default: the
    time of writing), so that rewriting the same cohort gives byte-identical files.

    Returns the paths written, by dataset name.
    """
    # heavy, SAS files only: loaded on use so that `import mrdtrack` stays light
    # (tests/test_cohort.py::test_import_is_light)
    import pandas as pd
    import pyreadstat

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    studyid = study_id or cohort.name
    pids = cohort.patients.get_column("patient_id").to_list()
    if origin_dates is None or isinstance(origin_dates, dt.date):
        base = origin_dates or DEFAULT_ORIGIN
        origins = dict.fromkeys(pids, base)
    else:
        missing = [p for p in pids if p not in origin_dates]
        if missing:
            raise ValueError(f"origin_dates lacks {len(missing)} patient(s) of the cohort")
        origins = dict(origin_dates)

    def date(pid: str, day: Any) -> dt.date | None:
        if day is None:
            return None
        return origins[pid] + dt.timedelta(days=int(day))

    def yn(v: Any) -> str:
        return "" if v is None else ("Y" if v else "N")

    def txt(v: Any) -> str:
        return "" if v is None else str(v)

    def ady(day: int | None) -> float | None:
        if day is None:
            return None
        return float(day + 1 if day >= 0 else day)

    outcomes = {r["patient_id"]: r for r in cohort.outcomes.iter_rows(named=True)}
    adsl = []
    for p in cohort.patients.iter_rows(named=True):
        pid = p["patient_id"]
        o = outcomes[pid]
        adsl.append(
            {
                "STUDYID": studyid,
                "USUBJID": pid,
                "SITEID": txt(p["site"]),
                "ARM": txt(p["arm"]),
                "AGE": p["age"],
                "AGEU": "YEARS" if p["age"] is not None else "",
                "SEX": txt(p["sex"]),
                "TRTSDT": origins[pid],
                "TRTEDT": date(pid, o["treatment_end_day"]),
                "DCTREAS": txt(o["treatment_end_reason"]),
                "DCUTDT": date(pid, p["cutoff_day"]),
                "LSTALVDT": date(pid, o["last_contact_day"]),
                "DTHDT": date(pid, o["death_day"]),
                "DTHCAUS": txt(o["death_cause"]),
                "ISS": txt(p["iss"]),
                "RISS": txt(p["riss"]),
                "CYTORISK": txt(p["cytogenetic_risk"]),
                "PRIORSCT": yn(p["prior_transplant"]),
                "INDREG": txt(p["induction"]),
                "BLRESP": txt(p["baseline_response"]),
                "CYCCOMP": None if p["cycles_completed"] is None else float(p["cycles_completed"]),
            }
        )

    cut = dict(zip(pids, cohort.patients.get_column("cutoff_day").to_list(), strict=True))
    adtte = []
    for paramcd, param, events in (
        ("PFS", "Progression-free survival", ("progression", "death")),
        ("OS", "Overall survival", ("death",)),
    ):
        for pid in pids:
            o = outcomes[pid]
            days = {e: o[f"{e}_day"] for e in events if o[f"{e}_day"] is not None}
            pdmeth = ""
            if days:
                first = min(days.values())
                kind = next(e for e in events if days.get(e) == first)
                day, cnsr, desc, cdesc = first, 0, PFS_EVENT[kind], ""
                if kind == "progression":
                    pdmeth = txt(o["progression_method"])
            elif o["last_contact_day"] <= cut[pid]:
                day, (cnsr, desc) = o["last_contact_day"], CENSOR_LAST_CONTACT
                cdesc = "DATE OF LAST CONTACT"
            else:
                day, (cnsr, desc) = cut[pid], CENSOR_CUTOFF
                cdesc = "DATA CUTOFF DATE"
            adtte.append(
                {
                    "STUDYID": studyid,
                    "USUBJID": pid,
                    "PARAMCD": paramcd,
                    "PARAM": param,
                    "STARTDT": origins[pid],
                    "ADT": date(pid, day),
                    "AVAL": float(day),
                    "AVALU": "DAYS",
                    "CNSR": float(cnsr),
                    "EVNTDESC": desc,
                    "CNSDTDSC": cdesc,
                    "PDMETH": pdmeth,
                }
            )

    adae = []
    for a in cohort.adverse_events.iter_rows(named=True):
        pid = a["patient_id"]
        rel = a["related"]
        adae.append(
            {
                "STUDYID": studyid,
                "USUBJID": pid,
                "AETERM": a["term"],
                "AEDECOD": txt(a["decod"]),
                "AEBODSYS": txt(a["body_system"]),
                "AETOXGR": txt(a["grade"]),
                "AESER": yn(a["serious"]),
                "ASTDT": date(pid, a["onset_day"]),
                "ASTDY": ady(a["onset_day"]),
                "AEREL": "" if rel is None else ("RELATED" if rel else "NOT RELATED"),
                "TRTEMFL": "Y",
            }
        )

    admrd = []
    for m in cohort.mrd.iter_rows(named=True):
        pid = m["patient_id"]
        admrd.append(
            {
                "STUDYID": studyid,
                "USUBJID": pid,
                "PARAMCD": METHOD_PARAMCD[m["method"]],
                "PARAM": METHOD_PARAM[m["method"]],
                "AVISIT": txt(m["visit"]),
                "ADT": date(pid, m["day"]),
                "ADY": ady(m["day"]),
                "SPEC": SPEC[m["specimen"]],
                "AVALC": AVALC[m["result"]],
                "AVAL": m["clonal_fraction"],
                "MRDLOD": m["sensitivity"],
                "ADEQFL": yn(m["adequate"]),
            }
        )

    written: dict[str, Path] = {}
    label = "mrdtrack export; synthetic calendar: dates rebuilt from study days"
    for ds, rows, columns in (
        ("adsl", adsl, _ADSL_VARS),
        ("adtte", adtte, _ADTTE_VARS),
        ("adae", adae, _ADAE_VARS),
        ("admrd", admrd, _ADMRD_VARS),
    ):
        frame = pd.DataFrame(rows, columns=list(columns))
        for c, kind in columns.items():
            if kind == "num":
                frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
            elif kind == "char":
                frame[c] = frame[c].fillna("").astype(str)
            elif kind == "date" and frame[c].isna().all():
                # a date variable with no date at all (e.g. no patient ended treatment) is
                # still numeric in SAS: an object column of None would be written as text
                # with a date format, a file that SAS and pyreadstat cannot read
                frame[c] = np.full(len(frame), np.nan)
        fmt = {c: "DATE9." for c, kind in columns.items() if kind == "date"}
        path = folder / f"{ds}.xpt"
        pyreadstat.write_xport(
            frame,
            str(path),
            file_label=label[:40],
            table_name=ds.upper(),
            file_format_version=5,
            variable_format=fmt,
        )
        if timestamp is not None:
            _stamp_headers(path, timestamp)
        written[ds] = path
    return written


_XPT_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_XPT_OBS = b"HEADER RECORD*******OBS     HEADER RECORD"


def _stamp_headers(path: Path, when: dt.datetime) -> None:
    """Overwrite the created/modified stamps of a SAS transport v5 file's header records.

    Only the header region (before the observation header) is touched: data never is.
    """
    data = path.read_bytes()
    end = data.find(_XPT_OBS)
    if end < 0:
        return
    stamp = when.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")
    path.write_bytes(_XPT_STAMP.sub(stamp, data[:end]) + data[end:])


_ADSL_VARS = {
    "STUDYID": "char", "USUBJID": "char", "SITEID": "char", "ARM": "char", "AGE": "num",
    "AGEU": "char", "SEX": "char", "TRTSDT": "date", "TRTEDT": "date", "DCTREAS": "char",
    "DCUTDT": "date", "LSTALVDT": "date", "DTHDT": "date", "DTHCAUS": "char", "ISS": "char",
    "RISS": "char", "CYTORISK": "char", "PRIORSCT": "char", "INDREG": "char", "BLRESP": "char",
    "CYCCOMP": "num",
}  # fmt: skip
_ADTTE_VARS = {
    "STUDYID": "char", "USUBJID": "char", "PARAMCD": "char", "PARAM": "char",
    "STARTDT": "date", "ADT": "date", "AVAL": "num", "AVALU": "char", "CNSR": "num",
    "EVNTDESC": "char", "CNSDTDSC": "char", "PDMETH": "char",
}  # fmt: skip
_ADAE_VARS = {
    "STUDYID": "char", "USUBJID": "char", "AETERM": "char", "AEDECOD": "char",
    "AEBODSYS": "char", "AETOXGR": "char", "AESER": "char", "ASTDT": "date", "ASTDY": "num",
    "AEREL": "char", "TRTEMFL": "char",
}  # fmt: skip
_ADMRD_VARS = {
    "STUDYID": "char", "USUBJID": "char", "PARAMCD": "char", "PARAM": "char",
    "AVISIT": "char", "ADT": "date", "ADY": "num", "SPEC": "char", "AVALC": "char",
    "AVAL": "num", "MRDLOD": "num", "ADEQFL": "char",
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


# Hints of the ADaM reader: ADaM studies have no study map, so the table reader's hints
# ("recode it under [tables...] in the study map") would send the user nowhere.
ADAM_HINTS = {
    "missing_table": "put the dataset in the folder as .xpt or .sas7bdat (file name = dataset "
    "name); name another MRD dataset with --mrd-dataset (read_adam(mrd_dataset=...))",
    "ambiguous_table": "keep one file per dataset (.xpt or .sas7bdat, not both)",
    "bad_encoding": 'pass the encoding of the SAS file: read_adam(..., encoding="latin-1")',
    "missing_column": "add the variable to the dataset (docs/data-format.md, 'CDISC ADaM')",
    "unparsable_value": "correct the value in the dataset, or leave it missing (SAS .)",
    "unparsable_date": "store the date as a SAS date variable; other SAS date formats: "
    "read_adam(extra_date_formats=...)",
    "partial_date": "store a complete SAS date (impute partial dates in the ADaM derivation)",
    "unknown_code": "use the ADaM values of this variable (docs/data-format.md, 'CDISC ADaM'), "
    "e.g. AVALC NEGATIVE / POSITIVE, PARAMCD MRDNGF, SPEC BONE MARROW",
    "implausible_date": "check the date in the dataset",
    "implausible_day": "check the dates in the dataset (study days count from TRTSDT)",
    "two_digit_year": "store the date as a SAS date variable",
}


def _adam_hint(p: Problem) -> Problem:
    hint = ADAM_HINTS.get(p.rule)
    return p if hint is None else replace(p, hint=hint)


def read_adam(
    path_or_files: str | Path | Sequence[str | Path] | Mapping[str, str | Path],
    **kwargs: Any,
) -> Cohort:
    """Read ADaM datasets (ADSL, ADTTE, ADAE, ADMRD) and return a validated `Cohort`.

    See `_read_adam` for the parameters. Problems carry ADaM hints (`ADAM_HINTS`): an ADaM
    study has no study map, so no hint points to one.
    """
    try:
        cohort = _read_adam(path_or_files, **kwargs)
    except StudyValidationError as exc:
        raise StudyValidationError([_adam_hint(p) for p in exc.problems]) from None
    warnings = cohort.metadata.get("warnings")
    if warnings:
        cohort.metadata["warnings"] = tuple(_adam_hint(p) for p in warnings)
    return cohort


def _read_adam(
    path_or_files: str | Path | Sequence[str | Path] | Mapping[str, str | Path],
    *,
    mrd_dataset: str = "admrd",
    extra_date_formats: Sequence[str] = (),
    encoding: str | None = None,
    pre_origin_days: int | None = None,
    name: str | None = None,
    disease: str = "myeloma",
    disease_options: Mapping[str, Any] | None = None,
) -> Cohort:
    """Read ADaM datasets (ADSL, ADTTE, ADAE, ADMRD) and return a validated `Cohort`.

    Parameters
    ----------
    path_or_files : a folder holding ``adsl``, ``adtte``, ``adae`` (optional) and the MRD
        dataset as ``.xpt`` or ``.sas7bdat`` (names case-insensitive); or a list of such
        files; or a dict ``{dataset: path}``.
    mrd_dataset : name of the MRD BDS dataset (default ``admrd``).
    extra_date_formats : SAS formats to read as dates beyond pyreadstat's defaults
        (``MMYY``, ``YEAR``, ``MONYY``, ``DDMMYY``, ``MMDDYY``, ``YYMMDD``, ``E8601DA`` are
        always added).
    encoding : text encoding of character variables (pyreadstat's default if None).
    pre_origin_days : see `ValidationOptions`.
    name : study label (default: ``STUDYID`` of ADSL, else the folder name).
    disease, disease_options : the study's disease preset and its options
        (`mrdtrack.mrd.presets`; ADaM has no study map), validated with the datasets.

    Notes
    -----
    SAS special missing values (``.A``-``.Z``, ``._``) in ``.sas7bdat`` files are read as
    missing; each is listed in ``cohort.metadata["notes"]`` (rule ``special_missing``).
    Outcomes come from ADSL (``DTHDT``, ``LSTALVDT``, ``TRTEDT``) and the PFS record of
    ADTTE (progression = event whose ``EVNTDESC`` names progression); when ADSL lacks
    ``DTHDT`` the OS event date is used, when it lacks ``LSTALVDT`` the latest ADTTE date.
    """
    mrd_dataset = mrd_dataset.lower()
    files, label = _locate(path_or_files, mrd_dataset)
    problems: list[Problem] = []
    notes: list[Problem] = []
    raw: dict[str, pl.DataFrame] = {}
    sources: list[SourceFile] = []
    formats = [*EXTRA_DATE_FORMATS, *extra_date_formats]
    for ds in ("adsl", "adtte", "adae", mrd_dataset):
        path = files.get(ds)
        if path is None:
            if ds != "adae":
                problems.append(problem("missing_table", f"{ds}.xpt", table=ds.upper()))
            continue
        df, probs, special = _load_sas(path, formats, encoding)
        problems += probs
        notes += special
        if df is None:
            continue
        raw[ds] = df
        sources.append(
            SourceFile(
                str(path),
                hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                _TABLE_OF.get(ds, "mrd"),
                df.height,
            )
        )
    if any(p.severity == "error" for p in problems):
        raise StudyValidationError(problems)
    if name is None and "STUDYID" in raw["adsl"].columns and raw["adsl"].height:
        first = raw["adsl"].get_column("STUDYID").cast(pl.String)[0]
        name = first or label
    tables, probs, date_cols = _to_tables(raw, files, mrd_dataset)
    problems += probs
    opts = ValidationOptions(
        null_tokens=("",),
        date_columns=date_cols,
        pre_origin_days=30 if pre_origin_days is None else pre_origin_days,
    )
    file_names = {
        "patients": files["adsl"].name,
        "outcomes": files["adsl"].name,
        "mrd": files[mrd_dataset].name,
        "adverse_events": files["adae"].name if "adae" in files else "adae.xpt",
    }
    return Cohort.from_frames(
        tables.get("patients"),
        tables.get("mrd"),
        tables.get("outcomes"),
        tables.get("adverse_events"),
        name=name or label,
        sources=tuple(sources),
        file_names=file_names,
        options=opts,
        problems=problems + notes,
        disease=disease,
        disease_options=disease_options,
        disease_source="read_adam(disease=...)",
    )


_DATE_VARS = ("TRTSDT", "TRTEDT", "DCUTDT", "LSTALVDT", "DTHDT", "STARTDT", "ADT", "ASTDT")
_TABLE_OF = {"adsl": "patients", "adtte": "outcomes", "adae": "adverse_events"}


def _locate(path_or_files: Any, mrd_dataset: str) -> tuple[dict[str, Path], str]:
    if isinstance(path_or_files, Mapping):
        return {str(k).lower(): Path(v) for k, v in path_or_files.items()}, "study"
    if isinstance(path_or_files, str | Path) and Path(path_or_files).is_dir():
        folder = Path(path_or_files)
        candidates = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in SUFFIXES]
        label = folder.resolve().name
    elif isinstance(path_or_files, str | Path):
        candidates, label = [Path(path_or_files)], Path(path_or_files).stem
    else:
        candidates, label = [Path(p) for p in path_or_files], "study"
    found: dict[str, Path] = {}
    problems = []
    for p in candidates:
        ds = p.stem.lower()
        if ds in (*DATASETS, mrd_dataset):
            if ds in found:
                problems.append(problem("ambiguous_table", p.name, table=ds.upper()))
            found[ds] = p
    if problems:
        raise StudyValidationError(problems)
    return found, label


def _load_sas(
    path: Path, formats: list[str], encoding: str | None
) -> tuple[pl.DataFrame | None, list[Problem], list[Problem]]:
    """Read one SAS file with pyreadstat; special missing values become nulls (noted)."""
    import pyreadstat  # heavy, SAS files only: loaded on use (`import mrdtrack` stays light)

    fname = path.name
    table = path.stem.upper()
    if not path.is_file():
        return None, [problem("missing_table", fname, table=table)], []
    if path.stat().st_size == 0:
        return None, [problem("empty_file", fname, table=table)], []
    kwargs: dict[str, Any] = {"extra_date_formats": formats}
    if encoding:
        kwargs["encoding"] = encoding
    try:
        if path.suffix.lower() == ".xpt":
            df, _meta = pyreadstat.read_xport(str(path), output_format="polars", **kwargs)
        else:
            df, _meta = pyreadstat.read_sas7bdat(
                str(path), user_missing=True, output_format="polars", **kwargs
            )
    except Exception as exc:  # pyreadstat raises its own and OS errors for broken files
        rule = "bad_encoding" if "encod" in str(exc).lower() else "malformed_file"
        return None, [problem(rule, fname, table=table, format="SAS", encoding=encoding)], []
    notes: list[Problem] = []
    columns = []
    for c in df.columns:
        s = df.get_column(c)
        if s.dtype == pl.Object:
            s = _special_missing(s, fname, notes)
        columns.append(s)
    frame = pl.DataFrame(columns) if columns else pl.DataFrame()
    frame = frame.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW),
        pl.lit(fname, dtype=pl.String).alias(FILE),
    )
    return frame, [], notes


def _special_missing(s: pl.Series, fname: str, notes: list[Problem]) -> pl.Series:
    """A numeric or date variable read with ``user_missing=True``: SAS special missing values
    (``.A``-``.Z``, ``._``) arrive as their letter among the values. They become nulls, each
    listed as a ``special_missing`` note; a column of other mixed objects is kept as text."""
    values = s.to_list()
    codes = [i for i, v in enumerate(values) if isinstance(v, str)]
    rest = [v for v in values if v is not None and not isinstance(v, str)]
    if not codes or any(len(values[i]) != 1 for i in codes):
        return pl.Series(s.name, [None if v is None else str(v) for v in values], pl.String)
    for i in codes:
        notes.append(problem("special_missing", fname, i + 1, s.name))
    clean = [None if isinstance(v, str) else v for v in values]
    if rest and all(isinstance(v, dt.datetime) for v in rest):
        return pl.Series(s.name, [None if v is None else v.date() for v in clean], pl.Date)
    if rest and all(isinstance(v, dt.date) for v in rest):
        return pl.Series(s.name, clean, pl.Date)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in rest):
        return pl.Series(s.name, clean, pl.Float64)
    return pl.Series(s.name, [None if v is None else str(v) for v in clean], pl.String)


def _col(df: pl.DataFrame, *names: str) -> str | None:
    for n in names:
        if n in df.columns:
            return n
    return None


def _id(df: pl.DataFrame, c: str = "USUBJID") -> pl.Expr:
    """Identifier text: a numeric ``USUBJID`` (SAS stores numbers as floats) 1.0 reads "1"."""
    e = pl.col(c)
    e = number_text(e) if df.schema[c].is_float() else e.cast(pl.String)
    return e.str.strip_chars()


def _text(df: pl.DataFrame, c: str) -> pl.Expr:
    return pl.col(c).cast(pl.String).str.strip_chars().str.to_uppercase()


def _yn(df: pl.DataFrame, c: str | None) -> pl.Expr:
    if c is None:
        return pl.lit(None, dtype=pl.String)
    return _text(df, c)


def _to_tables(
    raw: dict[str, pl.DataFrame], files: dict[str, Path], mrd_dataset: str
) -> tuple[dict[str, pl.DataFrame | None], list[Problem], dict[str, dict[str, str | None]]]:
    """ADaM datasets -> our raw tables (dates still calendar dates, declared for conversion)."""
    problems: list[Problem] = []
    adsl = raw["adsl"]
    f_adsl = files["adsl"].name
    for c in ("USUBJID", "TRTSDT", "DCUTDT"):
        if c not in adsl.columns:
            problems.append(problem("missing_column", f_adsl, None, c, table="ADSL"))
    adtte = raw["adtte"]
    f_tte = files["adtte"].name
    for c in ("USUBJID", "PARAMCD", "CNSR", "ADT"):
        if c not in adtte.columns:
            problems.append(problem("missing_column", f_tte, None, c, table="ADTTE"))
    mrd = raw[mrd_dataset]
    f_mrd = files[mrd_dataset].name
    for c in ("USUBJID", "PARAMCD", "AVALC"):
        if c not in mrd.columns:
            problems.append(problem("missing_column", f_mrd, None, c, table=mrd_dataset.upper()))
    if not any(c in mrd.columns for c in ("ADT", "ADY")):
        problems.append(problem("missing_column", f_mrd, None, "ADT", table=mrd_dataset.upper()))
    ae = raw.get("adae")
    if ae is not None:
        f_ae = files["adae"].name
        for c in ("USUBJID", "AETERM"):
            if c not in ae.columns:
                problems.append(problem("missing_column", f_ae, None, c, table="ADAE"))
    for ds, df in (("adsl", adsl), ("adtte", adtte), (mrd_dataset, mrd), ("adae", ae)):
        if df is None:
            continue
        for c in _DATE_VARS:
            if c in df.columns and df.schema[c] not in (pl.Date, pl.Null):
                problems.append(
                    problem("wrong_type", files[ds].name, None, c, table=ds.upper(),
                            expected="a SAS date (pass its format in extra_date_formats)")
                )  # fmt: skip
    if problems:
        raise StudyValidationError(problems)

    def opt(df: pl.DataFrame, c: str, dtype: Any = pl.String) -> pl.Expr:
        return pl.col(c) if c in df.columns else pl.lit(None, dtype=dtype)

    dates: dict[str, dict[str, str | None]] = {
        "patients": {ORIGIN_DATE: None, "cutoff_day": None},
        "outcomes": {},
        "mrd": {},
        "adverse_events": {},
    }
    patients = adsl.select(
        _id(adsl).alias("patient_id"),
        opt(adsl, "ARM").alias("arm"),
        opt(adsl, "SITEID").alias("site"),
        pl.col("DCUTDT").alias("cutoff_day"),
        opt(adsl, "AGE", pl.Float64).alias("age"),
        opt(adsl, "SEX").alias("sex"),
        opt(adsl, "ISS").alias("iss"),
        opt(adsl, "RISS").alias("riss"),
        opt(adsl, "CYTORISK").alias("cytogenetic_risk"),
        opt(adsl, "PRIORSCT").alias("prior_transplant"),
        opt(adsl, "INDREG").alias("induction"),
        opt(adsl, "BLRESP").alias("baseline_response"),
        opt(adsl, "CYCCOMP", pl.Float64).alias("cycles_completed"),
        pl.col("TRTSDT").alias(ORIGIN_DATE),
        ROW,
        FILE,
    )
    outcomes, probs = _outcomes(adsl, adtte, f_adsl, f_tte)
    problems += probs
    dates["outcomes"] = {
        c: None for c in ("progression_day", "death_day", "last_contact_day", "treatment_end_day")
    }

    mrd_tab = _mrd(mrd)
    if "day" in mrd_tab.columns and mrd_tab.schema["day"] == pl.Date:
        dates["mrd"] = {"day": None}

    ae_tab = None
    if ae is not None:
        grade = _col(ae, "ATOXGR", "AETOXGR")
        rel = _col(ae, "AEREL", "AREL")
        onset_is_date = "ASTDT" in ae.columns
        onset = (
            pl.col("ASTDT")
            if onset_is_date
            else (
                pl.when(pl.col("ASTDY") > 0).then(pl.col("ASTDY") - 1).otherwise(pl.col("ASTDY"))
                if "ASTDY" in ae.columns
                else pl.lit(None, dtype=pl.Int64)
            )
        )
        related = (
            pl.lit(None, dtype=pl.String)
            if rel is None
            else _text(ae, rel).replace({"RELATED": "Y", "NOT RELATED": "N"})
        )
        ae_tab = ae.select(
            _id(ae).alias("patient_id"),
            pl.col("AETERM").alias("term"),
            opt(ae, "AEDECOD").alias("decod"),
            opt(ae, "AEBODSYS").alias("body_system"),
            (pl.col(grade) if grade else pl.lit(None, dtype=pl.String)).alias("grade"),
            opt(ae, "AESER").alias("serious"),
            onset.alias("onset_day"),
            related.alias("related"),
            ROW,
            FILE,
        )
        if onset_is_date:
            dates["adverse_events"] = {"onset_day": None}
    tables = {"patients": patients, "outcomes": outcomes, "mrd": mrd_tab, "adverse_events": ae_tab}
    return tables, problems, {k: v for k, v in dates.items() if v}


def _mrd(mrd: pl.DataFrame) -> pl.DataFrame:
    """ADMRD -> our raw mrd table. An unknown PARAMCD is passed on as the method, so the
    validator excludes the record (``unknown_code`` in column ``method``)."""
    inv = {v: k for k, v in METHOD_PARAMCD.items()}
    spec_inv = {v: k for k, v in SPEC.items()}
    avalc_inv = {v: k for k, v in AVALC.items()}
    paramcd = _text(mrd, "PARAMCD")
    if "ADT" in mrd.columns:
        day = pl.col("ADT")
    else:
        day = pl.when(pl.col("ADY") > 0).then(pl.col("ADY") - 1).otherwise(pl.col("ADY"))

    def opt(c: str, dtype: Any = pl.String) -> pl.Expr:
        return pl.col(c) if c in mrd.columns else pl.lit(None, dtype=dtype)

    return mrd.select(
        _id(mrd).alias("patient_id"),
        day.alias("day"),
        opt("AVISIT").alias("visit"),
        paramcd.replace(inv).alias("method"),
        (_text(mrd, "SPEC").replace(spec_inv) if "SPEC" in mrd.columns else opt("SPEC")).alias(
            "specimen"
        ),
        opt("MRDLOD", pl.Float64).alias("sensitivity"),
        _text(mrd, "AVALC").replace(avalc_inv).alias("result"),
        opt("AVAL", pl.Float64).alias("clonal_fraction"),
        (_text(mrd, "ADEQFL") if "ADEQFL" in mrd.columns else opt("ADEQFL")).alias("adequate"),
        ROW,
        FILE,
    )


def _is_prog(desc: pl.Expr) -> pl.Expr:
    return desc.str.contains("PROG") | (desc == "PD") | desc.str.contains("RELAPSE")


def _is_death(desc: pl.Expr) -> pl.Expr:
    return desc.str.contains("DEATH") | desc.str.contains("DIED")


def _outcomes(
    adsl: pl.DataFrame, adtte: pl.DataFrame, f_adsl: str, f_tte: str
) -> tuple[pl.DataFrame, list[Problem]]:
    """One outcomes row per ADSL row, from ADSL and the PFS/OS records of ADTTE."""
    problems: list[Problem] = []
    t = adtte.with_columns(
        _id(adtte).alias("__pid"),
        _text(adtte, "PARAMCD").alias("__param"),
        pl.col("CNSR").cast(pl.Float64, strict=False).alias("__cnsr"),
        (_text(adtte, "EVNTDESC") if "EVNTDESC" in adtte.columns else pl.lit(""))
        .fill_null("")
        .alias("__desc"),
    )
    rows = t.get_column(ROW)
    origin = adsl.select(
        _id(adsl).alias("__pid"),
        pl.col("TRTSDT").alias("__origin"),
        (pl.col("DTHDT") if "DTHDT" in adsl.columns else pl.lit(None, pl.Date)).alias("__dthdt"),
    ).unique("__pid", keep="first", maintain_order=True)
    known = set(origin.get_column("__pid").drop_nulls().to_list())

    def flag(mask: pl.Series, rule: str, column: str | None, **fmt: Any) -> None:
        for r in rows.filter(mask.fill_null(False)).to_list():
            p = problem(rule, f_tte, int(r), column, table="ADTTE", **fmt)
            problems.append(replace(p, severity="error"))

    t = t.filter(pl.col("__param").is_in(["PFS", "OS"]))
    rows = t.get_column(ROW)
    cnsr = t.get_column("__cnsr")
    flag(~t.get_column("__pid").is_in(list(known)), "unknown_patient", "USUBJID")
    flag(cnsr.is_null() | (cnsr < 0) | (cnsr != cnsr.round(0)), "invalid_cnsr", "CNSR")
    desc = pl.col("__desc")
    event_desc = t.select(
        pl.when(pl.col("__param") == "PFS")
        .then(_is_prog(desc) | _is_death(desc))
        .otherwise(_is_death(desc))
    ).to_series()
    exact_event = t.select(desc.is_in(list(PFS_EVENT.values()))).to_series()
    flag(((cnsr == 0) & ~event_desc) | ((cnsr > 0) & exact_event), "inconsistent_censoring",
         "EVNTDESC")  # fmt: skip
    dup = t.select(pl.struct("__pid", "__param").is_first_distinct().not_()).to_series()
    for param in ("PFS", "OS"):
        flag(dup & (t.get_column("__param") == param), "duplicate_parameter", "PARAMCD",
             param=param)  # fmt: skip
    j = t.join(origin, on="__pid", how="left", maintain_order="left")
    if "STARTDT" in t.columns:
        flag(j.get_column("STARTDT") != j.get_column("__origin"), "startdt_not_origin", "STARTDT")
        if "AVAL" in t.columns:
            d = (j.get_column("ADT") - j.get_column("STARTDT")).dt.total_days()
            aval = j.get_column("AVAL").cast(pl.Float64, strict=False)
            flag((aval != d) & (aval != d + 1), "inconsistent_aval", "AVAL")
    is_event = cnsr == 0
    death_evt = is_event & t.select(_is_death(desc)).to_series()
    has_dthdt = "DTHDT" in adsl.columns
    if has_dthdt:
        flag(death_evt & (j.get_column("ADT") != j.get_column("__dthdt")), "inconsistent_death",
             "ADT")  # fmt: skip
        flag(death_evt & j.get_column("__dthdt").is_null(), "inconsistent_death", "ADT")
        flag(
            (t.get_column("__param") == "OS") & (cnsr > 0) & (
                j.get_column("__dthdt") <= j.get_column("ADT")
            ),
            "inconsistent_death",
            "CNSR",
        )  # fmt: skip
    have_pfs = set(t.filter(pl.col("__param") == "PFS").get_column("__pid").to_list())
    for pid_, r in zip(
        adsl.select(_id(adsl)).to_series().to_list(),
        adsl.get_column(ROW).to_list(),
        strict=True,
    ):
        if pid_ is not None and pid_ not in have_pfs:
            problems.append(problem("missing_parameter", f_adsl, int(r), "USUBJID", param="PFS"))

    first = t.unique(["__pid", "__param"], keep="first", maintain_order=True)
    pfs = first.filter(pl.col("__param") == "PFS")
    prog = pfs.filter((pl.col("__cnsr") == 0) & _is_prog(desc) & ~_is_death(desc)).select(
        "__pid",
        pl.col("ADT").alias("__prog"),
        (pl.col("PDMETH") if "PDMETH" in pfs.columns else pl.lit(None, pl.String)).alias(
            "__pdmeth"
        ),
    )
    os_death = (
        first.filter((pl.col("__cnsr") == 0) & _is_death(desc))
        .group_by("__pid")
        .agg(pl.col("ADT").min().alias("__os_death"))
    )
    latest = first.group_by("__pid").agg(pl.col("ADT").max().alias("__latest"))
    base = adsl.with_columns(_id(adsl).alias("__pid"))
    base = (
        base.join(prog, on="__pid", how="left", maintain_order="left")
        .join(os_death, on="__pid", how="left", maintain_order="left")
        .join(latest, on="__pid", how="left", maintain_order="left")
    )
    death = pl.col("DTHDT") if has_dthdt else pl.col("__os_death")
    contact = pl.col("LSTALVDT") if "LSTALVDT" in adsl.columns else pl.col("__latest")
    out = base.select(
        pl.col("__pid").alias("patient_id"),
        pl.col("__prog").alias("progression_day"),
        pl.col("__pdmeth").alias("progression_method"),
        death.alias("death_day"),
        (pl.col("DTHCAUS") if "DTHCAUS" in adsl.columns else pl.lit(None, pl.String)).alias(
            "death_cause"
        ),
        contact.alias("last_contact_day"),
        (pl.col("TRTEDT") if "TRTEDT" in adsl.columns else pl.lit(None, pl.Date)).alias(
            "treatment_end_day"
        ),
        (pl.col("DCTREAS") if "DCTREAS" in adsl.columns else pl.lit(None, pl.String)).alias(
            "treatment_end_reason"
        ),
        ROW,
        FILE,
    )
    return out, problems
