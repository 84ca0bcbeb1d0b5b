"""The generative model: streams, invariants, and the Cohort it produces."""

import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrdtrack.simulate.model import NO_SAMPLE, simulate_trials
from mrdtrack.simulate.params import load_params

warnings.filterwarnings("ignore", category=RuntimeWarning)
P = load_params()


def _same(a, b):
    for k, v in a.__dict__.items():
        if isinstance(v, np.ndarray) and k != "replicates":
            np.testing.assert_array_equal(v, getattr(b, k), err_msg=k)


def test_replicate_stream_does_not_depend_on_batching():
    all5 = simulate_trials(P, 5, seed=11)
    part = simulate_trials(P, 2, seed=11, start=3)
    _same(all5.subset(np.array([3, 4])), part)
    one = simulate_trials(P, seed=11, replicates=np.array([4]))
    _same(all5.subset(np.array([4])), one)


def test_different_seeds_differ():
    a, b = simulate_trials(P, 1, seed=1), simulate_trials(P, 1, seed=2)
    assert not np.array_equal(a.enrol_day, b.enrol_day)


def test_invariants_over_many_trials():
    t = simulate_trials(P, 200, seed=3)
    prog, death, last = t.progression_day, t.death_day, t.last_contact_day
    assert (last <= t.cutoff_day).all()
    assert ((prog < 0) | (prog <= last)).all()
    assert ((death < 0) | (death == last)).all()  # follow-up ends at death
    txe = t.treatment_end_day
    assert ((txe < 0) | (txe <= last)).all()
    # on maintenance at cutoff only if followed to the cutoff
    assert (last[txe < 0] == t.cutoff_day[txe < 0]).all()
    # no MRD sample after progression or last contact
    sampled = t.visit_result != NO_SAMPLE
    limit = np.where(prog >= 0, prog - 1, last)
    assert (t.visit_day[sampled] <= np.broadcast_to(limit[..., None], sampled.shape)[sampled]).all()
    # visits are an interval apart, give or take the windows on both sides
    a = P.assessment
    gap = a.interval_days - a.window_days - a.window_before_days
    assert (np.diff(t.visit_day, axis=-1) >= gap).all()
    assert (t.cycles_completed <= P.treatment.max_days // P.treatment.cycle_days).all()


def test_grade3_incidence_close_to_parameter():
    t = simulate_trials(P, 300, seed=4)
    names = [x.term for x in P.safety.terms]
    g3 = (t.ae_grade[..., names.index("Lymphocyte count decreased")] >= 3).mean()
    assert g3 == pytest.approx(0.44, abs=0.01)
    assert t.sae.mean() == pytest.approx(P.safety.serious_fraction, abs=0.01)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_every_replicate_is_a_valid_cohort(seed):
    c = simulate_trials(P, 1, seed=seed).to_cohort(0)
    assert c.n_patients == 108
    assert c.exclusions.height == 0
    ids = c.patients["patient_id"]
    assert ids.is_unique().all() and ids.str.len_chars().min() == 3
    pfs = c.pfs()
    assert pfs.height == 108 and pfs["time"].min() > 0
    assert set(c.mrd["result"].unique()) <= {"negative", "positive", "not_evaluable"}
    assert (
        c.adverse_events.filter(pl.col("grade") == 5).height
        == c.outcomes["death_day"].drop_nulls().len()
    )
