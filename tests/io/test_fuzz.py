"""Fuzz: mutated study tables end in a fully accounted Cohort or a StudyValidationError.

Mutations: dropped, renamed and swapped columns; garbage, wrong-type and impossible values;
shuffled dates; duplicated and deleted rows; empty and header-only files; missing files;
truncated and byte-corrupted files; latin-1, UTF-8 with BOM and UTF-16 encodings. Injected
values carry a sentinel that must never appear in a message (privacy). Two base studies:
study days without a map, and calendar dates with a study map.
"""

from __future__ import annotations

import csv
import io

import polars as pl
from _io_study import base_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrdtrack.errors import StudyValidationError
from mrdtrack.io.folder import read_files
from mrdtrack.io.mapping import StudyMap, load_mapping

SENTINEL = "ZQX"
DATED = {
    "patients.csv": "patient_id,start,cutoff,age,sex\n001,2018-01-10,2021-01-10,61,F\n"
    "002,2018-03-01,2021-01-10,70,M\n",
    "mrd.csv": "patient_id,sample_date,method,result,sensitivity\n"
    "001,2018-01-24,NGF,negative,1e-5\n"
    "001,2019-01-20,NGF,positive,1e-5\n002,2018-02-20,NGS,negative,1e-6\n",
    "outcomes.csv": "patient_id,pd_date,death_date,last_contact_day\n001,2019-06-01,,700\n"
    "002,,2020-01-01,600\n",
    "adverse_events.csv": "patient_id,term,grade,onset\n001,Rash,2,2018-05-01\n",
}
DATED_MAP = {
    "study": {"partial_dates": "first"},
    "tables": {
        "patients": {"dates": {"origin_date": "start", "cutoff_day": "cutoff"}},
        "mrd": {"dates": {"day": "sample_date"}},
        "outcomes": {"dates": {"progression_day": "pd_date", "death_day": "death_date"}},
        "adverse_events": {"dates": {"onset_day": "onset"}},
    },
}

garbage = st.one_of(
    st.text(max_size=8).map(lambda s: SENTINEL + s),
    st.sampled_from([SENTINEL + "x", "", "NA", ".", " ", "-1", "0", "1e309", "nan", "inf",
                     "10^-5", "2019-13-45", "2019-05", "2019", "true", "Y", "1.5", "-0",
                     "99999999999999999999", "NGF", "negative", "003", "001"]),
    st.integers(-100_000, 100_000).map(str),
)  # fmt: skip


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


@st.composite
def mutated_study(draw):
    dated = draw(st.booleans())
    files = {k: v.encode() for k, v in DATED.items()} if dated else base_files()
    tables = {k: _rows(v) for k, v in files.items()}
    raw: dict[str, bytes] = {}
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(tables)))
        rows = tables[name]
        op = draw(st.sampled_from([
            "drop_col", "rename_col", "swap_cols", "cell", "cell", "cell", "day", "dup_row",
            "del_row", "empty", "header_only", "delete_file", "extra_field", "blank_row",
            "encode", "truncate", "bytes",
        ]))  # fmt: skip
        width = len(rows[0]) if rows else 0
        if op == "drop_col" and width:
            j = draw(st.integers(0, width - 1))
            tables[name] = [r[:j] + r[j + 1 :] for r in rows]
        elif op == "rename_col" and width:
            j = draw(st.integers(0, width - 1))
            rows[0][j] = draw(st.sampled_from(["", "patient_id", "day", SENTINEL, "AGE"]))
        elif op == "swap_cols" and width > 1:
            i, j = draw(st.integers(0, width - 1)), draw(st.integers(0, width - 1))
            rows[0][i], rows[0][j] = rows[0][j], rows[0][i]
        elif op in ("cell", "day") and len(rows) > 1 and width:
            i, j = draw(st.integers(1, len(rows) - 1)), draw(st.integers(0, width - 1))
            if j < len(rows[i]):
                rows[i][j] = draw(garbage) if op == "cell" else str(draw(st.integers(-3000, 3000)))
        elif op == "dup_row" and len(rows) > 1:
            rows.append(list(rows[draw(st.integers(1, len(rows) - 1))]))
        elif op == "del_row" and len(rows) > 1:
            del rows[draw(st.integers(1, len(rows) - 1))]
        elif op == "extra_field" and len(rows) > 1:
            rows[draw(st.integers(1, len(rows) - 1))].append(SENTINEL)
        elif op == "blank_row":
            rows.append([""] * width)
        elif op == "empty":
            raw[name] = b""
        elif op == "header_only":
            tables[name] = rows[:1]
        elif op == "delete_file":
            raw[name] = None
        elif op == "encode":
            text = _bytes(rows).decode("utf-8") + f"{SENTINEL}é,ü\n"
            enc = draw(st.sampled_from(["latin-1", "utf-8-sig", "utf-16", "cp1252"]))
            raw[name] = text.encode(enc, errors="replace")
        elif op == "truncate":
            b = _bytes(rows)
            raw[name] = b[: draw(st.integers(0, len(b)))]
        elif op == "bytes":
            b = bytearray(_bytes(rows))
            pos = draw(st.integers(0, len(b)))
            b[pos:pos] = draw(st.binary(min_size=1, max_size=4))
            raw[name] = bytes(b)
    out = {k: _bytes(v) for k, v in tables.items()}
    for k, v in raw.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out, dated


@settings(
    max_examples=2000,  # = N_CASES
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(mutated_study())
def _fuzz_case(case):
    files, dated = case
    OUTCOMES["cases"] += 1
    smap = load_mapping(DATED_MAP) if dated else StudyMap()
    try:
        cohort = read_files(files, smap)
    except StudyValidationError as exc:
        assert exc.problems
        assert any(p.severity == "error" for p in exc.problems)
        for p in exc.problems:
            assert SENTINEL not in p.message + p.hint + (p.column or "") or p.column == SENTINEL
        OUTCOMES["errors"] += 1
        return
    OUTCOMES["cohorts"] += 1
    acc = cohort.accounting()
    assert (acc["read"] == acc["kept"] + acc["excluded"]).all()
    counts = cohort.exclusions.group_by("table").len()
    for r in counts.iter_rows(named=True):
        assert acc.filter(pl.col("table") == r["table"])["excluded"].item() == r["len"]
    assert cohort.patients.get_column("patient_id").is_duplicated().sum() == 0
    assert cohort.outcomes.height == cohort.patients.height
    for w in cohort.metadata["warnings"]:
        assert SENTINEL not in w.message + w.hint


OUTCOMES = {"cases": 0, "errors": 0, "cohorts": 0}
N_CASES = 2000


def test_fuzz_cohort_or_validation_error():
    """At least 2,000 generated cases; each ends in a Cohort or a StudyValidationError."""
    _fuzz_case()
    print(f"fuzz: {OUTCOMES}")
    assert OUTCOMES["cases"] >= N_CASES
    # both outcomes occur: the mutations neither always break nor never break the study
    assert OUTCOMES["errors"] > 100 and OUTCOMES["cohorts"] > 100
