"""Landmark and (start, stop] frames feed `mrdtrack.survival.cox_ph` unchanged."""

from __future__ import annotations

import polars as pl
import pytest

from mrdtrack.mrd import landmark_data, time_dependent_data

N, P = "negative", "positive"


@pytest.fixture
def cox_ph():
    from mrdtrack.survival import cox_ph

    return cox_ph


def test_frames_ready_for_cox(make_cohort, cox_ph):
    seqs = {}
    progression = {}
    for i in range(30):
        pid = f"p{i:02d}"
        if i % 3 == 0:
            seqs[pid] = [(0, N), (365, N), (730, N)]
        elif i % 3 == 1:
            seqs[pid] = [(0, P), (365, P), (730, P)]
            progression[pid] = 800 + 37 * i
        else:
            seqs[pid] = [(0, N), (365, P), (700, P)]
            progression[pid] = 760 + 11 * i
    cohort = make_cohort(seqs, progression=progression, cutoff=2000)
    lm = landmark_data(cohort, at="24m").table()
    d = lm.filter(pl.col("mrd_class").is_in(["loss_of_negativity", "persistent_positive"]))
    fit = cox_ph(d, time="time", event="event", covariates="mrd_class")
    assert fit is not None
    td = time_dependent_data(cohort).table().drop_nulls("mrd_positive")
    fit2 = cox_ph(td, time="stop", start="start", event="event", covariates="mrd_positive")
    assert fit2 is not None
