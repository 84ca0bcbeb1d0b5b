"""The one trajectory classifier kernel: vocabulary, rules by hand, array and run forms."""

from __future__ import annotations

import numpy as np
import pytest

from mrdtrack.mrd import CLASSES as MRD_CLASSES
from mrdtrack.mrd.presets import get_preset
from mrdtrack.mrd.trajectory_codes import (
    CLASSES,
    CONVERSION,
    LOSS_OF_NEGATIVITY,
    NOT_CLASSIFIABLE,
    PERSISTENT_POSITIVE,
    SUSTAINED_NEGATIVE,
    prefix_codes_of_runs,
    trajectory_code,
    trajectory_codes,
    trajectory_codes_of_runs,
)

N, P, E = 1, 2, 0


def test_codes_index_the_myeloma_preset_vocabulary():
    assert CLASSES == MRD_CLASSES == get_preset("myeloma").classes
    names = {
        SUSTAINED_NEGATIVE: "sustained_negative",
        CONVERSION: "conversion",
        LOSS_OF_NEGATIVITY: "loss_of_negativity",
        PERSISTENT_POSITIVE: "persistent_positive",
        NOT_CLASSIFIABLE: "not_classifiable",
    }
    assert all(CLASSES[k] == v for k, v in names.items())


def _one(days, status, until=np.inf, gap=365.0, to_conv=False):
    d = np.array(days, dtype=float)
    s = np.array(status, dtype=np.int8)
    return CLASSES[trajectory_code(d, s, until, gap, to_conv)]


@pytest.mark.parametrize(
    ("days", "status", "expected"),
    [
        ([0, 365], [N, N], "sustained_negative"),
        ([0, 364], [N, N], "not_classifiable"),
        ([0, 365, 730], [N, E, N], "sustained_negative"),
        ([0, 365, 730], [N, P, N], "loss_of_negativity"),
        ([0, 365, 730], [P, N, P], "loss_of_negativity"),
        ([0, 365, 730], [P, N, N], "sustained_negative"),
        ([0, 365], [P, N], "conversion"),
        ([0, 365], [P, P], "persistent_positive"),
        ([0, 365], [P, E], "not_classifiable"),
        ([0], [N], "not_classifiable"),
        ([], [], "not_classifiable"),
    ],
)
def test_rules(days, status, expected):
    assert _one(days, status) == expected


def test_options_window_and_gap():
    assert _one([0, 365, 730], [P, N, N], to_conv=True) == "conversion"
    assert _one([0, 365, 740], [N, N, P], until=730) == "sustained_negative"
    assert _one([0, 350], [N, N], gap=335.0) == "sustained_negative"
    # a zero gap still needs a later negative
    assert _one([0, 0], [N, N], gap=0.0) == "not_classifiable"


def test_array_run_and_prefix_forms_agree():
    rng = np.random.default_rng(3)
    day = np.sort(rng.integers(0, 2000, size=(300, 7)), axis=1).astype(float)
    status = rng.choice([E, N, P], size=day.shape).astype(np.int8)
    rows = trajectory_codes(day, status)
    starts = np.arange(0, day.size + 1, day.shape[1])
    np.testing.assert_array_equal(
        rows, trajectory_codes_of_runs(day.ravel(), status.ravel(), starts)
    )
    for k in range(0, 300, 37):
        want = [
            trajectory_code(day[k, : j + 1], status[k, : j + 1], np.inf, 365.0, False)
            for j in range(7)
        ]
        got = prefix_codes_of_runs(day[k], status[k], np.array([0, 7]))
        np.testing.assert_array_equal(got, want)
    until = np.full(300, 800.0)
    np.testing.assert_array_equal(
        trajectory_codes(day, status, until=until), trajectory_codes(day, status, until=800.0)
    )
    assert len(set(rows.tolist())) == 5


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        trajectory_codes(np.zeros((2, 3)), np.zeros((2, 4), dtype=np.int8))
