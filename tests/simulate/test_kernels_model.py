"""The fast engine: the numba model equals the numpy reference on the same uniforms; its own
counter-based streams are uniform, per-replicate, and give the same distribution of trials."""

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtri as scipy_ndtri

from mrdtrack.simulate import _kernels_model as K
from mrdtrack.simulate._classify import classify
from mrdtrack.simulate._kernels import analyse_landmark, landmark_tests
from mrdtrack.simulate.model import replicate_uniforms, simulate_trials
from mrdtrack.simulate.params import load_params
from mrdtrack.simulate.summaries import landmark_groups, pfs_arrays, trial_summaries

warnings.filterwarnings("ignore", category=RuntimeWarning)
P = load_params()


def _assert_same_trials(a, b, rtol=1e-12):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if not isinstance(x, np.ndarray):
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, f.name
        if x.dtype.kind == "f":
            # the clonal fraction is rounded to 8 decimals: ndtri's last bits can move one unit
            atol = 1.01e-8 if f.name == "visit_clonal_fraction" and rtol else 0.0
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, equal_nan=True, err_msg=f.name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=f.name)


@pytest.mark.parametrize(
    "params",
    [
        P,
        P.replace(assessment__interval_days=182.0, assessment__n_followup_visits=10),
        P.replace(followup__loss_per_year=0.0, progression__lost_late=3.0),
        P.replace(assessment__window_before_days=21),
        P.replace(mrd_dynamics__pos_to_neg_early=0.0, mrd_dynamics__pos_to_neg_late=0.0),
    ],
    ids=["founding", "six-monthly", "no-loss-to-follow-up", "two-sided-window", "zero-rate"],
)
def test_fast_engine_equals_numpy_reference_on_the_same_uniforms(params):
    reps = np.arange(40)
    u = replicate_uniforms(params, 5, reps)
    ref = simulate_trials(params, 40, 5)
    fast = simulate_trials(params, 40, 5, engine="fast", uniforms=u)
    _assert_same_trials(ref, fast)


def test_fast_engine_replicate_does_not_depend_on_batching():
    all6 = simulate_trials(P, 6, 9, engine="fast")
    part = simulate_trials(P, 2, 9, start=4, engine="fast")
    one = simulate_trials(P, seed=9, replicates=np.array([3]), engine="fast")
    _assert_same_trials(all6.subset(np.array([4, 5])), part, rtol=0)
    _assert_same_trials(all6.subset(np.array([3])), one, rtol=0)
    other = simulate_trials(P, 1, 10, engine="fast")
    assert not np.array_equal(other.age, all6.age[:1])


def test_schedule_change_keeps_patient_level_draws_in_the_fast_engine():
    a = simulate_trials(P, 3, 2, engine="fast")
    b = simulate_trials(P.replace(assessment__interval_days=91.0), 3, 2, engine="fast")
    for name in ("age", "progression_day", "death_day", "baseline_state_negative", "ae_grade"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_engine_name_checked():
    with pytest.raises(ValueError, match="engine"):
        simulate_trials(P, 1, 1, engine="turbo")


def test_counter_streams_are_uniform_and_independent():
    x = K.stream_uniforms(7, 0, 200_000)
    assert stats.kstest(x, "uniform").pvalue > 1e-4
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1]) < 0.01
    y = K.stream_uniforms(7, 1, 200_000)
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.01
    assert stats.kstest(np.concatenate([x[:1000], y[:1000]]), "uniform").pvalue > 1e-4
    assert not np.array_equal(x[:10], K.stream_uniforms(8, 0, 10))


def test_ndtri_matches_scipy():
    p = np.concatenate([np.linspace(1e-12, 1 - 1e-12, 20001), [1e-300, 0.02425, 0.97575]])
    ours = np.array([K.ndtri(v) for v in p])
    np.testing.assert_allclose(ours, scipy_ndtri(p), rtol=1e-13, atol=1e-13)
    assert K.ndtri(0.0) == -np.inf and K.ndtri(1.0) == np.inf


def test_fast_engine_has_the_reference_distribution():
    """Same model, other streams: per-trial summaries agree in distribution (KS, 600 trials)."""
    ref = trial_summaries(simulate_trials(P, 600, 3))
    fast = trial_summaries(simulate_trials(P, 600, 3, engine="fast"))
    for k in (
        "cohort.evaluable_pfs",
        "mrd_baseline.negative",
        "mrd_classes_whole_followup.sustained_negative",
        "mrd_classes_whole_followup.loss_of_negativity",
        "cohort.on_maintenance_at_cutoff",
        "pfs.five_year",
        "followup.median_months",
        "interim_conference_abstract.age_median",
    ):
        assert stats.ks_2samp(ref[k], fast[k]).pvalue > 1e-3, k


def test_fused_analysis_equals_the_numpy_steps():
    tr = simulate_trials(P, 200, 4, engine="fast")
    a = analyse_landmark(tr)
    t, e = pfs_arrays(tr)
    np.testing.assert_array_equal(a["time"], t)
    np.testing.assert_array_equal(a["event"], e)
    np.testing.assert_array_equal(
        a["classes"], classify(tr.visit_day, tr.visit_result, tr.visit_sensitivity)
    )
    np.testing.assert_array_equal(
        a["landmark_classes"],
        classify(tr.visit_day, tr.visit_result, tr.visit_sensitivity, until=730.0),
    )
    lt, g_per, g_sus = landmark_groups(tr, t, tr.cycles_completed >= 4, 730.0)
    np.testing.assert_array_equal(a["lost_vs_persistent"], landmark_tests(lt, e, g_per))
    np.testing.assert_array_equal(a["lost_vs_sustained"], landmark_tests(lt, e, g_sus))


def test_virtual_trials_equal_simulate_then_analyse():
    from mrdtrack.simulate.model import virtual_trials

    v = virtual_trials(P, 60, 3, start=11)
    a = analyse_landmark(simulate_trials(P, 60, 3, start=11, engine="fast"))
    for k, x in a.items():
        np.testing.assert_array_equal(v[k], x, err_msg=k)


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_a_state_kept_for_ever_still_has_its_progression_hazard(engine):
    """With MRD+ -> MRD- rates 0, positives stay positive for ever (an endless hazard segment):
    they must still progress at the persistent-positive rate."""
    p = P.replace(
        mrd_dynamics__pos_to_neg_early=0.0,
        mrd_dynamics__pos_to_neg_late=0.0,
        progression__persistent_positive=1.0,
    )
    t = simulate_trials(p, 20, 1, engine=engine)
    pos = ~t.baseline_state_negative
    assert (t.progression_day[pos] >= 0).mean() > 0.5
