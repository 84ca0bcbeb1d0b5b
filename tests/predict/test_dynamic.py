"""Per-patient prediction, risk trajectory, watch list and figure."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mrdtrack.predict import (
    fit_landmark_supermodel,
    predict_patient,
    risk_trajectory,
    watch_list,
)
from mrdtrack.predict.figures import plot_risk_trajectory


@pytest.fixture(scope="module")
def model(small_cohort):
    return fit_landmark_supermodel(small_cohort, window="24m")


def _lost_patient(cohort, model, at=730):
    wl = watch_list(cohort, model, at)
    assert wl.height > 0
    return wl


def test_watch_list_is_patients_who_lost_negativity_sorted_by_risk(small_cohort, model):
    wl = _lost_patient(small_cohort, model)
    assert wl.columns == ["patient_id", "day_of_loss", "risk"]
    risk = wl["risk"].to_numpy()
    assert np.all(np.diff(risk) <= 0)
    assert wl["day_of_loss"].max() <= 730
    # everyone listed is at risk at day 730
    pfs = small_cohort.pfs().filter(pl.col("patient_id").is_in(wl["patient_id"].to_list()))
    assert (pfs["time"] > 730).all()


def test_predict_patient_uses_history_up_to_at(small_cohort, model):
    pid = _lost_patient(small_cohort, model)["patient_id"][0]
    pred = predict_patient(small_cohort, model, pid, "24m", n_boot=30, seed=3)
    assert pred.lost_negativity and pred.last_status == "positive"
    assert (pred.history["day"] <= 730).all()
    assert 0 < pred.lower <= pred.risk <= pred.upper < 1
    again = predict_patient(small_cohort, model, pid, "24m", n_boot=30, seed=3)
    assert (again.lower, again.upper) == (pred.lower, pred.upper)  # seeded
    text = pred.summary()
    assert "within 24 months" in text and "negativity lost" in text


def test_predict_patient_rejects_patients_not_at_risk(small_cohort, model):
    progressed = small_cohort.pfs().filter((pl.col("event") == 1) & (pl.col("time") < 300))
    pid = progressed["patient_id"][0]
    with pytest.raises(ValueError, match="not progression-free"):
        predict_patient(small_cohort, model, pid, "12m", n_boot=0)
    with pytest.raises(ValueError, match="patient not found"):
        predict_patient(small_cohort, model, "no-such-id", "12m", n_boot=0)


def test_risk_trajectory_and_figure(small_cohort, model):
    pid = _lost_patient(small_cohort, model)["patient_id"][0]
    traj = risk_trajectory(small_cohort, model, pid)
    assert traj["day"][0] == 0
    assert traj["day"].is_sorted()
    # risk at each day equals a direct prediction at that day
    for row in traj.iter_rows(named=True):
        direct = predict_patient(small_cohort, model, pid, row["day"], n_boot=0)
        assert direct.risk == pytest.approx(row["risk"], rel=1e-12)
    fig, data = plot_risk_trajectory(traj, model.window)
    assert data.height == traj.height
    assert fig.axes[0].get_ylabel().startswith("Risk of progression within 24 months")
