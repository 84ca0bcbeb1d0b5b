"""Study map: parsing, renaming, recoding, dates; invalid maps are reported by key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.errors import StudyValidationError
from mrdtrack.io.folder import read_files
from mrdtrack.io.mapping import load_mapping

FILES = {
    "subj.csv": b"SUBJ;START;CUT;GENDER\n7;03/01/2019;30/06/2021;Male\n8;10/02/2019;30/06/2021;W\n",
    "lab.csv": b"SUBJ;WHEN;ASSAY;RES\n7;17/01/2019;flow;NEG\n8;2019-02-24;flow;POS\n",
    "outcomes.csv": b"patient_id;last_contact_day\n007;800\n008;700\n",
}
MAP = """
[study]
date_format = "%d/%m/%Y"
delimiter = ";"

[tables.patients]
file = "subj.csv"
columns = { patient_id = "SUBJ", sex = "GENDER" }
dates = { origin_date = "START", cutoff_day = "CUT" }
codes = { sex = { Male = "M", W = "F" } }

[tables.mrd]
file = "lab.csv"
columns = { patient_id = "SUBJ", method = "ASSAY", result = "RES" }
dates = { day = { column = "WHEN", format = "%Y-%m-%d" } }
codes = { method = { flow = "NGF" }, result = { NEG = "negative", POS = "positive" } }
"""


def test_toml_map(tmp_path):
    (tmp_path / "study.toml").write_text(MAP)
    smap = load_mapping(tmp_path / "study.toml")
    files = dict(FILES)
    # ids in the patients file lack the leading zeros used in outcomes: both stay text
    with pytest.raises(StudyValidationError) as err:
        read_files(files, smap)
    assert "missing_outcome" in {p.rule for p in err.value.problems}
    files["subj.csv"] = files["subj.csv"].replace(b"\n7;", b"\n007;").replace(b"\n8;", b"\n008;")
    files["lab.csv"] = files["lab.csv"].replace(b"\n7;", b"\n007;").replace(b"\n8;", b"\n008;")
    c = read_files(files, smap)
    assert c.patients.get_column("sex").to_list() == ["M", "F"]
    assert c.patients.get_column("cutoff_day").to_list() == [909, 871]
    # row 1 uses d/m/Y but the mrd day column declares ISO: excluded, listed, not guessed
    assert c.mrd.get_column("day").to_list() == [14]
    assert c.exclusions.get_column("rule").to_list() == ["unparsable_date"]
    assert "origin_date" not in c.patients.columns


def test_mapped_column_absent():
    smap = load_mapping({"tables": {"patients": {"columns": {"patient_id": "SUBJECT"}}}})
    files = {
        "patients.csv": b"patient_id,cutoff_day\n1,10\n",
        "mrd.csv": b"patient_id,day,method,result\n1,1,NGF,negative\n",
        "outcomes.csv": b"patient_id,last_contact_day\n1,5\n",
    }
    with pytest.raises(StudyValidationError) as err:
        read_files(files, smap)
    p = err.value.problems[0]
    assert (p.file, p.column, p.rule) == ("patients.csv", "SUBJECT", "missing_column")


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"tables": {"labs": {}}}, "unknown table [tables.labs]"),
        ({"tables": {"mrd": {"columns": {"value": "X"}}}}, "has unknown column 'value'"),
        ({"tables": {"mrd": {"dates": {"result": "X"}}}}, "is not a day column"),
        ({"study": {"partial_dates": "guess"}}, "partial_dates must be"),
        ({"study": {"encoding": "klingon"}}, "encoding is not a known text encoding"),
        ({"study": {"pre_origin_days": -1}}, "pre_origin_days must be a non-negative integer"),
    ],
)
def test_invalid_maps(data, detail):
    with pytest.raises(StudyValidationError) as err:
        load_mapping(data)
    assert detail in err.value.problems[0].message


def test_invalid_toml(tmp_path):
    (tmp_path / "m.toml").write_text("[study\nname=1")
    with pytest.raises(StudyValidationError) as err:
        load_mapping(tmp_path / "m.toml")
    assert err.value.problems[0].file == "m.toml"


def test_mapped_file_must_exist():
    smap = load_mapping({"tables": {"adverse_events": {"file": "ae_listing.csv"}}})
    files = {
        "patients.csv": b"patient_id,cutoff_day\n1,10\n",
        "mrd.csv": b"patient_id,day,method,result\n1,1,NGF,negative\n",
        "outcomes.csv": b"patient_id,last_contact_day\n1,5\n",
    }
    with pytest.raises(StudyValidationError) as err:
        read_files(files, smap)
    (p,) = err.value.problems
    assert (p.file, p.rule, p.message) == (
        "ae_listing.csv",
        "missing_table",
        "required table 'adverse_events' is missing",
    )


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=6))
_keys = st.sampled_from(
    [
        "study",
        "tables",
        "patients",
        "mrd",
        "columns",
        "dates",
        "codes",
        "file",
        "name",
        "encoding",
        "null_tokens",
        "partial_dates",
        "pre_origin_days",
        "date_format",
        "delimiter",
        "patient_id",
        "day",
        "origin_date",
        "column",
        "format",
        "sex",
        "x",
    ]
)
_maps = st.recursive(
    _leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.dictionaries(_keys, _maps, max_size=3))
def test_any_map_is_accepted_or_reported(data):
    try:
        smap = load_mapping(data)
    except StudyValidationError as exc:
        assert exc.problems[0].rule == "invalid_mapping"
        return
    smap.options()
