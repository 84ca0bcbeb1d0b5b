"""The goodness-of-fit check can fail: it rejects wrong models on the founding study's figures."""

import warnings

import numpy as np
import pytest

from mrdtrack.simulate.gof import Mahalanobis, goodness_of_fit
from mrdtrack.simulate.params import load_params
from mrdtrack.simulate.targets import load_study_targets

warnings.filterwarnings("ignore", category=RuntimeWarning)
T = load_study_targets()
P = load_params()
PR = P.progression
WRONG = {
    # progression unrelated to MRD: every progression hazard 0.09 / year
    "unrelated": P.replace(
        progression__negative=0.09,
        progression__persistent_positive=0.09,
        progression__lost_early=0.09,
        progression__lost_late=0.09,
    ),
    # loss of negativity carries the hazard of persistent positivity
    "lost_equals_persistent": P.replace(
        progression__lost_early=PR.persistent_positive,
        progression__lost_late=PR.persistent_positive,
    ),
}


@pytest.fixture(scope="module")
def fitted():
    return goodness_of_fit(T, P, n_replicates=2000, seed=7)


def test_accepts_the_fitted_model(fitted):
    assert not fitted.rejected and fitted.p_value > 0.5, fitted.summary()
    assert "not rejected" in fitted.summary()


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_rejects_wrong_models(wrong):
    res = goodness_of_fit(T, WRONG[wrong], n_replicates=2000, seed=7)
    assert res.rejected and res.p_value < 0.05, res.summary()
    assert "REJECTED" in res.summary()


def test_inputs_are_never_passed_checks(fitted):
    tab = fitted.table()
    design = tab.filter(tab["role"] == "design")
    assert design.height == len(T.by_role("design"))
    assert set(design["status"]) == {"input"}
    assert design["p"].null_count() == design.height
    tested = tab.filter(tab["role"] != "design")
    assert all(s.startswith(("inside", "OUTSIDE")) for s in tested["status"])
    assert "inputs (not tested): 15" in fitted.summary()


def test_mahalanobis_reference_is_exact_and_handles_dependence():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4000, 2))
    x = np.column_stack([a, a[:, 0] + a[:, 1], np.zeros(4000)])  # dependent + constant columns
    m = Mahalanobis.fit(x[:2000])
    assert m.basis.shape[1] == 2
    d = m.distance(x[2000:])
    assert abs(np.mean(d) - 2) < 0.15  # chi-square(2) for normal data
    assert np.isinf(m.distance(np.array([0, 0, 0, 1.0]))[0])  # outside the model's support


def test_accepts_the_shipped_calibration():
    from mrdtrack.simulate.calibrate import load_params_resource

    p = load_params_resource("founding_study_calibrated.toml")
    assert p.version == "2-bsl"
    res = goodness_of_fit(T, p, n_replicates=2000, seed=11)
    assert not res.rejected, res.summary()
