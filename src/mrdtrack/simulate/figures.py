"""A targets file's figures computed on many simulated trials: the calibration's summary vector.

`simulate_study` simulates replicate trials of the design a targets file states (its trial size,
its arms — each arm simulated with its own parameter overrides and the arms concatenated — and
its assessments), and `figure_statistics` turns every ``fit``/``check`` figure into one or more
numeric *components* per replicate; `observed_components` gives the published value of each
component on the same scale. Conventions (as `mrdtrack.simulate.summaries` and R ``survival``):

- MRD status at an assessment is re-read at that assessment's LOD ``L`` from the simulated
  sample (which the simulated assay reads at its own, finer, sensitivity): positive when clonal
  cells were detected at a fraction ``>= L``; negative when the sample reached sensitivity
  ``<= L`` and showed no clonal fraction ``>= L``; otherwise not evaluable. An assessment coarser
  than the simulated assay therefore sees negatives (issue 19: with a 1e-4 assay no simulated
  sample was ever negative). Visits not listed as assessments are not used.
- IMWG classes: `mrdtrack.simulate._classify.classify` on the re-read statuses.
- PFS: progression or death, censored at last contact; Kaplan-Meier (R ``survfit``); median
  follow-up by reverse Kaplan-Meier; ``population = "evaluable"``: at least ``min_cycles``
  maintenance cycles.
- Hazard ratios: Cox (Efron ties) and log-rank per replicate
  (`mrdtrack.simulate._kernels.landmark_tests`), group 1 = the first named group. By MRD
  status at an assessment: patients with an evaluable result there and progression-free beyond
  its nominal day, PFS from that day. By class at a landmark: classes from assessments on or
  before it, patients progression-free beyond it, PFS from it. By arm: all patients, PFS from 0.

Components and their scale: counts, proportions, months as they are; a hazard ratio as
``log HR`` (clipped to +-`LOG_HR_CLIP`: a small trial's HR is often 0 or infinite), its
published CI as the SE of log HR (``(log upper - log lower) / (2 z_0.975)``), its p-value
(when no CI is given) as ``log10 p`` (clipped at -12); a published "infinite" HR as the number
of events in the reference group (0); a median "not reached" as the indicator "reached" (0);
a numeric median PFS not reached in a simulated trial counts as the trial's longest follow-up.
A published bound ``p_max`` ("P < 0.0001") is the indicator "simulated p below the bound"
(published: 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import chi2, norm

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate import _classify as C
from mrdtrack.simulate._kernels import landmark_tests
from mrdtrack.simulate.model import simulate_trials
from mrdtrack.simulate.params import SimulationParams
from mrdtrack.simulate.summaries import DAYS_PER_MONTH, km_at, km_median, pfs_arrays
from mrdtrack.simulate.targets import Figure, StudyTargets
from mrdtrack.simulate.trials import NEGATIVE, POSITIVE

LOG_HR_CLIP = 5.0
LOG10_P_CLIP = -12.0
_Z975 = float(norm.ppf(0.975))
_CLASS_CODE = {
    "sustained_negative": C.SUSTAINED_NEGATIVE,
    "conversion": C.CONVERSION,
    "loss_of_negativity": C.LOSS_OF_NEGATIVITY,
    "persistent_positive": C.PERSISTENT_POSITIVE,
}


@dataclass(frozen=True)
class Study:
    """Simulated replicate trials of a targets file's design, arms concatenated (``(R, n)``)."""

    arm: np.ndarray  # (n,) arm index
    pfs_time: np.ndarray
    pfs_event: np.ndarray
    evaluable: np.ndarray
    dead: np.ndarray
    on_treatment: np.ndarray
    sae: np.ndarray
    progression_day: np.ndarray
    visit_day: np.ndarray  # (R, n, A): the targets' assessments, in their order
    negative: np.ndarray  # (R, n, A) re-read at each assessment's LOD
    positive: np.ndarray
    nominal_day: np.ndarray  # (A,)
    cache: dict = field(default_factory=dict, compare=False, repr=False)  # classes by landmark

    @property
    def n_replicates(self) -> int:
        return self.pfs_time.shape[0]


def arm_params(
    params: SimulationParams, targets: StudyTargets
) -> list[tuple[str, SimulationParams]]:
    """``(arm name, parameters)`` per arm: the trial size split by the arm fractions (the last
    arm takes the remainder) and each arm's overrides applied; one arm ``"all"`` if none."""
    if not targets.arms:
        return [("all", params.replace(trial__n_patients=targets.enrolled))]
    out, left = [], targets.enrolled
    for i, a in enumerate(targets.arms):
        n = left if i == len(targets.arms) - 1 else round(targets.enrolled * a.fraction)
        left -= n
        out.append((a.name, params.replace(trial__n_patients=n, **a.overrides)))
    return out


def check_design(params: SimulationParams, targets: StudyTargets) -> None:
    """The parameter file can simulate the targets' assessments (visit exists, nominal day on the
    simulated schedule within the visit window, LOD no finer than the simulated assay)."""
    asm = params.assessment
    problems = []
    for a in targets.assessments:
        if a.visit > asm.n_followup_visits:
            problems.append(
                f"assessment {a.name!r}: visit {a.visit} but the parameters simulate "
                f"{asm.n_followup_visits} follow-up visits"
            )
        slack = max(asm.window_days, asm.window_before_days, 31)
        if abs(a.visit * asm.interval_days - a.day) > slack:
            problems.append(
                f"assessment {a.name!r}: day {a.day:g} is not visit {a.visit} of the simulated "
                f"schedule (every {asm.interval_days:g} days)"
            )
        if a.lod < asm.lod * (1 - 1e-9):
            problems.append(
                f"assessment {a.name!r}: LOD {a.lod:g} is finer than the simulated assay's "
                f"{asm.lod:g} ([assessment] lod of the parameter file)"
            )
    if problems:
        raise MrdtrackError("; ".join(problems))


def simulate_study(
    params: SimulationParams,
    targets: StudyTargets,
    n_replicates: int,
    seed: int,
    *,
    engine: str = "fast",
    arms: list[tuple[str, SimulationParams]] | None = None,
) -> Study:
    """Simulate ``n_replicates`` trials of the targets' design (arm ``k`` from seed
    ``seed + 7919 k``; each arm's replicate ``i`` is independent of batching)."""
    arms = arm_params(params, targets) if arms is None else arms
    parts = []
    for k, (_, p) in enumerate(arms):
        tr = simulate_trials(p, n_replicates, seed + 7919 * k, engine=engine)
        parts.append((k, tr))
    asm = targets.assessments
    visits = np.array([a.visit for a in asm], dtype=np.int64)
    lods = np.array([a.lod for a in asm])

    def cat(fn):
        return np.concatenate([fn(tr) for _, tr in parts], axis=1)

    time, event = zip(*(pfs_arrays(tr) for _, tr in parts), strict=True)
    result = cat(lambda tr: tr.visit_result[..., visits])
    sens = cat(lambda tr: tr.visit_sensitivity[..., visits])
    cf = cat(lambda tr: np.nan_to_num(tr.visit_clonal_fraction[..., visits], nan=0.0))
    reads = (result == NEGATIVE) | (result == POSITIVE)
    pos = (result == POSITIVE) & (cf >= lods)
    neg = reads & ~pos & (sens <= lods * (1 + 1e-9))
    return Study(
        arm=np.concatenate([np.full(tr.enrol_day.shape[1], k) for k, tr in parts]),
        pfs_time=np.concatenate(time, axis=1),
        pfs_event=np.concatenate(event, axis=1),
        evaluable=cat(lambda tr: tr.cycles_completed >= targets.min_cycles),
        dead=cat(lambda tr: tr.death_day >= 0),
        on_treatment=cat(lambda tr: tr.treatment_end_day < 0),
        sae=cat(lambda tr: tr.sae | (tr.death_day >= 0)),
        progression_day=cat(lambda tr: tr.progression_day),
        visit_day=cat(lambda tr: tr.visit_day[..., visits]).astype(float),
        negative=neg,
        positive=pos,
        nominal_day=np.array([a.day for a in asm]),
    )


def _classes(st: Study, until: float = np.inf) -> np.ndarray:
    if until in st.cache:
        return st.cache[until]
    res = np.where(st.negative, NEGATIVE, np.where(st.positive, POSITIVE, 0)).astype(np.int8)
    cls = C.classify(st.visit_day, res, np.zeros(res.shape), until=until, threshold=1.0)
    st.cache[float(until)] = cls
    return cls


def components(fig: Figure) -> list[tuple[str, float]]:
    """``(component name, published value on the component scale)`` of a figure."""
    v, s = fig.value, fig.spec
    if fig.kind == "fact":
        return []
    if fig.kind == "km_median" and v == "not reached":
        return [(f"{fig.name}:reached", 0.0)]
    if fig.kind != "hazard_ratio":
        return [(fig.name, float(v))]
    out = []
    if v == "infinite":
        out.append((f"{fig.name}:events_reference", 0.0))
    else:
        out.append((f"{fig.name}:log_hr", float(np.clip(np.log(v), -LOG_HR_CLIP, LOG_HR_CLIP))))
    if "ci" in s and v != "infinite":
        lo, hi = s["ci"]
        out.append((f"{fig.name}:se_log_hr", float((np.log(hi) - np.log(lo)) / (2 * _Z975))))
    elif "p" in s:
        out.append((f"{fig.name}:log10_p", float(max(np.log10(s["p"]), LOG10_P_CLIP))))
    if "p_max" in s:
        out.append((f"{fig.name}:p_below_max", 1.0))
    return out


def observed_components(targets: StudyTargets, roles=("fit", "check")) -> dict[str, float]:
    """Published value of every component of the figures with one of ``roles``."""
    return {c: v for f in targets.figures if f.role in roles for c, v in components(f)}


def figure_statistics(
    st: Study, targets: StudyTargets, roles=("fit", "check")
) -> dict[str, np.ndarray]:
    """Simulated value of every component (``(R,)`` arrays, named as `components`)."""
    arm_names = [a.name for a in targets.arms] or ["all"]
    out: dict[str, np.ndarray] = {}
    for f in targets.figures:
        if f.role not in roles or f.kind == "fact":
            continue
        sel = np.ones(st.arm.shape, bool) if f.arm is None else st.arm == arm_names.index(f.arm)
        out.update(_figure(st, targets, f, sel, arm_names))
    return out


def _pop(st: Study, targets: StudyTargets, spec: dict) -> np.ndarray:
    pop = spec.get("population", targets.population)
    return st.evaluable if pop == "evaluable" else np.ones_like(st.evaluable)


def _figure(st, targets, f, sel, arm_names) -> dict[str, np.ndarray]:
    s, k = f.spec, f.kind
    if k == "count":
        return {f.name: _count(st, targets, s, sel)}
    if k == "proportion":
        return {f.name: _proportion(st, targets, s, sel)}
    if k == "quantity":
        return {f.name: _quantity(st, s["statistic"], sel)}
    if k == "class_count":
        until = s["landmark_months"] * DAYS_PER_MONTH if "landmark_months" in s else np.inf
        return {f.name: ((_classes(st, until) == _CLASS_CODE[s["class"]]) & sel).sum(1) * 1.0}
    incl = _pop(st, targets, s) & sel
    if k == "km_survival":
        return {f.name: km_at(st.pfs_time, st.pfs_event, incl, s["months"] * DAYS_PER_MONTH)}
    if k == "median_followup":
        return {f.name: km_median(st.pfs_time, 1 - st.pfs_event, incl) / DAYS_PER_MONTH}
    if k == "km_median":
        med = km_median(st.pfs_time, st.pfs_event, incl) / DAYS_PER_MONTH
        if f.value == "not reached":
            return {f"{f.name}:reached": np.isfinite(med) * 1.0}
        longest = np.where(incl, st.pfs_time, 0).max(1) / DAYS_PER_MONTH
        return {f.name: np.where(np.isfinite(med), med, longest)}
    if k == "hazard_ratio":
        return _hazard_ratio(st, targets, f, incl, arm_names)
    raise MrdtrackError(
        f"figure {f.name}: kind {k!r} has no simulated counterpart"
    )  # pragma: no cover


def _count(st, targets, s, sel) -> np.ndarray:
    stat = s["statistic"]
    if stat == "evaluable_pfs":
        x = st.evaluable
    elif stat == "on_treatment_at_cutoff":
        x = st.on_treatment
    elif stat == "deaths":
        x = st.dead
    elif stat == "pfs_events":
        x = st.pfs_event.astype(bool) & _pop(st, targets, s)
    else:
        j = [a.name for a in targets.assessments].index(s["assessment"])
        neg, pos = st.negative[..., j], st.positive[..., j]
        x = {"mrd_assessed": neg | pos, "mrd_negative": neg, "mrd_positive": pos}[stat]
    return (x & sel).sum(1) * 1.0


def _ratio(num, den) -> np.ndarray:
    d = den.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 0, num.sum(1) / np.maximum(d, 1), np.nan)


def _proportion(st, targets, s, sel) -> np.ndarray:
    stat = s["statistic"]
    names = [a.name for a in targets.assessments]
    if stat == "serious_ae":
        return _ratio(st.sae & sel, sel & np.ones_like(st.sae))
    if stat == "mrd_negative":
        j = names.index(s["assessment"])
        neg, pos = st.negative[..., j] & sel, st.positive[..., j] & sel
        return _ratio(neg, neg | pos)
    if stat == "conversion":
        j, i = names.index(s["assessment"]), names.index(s["from"])
        base = st.positive[..., i] & sel & (st.negative[..., j] | st.positive[..., j])
        return _ratio(base & st.negative[..., j], base)
    lost, detected, _ = _loss(st)
    base_neg = st.negative[..., 0] & sel
    if stat == "loss_among_baseline_negative":
        return _ratio(lost & base_neg, base_neg)
    # without_progression_after_loss
    return _ratio(detected & sel & (st.progression_day < 0), detected & sel)


def _loss(st: Study):
    """Loss of negativity: class, detection (first positive after a negative) and its day."""
    neg, pos = st.negative, st.positive
    seen = np.logical_or.accumulate(neg, axis=-1)
    before = np.concatenate([np.zeros_like(neg[..., :1]), seen[..., :-1]], -1)
    resurgence = pos & before
    detected = resurgence.any(-1)
    day = np.take_along_axis(st.visit_day, np.argmax(resurgence, -1)[..., None], -1)[..., 0]
    return _classes(st) == C.LOSS_OF_NEGATIVITY, detected, np.where(detected, day, np.nan)


def _row_median(x: np.ndarray) -> np.ndarray:
    has = (~np.isnan(x)).any(1)
    out = np.full(x.shape[0], np.nan)
    if has.any():
        out[has] = np.nanmedian(x[has], axis=1)
    return out


def _quantity(st, stat, sel) -> np.ndarray:
    _, detected, day = _loss(st)
    if stat == "median_years_to_loss":
        return _row_median(np.where(detected & sel & st.negative[..., 0], day, np.nan) / 365.25)
    prog = st.progression_day
    lead = np.where(detected & sel & (prog >= 0) & (day < prog), (prog - day) / 365.25, np.nan)
    return _row_median(lead)


def _hazard_ratio(st, targets, f, incl, arm_names) -> dict[str, np.ndarray]:
    s = f.spec
    g1, g0 = s["groups"]
    time = st.pfs_time
    if s["comparison"] == "mrd_status":
        j = [a.name for a in targets.assessments].index(s["assessment"])
        day = st.nominal_day[j]
        neg, pos = st.negative[..., j], st.positive[..., j]
        status = {"negative": neg, "positive": pos}
        at_risk = incl & (time > day)
        group = np.where(at_risk & status[g1], 1, np.where(at_risk & status[g0], 0, -1))
        t = time - day
    elif s["comparison"] == "mrd_class":
        day = s.get("landmark_months", targets.landmark_months) * DAYS_PER_MONTH
        day = np.floor(day)  # 24 months -> day 730, as `mrdtrack.mrd`
        cls = _classes(st, until=day)
        at_risk = incl & (time > day)
        c1, c0 = _CLASS_CODE[g1], _CLASS_CODE[g0]
        group = np.where(at_risk & (cls == c1), 1, np.where(at_risk & (cls == c0), 0, -1))
        t = time - day
    else:
        a1, a0 = arm_names.index(g1), arm_names.index(g0)
        group = np.where(incl & (st.arm == a1), 1, np.where(incl & (st.arm == a0), 0, -1))
        group = np.broadcast_to(group, time.shape)
        t = time
    res = landmark_tests(t, st.pfs_event, group)
    hr, se = res[:, 7], res[:, 8]
    out = {}
    if f.value == "infinite":
        out[f"{f.name}:events_reference"] = res[:, 2]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{f.name}:log_hr"] = np.clip(np.log(hr), -LOG_HR_CLIP, LOG_HR_CLIP)
    p = chi2.sf(res[:, 4], 1)
    if "ci" in s and f.value != "infinite":
        out[f"{f.name}:se_log_hr"] = np.where(np.isfinite(se), np.minimum(se, 5.0), 5.0)
    elif "p" in s:
        with np.errstate(divide="ignore"):
            out[f"{f.name}:log10_p"] = np.maximum(np.log10(p), LOG10_P_CLIP)
    if "p_max" in s:
        out[f"{f.name}:p_below_max"] = (p < s["p_max"]) * 1.0
    return out
