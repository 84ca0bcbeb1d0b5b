"""Ingest never changes data silently: two-digit years, plausible days and dates, identifiers
in their text form, tables emptied by exclusions, MRD results as labs write them."""

from __future__ import annotations

import io
import shutil

import polars as pl
import pyreadstat
import pytest
from _io_study import base_files, set_line

import mrdtrack
from mrdtrack.errors import StudyValidationError
from mrdtrack.io import example_study_path
from mrdtrack.io.adam import read_adam
from mrdtrack.io.folder import read_files
from mrdtrack.io.mapping import StudyMap, load_mapping
from mrdtrack.notation import Reading, lab_number, read_notation


def problems_of(files, smap=None):
    with pytest.raises(StudyValidationError) as err:
        read_files(files, smap or StudyMap())
    return err.value.problems


def where(p):
    return (p.file, p.row, p.column, p.rule, p.severity)


# ---- two-digit years ------------------------------------------------------------------------

DMY = {
    "tables": {
        "patients": {"dates": {"origin_date": "start", "cutoff_day": "cutoff"}},
        "mrd": {"dates": {"day": "sample_date"}},
    },
    "study": {"date_format": "%d/%m/%Y"},
}


def dmy_files(start: str) -> dict[str, bytes]:
    return {
        "patients.csv": f"patient_id,start,cutoff\n001,{start},10/01/2021\n".encode(),
        "mrd.csv": b"patient_id,sample_date,method,result\n001,24/01/2018,NGF,negative\n",
        "outcomes.csv": b"patient_id,last_contact_day\n001,900\n",
    }


def test_two_digit_year_under_four_digit_format_is_an_error():
    probs = problems_of(dmy_files("14/01/16"), load_mapping(DMY))
    errs = [p for p in probs if p.severity == "error"]
    assert [where(p) for p in errs] == [
        ("patients.csv", 1, "origin_date", "two_digit_year", "error")
    ]
    assert errs[0].message == "date has a two-digit year, whose century is ambiguous"
    assert "two_digit_year_pivot" in errs[0].hint


@pytest.mark.parametrize("fmt", ["%d/%m/%Y", "%d/%m/%y"])
def test_two_digit_year_with_pivot(fmt):
    smap = load_mapping({**DMY, "study": {"date_format": fmt, "two_digit_year_pivot": 1950}})
    files = dmy_files("14/01/16")
    files["patients.csv"] = b"patient_id,start,cutoff\n001,14/01/16,10/01/21\n"
    files["mrd.csv"] = b"patient_id,sample_date,method,result\n001,24/01/18,NGF,negative\n"
    cohort = read_files(files, smap)
    # 2016-01-14 -> 2021-01-10 is 1823 days; 2016-01-14 -> 2018-01-24 is 741 days
    assert cohort.patients.get_column("cutoff_day").to_list() == [1823]
    assert cohort.mrd.get_column("day").to_list() == [741]
    notes = cohort.metadata["notes"].filter(pl.col("rule") == "two_digit_year_pivoted")
    assert notes.height == 3  # origin, cutoff, sample date columns


def test_percent_small_y_without_pivot_is_an_error():
    smap = load_mapping({**DMY, "study": {"date_format": "%d/%m/%y"}})
    probs = problems_of(dmy_files("14/01/16"), smap)
    assert ("patients.csv", 1, "origin_date", "two_digit_year", "error") in [
        where(p) for p in probs
    ]


def test_pivot_must_be_a_year():
    with pytest.raises(StudyValidationError, match="two_digit_year_pivot must be a year"):
        load_mapping({"study": {"two_digit_year_pivot": 50}})


# ---- plausibility ---------------------------------------------------------------------------


def test_study_day_beyond_bound_is_an_error(study_files):
    files = set_line(study_files, "patients.csv", 2, "002,999999,70,F,no,12")
    probs = problems_of(files)
    errs = [p for p in probs if p.severity == "error"]
    assert [where(p) for p in errs] == [
        ("patients.csv", 2, "cutoff_day", "implausible_day", "error")
    ]
    assert errs[0].message == "study day is outside the plausible range [-18262, 18262]"


def test_study_day_bound_is_configurable(study_files):
    files = set_line(study_files, "patients.csv", 2, "002,999,70,F,no,12")
    probs = problems_of(files, load_mapping({"study": {"max_study_days": 950}}))
    # cutoff 1000 of patients 001 is beyond 950 too; 999 of 002 is beyond as well
    rows = sorted(p.row for p in probs if p.rule == "implausible_day" and p.file == "patients.csv")
    assert rows == [1, 2]
    # an MRD day beyond the bound is an exclusion (record-level table), listed with its rule
    cohort = read_files(study_files, load_mapping({"study": {"max_study_days": 1000}}))
    assert cohort.exclusions.height == 0
    files = set_line(
        study_files, "mrd.csv", 2, "001,5000,NGF,bone_marrow,1e-5,positive,0.0001,true"
    )
    cohort = read_files(files)
    assert cohort.exclusions.select("file", "row", "column", "rule").rows() == [
        ("mrd.csv", 2, "day", "after_cutoff")
    ]
    files = set_line(
        study_files, "mrd.csv", 2, "001,50000,NGF,bone_marrow,1e-5,positive,0.0001,true"
    )
    cohort = read_files(files)
    assert cohort.exclusions.select("file", "row", "column", "rule").rows() == [
        ("mrd.csv", 2, "day", "implausible_day")
    ]


def test_implausible_date_years():
    files = dmy_files("14/01/1016")
    probs = problems_of(files, load_mapping(DMY))
    errs = [p for p in probs if p.severity == "error"]
    assert [where(p) for p in errs] == [
        ("patients.csv", 1, "origin_date", "implausible_date", "error")
    ]
    assert errs[0].message == "date is outside the plausible years 1900-2100"
    ok = load_mapping(
        {**DMY, "study": {"date_format": "%d/%m/%Y", "plausible_years": [1000, 2100]}}
    )
    probs = problems_of(files, ok)  # now the days are implausible instead: 1000 years
    # and the MRD sample, 1000 years after that origin, is excluded: no MRD record is left
    assert {p.rule for p in probs if p.severity == "error"} == {
        "implausible_day",
        "all_records_excluded",
    }


# ---- identifiers keep their text form -------------------------------------------------------


def test_adam_numeric_usubjid_reads_as_integer_text(tmp_path):
    src = example_study_path("adam")
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    for ds in ("adsl", "adtte", "adae", "admrd"):
        df, meta = pyreadstat.read_xport(str(tmp_path / f"{ds}.xpt"))
        df["USUBJID"] = df["USUBJID"].astype(float)
        fmt = {c: "DATE9." for c, f in meta.original_variable_types.items() if f and "DATE" in f}
        for c in df.columns:
            if df[c].dtype == object and c not in fmt:
                df[c] = df[c].fillna("").astype(str)
        pyreadstat.write_xport(
            df, str(tmp_path / f"{ds}.xpt"), table_name=ds.upper(), variable_format=fmt
        )
    cohort = read_adam(tmp_path)
    ids = cohort.patients.get_column("patient_id").to_list()
    assert ids[:3] == ["1", "10", "11"]  # sorted as text; never "1.0"
    assert not any("." in i for i in ids)
    assert set(cohort.mrd.get_column("patient_id").to_list()) <= set(ids)


def test_parquet_float_id_reads_as_integer_text(study_files):
    pat = pl.read_csv(study_files["patients.csv"], schema_overrides={"patient_id": pl.Float64})
    buf = io.BytesIO()
    pat.write_parquet(buf)
    files = {k: v for k, v in study_files.items() if k != "patients.csv"}
    files["patients.parquet"] = buf.getvalue()
    for name in ("mrd.csv", "outcomes.csv", "adverse_events.csv"):
        files[name] = files[name].replace(b"\n00", b"\n")
    cohort = read_files(files)
    assert cohort.patients.get_column("patient_id").to_list() == ["1", "2", "3"]


def test_excel_keeps_leading_zeros_and_counts_blank_rows():
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf)
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["patient_id", "cutoff_day", "age"])
    ws.write_row(1, 0, ["001", 1000, 63])
    ws.write_row(3, 0, ["002", 1000, "sixty"])  # a blank sheet row above it
    ws.write_row(4, 0, ["003", 900, 55])
    wb.close()
    files = base_files()
    del files["patients.csv"]
    files["patients.xlsx"] = buf.getvalue()
    probs = problems_of(files)
    errs = [p for p in probs if p.severity == "error"]
    # data row 3 = sheet row 4 (header on sheet row 1, blank data row 2 counted)
    assert [where(p) for p in errs] == [("patients.xlsx", 3, "age", "unparsable_value", "error")]
    files["patients.xlsx"] = buf.getvalue()
    fixed = io.BytesIO()
    wb = xlsxwriter.Workbook(fixed)
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["patient_id", "cutoff_day"])
    for i, (pid, cut) in enumerate([("001", 1000), ("002", 1000), ("003", 900)]):
        ws.write_row(1 + 2 * i, 0, [pid, cut])
    wb.close()
    files["patients.xlsx"] = fixed.getvalue()
    cohort = read_files(files)
    assert cohort.patients.get_column("patient_id").to_list() == ["001", "002", "003"]
    blank = cohort.metadata["notes"].filter(pl.col("rule") == "blank_row")
    assert blank.get_column("row").to_list() == [2, 4]


# ---- a table emptied by exclusions ----------------------------------------------------------


def test_mrd_table_emptied_by_exclusions_is_invalid(study_files):
    files = dict(study_files)
    files["mrd.csv"] = (
        b"patient_id,day,method,result\n001,14/01/2018,NGF,negative\n002,43000,NGS,negative\n"
        b"003,x,NGF,positive\n"
    )
    probs = problems_of(files)
    errs = [p for p in probs if p.severity == "error"]
    assert [where(p) for p in errs] == [("mrd.csv", None, None, "all_records_excluded", "error")]
    assert errs[0].message == (
        "every record of table 'mrd' was excluded (unparsable_value: 2, implausible_day: 1)"
    )
    assert {p.rule for p in probs if p.severity == "warning"} == {
        "unparsable_value",
        "implausible_day",
    }


# ---- MRD results as labs write them ---------------------------------------------------------

NOTATIONS = [
    ("NEG", Reading("negative")),
    ("Negative", Reading("negative")),
    ("Not detected", Reading("negative")),
    ("undetectable", Reading("negative")),
    ("<LOD", Reading("negative")),
    ("<1e-5", Reading("negative", sensitivity=1e-5)),
    ("< 10^-6", Reading("negative", sensitivity=1e-6)),
    ("negative (<10^-5)", Reading("negative", sensitivity=1e-5)),
    ("POS", Reading("positive")),
    ("detected", Reading("positive")),
    ("MRD+", Reading("positive")),
    ("0.001%", Reading("positive", level=1e-5)),
    ("2x10-4", Reading("positive", level=2e-4)),
    ("2×10^-4", Reading("positive", level=2e-4)),
    ("positive 2x10-4", Reading("positive", level=2e-4)),
    ("positive (0.01%)", Reading("positive", level=1e-4)),
    ("detected at 3E-06", Reading("positive", level=3e-6)),
]


def approx(x):
    return None if x is None else pytest.approx(x, rel=1e-12)


@pytest.mark.parametrize(("text", "reading"), NOTATIONS)
def test_lab_notation(text, reading):
    r = read_notation(text)
    assert r is not None
    assert r.result == reading.result
    assert r.level == approx(reading.level)
    assert r.sensitivity == approx(reading.sensitivity)


@pytest.mark.parametrize(
    "text", ["0", "10-5", "positive <1e-5", "negative 2x10-4", "2", "ND", "pending", "<0"]
)
def test_not_a_lab_notation(text):
    assert read_notation(text) is None


def test_lab_numbers():
    assert lab_number("10^(-5)") == pytest.approx(1e-5)
    assert lab_number("10e-5") == pytest.approx(1e-4)  # plain scientific notation
    assert lab_number("0,001%", decimal_comma=True) == pytest.approx(1e-5)
    assert lab_number("0,001%") is None
    assert lab_number("1_000") is None


MRD_NOTATED = (
    "patient_id,day,method,result,sensitivity,clonal_fraction\n"
    "001,14,NGF,NEG,1e-5,\n"
    "001,380,NGF,positive 2x10-4,1e-5,\n"
    "002,10,NGS,<1e-6,,\n"
    "003,-5,NGF,0.001%,,\n"
    "003,200,NGF,Not detected,0.001%,\n"
)


def test_mrd_notations_read_into_status_level_sensitivity(study_files):
    files = {**study_files, "mrd.csv": MRD_NOTATED.encode()}
    cohort = read_files(files)
    got = cohort.mrd.select("patient_id", "day", "result", "sensitivity", "clonal_fraction")
    assert got.rows() == [
        ("001", 14, "negative", approx(1e-5), None),
        ("001", 380, "positive", approx(1e-5), approx(2e-4)),
        ("002", 10, "negative", approx(1e-6), None),
        ("003", -5, "positive", None, approx(1e-5)),
        ("003", 200, "negative", approx(1e-5), None),
    ]
    note = cohort.metadata["notes"].filter(pl.col("rule") == "lab_notation")
    assert note.select("file", "column", "message").rows() == [
        (
            "mrd.csv",
            "result",
            "5 result(s) written as lab notations were read as result, level and sensitivity",
        )
    ]


def test_map_recoding_overrides_the_vocabulary(study_files):
    files = {**study_files, "mrd.csv": MRD_NOTATED.encode()}
    smap = load_mapping({"tables": {"mrd": {"codes": {"result": {"NEG": "indeterminate"}}}}})
    cohort = read_files(files, smap)
    assert cohort.mrd.get_column("result").to_list()[0] == "indeterminate"
    off = load_mapping({"study": {"lab_notation": False}})
    probs = problems_of(files, off)
    assert [(p.row, p.rule) for p in probs] == [
        (None, "all_records_excluded"),
        *[(r, "unknown_code") for r in (1, 2, 3, 4, 5)],
    ]


def test_notation_conflicting_with_level_column_is_excluded(study_files):
    mrd = (
        "patient_id,day,method,result,clonal_fraction\n"
        "001,14,NGF,positive 2x10-4,0.0002\n"
        "001,380,NGF,positive 2x10-4,0.001\n"
        "002,10,NGS,negative,\n"
    )
    cohort = read_files({**study_files, "mrd.csv": mrd.encode()})
    assert cohort.exclusions.select("row", "column", "rule").rows() == [
        (2, "result", "conflicting_level")
    ]
    assert cohort.mrd.get_column("clonal_fraction").to_list() == [pytest.approx(2e-4), None]


def test_decimal_comma(study_files):
    mrd = "patient_id;day;method;result;sensitivity\n001;14;NGF;negative;0,00001\n"
    pat = "patient_id;cutoff_day;age\n001;1000;63,5\n002;1000;70\n003;900;55\n"
    files = {**study_files, "mrd.csv": mrd.encode(), "patients.csv": pat.encode()}
    probs = problems_of(files)
    assert ("patients.csv", 1, "age", "unparsable_value", "error") in [where(p) for p in probs]
    cohort = read_files(files, load_mapping({"study": {"decimal_comma": True}}))
    assert cohort.patients.get_column("age").to_list()[0] == 63.5
    assert cohort.mrd.get_column("sensitivity").to_list() == [pytest.approx(1e-5)]


def test_demo_study_unchanged():
    cohort = mrdtrack.read_study(example_study_path("csv"))
    assert cohort.exclusions.height == 0 or "implausible_day" not in set(
        cohort.exclusions.get_column("rule").to_list()
    )


# ---- messages: a file for a folder, ADaM hints ----------------------------------------------


def test_a_file_given_for_the_study_folder_says_so(tmp_path):
    f = tmp_path / "patients.csv"
    f.write_bytes(base_files()["patients.csv"])
    with pytest.raises(StudyValidationError) as err:
        mrdtrack.read_study(f)
    (p,) = err.value.problems
    assert (p.file, p.rule, p.message) == (
        "patients.csv",
        "not_a_folder",
        "a study folder was expected, but this is a file",
    )


def test_adam_problems_carry_adam_hints(tmp_path):
    src = example_study_path("adam")
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    df, meta = pyreadstat.read_xport(str(tmp_path / "admrd.xpt"))
    df.loc[0, "AVALC"] = "MAYBE"
    fmt = {c: "DATE9." for c, f in meta.original_variable_types.items() if f and "DATE" in f}
    for c in df.columns:
        if df[c].dtype == object and c not in fmt:
            df[c] = df[c].fillna("").astype(str)
    pyreadstat.write_xport(df, str(tmp_path / "admrd.xpt"), table_name="ADMRD", variable_format=fmt)
    cohort = read_adam(tmp_path)
    (w,) = [p for p in cohort.metadata["warnings"] if p.rule == "unknown_code"]
    assert (w.file, w.row, w.column) == ("admrd.xpt", 1, "result")
    assert "study map" not in w.hint and "AVALC NEGATIVE / POSITIVE" in w.hint
    (tmp_path / "admrd.xpt").rename(tmp_path / "admrd_v2.xpt")
    with pytest.raises(StudyValidationError) as err:
        read_adam(tmp_path)
    (p,) = err.value.problems
    assert p.rule == "missing_table" and "--mrd-dataset" in p.hint
    assert read_adam(tmp_path, mrd_dataset="admrd_v2").n_patients == 20


@pytest.mark.parametrize(
    ("origin", "rule"), [("27/09/15", "two_digit_year"), ("", "missing_value")]
)
def test_a_bad_origin_is_reported_once(tmp_path, origin, rule):
    """The patient's other dates cannot become study days: no cascade of derived errors."""
    study = tmp_path / "m"
    shutil.copytree(example_study_path("mapped"), study)
    lines = (study / "subjects.csv").read_text().splitlines()
    lines[1] = lines[1].replace("27/09/2015", origin)
    (study / "subjects.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(StudyValidationError) as err:
        mrdtrack.read_study(study)
    assert [where(p) for p in err.value.problems] == [
        ("subjects.csv", 1, "origin_date", rule, "error")
    ]
