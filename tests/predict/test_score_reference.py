"""AUC, Brier, IPA and integrated Brier score against R riskRegression::Score (survival::pbc).

Reference: tests/reference/predict/score/score.R (R 4.2.2, riskRegression 2022.11.28,
cens.model = "km"); the predictions and R's results are committed, so R is not needed here.
Landmarks 0 and 730 days (patients event-free beyond 730, time re-zeroed there), horizons 1-5
years, a Cox risk, a tied marker (edema, three values) and a constant (information-free) one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mrdtrack.predict.evaluate import (
    brier_score,
    index_of_prediction_accuracy,
    integrated_brier_score,
    score_predictions,
    time_dependent_auc,
)

REF = Path(__file__).parents[1] / "reference" / "predict" / "score"
GRID = [365, 730, 1095, 1461, 1826]
TOL = 1e-8


@pytest.fixture(scope="module")
def data():
    preds = pl.read_csv(REF / "predictions.csv")
    ref = pl.read_csv(REF / "score_R.csv", null_values="NA")
    return preds, ref


def _marker(p: pl.DataFrame, model: str, u: int) -> np.ndarray:
    if model == "cox":
        return p[f"cox_{u}"].to_numpy()
    if model == "edema":
        return p["edema"].to_numpy()
    return np.full(p.height, 0.3)


def _r(ref, s, model, u, col):
    row = ref.filter(
        (pl.col("landmark") == s) & (pl.col("model") == model) & (pl.col("times") == u)
    )
    assert row.height == 1
    return row[col][0]


@pytest.mark.parametrize("s", [0, 730])
@pytest.mark.parametrize("model", ["cox", "edema", "constant"])
def test_auc_brier_ipa_ibs_match_riskregression(data, s, model):
    preds, ref = data
    p = preds.filter(pl.col("landmark") == s)
    t, e = p["time"].to_numpy().astype(float), p["event"].to_numpy().astype(float)
    curves = np.column_stack([_marker(p, model, u) for u in GRID])
    for k, u in enumerate(GRID):
        r = curves[:, k]
        assert abs(time_dependent_auc(r, t, e, s, u) - _r(ref, s, model, u, "AUC")) < TOL
        bs, bs0 = brier_score(r, t, e, s, u)
        assert abs(bs - _r(ref, s, model, u, "Brier")) < TOL
        assert abs(bs0 - _r(ref, s, "Null model", u, "Brier")) < TOL
        assert abs(index_of_prediction_accuracy(bs, bs0) - _r(ref, s, model, u, "IPA")) < TOL
        if k >= 1:
            ibs = integrated_brier_score(curves[:, : k + 1], t, e, s, GRID[: k + 1])
            assert abs(ibs - _r(ref, s, model, u, "IBS")) < TOL


def test_score_predictions_gives_the_same_numbers(data):
    """The public scoring function (any model's predictions) reproduces R at the window."""
    preds, ref = data
    s, w = 730, 1826
    p = preds.filter(pl.col("landmark") == s)
    frame = p.select(
        "landmark",
        pl.col("id").cast(pl.String).alias("patient_id"),
        "time",
        "event",
        pl.col(f"cox_{w}").alias("risk"),
    )
    curves = pl.concat(
        [
            p.select(
                "landmark",
                pl.col("id").cast(pl.String).alias("patient_id"),
                pl.lit(float(u)).alias("horizon"),
                pl.col(f"cox_{u}").alias("risk"),
            )
            for u in GRID
        ]
    )
    acc = score_predictions(frame, w, curves=curves, n_boot=50, seed=1)
    row = acc.table().row(0, named=True)
    assert abs(row["auc"] - _r(ref, s, "cox", w, "AUC")) < TOL
    assert abs(row["brier"] - _r(ref, s, "cox", w, "Brier")) < TOL
    assert abs(row["ipa"] - _r(ref, s, "cox", w, "IPA")) < TOL
    assert abs(row["ibs"] - _r(ref, s, "cox", w, "IBS")) < TOL
    assert abs(row["ibs_null"] - _r(ref, s, "Null model", w, "IBS")) < TOL
    # genuine intervals around the estimate
    for m in ("auc", "brier", "ipa", "ibs"):
        assert row[f"{m}_lower"] < row[m] < row[f"{m}_upper"]


def test_reference_detects_a_wrong_tie_rule(data):
    """The check can fail: scoring tied markers as discordant misses R's edema AUC by > 0.05."""
    from mrdtrack.predict.evaluate import censoring_weights

    preds, ref = data
    p = preds.filter(pl.col("landmark") == 0)
    t, e = p["time"].to_numpy().astype(float), p["event"].to_numpy().astype(float)
    r = p["edema"].to_numpy()
    y, wt, _ = censoring_weights(t, e, 0, 1095)
    cases, controls = y == 1, (y == 0) & (wt > 0)
    conc = (r[cases][:, None] > r[controls][None, :]) * wt[cases][:, None] * wt[controls]
    ties_as_discordant = conc.sum() / (wt[cases].sum() * wt[controls].sum())
    assert abs(ties_as_discordant - _r(ref, 0, "edema", 1095, "AUC")) > 0.05
