"""The myeloma default is unchanged by the disease presets (issue 24).

`tests/mrd/legacy/` holds the status and class code as it was before presets; on random
studies (hypothesis) every table of the default path must equal the old one exactly.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrdtrack.cohort import Cohort
from mrdtrack.mrd import baseline_status, call_status, classify_trajectories
from mrdtrack.mrd.trajectories import prefix_classes

_LEGACY = Path(__file__).resolve().parent / "legacy"


@pytest.fixture(scope="module")
def legacy():
    sys.path.insert(0, str(_LEGACY))
    try:
        status_v1 = importlib.import_module("status_v1")
        trajectories_v1 = importlib.import_module("trajectories_v1")
    finally:
        sys.path.remove(str(_LEGACY))
    return status_v1, trajectories_v1


SCHEMA = {
    "patient_id": pl.String,
    "day": pl.Int64,
    "visit": pl.String,
    "method": pl.String,
    "specimen": pl.String,
    "sensitivity": pl.Float64,
    "result": pl.String,
    "clonal_fraction": pl.Float64,
    "adequate": pl.Boolean,
}

record = st.fixed_dictionaries(
    {
        "day": st.integers(-30, 2200),
        "visit": st.sampled_from([None, "BASELINE", "YEAR1"]),
        "method": st.sampled_from(["NGF", "NGS", "ASO-PCR", "PET-CT", "other"]),
        "specimen": st.sampled_from([None, "bone_marrow", "peripheral_blood", "imaging"]),
        "sensitivity": st.sampled_from([None, 1e-3, 1e-4, 1e-5, 1.0000000000000001e-05, 1e-6]),
        "result": st.sampled_from([None, "negative", "positive", "indeterminate", "not_evaluable"]),
        "clonal_fraction": st.sampled_from([None, 0.0, 5e-6, 1e-5, 3e-5, 2e-4, 1e-2]),
        "adequate": st.sampled_from([None, True, False]),
    }
)


@st.composite
def studies(draw):
    n = draw(st.integers(1, 6))
    rows = []
    for i in range(n):
        for r in draw(st.lists(record, max_size=7)):
            rows.append({"patient_id": f"p{i}", **r})
    mrd = pl.DataFrame(rows, schema=SCHEMA)
    ids = [f"p{i}" for i in range(n)]
    prog = [draw(st.one_of(st.none(), st.integers(0, 2200))) for _ in ids]
    cohort = Cohort(
        patients=pl.DataFrame({"patient_id": ids, "cutoff_day": [2500] * n}),
        mrd=mrd,
        outcomes=pl.DataFrame(
            {
                "patient_id": ids,
                "progression_day": prog,
                "death_day": [None] * n,
                "last_contact_day": [p if p is not None else 2500 for p in prog],
            },
            schema={
                "patient_id": pl.String,
                "progression_day": pl.Int64,
                "death_day": pl.Int64,
                "last_contact_day": pl.Int64,
            },
        ),
        adverse_events=pl.DataFrame(schema={"patient_id": pl.String}),
    )
    return cohort


options = st.fixed_dictionaries(
    {
        "threshold": st.sampled_from([1e-5, 1e-4, 1e-6]),
        "combine": st.sampled_from(["all_evaluable", "all_assays"]),
        "positive_below_threshold": st.sampled_from(["positive", "negative"]),
        "same_visit_days": st.sampled_from([0, 30]),
    }
)


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns
    assert a.equals(b, null_equal=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohort=studies(), opts=options, default=st.booleans())
def test_status_calls_unchanged(legacy, cohort, opts, default):
    status_v1, _ = legacy
    if default:  # the defaults of both versions, nothing passed
        new, old = call_status(cohort), status_v1.call_status(cohort)
    else:
        new, old = call_status(cohort, **opts), status_v1.call_status(cohort, **opts)
    _same(new.assays, old.assays)
    _same(new.visits, old.visits)
    assert (new.threshold, new.combine) == (old.threshold, old.combine)
    # explicit disease="myeloma" is the same path
    _same(call_status(cohort, disease="myeloma").visits, status_v1.call_status(cohort).visits)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cohort=studies(),
    window=st.sampled_from([None, 0, 365, 730]),
    gap=st.sampled_from([(365, 0), (365, 30), (0, 0)]),
    to_conv=st.booleans(),
)
def test_classes_and_prefix_classes_unchanged(legacy, cohort, window, gap, to_conv):
    _, trajectories_v1 = legacy
    conv = "conversion" if to_conv else "sustained_negative"
    kw = {"confirm_days": gap[0], "tolerance_days": gap[1], "sustained_after_conversion": conv}
    new = classify_trajectories(cohort, window, **kw)
    old = trajectories_v1.classify_trajectories(cohort, window, **kw)
    _same(new.table(), old.table())
    _same(new.counts(), old.counts())
    assert new.summary() == old.summary()
    visits = call_status(cohort).visits
    _same(
        prefix_classes(visits, required_gap=gap[0] - gap[1], sustained_after_conversion=conv),
        trajectories_v1.prefix_classes(
            visits, required_gap=gap[0] - gap[1], sustained_after_conversion=conv
        ),
    )
    _same(baseline_status(cohort), trajectories_v1.baseline_status(cohort))


def test_demo_study_unchanged(legacy):
    from mrdtrack.io import load_study

    status_v1, trajectories_v1 = legacy
    cohort = load_study(None)
    _same(call_status(cohort).visits, status_v1.call_status(cohort).visits)
    _same(
        classify_trajectories(cohort).table(), trajectories_v1.classify_trajectories(cohort).table()
    )
    _same(
        classify_trajectories(cohort, "24m").table(),
        trajectories_v1.classify_trajectories(cohort, "24m").table(),
    )
