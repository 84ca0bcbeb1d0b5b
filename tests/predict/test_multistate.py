"""Prediction from the panel Markov model: the conditioning on the last observed MRD state."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.linalg import expm

from mrdtrack.multistate.mrd_model import fit_mrd_markov
from mrdtrack.predict import fit_landmark_supermodel
from mrdtrack.predict.multistate import compare_with_multistate, multistate_risk


@pytest.fixture(scope="module")
def ms_fit(small_cohort):
    return fit_mrd_markov(small_cohort)


def test_risk_is_the_markov_formula(ms_fit):
    q = ms_fit.qmatrix()
    rows = pl.DataFrame(
        {
            "landmark": [730, 730, 730, 730],
            "last_status": ["negative", "positive", "positive", "unknown"],
            "last_day": [730, 730, 400, None],
        }
    )
    got = multistate_risk(ms_fit, rows, 730)
    pw = expm(q * 730 / 365.25)
    assert got[0] == pytest.approx(pw[0, 2], rel=1e-8)
    assert got[1] == pytest.approx(pw[1, 2], rel=1e-8)
    # last seen MRD+ 330 days before s and still progression-free at s
    pg = expm(q * 330 / 365.25)
    pi = pg[1, :2] / pg[1, :2].sum()
    assert got[2] == pytest.approx(pi @ pw[:2, 2], rel=1e-8)
    assert np.isnan(got[3])


def test_comparison_table(small_cohort, ms_fit):
    model = fit_landmark_supermodel(small_cohort)
    acc = compare_with_multistate(small_cohort, model, ms_fit).table()
    assert set(acc["model"]) == {"supermodel", "multistate"}
    assert acc["auc"].is_between(0.5, 1.0).all()
    assert (
        acc.filter(pl.col("model") == "multistate")["n_at_risk"].to_list()
        == acc.filter(pl.col("model") == "supermodel")["n_at_risk"].to_list()
    )
