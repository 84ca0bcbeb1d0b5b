"""The simulator's vectorised IMWG classifier: hand-built edge cases and agreement with mrd."""

import numpy as np
import pytest

from mrdtrack.simulate import _classify as C
from mrdtrack.simulate.model import NEGATIVE as N
from mrdtrack.simulate.model import NO_SAMPLE as X
from mrdtrack.simulate.model import NOT_EVALUABLE as E
from mrdtrack.simulate.model import POSITIVE as P


def cls(days, results, sens=None, **kw):
    d = np.array([days])
    r = np.array([results], dtype=np.int8)
    s = np.full(d.shape, 1e-5) if sens is None else np.array([sens])
    return int(C.classify(d, r, s, **kw)[0])


@pytest.mark.parametrize(
    ("days", "results", "expected"),
    [
        ([10, 375], [N, N], C.SUSTAINED),  # exactly 365 apart
        ([10, 374], [N, N], C.NOT_CLASSIFIABLE),  # one day short
        ([10, 375, 740], [N, E, N], C.SUSTAINED),  # not-evaluable in between
        ([10, 375, 740], [N, P, N], C.LOST),  # neg, pos, neg: loss first
        ([10, 375, 740], [P, N, P], C.LOST),
        ([10, 375, 740], [P, N, N], C.SUSTAINED),  # converted then sustained (IMWG)
        ([10, 375], [P, N], C.CONVERTED),
        ([10, 375], [P, P], C.PERSISTENT),
        ([10, 375], [P, X], C.NOT_CLASSIFIABLE),  # a single assessment
        ([10, 375], [N, P], C.LOST),
    ],
)
def test_rules(days, results, expected):
    assert cls(days, results) == expected


def test_tolerance_and_landmark_window():
    assert cls([10, 370], [N, N], tolerance_days=10) == C.SUSTAINED
    assert cls([10, 375, 740], [N, N, P], until=730) == C.SUSTAINED
    assert cls([10, 375, 740], [N, N, P]) == C.LOST


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
