"""The IMWG trajectory classifier on visit arrays: one kernel, class and status codes.

This is the one implementation of the class rules of `mrdtrack.mrd.classify_trajectories`
(IMWG 2016 myeloma vocabulary, and CLL's iwCLL names for the same rules):
`classify_trajectories` calls it on each patient's visit calls, and the simulator
(`mrdtrack.simulate`) on arrays of simulated trials, inside its compiled analysis too.

Rules (statement and sources in `classify_trajectories` and ``docs/methods/mrd.md``), on the
evaluable calls in day order, only those on or before ``until``:

1. ``loss_of_negativity``: a positive after a negative;
2. ``not_classifiable``: fewer than two evaluable calls;
3. ``sustained_negative``: only negatives, and one at least ``required_gap`` days after the
   first (and later than it);
4. ``not_classifiable``: only negatives, not so confirmed;
5. ``persistent_positive``: only positives;
6. ``sustained_negative``: positives then negatives, confirmed as in 3 (IMWG), unless
   ``sustained_to_conversion``;
7. ``conversion``: positives then negatives otherwise.

Status codes: `NOT_EVALUABLE` (or no sample), `NEGATIVE`, `POSITIVE` (`STATUS_CODES` maps the
names of `mrdtrack.mrd.call_status` to them). Class codes index `CLASSES`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CLASSES = (
    "sustained_negative",
    "conversion",
    "loss_of_negativity",
    "persistent_positive",
    "not_classifiable",
)
SUSTAINED_NEGATIVE, CONVERSION, LOSS_OF_NEGATIVITY, PERSISTENT_POSITIVE, NOT_CLASSIFIABLE = range(5)
NOT_EVALUABLE, NEGATIVE, POSITIVE = 0, 1, 2
STATUS_CODES = {"not_evaluable": NOT_EVALUABLE, "negative": NEGATIVE, "positive": POSITIVE}


@njit(cache=True)
def trajectory_code(day, status, until, required_gap, sustained_to_conversion):
    """Class code of one patient from visit ``day`` and ``status`` codes sorted by day.

    Visits after ``until`` (a study day; ``inf`` for the whole follow-up) are ignored, as are
    not-evaluable ones. ``required_gap``: days between the first negative and a confirming one
    (``confirm_days - tolerance_days``). ``sustained_to_conversion``: a patient positive, then
    confirmed negative, is ``conversion`` (else ``sustained_negative``, IMWG).
    """
    n_neg = 0
    n_pos = 0
    first_neg = 0.0
    loss = False
    sustained = False
    for v in range(day.size):
        d = day[v]
        if d > until:
            continue
        s = status[v]
        if s == POSITIVE:
            n_pos += 1
            if n_neg > 0:
                loss = True
        elif s == NEGATIVE:
            if n_neg == 0:
                first_neg = d
            elif not loss and d > first_neg and d - first_neg >= required_gap:
                sustained = True
            n_neg += 1
    if loss:
        return LOSS_OF_NEGATIVITY
    if n_neg + n_pos < 2:
        return NOT_CLASSIFIABLE
    if n_pos == 0:
        return SUSTAINED_NEGATIVE if sustained else NOT_CLASSIFIABLE
    if n_neg == 0:
        return PERSISTENT_POSITIVE
    if sustained and not sustained_to_conversion:
        return SUSTAINED_NEGATIVE
    return CONVERSION


@njit(cache=True)
def _codes_of_rows(day, status, until, required_gap, sustained_to_conversion, out):
    for k in range(day.shape[0]):
        out[k] = trajectory_code(day[k], status[k], until[k], required_gap, sustained_to_conversion)


@njit(cache=True)
def _codes_of_runs(day, status, starts, required_gap, sustained_to_conversion, out):
    for k in range(starts.size - 1):
        a, b = starts[k], starts[k + 1]
        out[k] = trajectory_code(
            day[a:b], status[a:b], np.inf, required_gap, sustained_to_conversion
        )


@njit(cache=True)
def _prefix_codes_of_runs(day, status, starts, required_gap, sustained_to_conversion, out):
    for k in range(starts.size - 1):
        a, b = starts[k], starts[k + 1]
        for j in range(a, b):
            out[j] = trajectory_code(
                day[a : j + 1], status[a : j + 1], np.inf, required_gap, sustained_to_conversion
            )


def trajectory_codes(
    day: np.ndarray,
    status: np.ndarray,
    *,
    until: float | np.ndarray = np.inf,
    required_gap: float = 365.0,
    sustained_to_conversion: bool = False,
) -> np.ndarray:
    """Class codes ``(...)`` of visit arrays ``(..., V)`` sorted by day along the last axis.

    ``until``: last day used, a number or an array of the leading shape (e.g. a landmark).
    Returns int8 codes indexing `CLASSES`.
    """
    day = np.asarray(day, dtype=np.float64)
    status = np.asarray(status, dtype=np.int8)
    if day.shape != status.shape:
        raise ValueError(f"day and status shapes differ: {day.shape} vs {status.shape}")
    lead = day.shape[:-1]
    v = day.shape[-1] if day.ndim else 0
    until_a = np.broadcast_to(np.asarray(until, dtype=np.float64), lead).reshape(-1)
    out = np.empty(int(np.prod(lead)), dtype=np.int8)
    _codes_of_rows(
        np.ascontiguousarray(day.reshape(-1, v)),
        np.ascontiguousarray(status.reshape(-1, v)),
        np.ascontiguousarray(until_a),
        float(required_gap),
        bool(sustained_to_conversion),
        out,
    )
    return out.reshape(lead)


def _runs(kernel, n_out, day, status, starts, required_gap, sustained_to_conversion):
    """Call a run kernel on contiguous typed copies; ``n_out`` codes (per run or per visit)."""
    out = np.empty(n_out, dtype=np.int8)
    kernel(
        np.ascontiguousarray(day, dtype=np.float64),
        np.ascontiguousarray(status, dtype=np.int8),
        np.ascontiguousarray(starts, dtype=np.int64),
        float(required_gap),
        bool(sustained_to_conversion),
        out,
    )
    return out


def trajectory_codes_of_runs(
    day: np.ndarray,
    status: np.ndarray,
    starts: np.ndarray,
    *,
    required_gap: float = 365.0,
    sustained_to_conversion: bool = False,
) -> np.ndarray:
    """Class codes of patients stored one after another: patient ``k``'s visits are
    ``day[starts[k]:starts[k + 1]]`` (sorted by day); ``starts`` has one more entry than
    patients. Returns int8 codes indexing `CLASSES`."""
    n_out = max(len(starts) - 1, 0)
    return _runs(_codes_of_runs, n_out, day, status, starts, required_gap, sustained_to_conversion)


def prefix_codes_of_runs(
    day: np.ndarray,
    status: np.ndarray,
    starts: np.ndarray,
    *,
    required_gap: float = 365.0,
    sustained_to_conversion: bool = False,
) -> np.ndarray:
    """For runs stored as in `trajectory_codes_of_runs`: the class code of each visit's prefix
    (that visit and the earlier ones of its patient), one per visit."""
    return _runs(
        _prefix_codes_of_runs, len(day), day, status, starts, required_gap, sustained_to_conversion
    )
