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
    # known_day / lower / upper / degenerate added (issue 20: the watch list carries intervals)
    assert wl.columns == [
        "patient_id",
        "day_of_loss",
        "known_day",
        "risk",
        "lower",
        "upper",
        "degenerate",
    ]
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


def test_watch_list_intervals_are_genuine(small_cohort, model):
    wl = watch_list(small_cohort, model, 730, n_boot=30, seed=4)
    assert (wl["lower"] < wl["risk"]).all() and (wl["risk"] < wl["upper"]).all()
    assert not wl["degenerate"].any()


def test_zero_width_interval_is_called_degenerate(small_cohort, model):
    """A zero-width interval is flagged and explained, never printed as a range."""
    from dataclasses import replace

    pid = _lost_patient(small_cohort, model)["patient_id"][0]
    pred = predict_patient(small_cohort, model, pid, "24m", n_boot=20, seed=3)
    assert not pred.degenerate and "degenerate" not in pred.summary()
    flat = replace(pred, lower=pred.risk, upper=pred.risk)
    assert flat.degenerate and "the model is degenerate" in flat.summary()


def test_guarantee_time_rule_with_reporting_lag(small_cohort):
    """A result enters at landmark s only when sample day + lag <= s."""
    from mrdtrack.predict import mrd_history

    h0 = mrd_history(small_cohort, [365], lag=0)
    h30 = mrd_history(small_cohort, [365, 395], lag=30)
    # the yearly sample on day 365 is known at 365 without lag, only from day 395 with a lag of 30
    assert (h0["last_day"] == 365).sum() > 0
    assert (h30.filter(pl.col("s") == 365)["last_day"] < 365).all()
    assert (h30.filter(pl.col("s") == 395)["last_day"] == 365).sum() == (
        h0["last_day"] == 365
    ).sum()
    # at day 0 only day-0 samples are known (none at all with a lag)
    assert (mrd_history(small_cohort, [0], lag=1)["last_status"] == "unknown").all()
    m = fit_landmark_supermodel(small_cohort, window="24m", landmarks=["0m", "12m"], lag=30)
    pid = small_cohort.patients["patient_id"][0]
    pred = predict_patient(small_cohort, m, pid, 365, n_boot=0)
    assert pred.lag == 30 and (pred.history["known_day"] <= 365).all()
    assert (pred.history["known_day"] - pred.history["day"] == 30).all()
