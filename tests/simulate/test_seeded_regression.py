"""Same seed, same simulated data: per-field hashes of seeded simulations against values stored
before the simulator was split into stages (computed on main at 92ba2c0 with the code below).

Both engines (with and without given uniforms), several parameter sets, explicit replicate
indices, the fused analysis and `virtual_trials` are covered. Class codes are hashed as their
labels, so a renumbering of the codes does not count as a change of the simulated data.
Regenerate only for an intended model change: ``python tests/simulate/test_seeded_regression.py``.
Regenerated once since: the landmark comparisons (``lost_vs_*``) after the simulator's own Cox
loop was replaced by the survival package's (R's stopping rule; monotone fits now give an
infinite HR instead of a huge finite one); every simulated-data field kept its hash.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from mrdtrack.mrd.trajectory_codes import CLASSES
from mrdtrack.simulate import _kernels
from mrdtrack.simulate.model import replicate_uniforms, simulate_trials, virtual_trials
from mrdtrack.simulate.params import load_params

warnings.filterwarnings("ignore", category=RuntimeWarning)
STORED = Path(__file__).parent / "data" / "seeded_trial_hashes.json"
# the label of each class code is hashed (the codes were renumbered to mrd's order)
CLASS_LABELS = CLASSES


def _hash(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    m = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    m.update(a.tobytes())
    return m.hexdigest()[:16]


def _trial_hashes(t) -> dict[str, str]:
    return {k: _hash(v) for k, v in sorted(t.__dict__.items()) if isinstance(v, np.ndarray)}


def _analysis_hashes(a: dict[str, np.ndarray]) -> dict[str, str]:
    out = {}
    for k, v in sorted(a.items()):
        if k in ("classes", "landmark_classes"):
            v = np.array(CLASS_LABELS)[v].astype("U24")
        out[k] = _hash(v)
    return out


def _cases():
    p = load_params()
    six = p.replace(assessment__interval_days=182.0, assessment__n_followup_visits=10)
    zero = p.replace(mrd_dynamics__pos_to_neg_early=0.0, mrd_dynamics__pos_to_neg_late=0.0)
    other = p.replace(
        followup__loss_per_year=0.0,
        progression__lost_late=3.0,
        assessment__window_before_days=21,
    )
    t = _trial_hashes
    return {
        "reference_founding_7_seed2026": lambda: t(simulate_trials(p, 7, 2026)),
        "reference_founding_reps_3_1000_seed11": lambda: t(
            simulate_trials(p, seed=11, replicates=np.array([3, 1000]))
        ),
        "reference_six_monthly_5_seed1": lambda: t(simulate_trials(six, 5, 1)),
        "reference_zero_rate_5_seed1": lambda: t(simulate_trials(zero, 5, 1)),
        "reference_other_5_seed4": lambda: t(simulate_trials(other, 5, 4)),
        "fast_founding_50_seed5": lambda: t(simulate_trials(p, 50, 5, engine="fast")),
        "fast_six_monthly_20_seed8": lambda: t(simulate_trials(six, 20, 8, engine="fast")),
        "fast_zero_rate_20_seed8": lambda: t(simulate_trials(zero, 20, 8, engine="fast")),
        "fast_other_20_seed9": lambda: t(simulate_trials(other, 20, 9, engine="fast")),
        "fast_given_uniforms_six_monthly_4_seed3": lambda: t(
            simulate_trials(
                six, 4, 3, engine="fast", uniforms=replicate_uniforms(six, 3, np.arange(4))
            )
        ),
        "analyse_landmark_fast_founding_40_seed6": lambda: _analysis_hashes(
            _kernels.analyse_landmark(simulate_trials(p, 40, 6, engine="fast"))
        ),
        "virtual_trials_founding_40_seed6": lambda: _analysis_hashes(virtual_trials(p, 40, 6)),
    }


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_seed_gives_the_same_simulated_data_as_before(case):
    want = json.loads(STORED.read_text(encoding="utf-8"))[case]
    got = CASES[case]()
    assert got == want


def test_the_stored_hashes_detect_a_change():
    """A one-day shift of one patient's enrolment changes the stored hash (the check can fail)."""
    t = simulate_trials(load_params(), 7, 2026)
    want = json.loads(STORED.read_text(encoding="utf-8"))["reference_founding_7_seed2026"]
    assert _trial_hashes(t) == want
    t.enrol_day[3, 5] += 1
    assert _trial_hashes(t)["enrol_day"] != want["enrol_day"]


if __name__ == "__main__":
    STORED.write_text(
        json.dumps({k: f() for k, f in sorted(CASES.items())}, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
