"""Cohort: equality, accounting, PFS/OS derivation, disposition, evaluable population."""

from __future__ import annotations

import polars as pl
import pytest

import mrdtrack
from mrdtrack.cohort import Cohort
from mrdtrack.schema import DAYS_PER_MONTH


def small() -> Cohort:
    return Cohort.from_frames(
        patients=pl.DataFrame(
            {
                "patient_id": ["a", "b", "c", "d"],
                "cutoff_day": [1000, 1000, 1000, 500],
                "cycles_completed": [30, 3, 20, None],
            }
        ),
        mrd=pl.DataFrame(
            {"patient_id": ["a"], "day": [10], "method": ["NGF"], "result": ["negative"]}
        ),
        outcomes=pl.DataFrame(
            {
                "patient_id": ["a", "b", "c", "d"],
                # a progresses then dies; b dies without progression; c censored at last
                # contact; d followed beyond the cutoff: censored at the cutoff
                "progression_day": [300, None, None, None],
                "death_day": [400, 200, None, None],
                "last_contact_day": [400, 200, 700, 800],
                "treatment_end_day": [300, 200, 600, None],
            }
        ),
    )


def test_pfs_and_os():
    c = small()
    pfs = c.pfs()
    assert pfs.get_column("time").to_list() == [300, 200, 700, 500]
    assert pfs.get_column("event").to_list() == [1, 1, 0, 0]
    assert pfs.get_column("event_type").to_list() == [
        "progression",
        "death",
        "censored",
        "censored",
    ]
    os_ = c.os(unit="months")
    assert os_.get_column("time").to_list() == pytest.approx(
        [400 / DAYS_PER_MONTH, 200 / DAYS_PER_MONTH, 700 / DAYS_PER_MONTH, 500 / DAYS_PER_MONTH]
    )
    assert os_.get_column("event").to_list() == [1, 1, 0, 0]


def test_disposition_and_on_treatment():
    c = small()
    assert c.disposition().get_column("status").to_list() == [
        "progressed",
        "died",
        "off_treatment",
        "on_treatment",
    ]
    assert c.on_treatment_at_cutoff().get_column("on_treatment").to_list() == [
        False,
        False,
        False,
        True,
    ]


def test_evaluable():
    e = small().evaluable(min_cycles=4)
    assert e.patients.get_column("patient_id").to_list() == ["a", "c"]
    assert e.outcomes.height == 2 and e.mrd.height == 1
    assert e.metadata["population"] == "evaluable: completed >= 4 cycles"


def test_equality_ignores_name_and_sources():
    a, b = small(), small()
    assert a == b
    from dataclasses import replace

    assert replace(b, name="other") == a
    assert replace(b, patients=b.patients.head(3)) != a


def test_counts_and_summary():
    c = small()
    n = c.counts()
    assert (n["patients"], n["pfs_events"], n["progressions"], n["deaths"]) == (4, 2, 1, 2)
    assert "patients                 4" in c.summary()


def test_accounting():
    acc = small().accounting()
    assert acc.get_column("read").to_list() == [4, 1, 4, 0]
    assert (acc["read"] == acc["kept"] + acc["excluded"]).all()


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, mrdtrack; mrdtrack.Cohort; mrdtrack.read_study; "
        "print(any(m in sys.modules for m in ('numba', 'matplotlib', 'pyreadstat')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_public_names():
    assert mrdtrack.Cohort is Cohort
    assert callable(mrdtrack.read_study) and callable(mrdtrack.read_adam)


def test_docs_cover_every_column_and_rule():
    from pathlib import Path

    from mrdtrack.schema import TABLES
    from mrdtrack.validation import RULES

    doc = (Path(__file__).resolve().parent.parent / "docs" / "data-format.md").read_text()
    for t in TABLES.values():
        assert f"### `{t.name}`" in doc
        for c in t.columns:
            assert f"`{c.name}`" in doc, c.name
    for r in RULES:
        assert f"`{r}`" in doc, r


def test_repr_shows_no_identifiers():
    r = repr(small())
    assert (
        r == "Cohort(name='study', patients=4, mrd=1, outcomes=4, adverse_events=0, exclusions=0)"
    )
