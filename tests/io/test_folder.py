"""Folder reader: formats, encodings, delimiters, null tokens, frames, sources."""

from __future__ import annotations

import io

import pandas as pd
import polars as pl
import pytest

import mrdtrack
from mrdtrack.errors import StudyValidationError
from mrdtrack.io.folder import read_files
from mrdtrack.io.mapping import load_mapping


def _write(folder, files):
    for k, v in files.items():
        (folder / k).write_bytes(v)


def test_read_study_folder_sources(tmp_path, study_files):
    _write(tmp_path, study_files)
    c = mrdtrack.read_study(tmp_path)
    assert c.name == tmp_path.name
    assert {s.table for s in c.sources} == {"patients", "mrd", "outcomes", "adverse_events"}
    assert all(len(s.sha256) == 64 for s in c.sources)
    assert {s.table: s.rows_read for s in c.sources}["mrd"] == 4


def test_bom_and_crlf_and_semicolon(study_files):
    files = dict(study_files)
    files["patients.csv"] = b"\xef\xbb\xbf" + files["patients.csv"].replace(b",", b";").replace(
        b"\n", b"\r\n"
    )
    c = read_files(files)
    assert c.patients.get_column("patient_id").to_list() == ["001", "002", "003"]


def test_latin1_with_declared_encoding(study_files):
    files = dict(study_files)
    files["adverse_events.csv"] = files["adverse_events.csv"].replace(
        b"Fatigue", "Fatigué".encode("latin-1")
    )
    with pytest.raises(StudyValidationError):
        read_files(files)
    c = read_files(files, load_mapping({"study": {"encoding": "latin-1"}}))
    assert "Fatigué" in c.adverse_events.get_column("term").to_list()


def test_utf16_is_read(study_files):
    files = dict(study_files)
    files["patients.csv"] = files["patients.csv"].decode().encode("utf-16")
    assert read_files(files).n_patients == 3


def test_null_tokens(study_files):
    files = dict(study_files)
    files["patients.csv"] = files["patients.csv"].replace(b"63", b"ND")
    with pytest.raises(StudyValidationError):
        read_files(files)
    c = read_files(files, load_mapping({"study": {"null_tokens": ["", "ND"]}}))
    assert c.patients.get_column("age").null_count() == 1


def test_parquet_and_excel(tmp_path, study_files):
    pat = pl.read_csv(io.BytesIO(study_files["patients.csv"]), infer_schema=False)
    files = dict(study_files)
    del files["patients.csv"]
    buf = io.BytesIO()
    pat.write_parquet(buf)
    files["patients.parquet"] = buf.getvalue()
    c1 = read_files(files)
    del files["patients.parquet"]
    xbuf = io.BytesIO()
    pat.write_excel(xbuf)
    files["patients.xlsx"] = xbuf.getvalue()
    c2 = read_files(files)
    base = read_files(study_files)
    assert c1 == base
    assert c2 == base


def test_corrupt_parquet(study_files):
    files = dict(study_files)
    del files["patients.csv"]
    files["patients.parquet"] = b"not a parquet file"
    with pytest.raises(StudyValidationError) as err:
        read_files(files)
    assert [p.rule for p in err.value.problems] == ["malformed_file"]
    assert err.value.problems[0].message == "file cannot be parsed as Parquet"


def test_frames_pandas_and_polars(study_files):
    frames = {
        k.removesuffix(".csv"): pd.read_csv(io.BytesIO(v), dtype=str, keep_default_na=False)
        for k, v in study_files.items()
    }
    c_pd = mrdtrack.read_study(frames)
    frames_pl = {k: pl.from_pandas(v) for k, v in frames.items()}
    assert mrdtrack.read_study(frames_pl) == c_pd == read_files(study_files)


def test_typed_frames_from_frames():
    c = mrdtrack.Cohort.from_frames(
        patients=pd.DataFrame({"patient_id": ["a", "b"], "cutoff_day": [100, 200]}),
        mrd=pl.DataFrame(
            {"patient_id": ["a"], "day": [3.0], "method": ["NGF"], "result": ["negative"]}
        ),
        outcomes=pd.DataFrame(
            {"patient_id": ["a", "b"], "last_contact_day": [90, 140], "death_day": [None, 150]}
        ),
    )
    assert c.mrd.get_column("day").to_list() == [3]
    assert c.outcomes.get_column("death_day").to_list() == [None, 150]
    assert c.metadata["rows_read"] == {
        "patients": 2,
        "mrd": 1,
        "outcomes": 2,
        "adverse_events": 0,
    }


def test_fractional_day_is_unparsable():
    with pytest.raises(StudyValidationError) as err:
        mrdtrack.Cohort.from_frames(
            patients=pl.DataFrame({"patient_id": ["a"], "cutoff_day": [100.5]}),
            mrd=pl.DataFrame(
                {"patient_id": ["a"], "day": [3], "method": ["NGF"], "result": ["negative"]}
            ),
            outcomes=pl.DataFrame({"patient_id": ["a"], "last_contact_day": [90]}),
        )
    (p,) = err.value.problems
    assert (p.column, p.rule, p.message) == (
        "cutoff_day",
        "unparsable_value",
        "value cannot be read as an integer",
    )


def test_lod_notations(study_files):
    files = dict(study_files)
    files["mrd.csv"] = (
        files["mrd.csv"].replace(b"1e-5", b"10^-5", 1).replace(b"1e-6", b"10^(-6)", 1)
    )
    c = read_files(files)
    assert sorted(set(c.mrd.get_column("sensitivity").to_list())) == [1e-6, 1e-5]


def test_missing_folder(tmp_path):
    with pytest.raises(StudyValidationError):
        mrdtrack.read_study(tmp_path / "nope")


def test_same_name_in_two_cases_is_ambiguous(study_files):
    files = {**study_files, "PATIENTS.csv": study_files["patients.csv"]}
    with pytest.raises(StudyValidationError) as err:
        read_files(files)
    assert [p.rule for p in err.value.problems] == ["ambiguous_table"]


def test_unknown_frame_name():
    with pytest.raises(ValueError, match="unknown table name"):
        mrdtrack.read_study({"labs": pl.DataFrame({"a": [1]})})
