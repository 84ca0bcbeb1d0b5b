"""The report's multi-state intensity table shows the model the LR test prefers."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from mrdtrack.multistate import time_homogeneity_test
from mrdtrack.report.sections.multistate import preferred_intensities

REF = Path(__file__).resolve().parents[1] / "reference" / "multistate"
Q3 = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]])
LABELS = {1: "MRD−", 2: "MRD+", 3: "progression"}


def _test(name, _cache={}):  # noqa: B006 - a module-level cache of the two tests
    if name not in _cache:
        d = pl.read_csv(REF / f"sim_{name}.csv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _cache[name] = time_homogeneity_test(
                d, cuts=[1.0], subject="id", time="years", state="state", qmatrix=Q3
            )
    return _cache[name]


def test_piecewise_intensities_shown_when_preferred():
    """Intensities change at 1 year in sim_inhomog: the table has one intensity per period and
    transition, equal to msm's pci fit (qbase at the mean period, effect of period 2)."""
    h = _test("inhomog")
    assert h.preferred == "piecewise"
    q, model = preferred_intensities(h.fit_homogeneous, h, LABELS)
    assert model == "piecewise"
    assert q["period"].unique(maintain_order=True).to_list() == [
        "before year 1",
        "from year 1",
    ]
    ref = json.loads((REF / "msm_diag_sim_inhomog.json").read_text())
    est = np.asarray(ref["pci_estimates"])
    mean = h.fit_piecewise.covariate_means[0]
    before = np.exp(est[:4] - est[4:] * mean)
    after = np.exp(est[:4] + est[4:] * (1 - mean))
    np.testing.assert_allclose(q["estimate"].to_numpy(), np.r_[before, after], rtol=1e-5)
    assert q["from_label"][0] == "MRD−"
    # the wrong case: the constant intensities are not those of either period
    const = h.fit_homogeneous.intensities()["estimate"].to_numpy()
    assert np.max(np.abs(const / before - 1)) > 0.2


def test_constant_intensities_shown_when_adequate():
    h = _test("homog")
    assert h.preferred == "homogeneous"
    q, model = preferred_intensities(h.fit_homogeneous, h, LABELS)
    assert model == "homogeneous"
    np.testing.assert_allclose(
        q["estimate"].to_numpy(), h.fit_homogeneous.intensities()["estimate"].to_numpy()
    )
    assert set(q["period"]) == {"whole follow-up"}


def test_untested_model_shows_constant_intensities():
    fit = _test("homog").fit_homogeneous
    q, model = preferred_intensities(fit, None, LABELS)
    assert model == "homogeneous" and q.height == 4


def test_fit_coef_and_se_are_mappings():
    fit = _test("homog").fit_homogeneous
    assert list(fit.coef) == ["log q 1->2", "log q 1->3", "log q 2->1", "log q 2->3"]
    np.testing.assert_allclose(list(fit.coef.values()), fit.params)
    np.testing.assert_allclose(list(fit.se.values()), np.sqrt(np.diag(fit.covariance)))
