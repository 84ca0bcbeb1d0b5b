"""The founding study's summary figures, computed on many simulated trials at once.

The batched survival helpers (`km_at`, `km_median`, `pfs_arrays`, `landmark_groups`) serve the
calibration (`mrdtrack.simulate.figures`, which computes any targets file's figures) and the
design studies; `trial_summaries` is the founding study's fixed set (keys ``section.key`` of
the version-1 targets layout), used to compare the two engines. Conventions (as the founding
study and R ``survival``):

- PFS population: patients evaluable for PFS (at least ``min_cycles`` cycles); event =
  progression or death, censored at last contact; Kaplan-Meier (product-limit) estimate.
- Median follow-up: reverse Kaplan-Meier (Schemper & Smith 1996; R ``prodlim`` "reverse"),
  months = days / 30.4375.
- 2-year landmark (``landmark_day`` = day 730: 24 months rounded down, as `mrdtrack.mrd`):
  patients evaluable, alive, progression-free and under follow-up beyond the landmark; MRD
  class from assessments on or before it; PFS time reset to the landmark; log-rank test
  (chi-square, 1 df) and Cox HR (Efron ties) of loss of negativity against persistent
  positivity and against sustained negativity. "HR infinite" is the event "no PFS event in
  the reference group and at least one among patients who lost negativity".
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from mrdtrack.simulate import _classify as C
from mrdtrack.simulate._kernels import analyse_landmark
from mrdtrack.simulate.model import Trials

DAYS_PER_MONTH = 30.4375


def km_at(time: np.ndarray, event: np.ndarray, include: np.ndarray, tau: float) -> np.ndarray:
    """Kaplan-Meier survival at ``tau`` for each row of ``(R, n)`` arrays (events before
    censorings at tied times, as R ``survfit``)."""
    key = np.where(include, time * 2.0 + (1 - event), -1.0)
    order = np.argsort(key, axis=1, kind="stable")
    k = np.take_along_axis(key, order, 1)
    e = np.take_along_axis(event * include, order, 1).astype(bool)
    t = np.take_along_axis(time, order, 1)
    n_excl = (~include).sum(1, keepdims=True)
    n_incl = include.sum(1, keepdims=True)
    pos = np.arange(time.shape[1])[None, :] - n_excl
    at_risk = n_incl - pos
    # tied events telescope: prod_{k<d} (1 - 1/(n-k)) = (n-d)/n
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(e & (k >= 0) & (t <= tau), np.log1p(-1.0 / at_risk), 0.0)
    return np.exp(f.sum(1))


def km_median(time: np.ndarray, event: np.ndarray, include: np.ndarray) -> np.ndarray:
    """Kaplan-Meier median (first time S(t) <= 0.5; nan if not reached) for each row."""
    key = np.where(include, time * 2.0 + (1 - event), -1.0)
    order = np.argsort(key, axis=1, kind="stable")
    e = np.take_along_axis(event * include, order, 1).astype(bool)
    t = np.take_along_axis(time, order, 1)
    n_excl = (~include).sum(1, keepdims=True)
    at_risk = include.sum(1, keepdims=True) - (np.arange(time.shape[1])[None, :] - n_excl)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(e, np.log1p(-1.0 / at_risk), 0.0)
    s = np.exp(np.cumsum(f, 1))
    hit = (s <= 0.5 + 1e-12) & e
    first = np.argmax(hit, axis=1)
    return np.where(hit.any(1), t[np.arange(t.shape[0]), first], np.nan)


def pfs_arrays(tr: Trials):
    """PFS time (days) and event indicator per patient, ``(R, n)``."""
    prog = np.where(tr.progression_day >= 0, tr.progression_day, np.inf)
    death = np.where(tr.death_day >= 0, tr.death_day, np.inf)
    first = np.minimum(prog, death)
    event = np.isfinite(first)
    time = np.where(event, first, np.minimum(tr.last_contact_day, tr.cutoff_day)).astype(float)
    return time, event.astype(np.int64)


def landmark_groups(tr: Trials, time, evaluable, landmark_day: float, threshold: float = 1e-5):
    """Landmark PFS time and group codes (1 lost, 0 reference, -1 not in the comparison) for
    lost vs persistent positivity and lost vs sustained negativity."""
    at_risk = evaluable & (time > landmark_day)
    lcls = C.classify(
        tr.visit_day, tr.visit_result, tr.visit_sensitivity, until=landmark_day, threshold=threshold
    )
    lost = at_risk & (lcls == C.LOSS_OF_NEGATIVITY)
    g_per = np.where(lost, 1, np.where(at_risk & (lcls == C.PERSISTENT_POSITIVE), 0, -1))
    g_sus = np.where(lost, 1, np.where(at_risk & (lcls == C.SUSTAINED_NEGATIVE), 0, -1))
    return time - landmark_day, g_per, g_sus


def trial_summaries(
    tr: Trials,
    *,
    landmark_day: float = 730.0,
    min_cycles: int = 4,
    threshold: float = 1e-5,
) -> dict[str, np.ndarray]:
    """Every summary figure of the targets schema for each replicate: ``name -> (R,) array``."""
    p = tr.params
    r_n = tr.n_replicates
    n = tr.params.trial.n_patients
    evaluable = tr.cycles_completed >= min_cycles
    # classes, PFS and both landmark comparisons in one compiled pass (equal to `pfs_arrays`,
    # `C.classify` and `landmark_groups` + `landmark_tests`: tested)
    fused = analyse_landmark(
        tr, landmark_day=landmark_day, min_cycles=min_cycles, threshold=threshold
    )
    time, event = fused["time"], fused["event"]
    neg, pos = C.call_status(tr.visit_result, tr.visit_sensitivity, threshold)
    b_neg, b_pos = neg[..., 0], pos[..., 0]
    cls = fused["classes"]
    out: dict[str, np.ndarray] = {
        "cohort.enrolled": np.full(r_n, float(n)),
        "cohort.evaluable_pfs": evaluable.sum(1).astype(float),
        "cohort.baseline_mrd_assessed": (b_neg | b_pos).sum(1).astype(float),
        "cohort.on_maintenance_at_cutoff": (tr.treatment_end_day < 0).sum(1).astype(float),
        "mrd_baseline.negative": b_neg.sum(1).astype(float),
        "mrd_baseline.positive": b_pos.sum(1).astype(float),
        "mrd_classes_whole_followup.sustained_negative": (cls == C.SUSTAINED_NEGATIVE).sum(1) * 1.0,
        "mrd_classes_whole_followup.conversion": (cls == C.CONVERSION).sum(1) * 1.0,
        "mrd_classes_whole_followup.loss_of_negativity": (cls == C.LOSS_OF_NEGATIVITY).sum(1) * 1.0,
    }
    bday = np.where(tr.visit_result[..., 0] > 0, tr.visit_day[..., 0].astype(float), np.nan)
    out["cohort.baseline_mrd_median_days_from_start"] = np.nanmedian(bday, axis=1)
    out["pfs.five_year"] = km_at(time, event, evaluable, 5 * 365.25)
    out["interim_conference_abstract.pfs_36_months"] = km_at(
        time, event, evaluable, 36 * DAYS_PER_MONTH
    )
    med_pfs = km_median(time, event, evaluable)
    out["pfs.median_reached"] = np.isfinite(med_pfs).astype(float)
    fu = km_median(time, 1 - event, evaluable)
    out["followup.median_months"] = fu / DAYS_PER_MONTH

    # 2-year landmark
    per, sus = fused["lost_vs_persistent"], fused["lost_vs_sustained"]
    out["landmark_2y.lost_vs_persistent_hr"] = per[:, 7]
    out["landmark_2y.lost_vs_persistent_p"] = chi2.sf(per[:, 4], 1)
    out["landmark_2y.lost_vs_sustained_hr"] = sus[:, 7]
    out["landmark_2y.lost_vs_sustained_hr_infinite"] = ((sus[:, 2] == 0) & (sus[:, 3] > 0)) * 1.0
    out["landmark_2y.lost_vs_sustained_p_max"] = chi2.sf(sus[:, 4], 1)
    out["landmark_2y.n_lost"] = per[:, 1]
    out["landmark_2y.n_persistent"] = per[:, 0]
    out["landmark_2y.n_sustained"] = sus[:, 0]
    out["landmark_2y.events_sustained"] = sus[:, 2]

    # loss of negativity: how often, and how long before progression it was detected
    n_base_neg = np.maximum(b_neg.sum(1), 1)
    lost = cls == C.LOSS_OF_NEGATIVITY
    out["mrd_classes_whole_followup.loss_of_negativity_fraction_of_baseline_negative"] = (
        lost & b_neg
    ).sum(1) / n_base_neg
    nb = np.logical_or.accumulate(neg, axis=-1)
    nb = np.concatenate([np.zeros_like(neg[..., :1]), nb[..., :-1]], -1)
    resurg = pos & nb
    det_day = np.take_along_axis(tr.visit_day, np.argmax(resurg, -1)[..., None], -1)[..., 0]
    detected = resurg.any(-1)
    prog = tr.progression_day >= 0
    preceded = detected & prog & (det_day < tr.progression_day)
    lead = np.where(preceded, (tr.progression_day - det_day) / 365.25, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["loss_of_negativity.median_years_to_progression"] = np.array(
            [np.median(r[~np.isnan(r)]) if (~np.isnan(r)).any() else np.nan for r in lead]
        )
        out["loss_of_negativity.fraction_without_progression"] = (detected & ~prog).sum(
            1
        ) / np.where(detected.sum(1) > 0, detected.sum(1), np.nan)
        t_loss = np.where(detected & b_neg, det_day / 365.25, np.nan)
        has = (~np.isnan(t_loss)).any(1)
        med = np.full(r_n, np.nan)
        if has.any():
            med[has] = np.nanmedian(t_loss[has], axis=1)
        out["loss_of_negativity.median_years_to_loss"] = med

    # safety (all enrolled patients)
    names = [t.term for t in p.safety.terms]
    g3 = tr.ae_grade >= 3
    for key, term in (
        ("safety.grade3plus_lymphocyte_count_decreased", "Lymphocyte count decreased"),
        ("safety.grade3plus_neutrophil_count_decreased", "Neutrophil count decreased"),
    ):
        out[key] = g3[..., names.index(term)].mean(1) if term in names else np.full(r_n, np.nan)
    dead = tr.death_day >= 0
    out["safety.serious_ae_fraction"] = (tr.sae | dead).mean(1)
    out["safety.on_study_deaths"] = dead.sum(1).astype(float)
    out["safety.deaths_related"] = np.zeros(r_n)

    # baseline characteristics (interim abstract: first 100 evaluable; here all enrolled)
    out["interim_conference_abstract.male_fraction"] = tr.male.mean(1)
    out["interim_conference_abstract.age_median"] = np.median(tr.age, axis=1)
    out["interim_conference_abstract.age_min"] = tr.age.min(1)
    out["interim_conference_abstract.age_max"] = tr.age.max(1)
    out["interim_conference_abstract.prior_autologous_transplant"] = (
        tr.prior_transplant & evaluable
    ).sum(1) * 1.0
    out["interim_conference_abstract.high_risk_cytogenetics"] = (tr.high_risk & evaluable).sum(
        1
    ) * 1.0
    return out
