"""Bootstrap intervals (boot.msm), efpt / qratio CI options against R msm 1.7, in distribution.

numpy's generator is not R's, so bootstrap replicates cannot agree number for number; the
reference (tests/reference/multistate/make_reference_boot_misc.R -> msm_boot_sim_homog.json)
holds msm's ``boot.msm`` replicates (B = 400) of the intensities, the expected first passage times
to state 3 and q12 / q21 on the simulated study ``sim_homog``.  Ours (200 refits, to keep the
test short) must come from the same distribution:

* two-sample Kolmogorov-Smirnov test per quantity, p > 0.001 (7 quantities: a false alarm
  with probability < 0.7%);
* bootstrap SE (SD of the replicates): relative Monte-Carlo SD of an SD from B replicates is
  about ``1 / sqrt(2 (B - 1))``, 5.0% for ours and 3.5% for msm's, so they agree within 4 SDs
  of the difference, 25%;
* percentile limits at p = 0.025 and 0.975: our empirical p-quantile from B = 200 lies, with
  Monte-Carlo probability > 0.999, between msm's replicates' quantiles at
  ``p -/+ 3.3 sqrt(p (1 - p) (1/200 + 1/400))`` (distribution-free, from the binomial count
  of replicates below a quantile).

The check can fail: replicates drawn with a 1.5 times wider spread are rejected.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.stats

from mrdtrack.multistate import (
    bootstrap_fits,
    bootstrap_intervals,
    first_passage_time,
    fit_panel_markov,
    intensity_ratio,
)

REF = Path(__file__).resolve().parents[1] / "reference" / "multistate"
Q3 = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]])
N_BOOT = 200


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "msm_boot_sim_homog.json").read_text())


@pytest.fixture(scope="module")
def fit():
    d = pl.read_csv(REF / "sim_homog.csv")
    return fit_panel_markov(d, subject="id", time="years", state="state", qmatrix=Q3)


def _stats(f) -> np.ndarray:
    """msm's boot_stat of the reference script: q12, q13, q21, q23, efpt 1->3, 2->3, q12/q21."""
    q = f.qmatrix()
    e = first_passage_time(f, 3).estimate
    return np.array([q[0, 1], q[0, 2], q[1, 0], q[1, 2], e[0], e[1], q[0, 1] / q[1, 0]])


def _band(msm_reps: np.ndarray, p: float, n_ours: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.sqrt(p * (1 - p) * (1 / n_ours + 1 / len(msm_reps)))
    lo, hi = max(p - 3.3 * s, 0.0), min(p + 3.3 * s, 1.0)
    return np.quantile(msm_reps, lo, axis=0), np.quantile(msm_reps, hi, axis=0)


def _same_distribution(ours: np.ndarray, msm_reps: np.ndarray) -> list[str]:
    """Names of the checks (KS, SE, limits) that fail, per column."""
    bad = []
    for j in range(msm_reps.shape[1]):
        if scipy.stats.ks_2samp(ours[:, j], msm_reps[:, j]).pvalue <= 1e-3:
            bad.append(f"KS {j}")
    se_ratio = ours.std(axis=0, ddof=1) / msm_reps.std(axis=0, ddof=1)
    bad += [f"SE {j}" for j in np.flatnonzero(np.abs(se_ratio - 1) > 0.25)]
    for p in (0.025, 0.975):
        q = np.quantile(ours, p, axis=0)
        lo, hi = _band(msm_reps, p, len(ours))
        bad += [f"limit {p} {j}" for j in np.flatnonzero((q < lo) | (q > hi))]
    return bad


@pytest.fixture(scope="module")
def boots(fit):
    return bootstrap_fits(fit, n_boot=N_BOOT, seed=20261204)


def test_bootstrap_distribution_matches_boot_msm(fit, boots, ref):
    msm_reps = np.asarray(ref["replicates"], dtype=float)
    assert msm_reps.shape == (ref["B"][0] - ref["n_failed"][0], 7)
    np.testing.assert_allclose(_stats(fit), np.asarray(ref["estimate"]), rtol=1e-6)
    ours = np.array([_stats(f) for f in boots])
    assert len(boots) == N_BOOT
    assert _same_distribution(ours, msm_reps) == []
    # the wrong case: a spread 1.5 times msm's is rejected
    rng = np.random.default_rng(1)
    wide = ours.mean(axis=0) + 1.5 * (ours - ours.mean(axis=0))
    assert len(_same_distribution(wide, msm_reps)) >= 7
    shuffled = rng.permuted(ours, axis=0)
    assert _same_distribution(shuffled, msm_reps) == []


def test_ci_bootstrap_options_use_the_replicates(fit, boots, ref):
    ours = np.array([_stats(f) for f in boots])
    b = bootstrap_intervals(fit, fits=boots)
    np.testing.assert_allclose(b.lower, np.quantile(ours[:, :4], 0.025, axis=0), rtol=1e-12)
    np.testing.assert_allclose(b.se, ours[:, :4].std(axis=0, ddof=1), rtol=1e-12)
    e = first_passage_time(fit, 3, ci="bootstrap", boot_fits=boots)
    np.testing.assert_allclose(e.lower[:2], np.quantile(ours[:, 4:6], 0.025, axis=0), rtol=1e-12)
    np.testing.assert_allclose(e.upper[:2], np.quantile(ours[:, 4:6], 0.975, axis=0), rtol=1e-12)
    r = intensity_ratio(fit, (1, 2), (2, 1), ci="bootstrap", boot_fits=boots)
    assert r.se == pytest.approx(ours[:, 6].std(ddof=1), rel=1e-12)
    lo, hi = _band(np.asarray(ref["replicates"])[:, 6:], 0.025, N_BOOT)
    assert lo[0] <= r.lower <= hi[0]
    # msm's own percentile limits of its replicates (quantile type 7) are ours on its numbers
    msm_reps = np.asarray(ref["replicates"], dtype=float)
    np.testing.assert_allclose(np.quantile(msm_reps, 0.025, axis=0), ref["lower"], rtol=1e-12)
    np.testing.assert_allclose(msm_reps.std(axis=0, ddof=1), ref["se"], rtol=1e-10)
