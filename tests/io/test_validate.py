"""One test per validation rule, with the exact message, file, row, column and severity."""

from __future__ import annotations

import polars as pl
import pytest
from _io_study import add_line, base_files, set_line

from mrdtrack.cohort import Cohort
from mrdtrack.errors import StudyValidationError
from mrdtrack.io.folder import read_files
from mrdtrack.io.mapping import StudyMap, load_mapping
from mrdtrack.validation import RULES

MRD_CODES = "negative, positive, indeterminate, not_evaluable"


def read(files, smap=None):
    return read_files(files, smap or StudyMap())


def run(files, smap=None):
    try:
        c = read(files, smap)
    except StudyValidationError as exc:
        return None, list(exc.problems)
    notes = [_note(r) for r in c.metadata["notes"].iter_rows(named=True)]
    return c, list(c.metadata["warnings"]) + notes


def _note(r):
    from mrdtrack.errors import Problem

    return Problem(r["file"], r["row"], r["column"], r["rule"], r["message"], "", "note")


F = base_files()
# (rule, files, file, row, column, message, severity)
CASES = [
    (
        "missing_table",
        {k: v for k, v in F.items() if k != "outcomes.csv"},
        "outcomes.csv",
        None,
        None,
        "required table 'outcomes' is missing",
        "error",
    ),
    (
        "ambiguous_table",
        {**F, "patients.tsv": F["patients.csv"].replace(b",", b"\t")},
        "patients.csv",
        None,
        None,
        "more than one file was found for table 'patients'",
        "error",
    ),
    (
        "empty_file",
        {**F, "mrd.csv": b""},
        "mrd.csv",
        None,
        None,
        "file is empty (no header row)",
        "error",
    ),
    (
        "empty_table",
        {**F, "mrd.csv": F["mrd.csv"].split(b"\n")[0] + b"\n"},
        "mrd.csv",
        None,
        None,
        "table 'mrd' has no data rows",
        "error",
    ),
    (
        "bad_encoding",
        {
            **F,
            "adverse_events.csv": F["adverse_events.csv"].replace(
                b"Fatigue", "Fatigué".encode("latin-1")
            ),
        },
        "adverse_events.csv",
        None,
        None,
        "file is not valid utf-8 text",
        "error",
    ),
    (
        "malformed_file",
        {**F, "mrd.csv": F["mrd.csv"] + b"\x00\x00"},
        "mrd.csv",
        None,
        None,
        "file cannot be parsed as delimited text",
        "error",
    ),
    (
        "malformed_row",
        set_line(F, "mrd.csv", 2, "001,380,NGF,bone_marrow,1e-5,positive,0.0001"),
        "mrd.csv",
        2,
        None,
        "row has a different number of fields than the header",
        "error",
    ),
    (
        "missing_column",
        {**F, "patients.csv": b"patient_id,age\n001,60\n002,61\n003,62\n"},
        "patients.csv",
        None,
        "cutoff_day",
        "required column 'cutoff_day' is missing",
        "error",
    ),
    (
        "duplicate_column",
        set_line(F, "patients.csv", 0, "patient_id,cutoff_day,age,sex,age,cycles_completed"),
        "patients.csv",
        None,
        "age",
        "column name appears more than once",
        "error",
    ),
    (
        "missing_value",
        set_line(F, "mrd.csv", 1, "001,14,NGF,bone_marrow,1e-5,,,true"),
        "mrd.csv",
        1,
        "result",
        "required value is missing",
        "warning",
    ),
    (
        "unparsable_value",
        set_line(F, "patients.csv", 2, "002,1000,sixty,F,no,12"),
        "patients.csv",
        2,
        "age",
        "value cannot be read as a number",
        "error",
    ),
    (
        "unknown_code",
        set_line(F, "mrd.csv", 2, "001,380,NGF,bone_marrow,1e-5,weak,0.0001,true"),
        "mrd.csv",
        2,
        "result",
        f"value is not one of the codes {MRD_CODES}",
        "warning",
    ),
    (
        "implausible_value",
        set_line(F, "patients.csv", 1, "001,1000,150,M,yes,20"),
        "patients.csv",
        1,
        "age",
        "value is outside the plausible range [0, 120]",
        "error",
    ),
    (
        "unknown_patient",
        add_line(F, "mrd.csv", "004,10,NGF,bone_marrow,1e-5,negative,,true"),
        "mrd.csv",
        5,
        "patient_id",
        "patient_id does not match any patient in the patients table",
        "warning",
    ),
    (
        "duplicate_patient",
        add_line(F, "patients.csv", "002,1000,70,F,no,12"),
        "patients.csv",
        4,
        "patient_id",
        "patient_id repeats an earlier row",
        "error",
    ),
    (
        "cutoff_before_origin",
        set_line(F, "patients.csv", 3, "003,-1,55,M,no,30"),
        "patients.csv",
        3,
        "cutoff_day",
        "data cutoff is before the time origin",
        "error",
    ),
    (
        "missing_outcome",
        set_line(F, "outcomes.csv", 2, ""),
        "patients.csv",
        2,
        "patient_id",
        "patient has no outcomes row",
        "error",
    ),
    (
        "duplicate_outcome",
        add_line(F, "outcomes.csv", "002,,,,,950,,"),
        "outcomes.csv",
        4,
        "patient_id",
        "patient has more than one outcomes row",
        "error",
    ),
    (
        "before_origin",
        set_line(F, "outcomes.csv", 1, "001,-3,IMWG_laboratory,,,600,500,progressive disease"),
        "outcomes.csv",
        1,
        "progression_day",
        "progression_day is before the time origin (day 0)",
        "error",
    ),
    (
        "progression_after_death",
        set_line(F, "outcomes.csv", 3, "003,850,IMWG_imaging,800,myeloma,800,700,x"),
        "outcomes.csv",
        3,
        "progression_day",
        "progression is after death",
        "error",
    ),
    (
        "last_contact_before_progression",
        set_line(F, "outcomes.csv", 1, "001,500,IMWG_laboratory,,,400,500,x"),
        "outcomes.csv",
        1,
        "last_contact_day",
        "last contact is before progression",
        "error",
    ),
    (
        "contact_after_death",
        set_line(F, "outcomes.csv", 3, "003,700,IMWG_imaging,800,myeloma,850,700,x"),
        "outcomes.csv",
        3,
        "last_contact_day",
        "last contact is after death",
        "error",
    ),
    (
        "treatment_end_after_death",
        set_line(F, "outcomes.csv", 3, "003,700,IMWG_imaging,800,myeloma,800,810,x"),
        "outcomes.csv",
        3,
        "treatment_end_day",
        "treatment end is after death",
        "error",
    ),
    (
        "event_after_cutoff",
        set_line(F, "outcomes.csv", 1, "001,1100,IMWG_laboratory,,,1100,,"),
        "outcomes.csv",
        1,
        "progression_day",
        "progression_day is after the data cutoff",
        "error",
    ),
    (
        "method_without_progression",
        set_line(F, "outcomes.csv", 2, "002,,clinical,,,950,,"),
        "outcomes.csv",
        2,
        "progression_method",
        "progression_method is given but progression_day is missing",
        "error",
    ),
    (
        "cause_without_death",
        set_line(F, "outcomes.csv", 2, "002,,,,stroke,950,,"),
        "outcomes.csv",
        2,
        "death_cause",
        "death_cause is given but death_day is missing",
        "error",
    ),
    (
        "assessment_before_origin",
        set_line(F, "mrd.csv", 4, "003,-31,NGF,bone_marrow,1e-5,positive,0.001,true"),
        "mrd.csv",
        4,
        "day",
        "assessment is more than 30 days before the time origin",
        "warning",
    ),
    (
        "assessment_after_death",
        set_line(F, "mrd.csv", 4, "003,810,NGF,bone_marrow,1e-5,positive,0.001,true"),
        "mrd.csv",
        4,
        "day",
        "assessment is after death",
        "warning",
    ),
    (
        "after_cutoff",
        set_line(F, "mrd.csv", 3, "002,1001,NGS,bone_marrow,1e-6,negative,,true"),
        "mrd.csv",
        3,
        "day",
        "record is after the data cutoff",
        "warning",
    ),
    (
        "invalid_sensitivity",
        set_line(F, "mrd.csv", 3, "002,10,NGS,bone_marrow,0,negative,,true"),
        "mrd.csv",
        3,
        "sensitivity",
        "sensitivity (limit of detection) must be a number between 0 and 1, exclusive",
        "warning",
    ),
    (
        "invalid_fraction",
        set_line(F, "mrd.csv", 2, "001,380,NGF,bone_marrow,1e-5,positive,5,true"),
        "mrd.csv",
        2,
        "clonal_fraction",
        "clonal_fraction must be between 0 and 1",
        "warning",
    ),
    (
        "conflicting_assessments",
        add_line(F, "mrd.csv", "001,14,NGF,bone_marrow,1e-5,positive,0.0001,true"),
        "mrd.csv",
        5,
        None,
        "assessment has the same patient, day, method and specimen as an "
        "earlier row but different values",
        "error",
    ),
    (
        "duplicate_record",
        add_line(F, "mrd.csv", "001,14,NGF,bone_marrow,1e-5,negative,,true"),
        "mrd.csv",
        5,
        None,
        "record repeats an earlier row (identical values)",
        "warning",
    ),
    (
        "invalid_grade",
        set_line(F, "adverse_events.csv", 1, "001,Fatigue,7,no,30,yes"),
        "adverse_events.csv",
        1,
        "grade",
        "grade must be an integer from 1 to 5",
        "warning",
    ),
    (
        "onset_before_origin",
        set_line(F, "adverse_events.csv", 1, "001,Fatigue,2,no,-2,yes"),
        "adverse_events.csv",
        1,
        "onset_day",
        "adverse event started before the time origin",
        "warning",
    ),
    (
        "onset_after_death",
        add_line(F, "adverse_events.csv", "003,Fatigue,2,no,820,yes"),
        "adverse_events.csv",
        3,
        "onset_day",
        "adverse event starts after death",
        "warning",
    ),
    (
        "negative_above_lod",
        set_line(F, "mrd.csv", 1, "001,14,NGF,bone_marrow,1e-5,negative,2e-5,true"),
        "mrd.csv",
        1,
        "clonal_fraction",
        "result is negative but clonal_fraction is at or above the limit of detection",
        "warning",
    ),
    (
        "fatal_ae_without_death",
        set_line(F, "adverse_events.csv", 1, "001,Sepsis,5,yes,30,no"),
        "adverse_events.csv",
        1,
        "grade",
        "grade 5 (fatal) adverse event but the patient has no death_day",
        "error",
    ),
    (
        "blank_row",
        add_line(F, "mrd.csv", ",,,,,,,"),
        "mrd.csv",
        5,
        None,
        "row has no values and is not a record",
        "note",
    ),
    (
        "ignored_column",
        set_line(
            set_line(F, "patients.csv", 0, "patient_id,cutoff_day,age,sex,prior_transplant,cyc"),
            "patients.csv",
            1,
            "001,1000,63,M,yes,20",
        ),
        "patients.csv",
        None,
        "cyc",
        "column is not part of the table and was ignored",
        "note",
    ),
    (
        "default_filled",
        set_line(F, "mrd.csv", 1, "001,14,NGF,,1e-5,negative,,true"),
        "mrd.csv",
        None,
        "specimen",
        "missing specimen set to its default 'bone_marrow'",
        "note",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule(case):
    rule, files, file, row, column, message, severity = case
    cohort, problems = run(files)
    found = [p for p in problems if p.rule == rule and p.file == file and p.column == column]
    assert found, f"rule {rule} not reported; got {[p.rule for p in problems]}"
    p = found[0]
    assert (p.file, p.row, p.column, p.message, p.severity) == (
        file,
        row,
        column,
        message,
        severity,
    )
    if severity == "error":
        assert cohort is None
    elif severity == "warning":
        assert cohort is not None
        ex = cohort.exclusions.filter(pl.col("rule") == rule)
        assert ex.height == 1
        assert ex.row(0, named=True)["row"] == row
        assert ex.row(0, named=True)["reason"] == message
        _assert_accounted(cohort)
    else:
        assert cohort is not None
        _assert_accounted(cohort)


def _assert_accounted(cohort):
    acc = cohort.accounting()
    assert (acc["read"] == acc["kept"] + acc["excluded"]).all()


def test_valid_base_study(study_files):
    cohort, problems = run(study_files)
    assert cohort is not None
    # the base study has no arm column: the documented default is filled, with a note
    assert [(p.rule, p.column) for p in problems] == [("default_filled", "arm")]
    assert cohort.patients.get_column("arm").to_list() == ["all"] * 3
    assert cohort.patients.get_column("patient_id").to_list() == ["001", "002", "003"]
    _assert_accounted(cohort)


def test_all_problems_at_once(study_files):
    files = set_line(study_files, "patients.csv", 2, "002,1000,sixty,F,no,12")
    files = set_line(files, "outcomes.csv", 1, "001,-3,IMWG_laboratory,,,600,500,x")
    files = add_line(files, "mrd.csv", "004,10,NGF,bone_marrow,1e-5,negative,,true")
    with pytest.raises(StudyValidationError) as err:
        read(files)
    rules = {p.rule for p in err.value.problems}
    assert {"unparsable_value", "before_origin", "unknown_patient"} <= rules
    assert [p.severity for p in err.value.problems][:2] == ["error", "error"]


def test_wrong_type():
    frames = {
        "patients": pl.DataFrame({"patient_id": ["1"], "cutoff_day": [10], "age": [[1, 2]]}),
        "mrd": pl.DataFrame(
            {"patient_id": ["1"], "day": [1], "method": ["NGF"], "result": ["negative"]}
        ),
        "outcomes": pl.DataFrame({"patient_id": ["1"], "last_contact_day": [5]}),
    }
    with pytest.raises(StudyValidationError) as err:
        Cohort.from_frames(**frames)
    (p,) = err.value.problems
    assert (p.file, p.row, p.column, p.rule, p.message) == (
        "<patients>",
        None,
        "age",
        "wrong_type",
        "column has a data type that cannot be read as a number",
    )


def test_invalid_mapping():
    with pytest.raises(StudyValidationError) as err:
        load_mapping({"study": {"bogus": 1}})
    (p,) = err.value.problems
    assert p.rule == "invalid_mapping"
    assert p.message == "study map is invalid: unknown key(s) in [study]: ['bogus']"


DATE_MAP = {
    "tables": {
        "patients": {"dates": {"origin_date": "start", "cutoff_day": "cutoff"}},
        "mrd": {"dates": {"day": "sample_date"}},
    }
}
DATE_FILES = {
    "patients.csv": b"patient_id,start,cutoff\n001,2018-01-10,2021-01-10\n",
    "mrd.csv": b"patient_id,sample_date,method,result\n001,2018-01-24,NGF,negative\n"
    b"001,2019-01,NGF,negative\n001,2019-02-30,NGF,negative\n",
    "outcomes.csv": b"patient_id,last_contact_day\n001,900\n",
}


def test_unparsable_and_partial_dates():
    cohort, problems = run(DATE_FILES, load_mapping(DATE_MAP))
    by_rule = {p.rule: p for p in problems}
    p = by_rule["unparsable_date"]
    assert (p.file, p.row, p.column, p.message, p.severity) == (
        "mrd.csv",
        3,
        "day",
        "value is not a date in the declared format ISO 8601 (YYYY-MM-DD)",
        "warning",
    )
    p = by_rule["partial_date"]
    assert (p.file, p.row, p.column, p.message, p.severity) == (
        "mrd.csv",
        2,
        "day",
        "date is partial and no imputation rule is set",
        "warning",
    )
    assert cohort.mrd.get_column("day").to_list() == [14]
    _assert_accounted(cohort)


@pytest.mark.parametrize(("how", "day"), [("first", 356), ("middle", 370)])
def test_partial_date_imputed(how, day):
    smap = load_mapping({**DATE_MAP, "study": {"partial_dates": how}})
    cohort, problems = run(DATE_FILES, smap)
    notes = [p for p in problems if p.rule == "partial_date_imputed"]
    assert [(n.file, n.row, n.column, n.message) for n in notes] == [
        ("mrd.csv", 2, "day", f"partial date imputed ({how})")
    ]
    assert cohort.mrd.get_column("day").to_list() == [14, day]


def test_every_rule_has_a_test():
    tested_here = {c[0] for c in CASES} | {
        "wrong_type",
        "invalid_mapping",
        "unparsable_date",
        "partial_date",
        "partial_date_imputed",
        # the study's disease preset: tests/mrd/test_presets.py
        "unknown_disease",
        "unknown_disease_option",
        "invalid_disease_option",
    }
    tested_in_adam = {
        "invalid_cnsr",
        "inconsistent_censoring",
        "inconsistent_aval",
        "inconsistent_death",
        "startdt_not_origin",
        "missing_parameter",
        "duplicate_parameter",
        "special_missing",
    }
    tested_in_no_silent_change = {
        "two_digit_year",
        "two_digit_year_pivoted",
        "implausible_date",
        "implausible_day",
        "conflicting_level",
        "all_records_excluded",
        "lab_notation",
        "not_a_folder",
    }
    assert set(RULES) == tested_here | tested_in_adam | tested_in_no_silent_change


def test_messages_carry_no_values(study_files):
    files = set_line(study_files, "patients.csv", 2, "SECRET-ID,1000,sixty-two,F,no,12")
    files = add_line(files, "mrd.csv", "SECRET-ID,1999-01-01,NGF,bone_marrow,1e-5,neg,,true")
    with pytest.raises(StudyValidationError) as err:
        read(files)
    text = str(err.value)
    for value in ("SECRET", "sixty", "1999"):
        assert value not in text


def test_headerless_file_cites_positions_not_values(study_files):
    files = dict(study_files)
    files["adverse_events.csv"] = b"001,Rash,2,no,2019-03-04,yes\n002,Rash,2,no,2019-03-05,yes\n"
    with pytest.raises(StudyValidationError) as err:
        read(files)
    text = str(err.value)
    assert "001" not in text and "2019" not in text
    _cohort, problems = run(
        {
            **study_files,
            "adverse_events.csv": files["adverse_events.csv"].replace(
                b"001,Rash", b"patient_id,term", 1
            ),
        }
    )
    cited = {p.column for p in problems if p.rule == "ignored_column"}
    # "2" (a grade) and "2019-03-04" (a date) are cited by position; words by name
    assert cited == {"(column 3)", "no", "(column 5)", "yes"}
