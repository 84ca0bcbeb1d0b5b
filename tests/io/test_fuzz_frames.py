"""Fuzz the in-memory path: typed pandas/polars frames with wrong types and odd values.

`Cohort.from_frames` must end in a fully accounted Cohort or a StudyValidationError whatever
the column types (integers, floats with NaN, booleans, dates, lists, all-null columns).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrdtrack.cohort import Cohort
from mrdtrack.errors import StudyValidationError

BASE = {
    "patients": {"patient_id": ["1", "2"], "cutoff_day": [900, 800], "age": [60.5, 70.0]},
    "mrd": {
        "patient_id": ["1", "2", "2"],
        "day": [10, 5, 400],
        "method": ["NGF", "NGS", "NGF"],
        "result": ["negative", "positive", "negative"],
        "sensitivity": [1e-5, 1e-6, 1e-5],
    },
    "outcomes": {
        "patient_id": ["1", "2"],
        "last_contact_day": [850, 700],
        "death_day": [None, 650],
    },
    "adverse_events": {"patient_id": ["1"], "term": ["Rash"], "grade": [2], "onset_day": [40]},
}

values = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)),
    st.text(max_size=5),
)


@st.composite
def frames(draw):
    tables = {t: {c: list(v) for c, v in cols.items()} for t, cols in BASE.items()}
    for _ in range(draw(st.integers(1, 4))):
        t = draw(st.sampled_from(sorted(tables)))
        cols = tables[t]
        c = draw(st.sampled_from(sorted(cols)))
        n = len(cols[c])
        op = draw(st.sampled_from(["retype", "value", "drop", "nulls", "list"]))
        if op == "retype":
            kind = draw(st.sampled_from([int, float, bool, str]))
            try:
                cols[c] = [None if v is None else kind(v) for v in cols[c]]
            except (TypeError, ValueError):
                cols[c] = [None] * n
        elif op == "value":
            cols[c][draw(st.integers(0, n - 1))] = draw(values)
        elif op == "drop":
            del cols[c]
        elif op == "nulls":
            cols[c] = [None] * n
        else:
            cols[c] = [[1, 2]] * n
    use_pandas = draw(st.booleans())
    out = {}
    for t, cols in tables.items():
        try:
            out[t] = pd.DataFrame(cols) if use_pandas else pl.DataFrame(cols, strict=False)
        except Exception:
            # the frame cannot even be built by the library: not our input
            out[t] = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in cols.items()})
    return out


COUNT = {"n": 0}


@settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(frames())
def _case(tables):
    COUNT["n"] += 1
    try:
        c = Cohort.from_frames(**tables)
    except StudyValidationError as exc:
        assert any(p.severity == "error" for p in exc.problems)
        return
    acc = c.accounting()
    assert (acc["read"] == acc["kept"] + acc["excluded"]).all()


def test_fuzz_frames():
    _case()
    assert COUNT["n"] >= 400
