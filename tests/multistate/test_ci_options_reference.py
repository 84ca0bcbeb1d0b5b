"""efpt / qratio / pmatrix / prevalence CI options as msm's ``ci`` argument, against R msm 1.7.

Reference: tests/reference/multistate/make_reference_boot_misc.R -> msm_qratio_sim_homog.json
(``qratio.msm`` with ``ci = "delta"`` and ``ci = "normal", B = 4000`` on the simulated study).
The bootstrap options are compared with msm's ``boot.msm`` in test_boot_reference.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mrdtrack.multistate import first_passage_time, fit_panel_markov, intensity_ratio
from mrdtrack.multistate.prevalence import prevalence_over_time

REF = Path(__file__).resolve().parents[1] / "reference" / "multistate"
Q3 = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]])


@pytest.fixture(scope="module")
def fit():
    d = pl.read_csv(REF / "sim_homog.csv")
    return fit_panel_markov(d, subject="id", time="years", state="state", qmatrix=Q3)


def test_qratio_ci_options_match_msm(fit):
    ref = json.loads((REF / "msm_qratio_sim_homog.json").read_text())
    d = intensity_ratio(fit, (1, 2), (2, 1))  # ci="delta", msm's default
    np.testing.assert_allclose([d.estimate, d.se, d.lower, d.upper], ref["qratio_delta"],
                               rtol=1e-6)  # fmt: skip
    n = intensity_ratio(fit, (1, 2), (2, 1), ci="normal", n_draws=4000, seed=3)
    est, se, lo, hi = ref["qratio_normal"]
    assert n.estimate == pytest.approx(est, rel=1e-6)
    # 4000 normal draws each side: an SD varies by 1.1% and a 2.5% quantile by 0.042 SDs, so
    # the differences stay within 4 Monte-Carlo SDs: 6.5% and 0.25 SD
    assert n.se == pytest.approx(se, rel=0.065)
    assert abs(n.lower - lo) < 0.25 * se and abs(n.upper - hi) < 0.25 * se
    assert np.isnan(intensity_ratio(fit, (1, 2), (2, 1), ci="none").se)


def test_ci_options_not_used_are_errors(fit):
    with pytest.raises(TypeError, match="n_draws"):
        intensity_ratio(fit, (1, 2), (2, 1), ci="delta", n_draws=100)
    with pytest.raises(TypeError, match="n_boot"):
        first_passage_time(fit, 3, ci="normal", n_boot=10)
    with pytest.raises(ValueError, match="ci must be one of"):
        first_passage_time(fit, 3, ci="percentile")
    with pytest.raises(TypeError, match="n_draws"):
        fit.pmatrix(1.0, ci="delta", n_draws=100)
    with pytest.raises(TypeError, match="seed"):
        prevalence_over_time(fit, [0, 1], ci="none", seed=1)
