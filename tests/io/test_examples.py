"""The example studies: CSV, ADaM (written by our writer) and the mapped export agree."""

from __future__ import annotations

import mrdtrack
from mrdtrack.io import example_study_path, load_study


def test_csv_and_adam_give_equal_cohorts():
    csv = mrdtrack.read_study(example_study_path("csv"))
    adam = mrdtrack.read_adam(example_study_path("adam"))
    assert csv == adam
    assert csv.summary() == adam.summary()
    assert csv.n_patients == 20
    assert csv.exclusions.height == 0


def test_mapped_export_gives_the_same_cohort():
    csv = mrdtrack.read_study(example_study_path("csv"))
    mapped = mrdtrack.read_study(example_study_path("mapped"))
    assert mapped == csv
    assert mapped.name == csv.name == "MRDTRACK-EX01"


def test_records_read_equal_kept_plus_excluded():
    for kind in ("csv", "adam", "mapped"):
        acc = load_study(example_study_path(kind)).accounting()
        assert (acc["read"] == acc["kept"] + acc["excluded"]).all()
        assert acc["read"].sum() > 0


def test_load_study_detects_adam():
    c = load_study(example_study_path("adam"))
    assert {s.path.rsplit(".", 1)[-1] for s in c.sources} == {"xpt"}
    assert len(c.sources) == 4


def test_identifiers_stay_text():
    c = mrdtrack.read_study(example_study_path("csv"))
    assert c.patients.get_column("patient_id")[0] == "001"
