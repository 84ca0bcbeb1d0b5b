"""ADaM reader and writer: round trip, conventions, and the ADaM-specific rules."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import polars as pl
import pyreadstat
import pytest

import mrdtrack
from mrdtrack.errors import StudyValidationError
from mrdtrack.io import example_study_path
from mrdtrack.io.adam import _load_sas, read_adam, write_adam


@pytest.fixture(scope="module")
def cohort():
    return mrdtrack.read_study(example_study_path("csv"))


@pytest.fixture
def adam_dir(tmp_path):
    src = example_study_path("adam")
    for f in src.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _edit(folder, ds, fn):
    df, meta = pyreadstat.read_xport(str(folder / f"{ds}.xpt"))
    df = fn(df)
    fmt = {c: "DATE9." for c, f in meta.original_variable_types.items() if f and "DATE" in f}
    for c in df.columns:
        if df[c].dtype == object and c not in fmt:
            df[c] = df[c].fillna("").astype(str)
    pyreadstat.write_xport(
        df,
        str(folder / f"{ds}.xpt"),
        table_name=ds.upper(),
        file_format_version=5,
        variable_format=fmt,
    )


def _problems(folder):
    with pytest.raises(StudyValidationError) as err:
        read_adam(folder)
    return err.value.problems


def _first_event_row(df, paramcd, desc):
    return df.index[(paramcd == df.PARAMCD) & (desc == df.EVNTDESC)][0]


def test_round_trip_default_calendar(tmp_path, cohort):
    write_adam(cohort, tmp_path)
    assert read_adam(tmp_path) == cohort


def test_round_trip_with_an_all_missing_date_variable(tmp_path, cohort):
    # no patient ended treatment: TRTEDT has no date at all and must still be written as a
    # numeric SAS date variable (it was written as text with a date format: unreadable)
    still_on = cohort.outcomes.with_columns(pl.lit(None, pl.Int64).alias("treatment_end_day"))
    c = mrdtrack.Cohort.from_frames(
        cohort.patients, cohort.mrd, still_on, cohort.adverse_events, name=cohort.name
    )
    write_adam(c, tmp_path)
    adsl, meta = pyreadstat.read_xport(str(tmp_path / "adsl.xpt"))
    assert adsl["TRTEDT"].isna().all()
    assert meta.readstat_variable_types["TRTEDT"] == "double"
    back = read_adam(tmp_path)
    assert back.outcomes["treatment_end_day"].null_count() == back.outcomes.height
    assert back.mrd.equals(c.mrd)


def test_written_conventions(cohort):
    adtte, _ = pyreadstat.read_xport(str(example_study_path("adam") / "adtte.xpt"))
    d = (pd.to_datetime(adtte.ADT) - pd.to_datetime(adtte.STARTDT)).dt.days
    assert (d == adtte.AVAL).all()
    assert set(adtte.CNSR) <= {0.0, 1.0, 2.0}
    assert set(adtte.PARAMCD) == {"PFS", "OS"}
    admrd, _ = pyreadstat.read_xport(str(example_study_path("adam") / "admrd.xpt"))
    adsl, _ = pyreadstat.read_xport(str(example_study_path("adam") / "adsl.xpt"))
    j = admrd.merge(adsl[["USUBJID", "TRTSDT"]], on="USUBJID")
    day = (pd.to_datetime(j.ADT) - pd.to_datetime(j.TRTSDT)).dt.days
    # ADaM study day: no day 0
    assert (day.where(day < 0, day + 1) == j.ADY).all()


def test_pfs_matches_adtte(cohort):
    adtte, _ = pyreadstat.read_xport(str(example_study_path("adam") / "adtte.xpt"))
    pfs = adtte[adtte.PARAMCD == "PFS"].sort_values("USUBJID")
    ours = cohort.pfs().to_pandas()
    assert list(ours.time) == list(pfs.AVAL)
    assert list(ours.event) == list((pfs.CNSR == 0).astype(int))


def test_aval_plus_one_is_accepted(adam_dir, cohort):
    _edit(adam_dir, "adtte", lambda d: d.assign(AVAL=d.AVAL + 1))
    assert read_adam(adam_dir) == cohort


def test_ady_only(adam_dir, cohort):
    _edit(adam_dir, "admrd", lambda d: d.drop(columns=["ADT"]))
    assert read_adam(adam_dir) == cohort


def test_rule_invalid_cnsr(adam_dir):
    _edit(adam_dir, "adtte", lambda d: d.assign(CNSR=d.CNSR.where(d.index != 0, -1.0)))
    p = next(p for p in _problems(adam_dir) if p.rule == "invalid_cnsr")
    assert (p.file, p.row, p.column, p.severity) == ("adtte.xpt", 1, "CNSR", "error")
    assert p.message == "CNSR must be 0 (event) or a positive integer (censored)"


def test_rule_inconsistent_censoring(adam_dir):
    def fn(d):
        i = _first_event_row(d, "PFS", "PROGRESSIVE DISEASE")
        d.loc[i, "CNSR"] = 1.0
        return d

    _edit(adam_dir, "adtte", fn)
    p = next(p for p in _problems(adam_dir) if p.rule == "inconsistent_censoring")
    assert (p.file, p.column, p.message) == ("adtte.xpt", "EVNTDESC", "CNSR and EVNTDESC disagree")


def test_rule_inconsistent_aval(adam_dir):
    _edit(adam_dir, "adtte", lambda d: d.assign(AVAL=d.AVAL.where(d.index != 2, d.AVAL + 5)))
    p = next(p for p in _problems(adam_dir) if p.rule == "inconsistent_aval")
    assert (p.row, p.column, p.message) == (
        3,
        "AVAL",
        "AVAL is neither ADT - STARTDT nor ADT - STARTDT + 1",
    )


def test_rule_startdt_not_origin(adam_dir):
    def fn(d):
        d.loc[0, "STARTDT"] = d.loc[0, "STARTDT"] + dt.timedelta(days=1)
        return d

    _edit(adam_dir, "adtte", fn)
    p = next(p for p in _problems(adam_dir) if p.rule == "startdt_not_origin")
    assert (p.row, p.column, p.message) == (
        1,
        "STARTDT",
        "STARTDT differs from TRTSDT (the time origin)",
    )


def test_rule_inconsistent_death(adam_dir):
    def fn(d):
        i = _first_event_row(d, "OS", "DEATH")
        d.loc[i, "ADT"] = d.loc[i, "ADT"] - dt.timedelta(days=3)
        return d

    _edit(adam_dir, "adtte", fn)
    p = next(p for p in _problems(adam_dir) if p.rule == "inconsistent_death")
    assert (p.column, p.message) == ("ADT", "death in ADTTE does not match DTHDT in ADSL")


def test_rule_missing_parameter(adam_dir):
    _edit(adam_dir, "adtte", lambda d: d[~((d.PARAMCD == "PFS") & (d.USUBJID == "002"))])
    p = next(p for p in _problems(adam_dir) if p.rule == "missing_parameter")
    assert (p.file, p.row, p.column, p.message) == (
        "adsl.xpt",
        2,
        "USUBJID",
        "patient has no PFS record in ADTTE",
    )


def test_rule_duplicate_parameter(adam_dir):
    _edit(adam_dir, "adtte", lambda d: pd.concat([d, d.iloc[[0]]], ignore_index=True))
    p = next(p for p in _problems(adam_dir) if p.rule == "duplicate_parameter")
    assert p.message == "patient has more than one PFS record in ADTTE"


def test_unknown_mrd_parameter_is_excluded(adam_dir):
    _edit(adam_dir, "admrd", lambda d: d.assign(PARAMCD=d.PARAMCD.where(d.index != 0, "MRDXYZ")))
    c = read_adam(adam_dir)
    ex = c.exclusions.row(0, named=True)
    assert (ex["file"], ex["row"], ex["column"], ex["rule"]) == (
        "admrd.xpt",
        1,
        "method",
        "unknown_code",
    )
    acc = c.accounting()
    assert (acc["read"] == acc["kept"] + acc["excluded"]).all()


def test_missing_dataset(adam_dir):
    (adam_dir / "adtte.xpt").unlink()
    (p,) = _problems(adam_dir)
    assert (p.file, p.rule) == ("adtte.xpt", "missing_table")


def test_special_missing_values_become_missing_with_a_note(monkeypatch, tmp_path):
    """pyreadstat(user_missing=True) returns SAS special missing values as letters."""
    frame = pl.DataFrame(
        {
            "USUBJID": ["001", "002", "003"],
            "AGE": pl.Series([61.0, "A", None], dtype=pl.Object),
            "DTHDT": pl.Series([dt.date(2020, 1, 1), "Z", None], dtype=pl.Object),
            "NOTE": pl.Series([1, "long text", None], dtype=pl.Object),
        }
    )
    monkeypatch.setattr(pyreadstat, "read_sas7bdat", lambda *a, **k: (frame, None))
    path = tmp_path / "adsl.sas7bdat"
    path.write_bytes(b"x")
    df, problems, notes = _load_sas(path, [], None)
    assert problems == []
    assert df.get_column("AGE").to_list() == [61.0, None, None]
    assert df.get_column("DTHDT").to_list() == [dt.date(2020, 1, 1), None, None]
    assert df.get_column("NOTE").to_list() == ["1", "long text", None]
    assert [(n.file, n.row, n.column, n.rule, n.message) for n in notes] == [
        ("adsl.sas7bdat", 2, "AGE", "special_missing", "SAS special missing value read as missing"),
        (
            "adsl.sas7bdat",
            2,
            "DTHDT",
            "special_missing",
            "SAS special missing value read as missing",
        ),
    ]


def test_extra_date_formats_are_passed(monkeypatch, tmp_path):
    seen = {}

    def fake(path, **kwargs):
        seen.update(kwargs)
        return pl.DataFrame({"USUBJID": ["1"]}), None

    monkeypatch.setattr(pyreadstat, "read_xport", fake)
    path = tmp_path / "adsl.xpt"
    path.write_bytes(b"x")
    _load_sas(path, ["MMYY", "MYDATE"], None)
    assert "MYDATE" in seen["extra_date_formats"]


def test_mrd_dataset_name(adam_dir, cohort):
    (adam_dir / "admrd.xpt").rename(adam_dir / "adlb.xpt")
    assert read_adam(adam_dir, mrd_dataset="ADLB") == cohort
    assert (
        read_adam(
            {d: adam_dir / f"{d}.xpt" for d in ("adsl", "adtte", "adae", "adlb")},
            mrd_dataset="adlb",
        )
        == cohort
    )
