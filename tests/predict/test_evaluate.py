"""IPCW accuracy measures against brute-force definitions, and calibration on known truth."""

from __future__ import annotations

import numpy as np
import pytest

from mrdtrack.predict import brier_score, calibration, cross_validate, time_dependent_auc
from mrdtrack.predict.evaluate import censoring_weights


def _naive_censoring_surv(time, event, t, left):
    """Product-limit of censoring, events before censorings at ties, O(n^2)."""
    g = 1.0
    for c in np.unique(time[event == 0]):
        if (left and c >= t) or (not left and c > t):
            break
        at_risk = np.sum(time > c) + np.sum((time == c) & (event == 0))
        g *= 1 - np.sum((time == c) & (event == 0)) / at_risk
    return g


def _data(seed, n=60):
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(500, n)) + 101
    e = (rng.random(n) < 0.6).astype(float)
    t[:5] = t[5:10]  # ties between events and censorings
    e[:5] = 1 - e[5:10]
    risk = np.clip(1 - np.exp(-t / 900 + rng.normal(0, 0.3, n)), 0.01, 0.99)
    return t, e, risk


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_weights_match_naive_definition(seed):
    t, e, _ = _data(seed)
    s, w = 100.0, 400.0
    _, wt, resolved = censoring_weights(t, e, s, w)
    for i in range(t.size):
        if e[i] == 1 and t[i] <= s + w:
            assert wt[i] == pytest.approx(1 / _naive_censoring_surv(t, e, t[i], left=True))
        elif t[i] > s + w:
            assert wt[i] == pytest.approx(1 / _naive_censoring_surv(t, e, s + w, left=False))
        else:
            assert wt[i] == 0 and not resolved[i]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auc_matches_pairwise_definition(seed):
    t, e, r = _data(seed)
    s, w = 100.0, 400.0
    y, wt, _ = censoring_weights(t, e, s, w)
    num = den = 0.0
    for i in np.flatnonzero(y == 1):
        for j in np.flatnonzero((y == 0) & (wt > 0)):
            num += wt[i] * wt[j] * ((r[i] > r[j]) + 0.5 * (r[i] == r[j]))
            den += wt[i] * wt[j]
    assert time_dependent_auc(r, t, e, s, w) == pytest.approx(num / den, rel=1e-12)


def test_without_censoring_auc_is_mann_whitney_and_brier_is_mse():
    t = np.array([150.0, 200, 300, 700, 800, 900])
    e = np.ones(6)
    r = np.array([0.9, 0.2, 0.7, 0.3, 0.2, 0.1])
    # cases: t <= 500 (first three), controls: the rest
    pairs = [(a > b) + 0.5 * (a == b) for a in r[:3] for b in r[3:]]
    assert time_dependent_auc(r, t, e, 100, 400) == pytest.approx(np.mean(pairs))
    y = np.array([1, 1, 1, 0, 0, 0])
    bs, bs0 = brier_score(r, t, e, 100, 400)
    assert bs == pytest.approx(np.mean((y - r) ** 2))
    assert bs0 == pytest.approx(0.25)


def test_calibration_of_true_risks_is_perfect_in_expectation():
    rng = np.random.default_rng(5)
    n = 20000
    p = rng.uniform(0.05, 0.6, n)
    case = rng.random(n) < p
    t = np.where(case, 200.0, 1000.0)
    slope, citl = calibration(p, t, np.ones(n), 100, 400)
    assert slope == pytest.approx(1, abs=0.06)
    assert citl == pytest.approx(0, abs=0.04)


def test_supermodel_is_calibrated_and_beats_baseline_on_known_truth(simulate):
    """Simulation with known truth: n = 4000, 2-fold CV; slope within 0.9-1.1 at each landmark."""
    cohort = simulate(4000, seed=11)
    feats = ("mrd_positive", "mrd_unknown", "lost_negativity")
    models = {
        # the full van Houwelingen specification: MRD effects vary smoothly with the landmark
        "mrd_history": {"mrd_features": feats, "interactions": feats},
        "baseline": {"mrd_features": ()},
    }
    acc = cross_validate(cohort, folds=2, landmarks=["0m", "12m", "24m"], models=models).table()
    full = acc.filter(acc["model"] == "mrd_history")
    base = acc.filter(acc["model"] == "baseline")
    assert full["calibration_slope"].is_between(0.9, 1.1).all()
    assert full["calibration_intercept"].abs().max() < 0.05
    assert (full["auc"].to_numpy() > base["auc"].to_numpy() + 0.05).all()
    assert (full["brier"].to_numpy() < base["brier"].to_numpy()).all()


def test_calibration_bins_and_plot(simulate):
    import polars as pl

    from mrdtrack.predict.evaluate import calibration_bins
    from mrdtrack.predict.figures import plot_calibration

    cohort = simulate(1500, seed=12)
    feats = ("mrd_positive", "mrd_unknown", "lost_negativity")
    models = {"mrd_history": {"mrd_features": feats}}
    acc = cross_validate(cohort, folds=2, landmarks=["0m", "12m"], models=models)
    preds = acc.predictions.filter(pl.col("model") == "mrd_history")
    bins = calibration_bins(preds, 730, groups=4)
    assert bins["n"].sum() == preds.height
    assert bins["predicted"].is_sorted()
    # known truth, large n: observed within 0.06 of predicted in every group
    assert (bins["observed"] - bins["predicted"]).abs().max() < 0.06
    fig, data = plot_calibration(preds, 730, groups=4)
    assert data.equals(bins)
    assert fig.axes[0].get_xlabel() == "Predicted 24-month risk"
