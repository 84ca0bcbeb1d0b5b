"""The generative model as one numba kernel (the fast engine), with its own counter-based streams.

`mrdtrack.simulate.model.simulate_trials` is the plain-numpy reference (``engine="reference"``):
it draws each replicate's uniform block from ``numpy.random.default_rng([seed, i])`` and
evaluates the model with array operations. This module evaluates the *same* model, patient by
patient, in one compiled loop (``engine="fast"``), in the same named stages
(`mrdtrack.simulate.stages`: one njit function per stage, of the same name as the reference's,
inlined into the loop; the loop runs without reference counting, ``_nrt=False``, its scratch
arrays made by the caller, so that passing arrays to the stages costs nothing). Given the same
uniform block both engines give the same trials (tested: integer outputs equal, floats to
rounding). The fast engine draws its uniforms itself from a counter-based generator, so
replicate ``i`` still depends only on ``(seed, i)`` — whatever the batching or the number of
workers — but its streams differ from the reference engine's: the two engines give different
trials with the same distribution.

Counter-based streams: uniform number ``j`` of replicate ``i`` is
``splitmix64(key(seed, i) + (j + 1)·γ) / 2^64`` (SplitMix64 output function and Weyl increment
γ; Steele, Lea & Flood 2014), i.e. the ``j``-th output of a SplitMix64 generator seeded with
``key(seed, i)``, a SplitMix64 hash of the seed and the replicate index. Patient-level draws are
numbered ``patient · K₁ + column`` and visit draws ``2^40 + patient · K₂ + column``, so, as in
the reference engine, a different assessment schedule leaves every patient-level draw unchanged.

Normal quantiles (``ndtri``) use Acklam's rational approximation refined by one Halley step on
``erfc`` (relative error about 1e-15 in the body; scipy's ``ndtri`` in the reference engine).

Compilation is lazy (first call) and cached on disk.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from mrdtrack.simulate._kernels import analyse_rows, analysis_work
from mrdtrack.simulate.stages import (
    Accrual,
    BaselineMrd,
    Covariates,
    FollowUp,
    SeriousEvent,
    Treatment,
)
from mrdtrack.simulate.trials import NEGATIVE, NO_SAMPLE, NOT_EVALUABLE, POSITIVE

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED_SALT = np.uint64(0x6A09E667F3BCC909)
_VISIT_OFFSET = np.uint64(1 << 40)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO53 = 1.0 / 9007199254740992.0
_YPD = 365.25  # days per year


@njit(cache=True, inline="always")
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def stream_key(seed, rep):
    """SplitMix64 seed of replicate ``rep``'s stream (``seed``, ``rep`` as uint64)."""
    return _mix64(_mix64(seed ^ _SEED_SALT) + (rep + np.uint64(1)) * _GAMMA)


@njit(cache=True, inline="always")
def _uniform(key, j):
    """The ``j``-th uniform in [0, 1) of the stream with SplitMix64 seed ``key`` (53 bits)."""
    return float(_mix64(key + (j + np.uint64(1)) * _GAMMA) >> _S11) * _TWO53


@njit(cache=True, inline="always")
def _draw(use_in, u_in, r, i, c, key, base):
    """Column ``c`` of patient ``i``'s block: from the given block, or drawn on demand."""
    if use_in:
        return u_in[r, i, c]
    return _uniform(key, base + np.uint64(c))


@njit(cache=True)
def stream_uniforms(seed, rep, n):
    """The first ``n`` uniforms of replicate ``rep``'s patient-level stream (for tests)."""
    key = stream_key(np.uint64(seed), np.uint64(rep))
    out = np.empty(n)
    for j in range(n):
        out[j] = _uniform(key, np.uint64(j))
    return out


# Acklam's coefficients (P. J. Acklam, "An algorithm for computing the inverse normal cumulative
# distribution function", 2003)
_A = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
      -30.66479806614716, 2.506628277459239)  # fmt: skip
_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
      -13.28068155288572)  # fmt: skip
_C = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
      4.374664141464968, 2.938163982698783)  # fmt: skip
_D = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)


@njit(cache=True)
def ndtri(p):
    """Standard normal quantile of ``p`` (``-inf`` at 0, ``inf`` at 1)."""
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    a0, a1, a2, a3, a4, a5 = _A
    b0, b1, b2, b3, b4 = _B
    c0, c1, c2, c3, c4, c5 = _C
    d0, d1, d2, d3 = _D
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / (
            (((d0 * q + d1) * q + d2) * q + d3) * q + 1.0
        )
    elif p <= 1.0 - 0.02425:
        q = p - 0.5
        r = q * q
        x = (
            (((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5)
            * q
            / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1.0)
        )
    else:
        q = math.sqrt(-2.0 * math.log1p(-p))
        x = -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / (
            (((d0 * q + d1) * q + d2) * q + d3) * q + 1.0
        )
    # one Halley step on Phi(x) - p, Phi from erfc (accurate in both tails)
    if x < 0:
        e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    else:
        e = (1.0 - p) - 0.5 * math.erfc(x / math.sqrt(2.0))
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    if not math.isfinite(u):  # |x| > 37: the density underflows; keep Acklam's value
        return x
    return x - u / (1.0 + 0.5 * x * u)


@njit(cache=True, inline="always")
def _exp_piecewise(t0, e, rate_before, rate_after, change):
    h_before = rate_before * max(change - t0, 0.0)
    if e < h_before:
        return t0 + e / rate_before
    return max(t0, change) + (e - h_before) / rate_after


@njit(cache=True, inline="always")
def _count_le(cum, u):
    """numpy ``searchsorted(cum, u, side="right")`` clipped to ``len(cum) - 1``."""
    k = 0
    for c in cum:
        if c <= u:
            k += 1
    return min(k, cum.size - 1)


@njit(cache=True, inline="always")
def _age(q, u):
    """Age of the uniform ``u``: the table's (`covariates`), or computed near a cut point."""
    cuts = q.age_cuts
    k = np.searchsorted(cuts, u)
    near = cuts.size == 0 or (k > 0 and u - cuts[k - 1] <= _U_MARGIN)
    near = near or (k < cuts.size and cuts[k] - u <= _U_MARGIN)
    if not near:
        return q.age_values[k]
    return np.rint(min(max(q.age_mean + q.age_sd * ndtri(u), q.age_min), q.age_max))


# the scalar parameters, in the order `model._fast_params` fills them
PF_NAMES = (
    "enrolment_days", "cutoff_calendar_day", "max_followup_days",
    "age_mean", "age_sd", "age_min", "age_max", "male", "prior_transplant", "high_risk",
    "day_min", "day_max", "missing", "negative_logit", "negative_logit_transplant",
    "negative_logit_high_risk", "clonal_log10_mean", "clonal_log10_sd",
    "neg_to_pos_early", "neg_to_pos_late", "neg_to_pos_high_risk_log_rr", "pos_to_neg_early",
    "pos_to_neg_late", "change_day",
    "p_negative", "p_persistent", "p_lost_early", "p_lost_late", "lost_change_days",
    "high_risk_log_hr", "age_log_hr_per_10y",
    "death_rate", "death_age_log_hr",
    "cycle_days", "early_discontinuation", "early_window_days", "discontinuation_per_year",
    "max_days", "loss_per_year", "early_withdrawal_followup_days",
    "interval_days", "window_days", "window_before_days", "missed", "inadequate",
    "low_sensitivity", "lod", "low_lod",
    "serious_fraction", "n_serious_terms",
    "clonal_lo_lod", "clonal_hi_lod", "clonal_lo_low_lod", "clonal_hi_low_lod",
    "death_u_beyond", "ltfu_u_beyond", "disc_u_beyond",
)  # fmt: skip
# The model's parameters as one flat named tuple (``q`` in the stages): the scalars `PF_NAMES`
# (floats), then the age table (`model._age_table`: uniform cut points and the age of each
# interval between them).
FastParams = namedtuple("FastParams", (*PF_NAMES, "age_cuts", "age_values"))

# Laziness of the stages (``lazy``): EXACT computes every quantity; TRIALS leaves out what no
# output of `Trials` can show (a death, an MRD jump or a progression later than a day after
# the patient's follow-up horizon); ANALYSIS also what the landmark analysis never reads (loss
# to follow-up and discontinuation after the horizon, clonal fractions, the serious event). A
# quantity left out is ``inf`` ("after the horizon"); whether it is left out is decided from
# its uniform against a cut point with a margin (`model._fast_inputs`), so every output that
# is kept is the same, bit for bit, as with EXACT (tested).
EXACT, TRIALS, ANALYSIS = 0, 1, 2
_U_MARGIN = 1e-9  # uniforms this close to a cut point are decided by the exact computation


@njit(cache=True, inline="always")
def _patient_uniform(u_in, src, r, i, c):
    """Patient-level column ``c`` of patient ``i`` of row ``r``: from the given block
    ``u_in[r, i, c]`` or the counter draw ``base + c``. ``src`` is the patient's uniform source
    ``(use_in, key, base, vbase, k1)``."""
    use_in, key, base, _vbase, _k1 = src
    if use_in:
        return u_in[r, i, c]
    return _uniform(key, base + np.uint64(c))


@njit(cache=True, inline="always")
def _visit_uniform(u_in, src, r, i, c):
    """Visit column ``c``: ``u_in[r, i, k1 + c]`` or the counter draw ``vbase + c``."""
    use_in, key, _base, vbase, k1 = src
    if use_in:
        return u_in[r, i, k1 + c]
    return _uniform(key, vbase + np.uint64(c))


# --- the model's stages for one patient (`mrdtrack.simulate.stages`; the numpy reference's
# functions of the same names in `mrdtrack.simulate.model`) --------------------------------


@njit(cache=True, error_model="numpy", inline="always")
def accrual(q, u_enrol):
    """Stage ``accrual`` ("accrual, cutoff"): enrolment day, cutoff study day, horizon."""
    enrol = np.floor(u_enrol * q.enrolment_days)
    cutoff = np.floor(q.cutoff_calendar_day - enrol)
    horizon = min(float(cutoff), q.max_followup_days)
    return Accrual(enrol, cutoff, horizon)


@njit(cache=True, error_model="numpy", inline="always")
def covariates(q, u_age, u_sex, u_asct, u_risk, u_iss, u_induction, iss_cum, ind_cum):
    """Stage ``covariates`` ("covariates"): age, sex, prior ASCT, high risk, ISS, induction.

    The age is ``rint(clip(mean + sd * ndtri(u)))``: an integer constant between the table's cut
    points (`model._age_table`), so it is read there, and computed only for a uniform within
    ``_U_MARGIN`` of a cut point (the same age either way)."""
    return Covariates(
        _age(q, u_age),
        u_sex < q.male,
        u_asct < q.prior_transplant,
        u_risk < q.high_risk,
        _count_le(iss_cum, u_iss),
        _count_le(ind_cum, u_induction),
    )


@njit(cache=True, error_model="numpy", inline="always")
def baseline_mrd(q, asct, risk, u_negative, u_response, rn_cum, rp_cum):
    """Stage ``baseline_mrd`` ("true MRD state at day 0"), and the response given it."""
    logit = (
        q.negative_logit
        + q.negative_logit_transplant * (1.0 if asct else 0.0)
        + q.negative_logit_high_risk * (1.0 if risk else 0.0)
    )
    neg0 = u_negative < 1.0 / (1.0 + math.exp(-logit))
    return BaselineMrd(neg0, _count_le(rn_cum if neg0 else rp_cum, u_response))


@njit(cache=True, error_model="numpy", inline="always")
def mrd_path(q, neg0, risk, u, c_jump, jumps, horizon=np.inf):
    """Stage ``mrd_path`` ("MRD dynamics"): the jump times, written into ``jumps``, from the
    uniforms ``u[c_jump:]``. Jumps after the first one later than ``horizon`` are not drawn
    (``inf``): nothing observed depends on them (`TRIALS`)."""
    rr = math.exp(q.neg_to_pos_high_risk_log_rr * (1.0 if risk else 0.0)) / _YPD
    r_np_e, r_np_l = q.neg_to_pos_early * rr, q.neg_to_pos_late * rr
    r_pn_e, r_pn_l = q.pos_to_neg_early / _YPD, q.pos_to_neg_late / _YPD
    t = 0.0
    sneg = neg0
    for j in range(jumps.size):
        if t == np.inf or t > horizon:  # the last jump never happens (or is not needed):
            jumps[j] = np.inf  # neither are the later ones
            continue
        e = -math.log1p(-u[c_jump + j])
        if sneg:
            t = _exp_piecewise(t, e, r_np_e, r_np_l, q.change_day)
        else:
            t = _exp_piecewise(t, e, r_pn_e, r_pn_l, q.change_day)
        jumps[j] = t
        sneg = not sneg


@njit(cache=True, error_model="numpy", inline="always")
def progression(q, neg0, risk, age, jumps, u_prog, s0, s1, rt, horizon=np.inf):
    """Stage ``progression`` ("progression"): the day of progression over the MRD segments
    (``s0``, ``s1``, ``rt``: scratch of ``2 (max_transitions + 1)`` segments). ``inf`` without
    its logarithm when the uniform alone puts it after ``horizon`` (`TRIALS`): the unit
    exponential ``-log(1 - u)`` is at least ``u``, so ``u`` above the hazard accumulated by
    ``horizon`` (with a margin) means no progression by then."""
    max_tr = jumps.size
    nseg = 2 * (max_tr + 1)
    mult = math.exp(q.high_risk_log_hr * (1.0 if risk else 0.0)
                    + q.age_log_hr_per_10y * (age - q.age_mean) / 10.0) / _YPD  # fmt: skip
    start = 0.0
    sneg = neg0
    ever = neg0
    used = 0
    for j in range(max_tr + 1):
        if start == np.inf:  # segments from here on are empty (no hazard)
            break
        used += 2
        end = jumps[j] if j < max_tr else np.inf
        lost = (not sneg) and ever
        mid = min(start + q.lost_change_days, end) if lost else end
        ra = q.p_negative if sneg else (q.p_lost_early if lost else q.p_persistent)
        rb = q.p_lost_late if lost else ra
        s0[2 * j], s1[2 * j], rt[2 * j] = start, mid, ra * mult
        s0[2 * j + 1], s1[2 * j + 1], rt[2 * j + 1] = mid, end, rb * mult
        start = end
        sneg = not sneg
        ever = ever or sneg
    if horizon < np.inf:
        by_horizon = 0.0
        for m in range(used):
            if s0[m] < horizon and s1[m] > s0[m] and rt[m] > 0:
                by_horizon += rt[m] * (min(s1[m], horizon) - s0[m])
        if u_prog > by_horizon * (1.0 + _U_MARGIN) + _U_MARGIN:
            return np.inf
    e_prog = -math.log1p(-u_prog)
    cum = 0.0
    for m in range(used):
        sh = rt[m] * (s1[m] - s0[m]) if s1[m] > s0[m] else 0.0
        prev = cum
        cum += sh
        if not (cum < e_prog):
            # hazard before the segment: cum - sh as the reference (bit for bit), or the
            # running sum when the segment is endless (cum - sh = inf - inf)
            before = prev if sh == np.inf else cum - sh
            return s0[m] + (e_prog - before) / rt[m]
    if used == nseg:  # all jumps happened: the numpy reference's last segment
        m = nseg - 1
        sh = rt[m] * (s1[m] - s0[m]) if s1[m] > s0[m] else 0.0
        return s0[m] + (e_prog - (cum - sh)) / rt[m]
    return np.inf  # no event in the used segments: empty ones follow


@njit(cache=True, error_model="numpy", inline="always")
def follow_up(q, acc, age, t_prog, u_death, u_ltfu, u_early, u_early_day, lazy=EXACT):
    """Stage ``follow_up`` ("death, other causes", "loss to follow-up", the cutoff). With
    ``lazy`` (`TRIALS`, `ANALYSIS`), a death (and with `ANALYSIS` a loss to follow-up) whose
    uniform puts it after the horizon is ``inf``."""
    if lazy >= TRIALS and u_death > q.death_u_beyond:
        t_death = np.inf
    else:
        t_death = -math.log1p(-u_death) / (
            q.death_rate / _YPD * math.exp(q.death_age_log_hr * (age - q.age_mean))
        )
    if q.loss_per_year <= 0 or (lazy >= ANALYSIS and u_ltfu > q.ltfu_u_beyond):
        t_ltfu = np.inf
    else:
        t_ltfu = -math.log1p(-u_ltfu) / (q.loss_per_year / _YPD)
    early = u_early < q.early_discontinuation
    t_early = 1.0 + np.floor(u_early_day * (q.early_window_days - 1))
    prog_d = max(np.ceil(t_prog), 1.0)
    death_d = max(np.ceil(t_death), 1.0)
    ltfu_d = max(np.ceil(t_ltfu), 1.0)
    fu_end = min(acc.horizon, ltfu_d)
    if early:
        fu_end = min(fu_end, t_early + q.early_withdrawal_followup_days)
    fu_end = min(fu_end, death_d)
    return FollowUp(
        prog_d, prog_d <= fu_end, death_d, death_d <= fu_end, ltfu_d, fu_end, early, t_early
    )


@njit(cache=True, error_model="numpy", inline="always")
def treatment(q, acc, f, u_disc, lazy=EXACT):
    """Stage ``treatment`` ("treatment"): end day (-1 ongoing), reason, cycles, duration. With
    `ANALYSIS`, a discontinuation after the horizon is ``inf`` (the cycles stay exact; the end
    day and reason need not)."""
    if f.early:
        t_disc = f.early_day
    elif lazy >= ANALYSIS and u_disc > q.disc_u_beyond:
        t_disc = np.inf
    else:
        t_disc = q.early_window_days + -math.log1p(-u_disc) / (q.discontinuation_per_year / _YPD)
    fu_end = f.last_contact_day
    tx_end = min(t_disc, f.progression_day if f.progression_observed else np.inf)
    tx_end = min(tx_end, f.death_day if f.death_observed else np.inf)
    tx_end = min(min(tx_end, q.max_days), f.ltfu_day)
    ongoing = (tx_end > fu_end) and (fu_end >= acc.cutoff)
    if ongoing:
        reason = 0
    elif f.early:
        reason = 1
    elif f.progression_observed and tx_end == f.progression_day:
        reason = 2
    elif f.death_observed and tx_end == f.death_day:
        reason = 3
    elif tx_end == q.max_days:
        reason = 4
    elif tx_end == f.ltfu_day:
        reason = 5
    else:
        reason = 6
    tx_end = min(np.ceil(tx_end), fu_end)
    tx_dur = fu_end if ongoing else tx_end
    cycles = min(np.floor(tx_dur / q.cycle_days), np.floor(q.max_days / q.cycle_days))
    return Treatment(-1.0 if ongoing else tx_end, reason, cycles, tx_dur)


@njit(cache=True, error_model="numpy", inline="always")
def assessments(q, neg0, jumps, f, u_day, u_missing, u_in, src, r, i, day_o, res_o, sens_o, cf_o,
                lazy=EXACT):  # fmt: skip
    """Stage ``assessments`` ("MRD assessments") of patient ``i`` of row ``r``, written into
    ``day_o[r, i]``, ``res_o[r, i]``, ``sens_o[r, i]``, ``cf_o[r, i]``; visit draws from
    ``src`` (`_visit_uniform`), made only when needed. Whether a true positive is detected is
    read from its uniform's cut points (`_clonal_fraction`); its clonal fraction is computed when it
    is reported (not with `ANALYSIS`)."""
    nv = day_o.shape[2]
    bday = q.day_min + np.floor(u_day * (q.day_max - q.day_min + 1))
    stop = min(f.last_contact_day, f.progression_day - 1 if f.progression_observed else np.inf)
    for v in range(nv):
        if v > 0:
            wj = _visit_uniform(u_in, src, r, i, v)
            jit = np.floor(wj * (q.window_before_days + q.window_days + 1)) - q.window_before_days
        else:
            jit = 0.0
        vd = bday + q.interval_days * v + jit
        day_o[r, i, v] = int(vd)
        sens_o[r, i, v] = q.lod  # not taken or not evaluable: never used
        cf_o[r, i, v] = np.nan
        happens = vd <= stop
        if happens:
            if v == 0:
                happens = u_missing >= q.missing
            else:
                happens = not (_visit_uniform(u_in, src, r, i, nv + v) < q.missed)
        if not happens:
            res_o[r, i, v] = NO_SAMPLE
            continue
        sens = q.lod
        if v > 0:
            if _visit_uniform(u_in, src, r, i, 2 * nv + v) < q.inadequate:
                res_o[r, i, v] = NOT_EVALUABLE
                continue
            if _visit_uniform(u_in, src, r, i, 3 * nv + v) < q.low_sensitivity:
                sens = q.low_lod
        sens_o[r, i, v] = sens
        nj = 0
        for j in range(jumps.size):
            if jumps[j] <= vd:
                nj += 1
        tneg = neg0 if nj % 2 == 0 else not neg0
        res = NEGATIVE
        if not tneg:
            wc = _visit_uniform(u_in, src, r, i, 4 * nv + v)
            low = sens != q.lod
            lo = q.clonal_lo_low_lod if low else q.clonal_lo_lod
            hi = q.clonal_hi_low_lod if low else q.clonal_hi_lod
            if wc > hi or (wc >= lo and _clonal_fraction(q, wc) >= sens):
                res = POSITIVE
                if lazy < ANALYSIS:
                    cf_o[r, i, v] = np.rint(_clonal_fraction(q, wc) * 1e8) / 1e8
        res_o[r, i, v] = res


@njit(cache=True, error_model="numpy", inline="always")
def _clonal_fraction(q, w):
    """Clonal fraction of a true positive sample with uniform ``w``: log-normal, capped at 0.5.
    It reaches the sample's sensitivity exactly when ``w`` is above that sensitivity's cut point
    (`model._fast_inputs`: ``clonal_lo_*`` and ``clonal_hi_*`` bracket it by ``_U_MARGIN``);
    `assessments` computes it only between the two, or to report it."""
    return min(10.0 ** (q.clonal_log10_mean + q.clonal_log10_sd * ndtri(w)), 0.5)


@njit(cache=True, error_model="numpy", inline="always")
def adverse_events(duration, ae_any, ae_g3, ae_g4, u_in, src, r, i, c_ae, grade_o, onset_o, rel_o):
    """Stage ``adverse_events`` ("adverse events") of patient ``i`` of row ``r``, written into
    ``grade_o[r, i]``, ``onset_o[r, i]``, ``rel_o[r, i]``; the term columns of ``src``
    (`_patient_uniform`) start at ``c_ae`` (four blocks of ``T``)."""
    n_terms = ae_any.size
    span = max(duration - 1, 1.0)
    for m in range(n_terms):
        ua = _patient_uniform(u_in, src, r, i, c_ae + m)
        g = 0
        if ua < ae_g3[m] or ua < ae_any[m]:
            ug = _patient_uniform(u_in, src, r, i, c_ae + n_terms + m)
            g = (4 if ug < ae_g4[m] else 3) if ua < ae_g3[m] else (1 if ug < 0.5 else 2)
        grade_o[r, i, m] = g
        if g > 0:
            uo = _patient_uniform(u_in, src, r, i, c_ae + 2 * n_terms + m)
            onset_o[r, i, m] = int(1 + np.floor(uo * span))
            ur = _patient_uniform(u_in, src, r, i, c_ae + 3 * n_terms + m)
            rel_o[r, i, m] = ur < 0.8
        else:
            onset_o[r, i, m] = 0
            rel_o[r, i, m] = False


@njit(cache=True, error_model="numpy", inline="always")
def serious_event(q, duration, u_in, src, r, i, c_sae):
    """Stage ``serious_event`` ("adverse events"): columns ``c_sae`` (happens), ``+1`` (term),
    ``+2`` (onset), the last two drawn only for an event."""
    if not _patient_uniform(u_in, src, r, i, c_sae) < q.serious_fraction:
        return SeriousEvent(False, 0, 0)
    span = max(duration - 1, 1.0)
    term = int(np.floor(_patient_uniform(u_in, src, r, i, c_sae + 1) * q.n_serious_terms))
    onset = int(1 + np.floor(_patient_uniform(u_in, src, r, i, c_sae + 2) * span))
    return SeriousEvent(True, term, onset)


@njit(cache=True)
def _work(max_tr):
    """Scratch of `_simulate_rows`: the up-front uniforms, jumps and the progression segments."""
    nseg = 2 * (max_tr + 1)
    return np.empty(max_tr + 15), np.empty(max_tr), np.empty(nseg), np.empty(nseg), np.empty(nseg)


@njit(cache=True, error_model="numpy", _nrt=False)
def _simulate_rows(
    r0, r1, seed, reps, u_in, use_in, q, max_tr, nv, iss_cum, ind_cum, rn_cum, rp_cum,
    ae_any, ae_g3, ae_g4, k1, kv, work, lazy,
    enrol_o, cutoff_o, age_o, male_o, asct_o, risk_o, iss_o, ind_o, resp_o, neg0_o,
    prog_o, death_o, lc_o, txend_o, reason_o, cycles_o,
    vday_o, res_o, sens_o, cf_o, grade_o, onset_o, rel_o, sae_o, saet_o, saeon_o,
):  # fmt: skip
    """Simulate replicate rows ``r0 .. r1 - 1`` into the output arrays, patient by patient, stage
    by stage (``u_in`` used when ``use_in``; else the counter streams of ``seed``), leaving out
    what ``lazy`` allows (`TRIALS`, `ANALYSIS`)."""
    # columns of the patient-level block (`model._layout`): 9 single draws, the jumps, 6 more,
    # then the AE terms (4 blocks of T) and the serious event, induction and response
    c_jump = 9
    c_prog = c_jump + max_tr
    c_ae = c_prog + 6
    c_tail = c_ae + 4 * ae_any.size
    n = enrol_o.shape[1]
    u, jumps, s0, s1, rt = work
    for r in range(r0, r1):
        key = stream_key(seed, np.uint64(reps[r]))
        for i in range(n):
            src = (use_in, key, np.uint64(i * k1), _VISIT_OFFSET + np.uint64(i * kv), k1)
            # the draws every patient needs; adverse-event, serious-event and visit draws are
            # made on demand in their stages (most are not needed)
            for c in range(c_ae):
                u[c] = _patient_uniform(u_in, src, r, i, c)
            acc = accrual(q, u[0])
            u_ind = _patient_uniform(u_in, src, r, i, c_tail + 3)
            cov = covariates(q, u[1], u[2], u[3], u[4], u[5], u_ind, iss_cum, ind_cum)
            u_resp = _patient_uniform(u_in, src, r, i, c_tail + 4)
            base = baseline_mrd(q, cov.prior_transplant, cov.high_risk, u[8], u_resp, rn_cum,
                                rp_cum)  # fmt: skip
            neg0 = base.negative
            # past a day after the horizon, nothing observed depends on jumps or progression
            horizon = acc.horizon + 1.0 if lazy >= TRIALS else np.inf
            mrd_path(q, neg0, cov.high_risk, u, c_jump, jumps, horizon)
            t_prog = progression(q, neg0, cov.high_risk, cov.age, jumps, u[c_prog], s0, s1, rt,
                                 horizon)  # fmt: skip
            f = follow_up(q, acc, cov.age, t_prog, u[c_prog + 1], u[c_prog + 5], u[c_prog + 2],
                          u[c_prog + 3], lazy)  # fmt: skip
            tx = treatment(q, acc, f, u[c_prog + 4], lazy)
            assessments(q, neg0, jumps, f, u[6], u[7], u_in, src, r, i, vday_o, res_o, sens_o,
                        cf_o, lazy)  # fmt: skip
            adverse_events(tx.duration, ae_any, ae_g3, ae_g4, u_in, src, r, i, c_ae, grade_o,
                           onset_o, rel_o)  # fmt: skip
            if lazy >= ANALYSIS:
                sae = SeriousEvent(False, 0, 0)
            else:
                sae = serious_event(q, tx.duration, u_in, src, r, i, c_tail)
            enrol_o[r, i] = int(acc.enrol)
            cutoff_o[r, i] = int(acc.cutoff)
            age_o[r, i] = cov.age
            male_o[r, i] = cov.male
            asct_o[r, i] = cov.prior_transplant
            risk_o[r, i] = cov.high_risk
            iss_o[r, i] = cov.iss
            ind_o[r, i] = cov.induction
            resp_o[r, i] = base.response
            neg0_o[r, i] = neg0
            prog_o[r, i] = int(f.progression_day) if f.progression_observed else -1
            death_o[r, i] = int(f.death_day) if f.death_observed else -1
            lc_o[r, i] = int(f.last_contact_day)
            txend_o[r, i] = int(tx.end_day)
            reason_o[r, i] = tx.reason
            cycles_o[r, i] = int(tx.cycles)
            sae_o[r, i] = sae.happened
            saet_o[r, i] = sae.term
            saeon_o[r, i] = sae.onset


@njit(cache=True)
def simulate_kernel(seed, reps, u_in, use_in, q, max_tr, nv, iss_cum, ind_cum, rn_cum, rp_cum,
                    ae_any, ae_g3, ae_g4, k1, kv, lazy, *out):  # fmt: skip
    """All replicate rows on one thread (``lazy``: `EXACT` or `TRIALS`, the same outputs)."""
    _simulate_rows(0, reps.size, seed, reps, u_in, use_in, q, max_tr, nv, iss_cum, ind_cum,
                   rn_cum, rp_cum, ae_any, ae_g3, ae_g4, k1, kv, _work(max_tr), lazy,
                   *out)  # fmt: skip


@njit(cache=True)
def _scratch_trial(n, nv, nt):
    """One trial's output arrays (rows of one replicate), in `_simulate_rows`' order."""
    i64, i8, f8, b1 = np.int64, np.int8, np.float64, np.bool_
    return (
        np.empty((1, n), i64), np.empty((1, n), i64), np.empty((1, n), f8),
        np.empty((1, n), b1), np.empty((1, n), b1), np.empty((1, n), b1),
        np.empty((1, n), i8), np.empty((1, n), i8), np.empty((1, n), i8), np.empty((1, n), b1),
        np.empty((1, n), i64), np.empty((1, n), i64), np.empty((1, n), i64),
        np.empty((1, n), i64), np.empty((1, n), i8), np.empty((1, n), i64),
        np.empty((1, n, nv), i64), np.empty((1, n, nv), i8), np.empty((1, n, nv), f8),
        np.empty((1, n, nv), f8),
        np.empty((1, n, nt), i8), np.empty((1, n, nt), i64), np.empty((1, n, nt), b1),
        np.empty((1, n), b1), np.empty((1, n), i64), np.empty((1, n), i64),
    )  # fmt: skip


@njit(cache=True, nogil=True)
def simulate_analyse_kernel(
    seed, reps, q, max_tr, nv, iss_cum, ind_cum, rn_cum, rp_cum, ae_any, ae_g3, ae_g4, k1, kv,
    min_cycles, landmark, threshold, need,
    cls_o, lcls_o, time_o, event_o, per_o, sus_o,
):  # fmt: skip
    """Simulate each replicate into one reused scratch trial and analyse it at once.

    The same numbers as the fast engine followed by `_kernels.analyse_landmark` (tested), with
    no per-trial output arrays (the scratch and work arrays are made once per call) and only
    what the analysis reads (`ANALYSIS`): the virtual-trial loop of calibration-style sweeps.
    Releases the GIL: `model.virtual_trials` runs blocks of replicates on threads, each call
    with its own scratch; row ``r`` of the outputs depends only on ``(seed, reps[r])``.
    """
    n = cls_o.shape[1]
    u_in = np.zeros((1, 1, 1))
    work = _work(max_tr)
    scratch = _scratch_trial(n, nv, ae_any.size)
    a_work = analysis_work(n, nv)
    for r in range(reps.size):
        _simulate_rows(0, 1, seed, reps[r : r + 1], u_in, False, q, max_tr, nv, iss_cum,
                       ind_cum, rn_cum, rp_cum, ae_any, ae_g3, ae_g4, k1, kv, work, ANALYSIS,
                       *scratch)  # fmt: skip
        analyse_rows(
            0, 1, scratch[16], scratch[17], scratch[18], scratch[10], scratch[11], scratch[12],
            scratch[1], scratch[15], min_cycles, landmark, threshold, need, a_work,
            cls_o[r : r + 1], lcls_o[r : r + 1], time_o[r : r + 1], event_o[r : r + 1],
            per_o[r : r + 1], sus_o[r : r + 1],
        )  # fmt: skip
