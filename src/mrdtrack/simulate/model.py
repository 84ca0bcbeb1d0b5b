"""The generative model of a single-arm MRD maintenance study, vectorised over patients and trials.

Every replicate trial ``i`` draws all its randomness as one block of uniforms from its own
stream ``numpy.random.default_rng([seed, i])``: replicate ``i`` is the same trial whatever the
number of replicates simulated together or the number of workers. Within a replicate, a fixed
column of that block belongs to each random quantity (inverse-transform sampling), so all
patients of all replicates are simulated with array operations — there is no per-patient loop.
That is the reference engine; ``engine="fast"`` evaluates the same model in a numba kernel
(`mrdtrack.simulate._kernels_model`) with its own counter-based streams keyed by ``(seed, i)``
(same trials given the same uniforms; same distribution otherwise), and `virtual_trials`
simulates and analyses without keeping the trials.

The model (rates per year, times in study days; day 0 = start of maintenance)
---------------------------------------------------------------------------
- Accrual uniform over the enrolment window; a common calendar data cutoff; follow-up capped at
  the protocol's maximum.
- Covariates: age (normal truncated to [min, max] by clipping), sex, prior ASCT, high-risk
  cytogenetics, ISS stage.
- True MRD state at day 0: negative with logistic probability (intercept + prior ASCT + risk).
- MRD dynamics: a two-state continuous-time Markov process; MRD- → MRD+ intensity
  ``neg_to_pos · exp(log_rr · high_risk)``; MRD+ → MRD- intensity ``pos_to_neg_early`` before
  ``change_day`` and ``pos_to_neg_late`` after it (piecewise-constant, exact inversion). At most
  ``max_transitions`` jumps are simulated; the state then stays. MRD- → MRD+ intensity has
  the same early/late change.
- Progression: piecewise-constant hazard given the current state: ``negative``; positive never
  having been negative (``persistent_positive``); positive after loss of negativity
  (``lost_early`` for the first ``lost_change_days`` after the loss, ``lost_late`` after), times
  ``exp(high_risk_log_hr · high_risk + age_log_hr_per_10y · (age - mean) / 10)``.
- Death from other causes: exponential with an age gradient. Loss to follow-up: exponential.
- Treatment: a fraction stops within the first ``early_window_days`` (not evaluable for PFS;
  they leave the study ``early_withdrawal_followup_days`` later); others stop at an exponential
  rate after that window, at progression, death, loss to follow-up or the protocol maximum;
  otherwise they are on maintenance at the data cutoff.
- MRD assessments: baseline on day U{day_min..day_max} (missing with probability ``missing``),
  then on the anniversaries of the baseline sample, within ``[-window_before_days, window_days]``
  days of each,
  up to ``n_followup_visits``, while progression-free and under follow-up; each follow-up visit
  may be missed (no record), inadequate (record ``not_evaluable``) or reach only ``low_lod``
  sensitivity; a true positive is detected when its log-normal clonal fraction reaches the
  sample's sensitivity, otherwise it reads negative.
- Adverse events: one record per patient and CTCAE term with per-patient probability of any
  grade and of grade >= 3; one serious event in a ``serious_fraction`` of patients; a grade-5
  event for a death.

Both engines evaluate it in the same named stages (`mrdtrack.simulate.stages`): `accrual`,
`covariates`, `baseline_mrd`, `mrd_path`, `progression`, `follow_up`, `treatment`,
`assessments`, `adverse_events`, `serious_event` — functions of those names here (numpy) and in
`mrdtrack.simulate._kernels_model` (numba), equal stage by stage on the same uniforms (tested).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import ndtr, ndtri

from mrdtrack.simulate import _kernels_model as fast
from mrdtrack.simulate.params import SimulationParams
from mrdtrack.simulate.stages import (
    Accrual,
    AdverseEvents,
    Assessments,
    BaselineMrd,
    Covariates,
    FollowUp,
    SeriousEvent,
    Treatment,
)
from mrdtrack.simulate.trials import NEGATIVE, NO_SAMPLE, NOT_EVALUABLE, POSITIVE, Trials

DAYS_PER_YEAR = 365.25


class _Columns:
    """Hands out named column ranges of the per-replicate uniform block."""

    def __init__(self) -> None:
        self.n = 0
        self.n_patient_level = 0
        self.slots: dict[str, slice] = {}

    def take(self, name: str, k: int = 1) -> None:
        self.slots[name] = slice(self.n, self.n + k)
        self.n += k


def _layout(p: SimulationParams) -> _Columns:
    """Column layout: patient-level draws first, then the visit draws (a second block, so a
    different assessment schedule leaves every patient-level draw unchanged)."""
    c = _Columns()
    for name in ("enrol", "age", "sex", "asct", "risk", "iss", "bday", "bmiss", "bneg"):
        c.take(name)
    c.take("mrd_jump", p.mrd_dynamics.max_transitions)
    for name in ("prog", "death", "early", "early_t", "disc", "ltfu"):
        c.take(name)
    t = len(p.safety.terms)
    for name in ("ae_any", "ae_grade", "ae_onset", "ae_related"):
        c.take(name, t)
    for name in ("sae", "sae_term", "sae_onset", "induction", "response"):
        c.take(name)
    c.n_patient_level = c.n
    v = p.assessment.n_followup_visits + 1
    for name in ("v_jitter", "v_miss", "v_inad", "v_lowsens", "v_clonal"):
        c.take(name, v)
    return c


def replicate_uniforms(p: SimulationParams, seed: int, replicates: np.ndarray) -> np.ndarray:
    """Uniform blocks ``(R, n_patients, K)``; block ``r`` comes only from stream ``[seed, i_r]``.

    Each stream first fills the patient-level columns, then the visit columns.
    """
    lay = _layout(p)
    k, k1 = lay.n, lay.n_patient_level
    n = p.trial.n_patients
    out = np.empty((len(replicates), n, k))
    for r, i in enumerate(replicates):
        g = np.random.default_rng([int(seed), int(i)])
        out[r, :, :k1] = g.random((n, k1))
        out[r, :, k1:] = g.random((n, k - k1))
    return out


def _exp_piecewise(t0, e, rate_before, rate_after, change):
    """Time of the first event after ``t0`` for a unit-exponential ``e`` and a hazard that is
    ``rate_before`` before ``change`` and ``rate_after`` from it (exact inversion)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        h_before = rate_before * np.maximum(change - t0, 0.0)
        t_early = t0 + e / rate_before
        t_late = np.maximum(t0, change) + (e - h_before) / rate_after
    return np.where(e < h_before, t_early, t_late)


def accrual(p: SimulationParams, u_enrol: np.ndarray) -> Accrual:
    """Stage ``accrual`` (docs/methods/simulate.md, "accrual, cutoff"): enrolment uniform over
    the enrolment window, a common calendar cutoff (as a study day of each patient), follow-up
    capped at the protocol's maximum."""
    tr = p.trial
    enrol = np.floor(u_enrol * tr.enrolment_days)
    cutoff = np.floor(tr.cutoff_calendar_day - enrol).astype(np.int64)
    horizon = np.minimum(cutoff, tr.max_followup_days).astype(float)
    return Accrual(enrol, cutoff, horizon)


def covariates(p: SimulationParams, u_age, u_sex, u_asct, u_risk, u_iss, u_induction) -> Covariates:
    """Stage ``covariates`` ("covariates"): age normal clipped to [min, max] and rounded; sex,
    prior ASCT, high-risk cytogenetics Bernoulli; ISS and induction categorical."""
    cv = p.covariates
    age = np.clip(cv.age_mean + cv.age_sd * ndtri(u_age), cv.age_min, cv.age_max)
    age = np.round(age, 0)
    male = u_sex < cv.male
    asct = u_asct < cv.prior_transplant
    risk = u_risk < cv.high_risk_cytogenetics
    iss_cum = np.cumsum(cv.iss)
    iss = np.searchsorted(iss_cum / iss_cum[-1], u_iss, side="right").clip(0, 2)
    ind_cum = np.cumsum(cv.induction_probs)
    induction = np.searchsorted(ind_cum / ind_cum[-1], u_induction, side="right")
    induction = induction.clip(0, len(cv.induction) - 1)
    return Covariates(age, male, asct, risk, iss, induction)


def baseline_mrd(p: SimulationParams, asct, risk, u_negative, u_response) -> BaselineMrd:
    """Stage ``baseline_mrd`` ("true MRD state at day 0"): negative with logistic probability
    (intercept + prior ASCT + high risk); the baseline response is drawn given that state."""
    bm, cv = p.baseline_mrd, p.covariates
    logit = (
        bm.negative_logit + bm.negative_logit_transplant * asct + bm.negative_logit_high_risk * risk
    )
    neg0 = u_negative < 1.0 / (1.0 + np.exp(-logit))
    rn = np.cumsum(cv.response_probs_if_negative)
    rp = np.cumsum(cv.response_probs_if_positive)
    response = np.where(
        neg0,
        np.searchsorted(rn / rn[-1], u_response, side="right"),
        np.searchsorted(rp / rp[-1], u_response, side="right"),
    ).clip(0, len(cv.responses) - 1)
    return BaselineMrd(neg0, response)


def mrd_path(p: SimulationParams, neg0, risk, u_jump) -> np.ndarray:
    """Stage ``mrd_path`` ("MRD dynamics"): jump times ``(R, n, max_transitions)`` of the
    two-state Markov process from the state at day 0; piecewise-constant intensities (early /
    late, change at ``change_day``; MRD- -> MRD+ times exp(log RR x high risk)), exact
    inversion; ``inf`` once a jump never happens."""
    dyn = p.mrd_dynamics
    rr_np = np.exp(dyn.neg_to_pos_high_risk_log_rr * risk) / DAYS_PER_YEAR
    r_np_e, r_np_l = dyn.neg_to_pos_early * rr_np, dyn.neg_to_pos_late * rr_np
    r_pn_e, r_pn_l = dyn.pos_to_neg_early / DAYS_PER_YEAR, dyn.pos_to_neg_late / DAYS_PER_YEAR
    jumps = np.empty((*neg0.shape, dyn.max_transitions))
    t = np.zeros(neg0.shape)
    state_neg = neg0.copy()
    e_jump = -np.log1p(-u_jump)
    for j in range(dyn.max_transitions):  # a few jumps, each vectorised over all patients
        t_np = _exp_piecewise(t, e_jump[..., j], r_np_e, r_np_l, dyn.change_day)
        t_pn = _exp_piecewise(t, e_jump[..., j], r_pn_e, r_pn_l, dyn.change_day)
        t = np.where(state_neg, t_np, t_pn)
        jumps[..., j] = t
        state_neg = ~state_neg
    return jumps


def progression(p: SimulationParams, neg0, risk, age, jumps, u_prog) -> np.ndarray:
    """Stage ``progression`` ("progression"): the (continuous) day of progression under a
    piecewise-constant hazard over the MRD path's segments — negative, persistent positive,
    lost (early for ``lost_change_days`` after the loss, then late) — times the risk and age
    multiplier; exact inversion of the cumulative hazard (``inf``: never)."""
    pr, cv, dyn = p.progression, p.covariates, p.mrd_dynamics
    mult = (
        np.exp(pr.high_risk_log_hr * risk + pr.age_log_hr_per_10y * (age - cv.age_mean) / 10.0)
        / DAYS_PER_YEAR
    )
    seg_start, seg_end, seg_rate = [], [], []
    start_t = np.zeros(neg0.shape)
    state_neg = neg0.copy()
    ever_neg = neg0.copy()
    for j in range(dyn.max_transitions + 1):  # a lost segment splits in two
        end_t = jumps[..., j] if j < dyn.max_transitions else np.full(neg0.shape, np.inf)
        lost = ~state_neg & ever_neg
        mid = np.where(lost, np.minimum(start_t + pr.lost_change_days, end_t), end_t)
        rate_a = np.where(
            state_neg, pr.negative, np.where(lost, pr.lost_early, pr.persistent_positive)
        )
        rate_b = np.where(lost, pr.lost_late, rate_a)
        seg_start += [start_t, mid]
        seg_end += [mid, end_t]
        seg_rate += [rate_a * mult, rate_b * mult]
        start_t = end_t
        state_neg = ~state_neg
        ever_neg = ever_neg | state_neg
    s0, s1, rt = np.stack(seg_start, -1), np.stack(seg_end, -1), np.stack(seg_rate, -1)
    with np.errstate(invalid="ignore"):
        seg_h = np.where(s1 > s0, rt * (s1 - s0), 0.0)
    cum = np.cumsum(seg_h, axis=-1)
    e_prog = -np.log1p(-u_prog)
    k = np.minimum((cum < e_prog[..., None]).sum(-1), s0.shape[-1] - 1)
    # hazard accumulated before each segment: cum - seg_h, except for an endless segment (a
    # state kept for ever when a rate is 0), whose cum - seg_h is inf - inf: the running sum
    cum_prev = np.concatenate([np.zeros_like(cum[..., :1]), cum[..., :-1]], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        before_all = np.where(np.isinf(seg_h), cum_prev, cum - seg_h)
        before = np.take_along_axis(before_all, k[..., None], -1)[..., 0]
        rate_k = np.take_along_axis(rt, k[..., None], -1)[..., 0]
        return np.take_along_axis(s0, k[..., None], -1)[..., 0] + (e_prog - before) / rate_k


def follow_up(
    p: SimulationParams, acc: Accrual, age, t_prog, u_death, u_ltfu, u_early, u_early_day
) -> FollowUp:
    """Stage ``follow_up`` ("death, other causes", "loss to follow-up", the cutoff): exponential
    death (age gradient) and loss to follow-up; early withdrawal (leaves the study
    ``early_withdrawal_followup_days`` after stopping); follow-up ends at the horizon, loss,
    withdrawal or death; progression and death are observed when within it."""
    cv, tx, fu = p.covariates, p.treatment, p.followup
    d_rate = p.death.rate_at_mean_age / DAYS_PER_YEAR
    t_death = -np.log1p(-u_death) / (
        d_rate * np.exp(p.death.age_log_hr_per_year * (age - cv.age_mean))
    )
    if fu.loss_per_year > 0:
        t_ltfu = -np.log1p(-u_ltfu) / (fu.loss_per_year / DAYS_PER_YEAR)
    else:
        t_ltfu = np.full(age.shape, np.inf)
    early = u_early < tx.early_discontinuation
    t_early = 1.0 + np.floor(u_early_day * (tx.early_window_days - 1))
    prog_d = np.maximum(np.ceil(t_prog), 1.0)
    death_d = np.maximum(np.ceil(t_death), 1.0)
    ltfu_d = np.maximum(np.ceil(t_ltfu), 1.0)
    fu_end = np.minimum(acc.horizon, ltfu_d)
    fu_end = np.where(
        early, np.minimum(fu_end, t_early + fu.early_withdrawal_followup_days), fu_end
    )
    fu_end = np.minimum(fu_end, death_d)
    prog_obs = prog_d <= fu_end
    death_obs = death_d <= fu_end
    return FollowUp(prog_d, prog_obs, death_d, death_obs, ltfu_d, fu_end, early, t_early)


def treatment(p: SimulationParams, acc: Accrual, f: FollowUp, u_disc) -> Treatment:
    """Stage ``treatment`` ("treatment"): stop at early withdrawal, else at an exponential rate
    after the early window, at observed progression or death, the protocol maximum or loss to
    follow-up, whichever first; on maintenance at the cutoff if treatment outlasts a follow-up
    that ended at the cutoff. Reason codes: `mrdtrack.simulate.trials.TREATMENT_END_REASONS`."""
    tx = p.treatment
    t_disc = np.where(
        f.early,
        f.early_day,
        tx.early_window_days + -np.log1p(-u_disc) / (tx.discontinuation_per_year / DAYS_PER_YEAR),
    )
    fu_end = f.last_contact_day
    tx_end = np.minimum.reduce(
        [
            t_disc,
            np.where(f.progression_observed, f.progression_day, np.inf),
            np.where(f.death_observed, f.death_day, np.inf),
            np.full_like(t_disc, tx.max_days),
            f.ltfu_day,
        ]
    )
    # on maintenance at the cutoff: treatment outlasts a follow-up that ended at the cutoff
    ongoing = (tx_end > fu_end) & (fu_end >= acc.cutoff)
    reason = np.select(
        [
            ongoing,
            f.early,
            f.progression_observed & (tx_end == f.progression_day),
            f.death_observed & (tx_end == f.death_day),
            tx_end == tx.max_days,
            tx_end == f.ltfu_day,
        ],
        [0, 1, 2, 3, 4, 5],
        6,
    )
    tx_end = np.minimum(np.ceil(tx_end), fu_end)
    tx_end_d = np.where(ongoing, -1, tx_end).astype(np.int64)
    tx_dur = np.where(ongoing, fu_end, tx_end)
    cycles = np.minimum(np.floor(tx_dur / tx.cycle_days), np.floor(tx.max_days / tx.cycle_days))
    return Treatment(tx_end_d, reason, cycles, tx_dur)


def assessments(
    p: SimulationParams, neg0, jumps, f: FollowUp, u_day, u_missing, u_jitter, u_missed,
    u_inadequate, u_low_sensitivity, u_clonal,
) -> Assessments:  # fmt: skip
    """Stage ``assessments`` ("MRD assessments"): baseline on day U{day_min..day_max} (missing
    with its probability), then on the anniversaries of the baseline sample within the window,
    while progression-free and followed; follow-up visits missed, inadequate (not evaluable)
    or at the low sensitivity; a true positive is detected when its log-normal clonal fraction
    (capped at 0.5) reaches the sample's sensitivity, else it reads negative."""
    bm, asm = p.baseline_mrd, p.assessment
    nv = asm.n_followup_visits + 1
    bday = bm.day_min + np.floor(u_day * (bm.day_max - bm.day_min + 1))
    k_idx = np.arange(nv)
    vday = (
        bday[..., None]
        + asm.interval_days * k_idx
        + np.where(
            k_idx > 0,
            np.floor(u_jitter * (asm.window_before_days + asm.window_days + 1))
            - asm.window_before_days,
            0.0,
        )
    )
    stop = np.minimum(
        f.last_contact_day, np.where(f.progression_observed, f.progression_day - 1, np.inf)
    )
    happens = vday <= stop[..., None]
    happens[..., 0] &= u_missing >= bm.missing
    follow = k_idx > 0
    happens &= ~(follow & (u_missed < asm.missed))
    inadequate = follow & (u_inadequate < asm.inadequate)
    # the sensitivity of a sample that was not taken or not evaluable is never used: set to the
    # assay's LOD (so the fast engine need not draw it)
    sens = np.where(
        happens & ~inadequate & follow & (u_low_sensitivity < asm.low_sensitivity),
        asm.low_lod,
        asm.lod,
    )
    n_jumps = (jumps[..., None, :] <= vday[..., None]).sum(-1)
    true_neg = np.where(n_jumps % 2 == 0, neg0[..., None], ~neg0[..., None])
    log_cf = bm.clonal_log10_mean + bm.clonal_log10_sd * ndtri(u_clonal)
    cf = np.minimum(10.0**log_cf, 0.5)  # a marrow is never all clonal cells: cap the tail
    detected = ~true_neg & (cf >= sens)
    result = np.where(
        ~happens,
        NO_SAMPLE,
        np.where(inadequate, NOT_EVALUABLE, np.where(detected, POSITIVE, NEGATIVE)),
    ).astype(np.int8)
    cf_rep = np.where(result == POSITIVE, np.round(cf, 8), np.nan)
    return Assessments(vday, result, sens, cf_rep)


def adverse_events(
    p: SimulationParams, duration, u_any, u_grade, u_onset, u_related
) -> AdverseEvents:
    """Stage ``adverse_events`` ("adverse events"): per patient and CTCAE term, any grade and
    grade >= 3 with their probabilities (grade 4 given >= 3; grades 1/2 even); onset uniform
    over the time on treatment, related with probability 0.8. Onset and relatedness exist only
    for an event that happened (grade > 0)."""
    terms = p.safety.terms
    if not terms:
        shape = (*duration.shape, 0)
        return AdverseEvents(np.zeros(shape, int), np.zeros(shape), np.zeros(shape, bool))
    any_p = np.array([t_.any_grade for t_ in terms])
    g3_p = np.array([t_.grade3plus for t_ in terms])
    g4_p = np.array([t_.grade4_given_3plus for t_ in terms])
    grade = np.where(
        u_any < g3_p,
        np.where(u_grade < g4_p, 4, 3),
        np.where(u_any < any_p, np.where(u_grade < 0.5, 1, 2), 0),
    )
    onset = np.where(grade > 0, 1 + np.floor(u_onset * np.maximum(duration - 1, 1)[..., None]), 0)
    related = (grade > 0) & (u_related < 0.8)
    return AdverseEvents(grade, onset, related)


def serious_event(p: SimulationParams, duration, u_happens, u_term, u_onset) -> SeriousEvent:
    """Stage ``serious_event`` ("adverse events"): one serious (grade 3) event in
    ``serious_fraction`` of the patients, its term uniform over the serious terms and its onset
    uniform over the time on treatment (term and onset 0 when none)."""
    sf = p.safety
    sae = u_happens < sf.serious_fraction
    sae_term = np.where(sae, np.floor(u_term * len(sf.serious_terms)), 0).astype(np.int64)
    sae_onset = np.where(sae, 1 + np.floor(u_onset * np.maximum(duration - 1, 1)), 0)
    return SeriousEvent(sae, sae_term, sae_onset)


def simulate_trials(
    params: SimulationParams,
    n_replicates: int = 1,
    seed: int = 0,
    *,
    start: int = 0,
    replicates: np.ndarray | None = None,
    uniforms: np.ndarray | None = None,
    engine: str = "reference",
) -> Trials:
    """Simulate replicate trials ``start .. start + n_replicates - 1`` (or ``replicates``).

    The generative model is described in the module docstring and ``docs/methods/simulate.md``;
    random numbers by inverse transform from per-replicate streams (numpy ``Generator``,
    PCG64; O'Neill 2014). No R/SAS counterpart.

    Parameters
    ----------
    params : SimulationParams
        The model's parameters (`load_params`).
    n_replicates, start : int
        Replicates ``start, start + 1, …`` are simulated.
    seed : int
        Replicate ``i`` uses the stream ``default_rng([seed, i])`` and nothing else, so it is the
        same trial whatever the batching or the number of workers.
    replicates : array of int, optional
        Explicit replicate indices (instead of ``n_replicates``/``start``).
    uniforms : array, optional
        Advanced: the uniform block ``(R, n_patients, K)`` itself (e.g. a patient pool).
    engine : {"reference", "fast"}
        ``"reference"`` (default): plain numpy, uniforms from ``default_rng([seed, i])`` (the
        demo study is built with it). ``"fast"``: the same model compiled with numba
        (`mrdtrack.simulate._kernels_model`), uniforms from counter-based SplitMix64 streams
        keyed by ``(seed, i)`` — about 20 times faster, replicate ``i`` again independent of
        batching, but different trials (same distribution) than the reference engine. With
        ``uniforms`` given, both engines give the same trials.

    Returns
    -------
    Trials
        Arrays ``(R, n)`` per patient, ``(R, n, V)`` per MRD visit, ``(R, n, T)`` per AE term;
        ``Trials.to_cohort(r)`` gives a validated `Cohort` of replicate row ``r``.
    """
    p = params
    if replicates is None:
        replicates = np.arange(start, start + n_replicates, dtype=np.int64)
    replicates = np.asarray(replicates, dtype=np.int64)
    if engine == "fast":
        return _simulate_fast(p, seed, replicates, uniforms)
    if engine != "reference":
        raise ValueError(f"engine must be 'reference' or 'fast', not {engine!r}")
    u = replicate_uniforms(p, seed, replicates) if uniforms is None else uniforms
    U = _uniform_columns(p, u)
    acc = accrual(p, U("enrol"))
    cov = covariates(p, U("age"), U("sex"), U("asct"), U("risk"), U("iss"), U("induction"))
    base = baseline_mrd(p, cov.prior_transplant, cov.high_risk, U("bneg"), U("response"))
    jumps = mrd_path(p, base.negative, cov.high_risk, U("mrd_jump"))
    t_prog = progression(p, base.negative, cov.high_risk, cov.age, jumps, U("prog"))
    fol = follow_up(p, acc, cov.age, t_prog, U("death"), U("ltfu"), U("early"), U("early_t"))
    tx = treatment(p, acc, fol, U("disc"))
    vis = assessments(
        p, base.negative, jumps, fol, U("bday"), U("bmiss"), U("v_jitter"), U("v_miss"),
        U("v_inad"), U("v_lowsens"), U("v_clonal"),
    )  # fmt: skip
    ae = adverse_events(p, tx.duration, U("ae_any"), U("ae_grade"), U("ae_onset"), U("ae_related"))
    sae = serious_event(p, tx.duration, U("sae"), U("sae_term"), U("sae_onset"))
    i64 = np.int64
    return Trials(
        params=p,
        seed=int(seed),
        replicates=replicates,
        enrol_day=acc.enrol.astype(i64),
        cutoff_day=acc.cutoff,
        age=cov.age,
        male=cov.male,
        prior_transplant=cov.prior_transplant,
        high_risk=cov.high_risk,
        iss=cov.iss.astype(np.int8),
        induction=cov.induction.astype(np.int8),
        baseline_response=base.response.astype(np.int8),
        baseline_state_negative=base.negative,
        progression_day=np.where(fol.progression_observed, fol.progression_day, -1).astype(i64),
        death_day=np.where(fol.death_observed, fol.death_day, -1).astype(i64),
        last_contact_day=fol.last_contact_day.astype(i64),
        treatment_end_day=tx.end_day,
        treatment_end_reason=tx.reason.astype(np.int8),
        cycles_completed=tx.cycles.astype(i64),
        visit_day=vis.day.astype(i64),
        visit_result=vis.result,
        visit_sensitivity=vis.sensitivity,
        visit_clonal_fraction=vis.clonal_fraction,
        ae_grade=ae.grade.astype(np.int8),
        ae_onset=ae.onset.astype(i64),
        ae_related=ae.related,
        sae=sae.happened,
        sae_term=sae.term,
        sae_onset=sae.onset.astype(i64),
    )


def _uniform_columns(p: SimulationParams, u: np.ndarray):
    """``U(name)``: the named column(s) of the uniform block ``(R, n, K)`` as ``(R, n)`` (or
    ``(R, n, k)``) arrays, from a column-major copy (each draw contiguous, cache-friendly)."""
    cols = _layout(p).slots
    ut = np.ascontiguousarray(np.moveaxis(u, -1, 0))

    def U(name: str) -> np.ndarray:
        s = cols[name]
        return ut[s.start] if s.stop - s.start == 1 else np.moveaxis(ut[s], 0, -1)

    return U


def _fast_inputs(p: SimulationParams) -> tuple:
    """The parameters (`_kernels_model.FastParams`: scalars, cut points, age table) and the
    probability arrays."""
    tr, cv, bm, dyn, pr = p.trial, p.covariates, p.baseline_mrd, p.mrd_dynamics, p.progression
    tx, fu, asm, sf = p.treatment, p.followup, p.assessment, p.safety
    pf = (
        tr.enrolment_days, tr.cutoff_calendar_day, tr.max_followup_days,
        cv.age_mean, cv.age_sd, cv.age_min, cv.age_max, cv.male, cv.prior_transplant,
        cv.high_risk_cytogenetics,
        bm.day_min, bm.day_max, bm.missing, bm.negative_logit, bm.negative_logit_transplant,
        bm.negative_logit_high_risk, bm.clonal_log10_mean, bm.clonal_log10_sd,
        dyn.neg_to_pos_early, dyn.neg_to_pos_late, dyn.neg_to_pos_high_risk_log_rr,
        dyn.pos_to_neg_early, dyn.pos_to_neg_late, dyn.change_day,
        pr.negative, pr.persistent_positive, pr.lost_early, pr.lost_late, pr.lost_change_days,
        pr.high_risk_log_hr, pr.age_log_hr_per_10y,
        p.death.rate_at_mean_age, p.death.age_log_hr_per_year,
        tx.cycle_days, tx.early_discontinuation, tx.early_window_days,
        tx.discontinuation_per_year, tx.max_days, fu.loss_per_year,
        fu.early_withdrawal_followup_days,
        asm.interval_days, asm.window_days, asm.window_before_days, asm.missed, asm.inadequate,
        asm.low_sensitivity, asm.lod, asm.low_lod, sf.serious_fraction, len(sf.serious_terms),
        *_clonal_cuts(p, asm.lod), *_clonal_cuts(p, asm.low_lod), *_beyond_cuts(p),
    )  # fmt: skip

    def cum(x):
        c = np.cumsum(np.asarray(x, dtype=float))
        return c / c[-1]

    terms = sf.terms
    arrays = (
        cum(cv.iss),
        cum(cv.induction_probs),
        cum(cv.response_probs_if_negative),
        cum(cv.response_probs_if_positive),
        np.array([t.any_grade for t in terms], dtype=float),
        np.array([t.grade3plus for t in terms], dtype=float),
        np.array([t.grade4_given_3plus for t in terms], dtype=float),
    )
    return fast.FastParams(*(float(x) for x in pf), *_age_table(p.covariates)), arrays


# --- cut points on the uniform scale that let the fast engine skip a computation whose result
# they decide (`_kernels_model`: ``_U_MARGIN``, the laziness levels); the margin is many orders
# above the rounding of the computation, so the decision is the computation's


def _clonal_cuts(p: SimulationParams, sens: float) -> tuple[float, float]:
    """``(lo, hi)``: a true positive's uniform below ``lo`` is not detected at sensitivity
    ``sens``, above ``hi`` it is; in between the clonal fraction is computed."""
    bm, m = p.baseline_mrd, fast._U_MARGIN
    if sens > 0.5:  # the capped clonal fraction never reaches it
        return 2.0, 2.0
    if not bm.clonal_log10_sd >= 1e-3 or not sens > 0:
        return -1.0, 2.0  # always computed
    cut = float(ndtr((np.log10(sens) - bm.clonal_log10_mean) / bm.clonal_log10_sd))
    return cut - m, cut + m


def _beyond_cuts(p: SimulationParams) -> tuple[float, float, float]:
    """Uniforms above which a death, a loss to follow-up and a discontinuation fall more than a
    day after any patient's horizon (``min(cutoff, max follow-up)`` <= ``hmax``): 1 (never)
    for a zero rate."""
    tr, cv, tx = p.trial, p.covariates, p.treatment
    days = min(tr.cutoff_calendar_day, tr.max_followup_days) + 2.0
    ages = np.array([cv.age_min - 1.0, cv.age_max + 1.0]) - cv.age_mean
    death = p.death.rate_at_mean_age * np.exp(np.max(p.death.age_log_hr_per_year * ages))
    rates_days = (
        (death, days),
        (p.followup.loss_per_year, days),
        (tx.discontinuation_per_year, days + max(-tx.early_window_days, 0.0)),
    )
    out = []
    for rate, d in rates_days:
        if not rate > 0:
            out.append(1.0)
            continue
        u = -np.expm1(-d * rate / DAYS_PER_YEAR)  # P(event within d days) at this rate
        out.append(min(u * (1 + fast._U_MARGIN) + fast._U_MARGIN, 1.0))
    return tuple(out)


def _age_table(cv) -> tuple[np.ndarray, np.ndarray]:
    """The age ``rint(clip(mean + sd * z, min, max))`` is constant between the points where
    ``mean + sd * z`` crosses ``min``, ``max`` or a half-integer between them: those points on
    the uniform scale, ``z = ndtri(u)``, and the age on each side (empty for a tiny sd)."""
    lo, hi, mean, sd = cv.age_min, cv.age_max, cv.age_mean, cv.age_sd
    if not sd >= 0.01 or not hi > lo:
        return np.zeros(0), np.zeros(1)
    half = np.arange(np.floor(lo) + 0.5, hi, 1.0)
    x = np.unique(np.concatenate([[lo, hi], half[(half > lo) & (half < hi)]]))
    mids = np.concatenate([[lo - 1.0], (x[:-1] + x[1:]) / 2, [hi + 1.0]])
    return ndtr((x - mean) / sd), np.round(np.clip(mids, lo, hi), 0)


def _simulate_fast(
    p: SimulationParams, seed: int, replicates: np.ndarray, uniforms, lazy: int = fast.TRIALS
) -> Trials:
    """`simulate_trials` with ``engine="fast"`` (numba kernel; see `_kernels_model`). ``lazy``
    (`_kernels_model.EXACT` or ``TRIALS``) gives the same trials (tested); TRIALS is faster."""
    if lazy not in (fast.EXACT, fast.TRIALS):
        raise ValueError(f"lazy must be EXACT or TRIALS, not {lazy!r}")
    lay = _layout(p)
    k1, kv = lay.n_patient_level, lay.n - lay.n_patient_level
    r, n = len(replicates), p.trial.n_patients
    nv, nt = p.assessment.n_followup_visits + 1, len(p.safety.terms)
    pf, (iss_c, ind_c, rn_c, rp_c, a_any, a_g3, a_g4) = _fast_inputs(p)
    if uniforms is None:
        u_in, use_in = np.zeros((1, 1, 1)), False
    else:
        u_in, use_in = np.ascontiguousarray(uniforms, dtype=np.float64), True
        if u_in.shape != (r, n, lay.n):
            raise ValueError(f"uniforms must have shape {(r, n, lay.n)}, not {u_in.shape}")
    i64 = np.int64

    def z(dtype, *extra):  # the kernel writes every element
        return np.empty((r, n, *extra), dtype=dtype)

    out = {
        "enrol_day": z(i64),
        "cutoff_day": z(i64),
        "age": z(float),
        "male": z(bool),
        "prior_transplant": z(bool),
        "high_risk": z(bool),
        "iss": z(np.int8),
        "induction": z(np.int8),
        "baseline_response": z(np.int8),
        "baseline_state_negative": z(bool),
        "progression_day": z(i64),
        "death_day": z(i64),
        "last_contact_day": z(i64),
        "treatment_end_day": z(i64),
        "treatment_end_reason": z(np.int8),
        "cycles_completed": z(i64),
        "visit_day": z(i64, nv),
        "visit_result": z(np.int8, nv),
        "visit_sensitivity": z(float, nv),
        "visit_clonal_fraction": z(float, nv),
        "ae_grade": z(np.int8, nt),
        "ae_onset": z(i64, nt),
        "ae_related": z(bool, nt),
        "sae": z(bool),
        "sae_term": z(i64),
        "sae_onset": z(i64),
    }
    fast.simulate_kernel(
        np.uint64(int(seed) % 2**64), replicates, u_in, use_in, pf,
        p.mrd_dynamics.max_transitions, nv, iss_c, ind_c, rn_c, rp_c, a_any, a_g3, a_g4, k1, kv,
        lazy, *out.values(),
    )  # fmt: skip
    return Trials(params=p, seed=int(seed), replicates=replicates, **out)


def virtual_trials(
    params: SimulationParams,
    n_replicates: int,
    seed: int = 0,
    *,
    start: int = 0,
    landmark_day: float = 730.0,
    min_cycles: int = 4,
    threshold: float = 1e-5,
    workers: int = 0,
) -> dict[str, np.ndarray]:
    """Simulate (fast engine) and analyse replicates ``start ..`` without keeping the trials.

    Each replicate is simulated into one reused scratch trial and analysed at once by
    `mrdtrack.simulate._kernels.analyse_landmark`'s kernel: the same numbers as
    ``analyse_landmark(simulate_trials(..., engine="fast"))`` (tested), without allocating the
    per-trial arrays, and without simulating what the analysis never reads (adverse events,
    the serious event, clonal fractions; deaths, losses to follow-up and discontinuations after
    a patient's follow-up horizon). Returns that function's dictionary (classes, PFS, both
    landmark tests).

    ``workers``: threads (the compiled loop releases the GIL); 0 or 1 (default) runs on the
    calling thread. Replicate ``i`` depends only on ``(seed, i)``, so the result is the same
    for any number of workers (tested).
    """
    p = params
    if int(workers) < 0:
        raise ValueError(f"workers must be >= 0, not {workers}")
    lay = _layout(p)
    k1, kv = lay.n_patient_level, lay.n - lay.n_patient_level
    n = p.trial.n_patients
    nv = p.assessment.n_followup_visits + 1
    pf, arrays = _fast_inputs(p)
    none = np.zeros(0)  # the analysis never reads adverse events: simulate none
    arrays = (*arrays[:4], none, none, none)
    reps = np.arange(start, start + n_replicates, dtype=np.int64)
    r = n_replicates
    out = {
        "classes": np.zeros((r, n), np.int8),
        "landmark_classes": np.zeros((r, n), np.int8),
        "time": np.zeros((r, n)),
        "event": np.zeros((r, n), np.int64),
        "lost_vs_persistent": np.full((r, 9), np.nan),
        "lost_vs_sustained": np.full((r, 9), np.nan),
    }
    args = (np.uint64(int(seed) % 2**64), pf, p.mrd_dynamics.max_transitions, nv, *arrays, k1,
            kv, int(min_cycles), float(landmark_day), float(threshold), 365.0)  # fmt: skip

    def block(a: int, b: int) -> None:  # replicate rows a .. b - 1
        fast.simulate_analyse_kernel(args[0], reps[a:b], *args[1:], *(v[a:b] for v in out.values()))

    if int(workers) <= 1 or r < 2:
        block(0, r)
        return out
    # blocks of about 250 trials (a few ms each), handed out as threads come free
    edges = np.linspace(0, r, max(int(workers), -(-r // 250)) + 1).astype(int)
    with ThreadPoolExecutor(max_workers=int(workers)) as pool:
        list(pool.map(block, edges[:-1], edges[1:]))
    return out
