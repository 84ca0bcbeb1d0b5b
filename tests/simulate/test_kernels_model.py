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


# --- laziness: what the fast engine leaves out changes no output -----------------------------

BUSY = P.replace(
    mrd_dynamics__pos_to_neg_early=3.0,
    mrd_dynamics__neg_to_pos_early=2.0,
    mrd_dynamics__neg_to_pos_late=1.0,
    death__rate_at_mean_age=0.3,
    followup__loss_per_year=0.5,
    treatment__discontinuation_per_year=1.0,
)
HALF_AGES = P.replace(covariates__age_min=18.5, covariates__age_max=85.5, covariates__age_sd=15.0)


@pytest.mark.parametrize("params", [P, BUSY, HALF_AGES], ids=["founding", "busy", "half-ages"])
def test_lazy_engine_gives_the_exact_trials_and_analyses(params):
    """TRIALS (what `simulate_trials` runs) and ANALYSIS (`virtual_trials`) leave out deaths,
    jumps, losses and discontinuations after the horizon and unneeded clonal fractions: every
    output is still the EXACT engine's, bit for bit."""
    from mrdtrack.simulate.model import _simulate_fast, virtual_trials

    reps = np.arange(150, dtype=np.int64)
    exact = _simulate_fast(params, 4, reps, None, lazy=K.EXACT)
    _assert_same_trials(exact, simulate_trials(params, 150, 4, engine="fast"), rtol=0)
    v = virtual_trials(params, 150, 4)
    for k, x in analyse_landmark(exact).items():
        np.testing.assert_array_equal(v[k], x, err_msg=k)
    if params is BUSY:  # the skipped quantities do happen within follow-up here
        assert (exact.death_day >= 0).sum() > 50
        assert (exact.treatment_end_reason == 5).sum() > 20
    with pytest.raises(ValueError, match="lazy"):
        _simulate_fast(params, 4, reps, None, lazy=K.ANALYSIS)


def _fast_q(params):
    from mrdtrack.simulate.model import _fast_inputs

    return _fast_inputs(params)[0]


@pytest.mark.parametrize("params", [P, HALF_AGES], ids=["founding", "half-ages"])
def test_age_table_gives_the_computed_age(params):
    q = _fast_q(params)
    cv = params.covariates

    def computed(u):
        return np.rint(np.clip(cv.age_mean + cv.age_sd * K.ndtri(u), cv.age_min, cv.age_max))

    cuts = q.age_cuts[(q.age_cuts > 0) & (q.age_cuts < 1)]
    near = (cuts[:, None] + np.array([-1e-8, -2e-9, -1e-12, 0.0, 1e-12, 2e-9, 1e-8])).ravel()
    u = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 2001), near, [0.0, 1e-300]])
    u = u[(u >= 0) & (u < 1)]
    np.testing.assert_array_equal([K._age(q, x) for x in u], [computed(x) for x in u])
    # the comparison can fail: a table whose cut points are off gives other ages
    bad = q._replace(age_cuts=q.age_cuts + 1e-3)
    assert any(K._age(bad, x) != computed(x) for x in u)


def test_clonal_cut_points_bracket_the_detection_limit():
    """Below ``lo`` a true positive is not detected at the sensitivity, above ``hi`` it is."""
    q = _fast_q(P)
    for sens, lo, hi in ((q.lod, q.clonal_lo_lod, q.clonal_hi_lod),
                         (q.low_lod, q.clonal_lo_low_lod, q.clonal_hi_low_lod)):  # fmt: skip
        assert 0 < lo < hi < 1 and hi - lo < 1e-8
        assert K._clonal_fraction(q, lo - 1e-9) < sens <= K._clonal_fraction(q, hi + 1e-9)
        assert K._clonal_fraction(q, lo - 1e-4) < sens <= K._clonal_fraction(q, hi + 1e-4)
    # a sensitivity the capped clonal fraction never reaches: never detected, never computed
    q2 = _fast_q(P.replace(assessment__low_lod=0.6))
    assert q2.clonal_lo_low_lod > 1


def test_beyond_cut_points_are_after_every_horizon():
    """A death (worst-case age), loss or discontinuation whose uniform is above its cut point
    falls more than a day after any patient's horizon; just below, it need not."""
    q = _fast_q(BUSY)
    hmax = min(BUSY.trial.cutoff_calendar_day, BUSY.trial.max_followup_days)
    ages = np.array([BUSY.covariates.age_min - 0.5, BUSY.covariates.age_max + 0.5])
    d_rate = q.death_rate * np.exp(q.death_age_log_hr * (ages - q.age_mean)).max() / 365.25
    for cut, rate in ((q.death_u_beyond, d_rate), (q.ltfu_u_beyond, q.loss_per_year / 365.25),
                      (q.disc_u_beyond, q.discontinuation_per_year / 365.25)):  # fmt: skip
        assert 0 < cut < 1
        assert -np.log1p(-cut) / rate > hmax + 1
        assert -np.log1p(-cut * 0.999) / rate < hmax + 2
    assert _fast_q(P.replace(followup__loss_per_year=0.0)).ltfu_u_beyond == 1.0


def test_virtual_trials_same_for_any_number_of_workers():
    from mrdtrack.simulate.model import virtual_trials

    one = virtual_trials(P, 600, 5, start=3)
    for workers in (2, 3):
        two = virtual_trials(P, 600, 5, start=3, workers=workers)
        for k, x in one.items():
            np.testing.assert_array_equal(two[k], x, err_msg=f"{k}, {workers} workers")
    part = virtual_trials(P, 7, 5, start=300, workers=2)
    for k, x in one.items():
        np.testing.assert_array_equal(part[k], x[297:304], err_msg=k)
    with pytest.raises(ValueError, match="workers"):
        virtual_trials(P, 2, 5, workers=-1)


def test_horizon_cuts_the_mrd_path_and_progression():
    """The laziness is not vacuous: past the horizon, jumps and progression are left out (inf)
    where the exact stages give finite times, which the equality tests above then cover."""
    q = _fast_q(BUSY)
    u = np.full(4, 0.5)
    exact, lazy = np.empty(4), np.empty(4)
    K.mrd_path(q, True, False, u, 0, exact)
    K.mrd_path(q, True, False, u, 0, lazy, exact[0])
    # the first jump later than the horizon is drawn (a segment ends there), none after it
    assert np.isfinite(exact).all() and exact[1] > exact[0]
    np.testing.assert_array_equal(lazy, [exact[0], exact[1], np.inf, np.inf])
    s0, s1, rt = (np.empty(10) for _ in range(3))
    t = K.progression(q, True, False, 70.0, exact, 0.5, s0, s1, rt)
    assert 100.0 < t < np.inf
    # by day 100 the hazard is far below 0.5 <= -log(1 - 0.5): no progression by then
    assert K.progression(q, True, False, 70.0, exact, 0.5, s0, s1, rt, 100.0) == np.inf
    assert K.progression(q, True, False, 70.0, exact, 0.5, s0, s1, rt, t + 1.0) == t
