"""IMWG trajectory classes of simulated visit arrays, by the classifier of `mrdtrack.mrd`.

The simulator calls the MRD status of its visit arrays ``(R, n, V)`` here and classifies them
with `mrdtrack.mrd.trajectory_codes` — the kernel `mrdtrack.mrd.classify_trajectories` uses —
so the simulator's classes, codes and labels are those of `mrdtrack.mrd` (tested: equal
per-patient classes on simulated studies). Status calling at ``threshold`` (default 1e-5), as
`mrdtrack.mrd.call_status` for the myeloma preset: *positive* when clonal cells were detected;
*negative* only when the sample reached at least that sensitivity (a negative read at 1e-4 is
not evaluable at 1e-5); inadequate samples are not evaluable. Sustained negativity needs
negatives ``365 - tolerance_days`` days apart.

The class codes (`CLASSES`, `SUSTAINED_NEGATIVE` …) are `mrdtrack.mrd.trajectory_codes`'s.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mrdtrack.mrd.trajectory_codes import (
    CLASSES,
    CONVERSION,
    LOSS_OF_NEGATIVITY,
    NOT_CLASSIFIABLE,
    PERSISTENT_POSITIVE,
    SUSTAINED_NEGATIVE,
    trajectory_codes,
)
from mrdtrack.mrd.trajectory_codes import NEGATIVE as NEGATIVE_CALL
from mrdtrack.mrd.trajectory_codes import NOT_EVALUABLE as NOT_EVALUABLE_CALL
from mrdtrack.mrd.trajectory_codes import POSITIVE as POSITIVE_CALL
from mrdtrack.simulate.trials import NEGATIVE, POSITIVE

__all__ = [
    "CLASSES",
    "CONVERSION",
    "LOSS_OF_NEGATIVITY",
    "NOT_CLASSIFIABLE",
    "PERSISTENT_POSITIVE",
    "SUSTAINED_NEGATIVE",
    "ambiguous_patterns",
    "call_status",
    "classify",
    "status_code",
    "visit_status",
]


@njit(cache=True)
def status_code(result, sensitivity, threshold):
    """Status code (`mrdtrack.mrd.trajectory_codes`) of one simulated sample at ``threshold``:
    positive if detected; negative if read negative at a sensitivity reaching the threshold;
    otherwise (not evaluable, no sample, sensitivity too coarse) not evaluable."""
    if result == POSITIVE:
        return POSITIVE_CALL
    if result == NEGATIVE and sensitivity <= threshold * (1 + 1e-9):
        return NEGATIVE_CALL
    return NOT_EVALUABLE_CALL


@njit(cache=True)
def _status_codes(result, sensitivity, threshold, out):
    for k in range(result.size):
        out[k] = status_code(result[k], sensitivity[k], threshold)


def visit_status(result: np.ndarray, sensitivity: np.ndarray, threshold: float = 1e-5):
    """Status codes of visit arrays (`status_code` element by element), int8."""
    result, sensitivity = np.broadcast_arrays(np.asarray(result), np.asarray(sensitivity))
    out = np.empty(result.size, dtype=np.int8)
    _status_codes(
        np.ascontiguousarray(result, dtype=np.int8).reshape(-1),
        np.ascontiguousarray(sensitivity, dtype=np.float64).reshape(-1),
        float(threshold),
        out,
    )
    return out.reshape(result.shape)


def call_status(result: np.ndarray, sensitivity: np.ndarray, threshold: float = 1e-5):
    """Evaluable negative and positive masks of each assessment at ``threshold``."""
    status = visit_status(result, sensitivity, threshold)
    return status == NEGATIVE_CALL, status == POSITIVE_CALL


def classify(
    day: np.ndarray,
    result: np.ndarray,
    sensitivity: np.ndarray,
    *,
    until: float | np.ndarray = np.inf,
    threshold: float = 1e-5,
    tolerance_days: float = 0.0,
) -> np.ndarray:
    """Trajectory class codes ``(…, n)`` (indexing `CLASSES`) from visits ``(…, n, V)`` sorted
    by day; only assessments on or before ``until`` (a landmark day) are used."""
    return trajectory_codes(
        day,
        visit_status(result, sensitivity, threshold),
        until=until,
        required_gap=365.0 - tolerance_days,
    )


def ambiguous_patterns(day, result, sensitivity, threshold: float = 1e-5) -> np.ndarray:
    """Patients whose class depends on a rule's precedence: more than one change of state."""
    neg, pos = call_status(result, sensitivity, threshold)
    state = np.where(neg, 1, np.where(pos, 2, 0))
    changes = np.zeros(state.shape[:-1], dtype=np.int64)
    last = np.zeros(state.shape[:-1], dtype=np.int64)
    for v in range(state.shape[-1]):
        s = state[..., v]
        changes += (s > 0) & (last > 0) & (s != last)
        last = np.where(s > 0, s, last)
    return changes > 1
