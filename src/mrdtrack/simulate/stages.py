"""The stages of the generative model and what each one returns.

Both engines evaluate the model in the same named stages, in this order; a model change is made
once per stage, in `mrdtrack.simulate.model` (the numpy reference, arrays over replicates and
patients) and in `mrdtrack.simulate._kernels_model` (the numba fast engine, one patient at a
time). Given the same uniforms both give the same stage outputs (tested stage by stage). The
model pieces are those of ``docs/methods/simulate.md``, section 1:

1. ``accrual`` — enrolment day, data cutoff, follow-up horizon (table row "accrual, cutoff").
2. ``covariates`` — age, sex, prior ASCT, high-risk cytogenetics, ISS, induction ("covariates").
3. ``baseline_mrd`` — true MRD state at day 0 and the baseline response given it ("true MRD
   state at day 0"; the response of "covariates").
4. ``mrd_path`` — the jump times of the two-state MRD process ("MRD dynamics").
5. ``progression`` — the time of progression given the MRD path ("progression").
6. ``follow_up`` — death from other causes, loss to follow-up, early withdrawal and the cutoff:
   what is observed ("death, other causes", "loss to follow-up", the cutoff).
7. ``treatment`` — end of maintenance, its reason, cycles completed ("treatment").
8. ``assessments`` — MRD visit days, results, sensitivities, clonal fractions ("MRD
   assessments").
9. ``adverse_events`` — CTCAE terms with grade, onset and relatedness ("adverse events").
10. ``serious_event`` — the one serious event of a patient, if any ("adverse events").

Each stage returns one of the named tuples below: arrays ``(R, n)`` in the reference engine,
scalars of one patient in the fast engine (where ``assessments`` and ``adverse_events`` write
their per-visit and per-term values into the output arrays instead). The fast engine's
``mrd_path``, ``progression``, ``follow_up``, ``treatment`` and ``assessments`` take an optional
last argument (a horizon, or a laziness level of `mrdtrack.simulate._kernels_model`) that lets
them leave out what no output can show; by default they compute everything, as the reference.
"""

from __future__ import annotations

from typing import Any, NamedTuple

STAGES = (
    "accrual",
    "covariates",
    "baseline_mrd",
    "mrd_path",
    "progression",
    "follow_up",
    "treatment",
    "assessments",
    "adverse_events",
    "serious_event",
)


class Accrual(NamedTuple):
    """Stage ``accrual``: study days of enrolment (calendar), of the cutoff, and the horizon."""

    enrol: Any
    cutoff: Any
    horizon: Any


class Covariates(NamedTuple):
    """Stage ``covariates`` (ISS and induction as category codes)."""

    age: Any
    male: Any
    prior_transplant: Any
    high_risk: Any
    iss: Any
    induction: Any


class BaselineMrd(NamedTuple):
    """Stage ``baseline_mrd``: true state at day 0 (True = negative) and the response code."""

    negative: Any
    response: Any


class FollowUp(NamedTuple):
    """Stage ``follow_up``: event days (ceiled, >= 1), what is observed, end of follow-up.

    ``early`` flags an early withdrawal (stops treatment on ``early_day``).
    """

    progression_day: Any
    progression_observed: Any
    death_day: Any
    death_observed: Any
    ltfu_day: Any
    last_contact_day: Any
    early: Any
    early_day: Any


class Treatment(NamedTuple):
    """Stage ``treatment``: end day (-1: on maintenance at the cutoff), reason code, cycles,
    and the days on treatment (the span of AE onsets)."""

    end_day: Any
    reason: Any
    cycles: Any
    duration: Any


class Assessments(NamedTuple):
    """Stage ``assessments``: per-visit arrays ``(R, n, V)`` (reference engine)."""

    day: Any
    result: Any
    sensitivity: Any
    clonal_fraction: Any


class AdverseEvents(NamedTuple):
    """Stage ``adverse_events``: per-term arrays ``(R, n, T)`` (reference engine)."""

    grade: Any
    onset: Any
    related: Any


class SeriousEvent(NamedTuple):
    """Stage ``serious_event``: whether it happened, its term code and onset day (0 if not)."""

    happened: Any
    term: Any
    onset: Any
