"""The two engines are the same model stage by stage: given the same uniforms and the same
inputs, every stage of the numba fast engine (`_kernels_model`, one patient at a time) returns
what the numpy reference's stage of the same name (`model`) returns for that patient.

End to end (the whole `Trials`) is in test_kernels_model; same seed, same data as before the
split in test_seeded_regression.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mrdtrack.simulate import _kernels_model as fast
from mrdtrack.simulate import model as ref
from mrdtrack.simulate.params import load_params
from mrdtrack.simulate.stages import STAGES, Accrual, FollowUp

warnings.filterwarnings("ignore", category=RuntimeWarning)
P = load_params()
PARAMS = {
    "founding": P,
    "six-monthly": P.replace(assessment__interval_days=182.0, assessment__n_followup_visits=10),
    "zero-rate": P.replace(mrd_dynamics__pos_to_neg_early=0.0, mrd_dynamics__pos_to_neg_late=0.0),
    "no-loss-to-follow-up": P.replace(
        followup__loss_per_year=0.0, progression__lost_late=3.0, assessment__window_before_days=21
    ),
}


def _close(a, b, what):
    """Integers and booleans equal; floats to rounding (numpy's and libm's exp/log may differ
    in the last bit)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def _py(x):
    return x.item() if isinstance(x, np.generic) else x


class _Stages:
    """The reference engine's stages on one uniform block, kept for comparison."""

    def __init__(self, p, seed=3, n_rep=3):
        self.p = p
        self.u = ref.replicate_uniforms(p, seed, np.arange(n_rep))
        self.lay = ref._layout(p)
        U = self.U = ref._uniform_columns(p, self.u)
        self.acc = ref.accrual(p, U("enrol"))
        self.cov = ref.covariates(
            p, U("age"), U("sex"), U("asct"), U("risk"), U("iss"), U("induction")
        )
        c = self.cov
        self.base = ref.baseline_mrd(p, c.prior_transplant, c.high_risk, U("bneg"), U("response"))
        self.jumps = ref.mrd_path(p, self.base.negative, c.high_risk, U("mrd_jump"))
        self.t_prog = ref.progression(
            p, self.base.negative, c.high_risk, c.age, self.jumps, U("prog")
        )
        self.fol = ref.follow_up(
            p, self.acc, c.age, self.t_prog, U("death"), U("ltfu"), U("early"), U("early_t")
        )
        self.tx = ref.treatment(p, self.acc, self.fol, U("disc"))
        self.vis = ref.assessments(
            p, self.base.negative, self.jumps, self.fol, U("bday"), U("bmiss"), U("v_jitter"),
            U("v_miss"), U("v_inad"), U("v_lowsens"), U("v_clonal"),
        )  # fmt: skip
        self.ae = ref.adverse_events(
            p, self.tx.duration, U("ae_any"), U("ae_grade"), U("ae_onset"), U("ae_related")
        )
        self.sae = ref.serious_event(p, self.tx.duration, U("sae"), U("sae_term"), U("sae_onset"))
        self.q, arrays = ref._fast_inputs(p)
        self.iss_c, self.ind_c, self.rn_c, self.rp_c, self.a_any, self.a_g3, self.a_g4 = arrays
        zero = np.uint64(0)
        self.src = (True, zero, zero, zero, self.lay.n_patient_level)

    def patients(self):
        r, n = self.acc.enrol.shape
        return [(a, b) for a in range(r) for b in range(n)]

    def at(self, tup, r, i, cls=None):
        vals = [_py(np.asarray(x)[r, i]) for x in tup]
        vals = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in vals]
        return (cls or type(tup))(*vals)


@pytest.fixture(scope="module", params=sorted(PARAMS))
def stages(request):
    return _Stages(PARAMS[request.param])


def test_both_engines_have_every_stage_documented():
    for name in STAGES:
        for engine in (ref, fast):
            f = getattr(engine, name)
            doc = f.__doc__ or getattr(getattr(f, "py_func", None), "__doc__", "")
            assert f"Stage ``{name}``" in doc, (engine.__name__, name)


def test_accrual_and_covariates(stages):
    s, q, U = stages, stages.q, stages.U
    for r, i in s.patients():
        _close(fast.accrual(q, U("enrol")[r, i]), [x[r, i] for x in s.acc], f"accrual {r},{i}")
        got = fast.covariates(
            q, *(U(k)[r, i] for k in ("age", "sex", "asct", "risk", "iss", "induction")),
            s.iss_c, s.ind_c,
        )  # fmt: skip
        for name, a, b in zip(s.cov._fields, got, s.cov, strict=True):
            _close(a, b[r, i], f"covariates.{name} {r},{i}")


def test_baseline_mrd_mrd_path_and_progression(stages):
    s, q, U = stages, stages.q, stages.U
    jumps = np.empty(s.jumps.shape[-1])
    s0, s1, rt = (np.empty(2 * (jumps.size + 1)) for _ in range(3))
    for r, i in s.patients():
        asct, risk = bool(s.cov.prior_transplant[r, i]), bool(s.cov.high_risk[r, i])
        got = fast.baseline_mrd(q, asct, risk, U("bneg")[r, i], U("response")[r, i], s.rn_c, s.rp_c)
        _close(got, [x[r, i] for x in s.base], f"baseline_mrd {r},{i}")
        neg0 = bool(s.base.negative[r, i])
        fast.mrd_path(q, neg0, risk, U("mrd_jump")[r, i].copy(), 0, jumps)
        _close(jumps, s.jumps[r, i], f"mrd_path {r},{i}")
        age = float(s.cov.age[r, i])
        t = fast.progression(q, neg0, risk, age, s.jumps[r, i].copy(), U("prog")[r, i], s0, s1, rt)
        _close(t, s.t_prog[r, i], f"progression {r},{i}")


def test_follow_up_and_treatment(stages):
    s, q, U = stages, stages.q, stages.U
    for r, i in s.patients():
        acc = s.at(s.acc, r, i, Accrual)
        got = fast.follow_up(
            q, acc, float(s.cov.age[r, i]), float(s.t_prog[r, i]),
            *(U(k)[r, i] for k in ("death", "ltfu", "early", "early_t")),
        )  # fmt: skip
        for name, a, b in zip(s.fol._fields, got, s.fol, strict=True):
            _close(a, b[r, i], f"follow_up.{name} {r},{i}")
        fol = s.at(s.fol, r, i, FollowUp)
        got = fast.treatment(q, acc, fol, U("disc")[r, i])
        for name, a, b in zip(s.tx._fields, got, s.tx, strict=True):
            _close(a, b[r, i], f"treatment.{name} {r},{i}")


def test_assessments(stages):
    s, q, U = stages, stages.q, stages.U
    r_n, n, nv = s.vis.day.shape
    day, res = np.empty((r_n, n, nv), np.int64), np.empty((r_n, n, nv), np.int8)
    sens, cf = np.empty((r_n, n, nv)), np.empty((r_n, n, nv))
    for r, i in s.patients():
        fast.assessments(
            q, bool(s.base.negative[r, i]), s.jumps[r, i].copy(), s.at(s.fol, r, i, FollowUp),
            U("bday")[r, i], U("bmiss")[r, i], s.u, s.src, r, i, day, res, sens, cf,
        )  # fmt: skip
    _close(day, s.vis.day.astype(np.int64), "assessments.day")
    _close(res, s.vis.result, "assessments.result")
    _close(sens, s.vis.sensitivity, "assessments.sensitivity")
    # rounded to 8 decimals: the kernel's normal quantile can move the last unit
    np.testing.assert_allclose(cf, s.vis.clonal_fraction, rtol=0, atol=1.01e-8, equal_nan=True)
    assert (res > 0).any() and (res == 2).any()


def test_adverse_and_serious_events(stages):
    s, q = stages, stages.q
    r_n, n, nt = s.ae.grade.shape
    grade, onset = np.empty((r_n, n, nt), np.int8), np.empty((r_n, n, nt), np.int64)
    related = np.empty((r_n, n, nt), bool)
    c_ae, c_sae = s.lay.slots["ae_any"].start, s.lay.slots["sae"].start
    for r, i in s.patients():
        d = float(s.tx.duration[r, i])
        fast.adverse_events(
            d, s.a_any, s.a_g3, s.a_g4, s.u, s.src, r, i, c_ae, grade, onset, related
        )
        got = fast.serious_event(q, d, s.u, s.src, r, i, c_sae)
        for name, a, b in zip(s.sae._fields, got, s.sae, strict=True):
            _close(a, b[r, i], f"serious_event.{name} {r},{i}")
    _close(grade, s.ae.grade, "adverse_events.grade")
    _close(onset, s.ae.onset.astype(np.int64), "adverse_events.onset")
    _close(related, s.ae.related, "adverse_events.related")
    assert (grade > 0).any()


def test_a_changed_stage_is_caught():
    """The comparison can fail: a reference stage fed other uniforms differs from the fast one."""
    s = _Stages(P)
    other = ref.accrual(P, 1.0 - s.U("enrol"))
    with pytest.raises(AssertionError):
        for r, i in s.patients():
            _close(fast.accrual(s.q, s.U("enrol")[r, i]), [x[r, i] for x in other], "accrual")
