"""Bootstrap CIs (boot.msm-style) and prevalence limits (prevalence.msm) against msm/delta."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mrdtrack.multistate import bootstrap_intervals, fit_panel_markov, simulate_from_fit
from mrdtrack.multistate.prevalence import prevalence_over_time

REF = Path(__file__).resolve().parents[1] / "reference" / "multistate"
Q3 = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]], dtype=float)


@pytest.fixture(scope="module")
def homog():
    d = pl.read_csv(REF / "sim_homog.csv")
    return fit_panel_markov(d, subject="id", time="years", state="state", qmatrix=Q3)


def test_bootstrap_intervals_agree_with_the_delta_method(homog):
    b = bootstrap_intervals(homog, n_boot=60, seed=2)
    q = homog.intensities()
    np.testing.assert_allclose(b.estimate, q["estimate"].to_numpy())
    np.testing.assert_allclose(b.se, q["se"].to_numpy(), rtol=0.35)
    # percentile limits near the delta-method ones (60 refits; q13 is small and skewed)
    np.testing.assert_allclose(b.lower, q["lower"].to_numpy(), rtol=0.35)
    np.testing.assert_allclose(b.upper, q["upper"].to_numpy(), rtol=0.25)
    again = bootstrap_intervals(homog, n_boot=60, seed=2)
    np.testing.assert_array_equal(again.lower, b.lower)


def test_bootstrap_on_dask_equals_serial(homog):
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2) as client:
        par = bootstrap_intervals(homog, n_boot=6, seed=9, client=client)
    ser = bootstrap_intervals(homog, n_boot=6, seed=9)
    np.testing.assert_allclose(par.lower, ser.lower, rtol=1e-12)
    np.testing.assert_allclose(par.upper, ser.upper, rtol=1e-12)


def test_simulated_data_follow_the_fit(homog):
    """Refitting a large simulated data set recovers the intensities it was simulated from."""
    frame, call = simulate_from_fit(homog, seed=4)
    assert frame.height <= homog.n_observations
    big = pl.concat(
        [
            simulate_from_fit(homog, seed=s)[0].with_columns(pl.col("__subject") + 10_000 * s)
            for s in range(8)
        ]
    )
    call = {**call, "qmatrix": Q3}
    refit = fit_panel_markov(big, **call)
    np.testing.assert_allclose(
        refit.intensities()["estimate"].to_numpy(),
        homog.intensities()["estimate"].to_numpy(),
        rtol=0.25,
    )


@pytest.mark.parametrize("name", ["homog", "inhomog"])
def test_prevalence_limits_match_msm(name):
    ref = json.loads((REF / f"msm_diag_sim_{name}.json").read_text())
    d = pl.read_csv(REF / f"sim_{name}.csv")
    fit = fit_panel_markov(d, subject="id", time="years", state="state", qmatrix=Q3)
    times = [0, 1, 2, 3, 4]
    p = prevalence_over_time(fit, times, n_draws=500, seed=1).table()
    obs = np.asarray(ref["prevalence_observed"], dtype=float)  # (times, states + total)
    exp_ = np.asarray(ref["prevalence_expected"], dtype=float)
    k = 3
    np.testing.assert_array_equal(p["observed"].to_numpy().reshape(5, k), obs[:, :k])
    np.testing.assert_allclose(p["expected"].to_numpy().reshape(5, k), exp_[:, :k], rtol=1e-5)
    lo = np.asarray(ref["prevalence_expected_pct_lower"], dtype=float)[:, :k]
    hi = np.asarray(ref["prevalence_expected_pct_upper"], dtype=float)[:, :k]
    # simulation limits (numpy vs R draws, 500 each): within 1.5 percentage points
    np.testing.assert_allclose(p["lower_pct"].to_numpy().reshape(5, k)[1:], lo[1:], atol=1.5)
    np.testing.assert_allclose(p["upper_pct"].to_numpy().reshape(5, k)[1:], hi[1:], atol=1.5)
