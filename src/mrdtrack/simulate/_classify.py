"""IMWG 2016 MRD trajectory classes on simulated visit arrays, vectorised over trials and patients.

This is the simulator's own fast classifier for arrays ``(R, n, V)``; it follows the rules of
`mrdtrack.mrd` (issue 12) and a test checks that both agree on the demo study when that module
is installed. Rules (Kumar et al., Lancet Oncol 2016;17:e328-e346):

- status calling at ``threshold`` (default 1e-5): *positive* when clonal cells were detected;
  *negative* only when the sample reached at least that sensitivity (a negative read at 1e-4 is
  not evaluable at 1e-5); inadequate samples are not evaluable;
- *loss of negativity* (negative_to_positive): a positive after a negative;
- *sustained negativity*: two negatives at least ``365 - tolerance_days`` days apart with no
  positive in between (and no loss afterwards);
- *conversion* (positive_to_negative): a negative after a positive, not (yet) sustained;
- *persistent positivity*: at least two positives and no evaluable negative;
- *not classifiable*: otherwise (fewer than two evaluable assessments, or negatives not yet
  confirmed a year apart).

Precedence, as listed: loss > sustained > conversion > persistent > not classifiable.
"""

from __future__ import annotations

import numpy as np

from mrdtrack.simulate.model import NEGATIVE, POSITIVE

NOT_CLASSIFIABLE, SUSTAINED, CONVERTED, LOST, PERSISTENT = 0, 1, 2, 3, 4
CLASS_LABELS = (
    "not_classifiable",
    "sustained_negative",
    "positive_to_negative",
    "negative_to_positive",
    "persistent_positive",
)


def call_status(result: np.ndarray, sensitivity: np.ndarray, threshold: float = 1e-5):
    """Evaluable negative and positive masks of each assessment at ``threshold``."""
    neg = (result == NEGATIVE) & (sensitivity <= threshold * (1 + 1e-9))
    pos = result == POSITIVE
    return neg, pos


def classify(
    day: np.ndarray,
    result: np.ndarray,
    sensitivity: np.ndarray,
    *,
    until: float | np.ndarray = np.inf,
    threshold: float = 1e-5,
    tolerance_days: float = 0.0,
) -> np.ndarray:
    """Trajectory class codes ``(…, n)`` from visits ``(…, n, V)`` sorted by day.

    Only assessments on or before ``until`` (a landmark day) are used.
    """
    neg, pos = call_status(result, sensitivity, threshold)
    use = day <= np.asarray(until)[..., None] if np.ndim(until) else day <= until
    neg, pos = neg & use, pos & use
    shape = neg.shape[:-1]
    seen_neg = np.zeros(shape, dtype=bool)
    seen_pos = np.zeros(shape, dtype=bool)
    lost = np.zeros(shape, dtype=bool)
    converted = np.zeros(shape, dtype=bool)
    sustained = np.zeros(shape, dtype=bool)
    run_start = np.full(shape, np.nan)  # day of the first negative since the last positive
    need = 365.0 - tolerance_days
    # one pass over the visits (a handful), vectorised over trials and patients
    for v in range(neg.shape[-1]):
        n_v, p_v, d_v = neg[..., v], pos[..., v], day[..., v]
        lost |= p_v & seen_neg
        converted |= n_v & seen_pos
        run_start = np.where(n_v & np.isnan(run_start), d_v, run_start)
        sustained |= n_v & (d_v - run_start >= need)
        run_start = np.where(p_v, np.nan, run_start)
        seen_neg |= n_v
        seen_pos |= p_v
    persistent = (pos.sum(-1) >= 2) & ~seen_neg
    return np.select(
        [lost, sustained, converted, persistent],
        [LOST, SUSTAINED, CONVERTED, PERSISTENT],
        NOT_CLASSIFIABLE,
    ).astype(np.int8)


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
