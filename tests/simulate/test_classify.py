"""The simulator's IMWG classes (mrd's kernel): hand-built edge cases and per-patient agreement
with `mrdtrack.mrd.classify_trajectories` on simulated studies."""

import numpy as np
import pytest

from mrdtrack.mrd import classify_trajectories
from mrdtrack.simulate import _classify as C
from mrdtrack.simulate._kernels import analyse_landmark
from mrdtrack.simulate.model import simulate_trials
from mrdtrack.simulate.params import load_params
from mrdtrack.simulate.trials import NEGATIVE as N
from mrdtrack.simulate.trials import NO_SAMPLE as X
from mrdtrack.simulate.trials import NOT_EVALUABLE as E
from mrdtrack.simulate.trials import POSITIVE as P


def cls(days, results, sens=None, **kw):
    d = np.array([days])
    r = np.array([results], dtype=np.int8)
    s = np.full(d.shape, 1e-5) if sens is None else np.array([sens])
    return int(C.classify(d, r, s, **kw)[0])


@pytest.mark.parametrize(
    ("days", "results", "expected"),
    [
        ([10, 375], [N, N], C.SUSTAINED_NEGATIVE),  # exactly 365 apart
        ([10, 374], [N, N], C.NOT_CLASSIFIABLE),  # one day short
        ([10, 375, 740], [N, E, N], C.SUSTAINED_NEGATIVE),  # not-evaluable in between
        ([10, 375, 740], [N, P, N], C.LOSS_OF_NEGATIVITY),  # neg, pos, neg: loss first
        ([10, 375, 740], [P, N, P], C.LOSS_OF_NEGATIVITY),
        ([10, 375, 740], [P, N, N], C.SUSTAINED_NEGATIVE),  # converted then sustained (IMWG)
        ([10, 375], [P, N], C.CONVERSION),
        ([10, 375], [P, P], C.PERSISTENT_POSITIVE),
        ([10, 375], [P, X], C.NOT_CLASSIFIABLE),  # a single assessment
        ([10, 375], [N, P], C.LOSS_OF_NEGATIVITY),
    ],
)
def test_rules(days, results, expected):
    assert cls(days, results) == expected


def test_tolerance_and_landmark_window():
    assert cls([10, 370], [N, N], tolerance_days=10) == C.SUSTAINED_NEGATIVE
    assert cls([10, 375, 740], [N, N, P], until=730) == C.SUSTAINED_NEGATIVE
    assert cls([10, 375, 740], [N, N, P]) == C.LOSS_OF_NEGATIVITY


def test_negative_at_insufficient_sensitivity_is_not_evaluable():
    assert cls([10, 375], [N, N], sens=[1e-5, 1e-4]) == C.NOT_CLASSIFIABLE
    assert cls([10, 375], [P, N], sens=[1e-5, 1e-4]) == C.NOT_CLASSIFIABLE


def test_landmark_class_ignores_later_assessments():
    rng = np.random.default_rng(0)
    days = np.cumsum(rng.integers(365, 380, size=(500, 6)), axis=1)
    res = rng.choice([N, P, E, X], size=(500, 6)).astype(np.int8)
    sens = np.full(days.shape, 1e-5)
    a = C.classify(days, res, sens, until=800)
    later = days > 800
    res2 = np.where(later, rng.choice([N, P], size=res.shape), res).astype(np.int8)
    np.testing.assert_array_equal(a, C.classify(days, res2, sens, until=800))


# --- the simulator's classes are mrd's: same kernel, same labels, per patient --------------

LANDMARK = 730


def _patient_ids(tr, r=0):
    """Patient id of each simulated row, as `Trials.to_cohort` numbers them (enrolment order)."""
    order = np.argsort(tr.enrol_day[r], kind="stable")
    ids = np.empty(order.size, dtype=object)
    ids[order] = [str(k + 1).zfill(3) for k in range(order.size)]
    return ids


def _mrd_classes(cohort, window_end=None):
    t = classify_trajectories(cohort, window_end=window_end).table()
    return dict(t.select("patient_id", "mrd_class").iter_rows())


@pytest.mark.parametrize(
    ("engine", "params", "seed"),
    [
        ("reference", "founding", 1),
        ("reference", "founding", 2),
        ("reference", "six-monthly", 3),
        ("fast", "founding", 4),
        ("fast", "six-monthly", 5),
        ("fast", "founding-large", 6),
    ],
)
def test_simulator_classes_equal_classify_trajectories(engine, params, seed):
    """Per patient: `_classify.classify` (numpy front end), the fused analysis kernel and
    `mrd.classify_trajectories` on the validated Cohort of the same simulated study give the same
    class label, over the whole follow-up and up to the 2-year landmark."""
    p = load_params()
    if params == "six-monthly":
        p = p.replace(assessment__interval_days=182.0, assessment__n_followup_visits=10)
    if params == "founding-large":
        p = p.replace(trial__n_patients=600)
    tr = simulate_trials(p, 1, seed, engine=engine)
    cohort = tr.to_cohort(0)
    ids = _patient_ids(tr)
    fused = analyse_landmark(tr, landmark_day=float(LANDMARK))
    seen = set()
    for until, key, window_end in (
        (np.inf, "classes", None),
        (LANDMARK, "landmark_classes", LANDMARK),
    ):
        sim = C.classify(tr.visit_day, tr.visit_result, tr.visit_sensitivity, until=until)[0]
        np.testing.assert_array_equal(sim, fused[key][0])
        want = _mrd_classes(cohort, window_end)
        got = {pid: C.CLASSES[c] for pid, c in zip(ids, sim, strict=True)}
        assert got == want
        seen |= set(got.values())
    assert len(seen) >= 4  # the comparison covers the classes, not one label


def test_the_comparison_with_mrd_can_fail():
    """A one-visit change in the simulated arrays (not in the Cohort) changes the classes."""
    tr = simulate_trials(load_params(), 1, 1)
    cohort = tr.to_cohort(0)
    ids = _patient_ids(tr)
    res = tr.visit_result.copy()
    i = int(np.argmax((res[0] == N).sum(-1) >= 2))  # a patient with two negatives
    res[0, i, res[0, i] == N] = P
    sim = C.classify(tr.visit_day, res, tr.visit_sensitivity)[0]
    got = {pid: C.CLASSES[c] for pid, c in zip(ids, sim, strict=True)}
    assert got != _mrd_classes(cohort)
