"""The supermodel against R coxph on the same stacked data, and hand-checked pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mrdtrack.predict import breslow_cumhaz, fit_landmark_supermodel, landmark_stack
from mrdtrack.predict.supermodel import fit_stacked

REF = Path(__file__).resolve().parents[1] / "reference" / "predict"


@pytest.fixture(scope="module")
def model(small_cohort):
    return fit_landmark_supermodel(
        small_cohort,
        window=730,
        covariates=("age",),
        interactions=("mrd_positive", "mrd_unknown", "lost_negativity"),
    )


def test_coefficients_and_robust_se_equal_r(model):
    ref = pl.read_csv(REF / "coef_R.csv")
    for row in ref.iter_rows(named=True):
        term = row["term"]
        assert model.coef[term] == pytest.approx(row["coef"], rel=1e-6, abs=1e-9)
        assert model.robust_se[term] == pytest.approx(row["robust_se"], rel=1e-6)
    assert set(model.names) == set(ref["term"])
    assert model.dropped_terms == ("mrd_unknown",)


def test_window_risk_equals_r(model, small_cohort):
    ref = pl.read_csv(REF / "risk_R.csv")
    stacked = landmark_stack(small_cohort, window=730, covariates=("age",))
    rows = stacked.join(
        ref.select("patient_id", "landmark"),
        on=["patient_id", "landmark"],
    ).sort("landmark")
    np.testing.assert_allclose(model.predict(rows), ref.sort("landmark")["risk"], rtol=1e-7)


def test_breslow_cumhaz_hand_example():
    # rows (start, stop, event, lp): at t=2 at risk {1,2,3}, at t=4 at risk {2,3} (row 4 enters at 3
    # but leaves at 3.5 before 4); row 1's event at 2.
    start = np.array([0.0, 0.0, 1.0, 3.0])
    stop = np.array([2.0, 5.0, 4.0, 3.5])
    event = np.array([1.0, 0.0, 1.0, 0.0])
    lp = np.log(np.array([1.0, 2.0, 3.0, 4.0]))
    times, cum = breslow_cumhaz(start, stop, event, lp)
    np.testing.assert_allclose(times, [2.0, 4.0])
    np.testing.assert_allclose(cum, [1 / (1 + 2 + 3), 1 / (1 + 2 + 3) + 1 / (2 + 3)])


def test_single_landmark_strata_model_is_the_landmark_cox(small_cohort):
    """With one landmark, the supermodel is the ordinary Cox model on the landmark data set."""
    from mrdtrack.survival import cox_ph

    stacked = landmark_stack(small_cohort, landmarks=[730], window=730)
    m = fit_stacked(stacked, window=730, mrd_features=("mrd_positive",), baseline="strata")
    direct = cox_ph(
        stacked,
        time="stop",
        event="event",
        covariates=["mrd_positive"],
        start="start",
        ties="breslow",
    )
    assert m.coef["mrd_positive"] == pytest.approx(direct.coef["mrd_positive"], rel=1e-10)
    # Prediction = 1 - S(s + w | x) / S(s | x) from the landmark Cox model's Breslow baseline.
    surv = np.exp(
        -breslow_cumhaz(
            stacked["start"].to_numpy(),
            stacked["stop"].to_numpy(),
            stacked["event"].to_numpy().astype(float),
            direct.coef["mrd_positive"] * stacked["mrd_positive"].to_numpy(),
        )[1][-1]
    )
    risk = m.predict(stacked.filter(pl.col("mrd_positive") == 0).head(1))[0]
    assert risk == pytest.approx(1 - surv, rel=1e-10)


def test_no_extrapolation_beyond_last_landmark(model, small_cohort):
    rows = landmark_stack(small_cohort, landmarks=[1095], window=730, covariates=("age",))
    rows = rows.with_columns(pl.lit(2000).alias("landmark"))
    with pytest.raises(ValueError, match="does not extrapolate"):
        model.predict(rows.head(1))


def test_summary_and_table(model):
    text = model.summary()
    assert "robust SEs clustered on patient" in text
    assert "left out (constant or aliased in the data): mrd_unknown" in text
    # a plain-words label per term (issue 20: no bare lm1/lm2 in reports)
    table = model.table()
    assert table.columns == ["term", "label", "coef", "hazard_ratio", "robust_se", "z", "p"]
    labels = dict(zip(table["term"], table["label"], strict=True))
    assert labels["lm1"].startswith("landmark time, linear")
    assert "[landmark time, quadratic" in text
