"""The generative model as one numba kernel (the fast engine), with its own counter-based streams.

`mrdtrack.simulate.model.simulate_trials` is the plain-numpy reference (``engine="reference"``):
it draws each replicate's uniform block from ``numpy.random.default_rng([seed, i])`` and
evaluates the model with array operations. This module evaluates the *same* model, patient by
patient, in one compiled loop (``engine="fast"``). Given the same uniform block both engines give
the same trials (tested: integer outputs equal, floats to rounding). The fast engine draws its
uniforms itself from a counter-based generator, so replicate ``i`` still depends only on
``(seed, i)`` — whatever the batching or the number of workers — but its streams differ from the
reference engine's: the two engines give different trials with the same distribution.

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

import numpy as np

from mrdtrack.simulate._kernels import _analyse_rows

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a hard dependency; keep the module importable

    def njit(*args, **kwargs):
        def wrap(f):
            return f

        return wrap if not args or not callable(args[0]) else args[0]


_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED_SALT = np.uint64(0x6A09E667F3BCC909)
_VISIT_OFFSET = np.uint64(1 << 40)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO53 = 1.0 / 9007199254740992.0


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


# indices of the scalar parameters in the ``pf`` vector built by `model._fast_inputs`
PF_NAMES = (
    "enrolment_days", "cutoff_calendar_day", "max_followup_days",
    "age_mean", "age_sd", "age_min", "age_max", "male", "prior_transplant", "high_risk",
    "day_min", "day_max", "missing", "negative_logit", "negative_logit_transplant",
    "negative_logit_high_risk", "clonal_log10_mean", "clonal_log10_sd",
    "neg_to_pos_early", "neg_to_pos_late", "neg_to_pos_high_risk_log_rr", "pos_to_neg_early",
    "pos_to_neg_late", "change_day",
    "p_negative", "p_persistent", "p_lost_early", "p_lost_late", "lost_change_days",
    "p_high_risk_log_hr", "p_age_log_hr_per_10y",
    "death_rate", "death_age_log_hr",
    "cycle_days", "early_discontinuation", "early_window_days", "discontinuation_per_year",
    "max_days", "loss_per_year", "early_withdrawal_followup_days",
    "interval_days", "window_days", "window_before_days", "missed", "inadequate",
    "low_sensitivity", "lod", "low_lod",
    "serious_fraction", "n_serious_terms",
)  # fmt: skip


@njit(cache=True, error_model="numpy")
def _simulate_rows(
    r0, r1, seed, reps, u_in, use_in, pf, max_tr, nv, iss_cum, ind_cum, rn_cum, rp_cum,
    ae_any, ae_g3, ae_g4, k1, kv,
    enrol_o, cutoff_o, age_o, male_o, asct_o, risk_o, iss_o, ind_o, resp_o, neg0_o,
    prog_o, death_o, lc_o, txend_o, reason_o, cycles_o,
    vday_o, res_o, sens_o, cf_o, grade_o, onset_o, rel_o, sae_o, saet_o, saeon_o,
):  # fmt: skip
    """Simulate replicate rows ``r0 .. r1 - 1`` into the output arrays (``u_in`` used when
    ``use_in``)."""
    # the scalar parameters, in `PF_NAMES` order
    enrolment_days = pf[0]
    cutoff_cal = pf[1]
    max_fu = pf[2]
    age_mean = pf[3]
    age_sd = pf[4]
    age_min = pf[5]
    age_max = pf[6]
    p_male = pf[7]
    p_asct = pf[8]
    p_risk = pf[9]
    day_min = pf[10]
    day_max = pf[11]
    p_missing = pf[12]
    neg_logit = pf[13]
    neg_logit_tx = pf[14]
    neg_logit_risk = pf[15]
    cf_mean = pf[16]
    cf_sd = pf[17]
    np_e = pf[18]
    np_l = pf[19]
    np_lrr = pf[20]
    pn_e = pf[21]
    pn_l = pf[22]
    change_day = pf[23]
    h_neg = pf[24]
    h_per = pf[25]
    h_le = pf[26]
    h_ll = pf[27]
    lost_change = pf[28]
    hr_risk = pf[29]
    hr_age = pf[30]
    death_rate = pf[31]
    death_age = pf[32]
    cycle_days = pf[33]
    p_early = pf[34]
    early_window = pf[35]
    disc_rate = pf[36]
    max_days = pf[37]
    loss_rate = pf[38]
    early_fu = pf[39]
    interval = pf[40]
    window = pf[41]
    window_before = pf[42]
    p_missed = pf[43]
    p_inad = pf[44]
    p_lows = pf[45]
    lod = pf[46]
    low_lod = pf[47]
    p_sae = pf[48]
    n_sae_terms = pf[49]
    n_terms = ae_any.size
    ypd = 365.25
    c_jump = 9
    c_prog = c_jump + max_tr
    c_ae = c_prog + 6
    c_tail = c_ae + 4 * n_terms
    nseg = 2 * (max_tr + 1)
    n = enrol_o.shape[1]
    u = np.empty(k1)
    w = np.empty(kv)
    jumps = np.empty(max_tr)
    s0 = np.empty(nseg)
    s1 = np.empty(nseg)
    rt = np.empty(nseg)
    for r in range(r0, r1):
        key = stream_key(seed, np.uint64(reps[r]))
        for i in range(n):
            # the draws every patient needs; adverse-event, serious-event and visit draws are
            # made on demand below (most are not needed)
            base = np.uint64(i * k1)
            vbase = _VISIT_OFFSET + np.uint64(i * kv)
            if use_in:
                for c in range(c_ae):
                    u[c] = u_in[r, i, c]
                for c in range(kv):
                    w[c] = u_in[r, i, k1 + c]
            else:
                for c in range(c_ae):
                    u[c] = _uniform(key, base + np.uint64(c))
            # accrual, cutoff, covariates
            enrol = np.floor(u[0] * enrolment_days)
            cutoff = np.floor(cutoff_cal - enrol)
            horizon = min(float(cutoff), max_fu)
            age = min(max(age_mean + age_sd * ndtri(u[1]), age_min), age_max)
            age = np.rint(age)
            male = u[2] < p_male
            asct = u[3] < p_asct
            risk = u[4] < p_risk
            riskf = 1.0 if risk else 0.0
            iss = _count_le(iss_cum, u[5])
            bday = day_min + np.floor(u[6] * (day_max - day_min + 1))
            bmiss = u[7]
            logit = neg_logit + neg_logit_tx * (1.0 if asct else 0.0) + neg_logit_risk * riskf
            neg0 = u[8] < 1.0 / (1.0 + math.exp(-logit))
            rr = math.exp(np_lrr * riskf) / ypd
            r_np_e, r_np_l = np_e * rr, np_l * rr
            r_pn_e, r_pn_l = pn_e / ypd, pn_l / ypd
            t = 0.0
            sneg = neg0
            for j in range(max_tr):
                if t == np.inf:  # the last jump never happens: neither do the later ones
                    jumps[j] = np.inf
                    continue
                e = -math.log1p(-u[c_jump + j])
                if sneg:
                    t = _exp_piecewise(t, e, r_np_e, r_np_l, change_day)
                else:
                    t = _exp_piecewise(t, e, r_pn_e, r_pn_l, change_day)
                jumps[j] = t
                sneg = not sneg
            # progression over MRD segments
            mult = math.exp(hr_risk * riskf + hr_age * (age - age_mean) / 10.0) / ypd
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
                mid = min(start + lost_change, end) if lost else end
                ra = h_neg if sneg else (h_le if lost else h_per)
                rb = h_ll if lost else ra
                s0[2 * j], s1[2 * j], rt[2 * j] = start, mid, ra * mult
                s0[2 * j + 1], s1[2 * j + 1], rt[2 * j + 1] = mid, end, rb * mult
                start = end
                sneg = not sneg
                ever = ever or sneg
            e_prog = -math.log1p(-u[c_prog])
            cum = 0.0
            t_prog = np.inf  # no event in the used segments: empty ones follow (or none)
            for m in range(used):
                sh = rt[m] * (s1[m] - s0[m]) if s1[m] > s0[m] else 0.0
                prev = cum
                cum += sh
                if not (cum < e_prog):
                    # hazard before the segment: cum - sh as the reference (bit for bit), or
                    # the running sum when the segment is endless (cum - sh = inf - inf)
                    before = prev if sh == np.inf else cum - sh
                    t_prog = s0[m] + (e_prog - before) / rt[m]
                    break
            else:
                if used == nseg:  # all jumps happened: the numpy reference's last segment
                    m = nseg - 1
                    sh = rt[m] * (s1[m] - s0[m]) if s1[m] > s0[m] else 0.0
                    t_prog = s0[m] + (e_prog - (cum - sh)) / rt[m]
            # death, loss to follow-up, treatment
            t_death = -math.log1p(-u[c_prog + 1]) / (
                death_rate / ypd * math.exp(death_age * (age - age_mean))
            )
            t_ltfu = -math.log1p(-u[c_prog + 5]) / (loss_rate / ypd) if loss_rate > 0 else np.inf
            early = u[c_prog + 2] < p_early
            t_early = 1.0 + np.floor(u[c_prog + 3] * (early_window - 1))
            if early:
                t_disc = t_early
            else:
                t_disc = early_window + -math.log1p(-u[c_prog + 4]) / (disc_rate / ypd)
            prog_d = max(np.ceil(t_prog), 1.0)
            death_d = max(np.ceil(t_death), 1.0)
            ltfu_d = max(np.ceil(t_ltfu), 1.0)
            fu_end = min(horizon, ltfu_d)
            if early:
                fu_end = min(fu_end, t_early + early_fu)
            fu_end = min(fu_end, death_d)
            prog_obs = prog_d <= fu_end
            death_obs = death_d <= fu_end
            tx_end = min(t_disc, prog_d if prog_obs else np.inf)
            tx_end = min(tx_end, death_d if death_obs else np.inf)
            tx_end = min(min(tx_end, max_days), ltfu_d)
            ongoing = (tx_end > fu_end) and (fu_end >= cutoff)
            if ongoing:
                reason = 0
            elif early:
                reason = 1
            elif prog_obs and tx_end == prog_d:
                reason = 2
            elif death_obs and tx_end == death_d:
                reason = 3
            elif tx_end == max_days:
                reason = 4
            elif tx_end == ltfu_d:
                reason = 5
            else:
                reason = 6
            tx_end = min(np.ceil(tx_end), fu_end)
            tx_dur = fu_end if ongoing else tx_end
            cycles = min(np.floor(tx_dur / cycle_days), np.floor(max_days / cycle_days))
            # assessments (visit draws: jitter, missed, inadequate, low sensitivity, clonal)
            stop = min(fu_end, prog_d - 1 if prog_obs else np.inf)
            for v in range(nv):
                # column c of the visit block: w[c] (given block) or drawn on demand
                if v > 0:
                    wj = w[v] if use_in else _uniform(key, vbase + np.uint64(v))
                    jit = np.floor(wj * (window_before + window + 1)) - window_before
                else:
                    jit = 0.0
                vd = bday + interval * v + jit
                vday_o[r, i, v] = int(vd)
                sens_o[r, i, v] = lod  # not taken or not evaluable: never used
                cf_o[r, i, v] = np.nan
                happens = vd <= stop
                if happens:
                    if v == 0:
                        happens = bmiss >= p_missing
                    else:
                        c = nv + v
                        wm = w[c] if use_in else _uniform(key, vbase + np.uint64(c))
                        happens = not (wm < p_missed)
                if not happens:
                    res_o[r, i, v] = 0
                    continue
                sens = lod
                if v > 0:
                    c = 2 * nv + v
                    if (w[c] if use_in else _uniform(key, vbase + np.uint64(c))) < p_inad:
                        res_o[r, i, v] = 3
                        continue
                    c = 3 * nv + v
                    if (w[c] if use_in else _uniform(key, vbase + np.uint64(c))) < p_lows:
                        sens = low_lod
                sens_o[r, i, v] = sens
                nj = 0
                for j in range(max_tr):
                    if jumps[j] <= vd:
                        nj += 1
                tneg = neg0 if nj % 2 == 0 else not neg0
                res = 1
                if not tneg:
                    c = 4 * nv + v
                    wc = w[c] if use_in else _uniform(key, vbase + np.uint64(c))
                    cf = min(10.0 ** (cf_mean + cf_sd * ndtri(wc)), 0.5)
                    if cf >= sens:
                        res = 2
                        cf_o[r, i, v] = np.rint(cf * 1e8) / 1e8
                res_o[r, i, v] = res
            # adverse events
            span = max(tx_dur - 1, 1.0)
            for m in range(n_terms):
                ua = _draw(use_in, u_in, r, i, c_ae + m, key, base)
                g = 0
                if ua < ae_g3[m] or ua < ae_any[m]:
                    ug = _draw(use_in, u_in, r, i, c_ae + n_terms + m, key, base)
                    g = (4 if ug < ae_g4[m] else 3) if ua < ae_g3[m] else (1 if ug < 0.5 else 2)
                grade_o[r, i, m] = g
                if g > 0:
                    uo = _draw(use_in, u_in, r, i, c_ae + 2 * n_terms + m, key, base)
                    onset_o[r, i, m] = int(1 + np.floor(uo * span))
                    ur = _draw(use_in, u_in, r, i, c_ae + 3 * n_terms + m, key, base)
                    rel_o[r, i, m] = ur < 0.8
                else:
                    onset_o[r, i, m] = 0
                    rel_o[r, i, m] = False
            sae = _draw(use_in, u_in, r, i, c_tail, key, base) < p_sae
            sae_o[r, i] = sae
            if sae:
                us = _draw(use_in, u_in, r, i, c_tail + 1, key, base)
                saet_o[r, i] = int(np.floor(us * n_sae_terms))
                us = _draw(use_in, u_in, r, i, c_tail + 2, key, base)
                saeon_o[r, i] = int(1 + np.floor(us * span))
            else:
                saet_o[r, i] = 0
                saeon_o[r, i] = 0
            ind_o[r, i] = _count_le(ind_cum, _draw(use_in, u_in, r, i, c_tail + 3, key, base))
            rc = rn_cum if neg0 else rp_cum
            resp_o[r, i] = _count_le(rc, _draw(use_in, u_in, r, i, c_tail + 4, key, base))
            enrol_o[r, i] = int(enrol)
            cutoff_o[r, i] = int(cutoff)
            age_o[r, i] = age
            male_o[r, i] = male
            asct_o[r, i] = asct
            risk_o[r, i] = risk
            iss_o[r, i] = iss
            neg0_o[r, i] = neg0
            prog_o[r, i] = int(prog_d) if prog_obs else -1
            death_o[r, i] = int(death_d) if death_obs else -1
            lc_o[r, i] = int(fu_end)
            txend_o[r, i] = -1 if ongoing else int(tx_end)
            reason_o[r, i] = reason
            cycles_o[r, i] = int(cycles)


@njit(cache=True)
def simulate_kernel(seed, reps, u_in, use_in, pf, max_tr, nv, iss_cum, ind_cum, rn_cum, rp_cum,
                    ae_any, ae_g3, ae_g4, k1, kv, *out):  # fmt: skip
    """All replicate rows on one thread."""
    _simulate_rows(0, reps.size, seed, reps, u_in, use_in, pf, max_tr, nv, iss_cum, ind_cum,
                   rn_cum, rp_cum, ae_any, ae_g3, ae_g4, k1, kv, *out)  # fmt: skip


@njit(cache=True)
def simulate_analyse_kernel(
    seed, reps, pf, max_tr, nv, iss_cum, ind_cum, rn_cum, rp_cum, ae_any, ae_g3, ae_g4, k1, kv,
    scratch, min_cycles, landmark, threshold, need,
    cls_o, lcls_o, time_o, event_o, per_o, sus_o,
):  # fmt: skip
    """Simulate each replicate into one reused scratch trial and analyse it at once.

    The same numbers as the fast engine followed by `_kernels.analyse_landmark` (tested), with
    no per-trial output arrays: the virtual-trial loop of calibration-style sweeps.
    """
    u_in = np.zeros((1, 1, 1))
    for r in range(reps.size):
        _simulate_rows(0, 1, seed, reps[r : r + 1], u_in, False, pf, max_tr, nv, iss_cum,
                       ind_cum, rn_cum, rp_cum, ae_any, ae_g3, ae_g4, k1, kv, *scratch)  # fmt: skip
        _analyse_rows(
            0, 1, scratch[16], scratch[17], scratch[18], scratch[10], scratch[11], scratch[12],
            scratch[1], scratch[15], min_cycles, landmark, threshold, need,
            cls_o[r : r + 1], lcls_o[r : r + 1], time_o[r : r + 1], event_o[r : r + 1],
            per_o[r : r + 1], sus_o[r : r + 1],
        )  # fmt: skip
