"""Survival summaries of simulated trials against R survival and a plain-numpy reference."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import chi2

from mrdtrack.simulate._kernels import FIELDS, landmark_tests, landmark_tests_reference
from mrdtrack.simulate.summaries import km_at, km_median

REF = Path(__file__).parents[1] / "reference" / "simulate"


@pytest.fixture(scope="module")
def data():
    d = pl.read_csv(REF / "sim_trials.csv")
    r = pl.read_csv(REF / "r_reference.csv", null_values="NA")
    n_rep = d["replicate"].n_unique()

    def arr(c):
        return d[c].to_numpy().reshape(n_rep, -1)

    return {c: arr(c) for c in d.columns}, r


def test_km_and_reverse_km_match_r(data):
    d, r = data
    ev = d["evaluable"] == 1
    pfs5 = km_at(d["time"], d["event"], ev, 5 * 365.25)
    np.testing.assert_allclose(pfs5, r["pfs5"].to_numpy(), rtol=1e-12)
    fu = km_median(d["time"], 1 - d["event"], ev)
    np.testing.assert_allclose(fu, r["fu_median_days"].to_numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("group", ["g_per", "g_sus"])
def test_logrank_and_cox_match_r(data, group):
    d, r = data
    out = landmark_tests(d["lm_time"], d["event"], d[group])
    chisq_r = r[f"{group}_chisq"].to_numpy()
    ok = np.isfinite(chisq_r)
    assert ok.sum() >= 20
    np.testing.assert_allclose(out[ok, FIELDS.index("logrank_chisq")], chisq_r[ok], rtol=1e-10)
    hr_r = r[f"{group}_hr"].to_numpy()
    finite = np.isfinite(hr_r) & (hr_r < 1e3) & (hr_r > 1e-3)  # R stops early when monotone
    assert finite.sum() >= 10
    np.testing.assert_allclose(out[finite, FIELDS.index("hazard_ratio")], hr_r[finite], rtol=1e-7)
    se_r = r[f"{group}_se"].to_numpy()
    np.testing.assert_allclose(out[finite, FIELDS.index("se_log_hr")], se_r[finite], rtol=1e-6)


def test_kernel_equals_numpy_reference_with_ties():
    rng = np.random.default_rng(3)
    t = rng.integers(1, 30, size=(40, 60)).astype(float)  # many ties
    e = (rng.random((40, 60)) < 0.6).astype(int)
    g = rng.integers(-1, 2, size=(40, 60))
    out = landmark_tests(t, e, g)
    for i in range(40):
        ref = landmark_tests_reference(t[i], e[i], g[i])
        np.testing.assert_allclose(out[i], ref, rtol=1e-9, equal_nan=True)


def test_cox_efron_matches_lifelines_with_ties():
    lifelines = pytest.importorskip("lifelines")
    import pandas as pd

    rng = np.random.default_rng(5)
    t = rng.integers(1, 15, 80).astype(float)
    e = (rng.random(80) < 0.7).astype(int)
    g = rng.integers(0, 2, 80)
    cph = lifelines.CoxPHFitter().fit(pd.DataFrame({"t": t, "e": e, "g": g}), "t", "e")
    hr = landmark_tests(t[None], e[None], g[None])[0, FIELDS.index("hazard_ratio")]
    assert hr == pytest.approx(float(np.exp(cph.params_["g"])), rel=1e-6)
    lr = lifelines.statistics.logrank_test(t[g == 1], t[g == 0], e[g == 1], e[g == 0])
    chisq = landmark_tests(t[None], e[None], g[None])[0, FIELDS.index("logrank_chisq")]
    assert chi2.sf(chisq, 1) == pytest.approx(lr.p_value, rel=1e-6)


def test_monotone_likelihood_reported_infinite():
    t = np.array([[5.0, 6, 7, 8, 9, 10]])
    e = np.array([[1, 1, 0, 0, 0, 0]])
    g = np.array([[1, 1, 0, 0, 0, 0]])
    assert np.isinf(landmark_tests(t, e, g)[0, FIELDS.index("hazard_ratio")])
