"""Our ADaM transport files, read independently by R (foreign::read.xport), match.

tests/reference/io/make_reference.sh writes R's reading of examples/adam_study as CSV (dates
as SAS day numbers). Every value of every dataset must equal what pyreadstat reads, and PFS/OS
time and status as R survival would take them must equal `Cohort.pfs()` / `Cohort.os()` of the
CSV example study. R is not needed at test time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

import mrdtrack
from mrdtrack.io import example_study_path

REF = Path(__file__).resolve().parent.parent / "reference" / "io"
SAS_EPOCH = dt.date(1960, 1, 1)


@pytest.mark.parametrize("ds", ["adsl", "adtte", "adae", "admrd"])
def test_r_reads_the_same_values(ds):
    ours, _ = pyreadstat.read_xport(
        str(example_study_path("adam") / f"{ds}.xpt"), output_format="polars"
    )
    r = pl.read_csv(REF / f"{ds}_R.csv", infer_schema=False)
    assert r.columns == ours.columns
    assert r.height == ours.height
    for c in ours.columns:
        s = ours.get_column(c)
        rv = r.get_column(c).to_list()
        if s.dtype == pl.Date:
            ov = [None if v is None else str((v - SAS_EPOCH).days) for v in s.to_list()]
            assert [v or None for v in rv] == ov, c
        elif s.dtype.is_numeric():
            ov = s.to_list()
            rf = [None if v in (None, "") else float(v) for v in rv]
            assert rf == ov, c  # exact: max abs difference 0
        else:
            assert [v or "" for v in rv] == [v or "" for v in s.to_list()], c


def test_pfs_and_os_as_r_takes_them():
    cohort = mrdtrack.read_study(example_study_path("csv"))
    r = pl.read_csv(REF / "tte_R.csv", schema_overrides={"USUBJID": pl.String})
    for param, ours in (("PFS", cohort.pfs()), ("OS", cohort.os())):
        ref = r.filter(pl.col("PARAMCD") == param).sort("USUBJID")
        assert ref.get_column("USUBJID").to_list() == ours.get_column("patient_id").to_list()
        assert (
            ref.get_column("time").cast(pl.Float64).to_list() == ours.get_column("time").to_list()
        )
        assert ref.get_column("status").to_list() == ours.get_column("event").to_list()


def test_sas7bdat_with_special_missing_value():
    """The same study as .sas7bdat (written by R haven) with AGE = .A for the 2nd subject."""
    csv = mrdtrack.read_study(example_study_path("csv"))
    sas = mrdtrack.read_adam(REF / "sas7bdat")
    assert {s.path.rsplit(".", 1)[-1] for s in sas.sources} == {"sas7bdat"}
    assert sas.patients.get_column("age").to_list()[1] is None
    expected = csv.patients.with_columns(
        pl.when(pl.col("patient_id") == "002").then(None).otherwise(pl.col("age")).alias("age")
    )
    assert sas.patients.equals(expected)
    for t in ("mrd", "outcomes", "adverse_events"):
        assert getattr(sas, t).equals(getattr(csv, t)), t
    notes = sas.metadata["notes"].filter(pl.col("rule") == "special_missing")
    assert notes.select("file", "row", "column").rows() == [("adsl.sas7bdat", 2, "AGE")]
