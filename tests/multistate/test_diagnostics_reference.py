"""msm diagnostics against R msm 1.7 (tests/reference/multistate/make_reference_diagnostics.R).

Deterministic quantities (efpt estimates, qratio, Pearson statistic/tables/df/p-values without
exact death times, Titman's accurate p-value) are compared to 1e-6 relative (msm was refitted at
reltol 1e-14; our estimates agree to < 1e-6).  Random quantities (efpt "normal" limits, Pearson
with imputed visit times after exact deaths, the bootstrap p-value) use numpy's generator, not
R's, and are compared within Monte Carlo error.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mrdtrack.multistate import (
    first_passage_time,
    fit_panel_markov,
    intensity_ratio,
    pearson_test,
    time_homogeneity_test,
)

REF = Path(__file__).resolve().parents[1] / "reference" / "multistate"
Q_CAV = np.array(
    [[0, 0.25, 0, 0.25], [0.166, 0, 0.166, 0.166], [0, 0.25, 0, 0.25], [0, 0, 0, 0]], dtype=float
)
Q3 = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]], dtype=float)


def load(name: str) -> dict:
    return json.loads((REF / f"msm_diag_{name}.json").read_text())


def one(x):
    return x[0] if isinstance(x, list) and len(x) == 1 else x


def msm_num(x):
    """msm's output with 1e308 standing for infinity."""
    a = np.asarray(x, dtype=float)
    return np.where(np.abs(a) >= 1e307, np.copysign(np.inf, a), a)


@pytest.fixture(scope="module")
def fits(cav):
    sim_h = pl.read_csv(REF / "sim_homog.csv")
    sim_i = pl.read_csv(REF / "sim_inhomog.csv")
    sim_e = pl.read_csv(REF / "sim_mrd_hmm.csv")
    kw = dict(subject="PTNUM", time="years", state="state", qmatrix=Q_CAV)
    sk = dict(subject="id", time="years", state="state", qmatrix=Q3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cav_sex = fit_panel_markov(cav, covariates=["sex"], errors="warn", **kw)
    return {
        "cav": fit_panel_markov(cav, exact_death_states=(4,), **kw),
        "cav_panel": fit_panel_markov(cav, **kw),
        "cav_sex_panel": cav_sex,
        "sim_homog": fit_panel_markov(sim_h, **sk),
        "sim_inhomog": fit_panel_markov(sim_i, **sk),
        "sim_exact": fit_panel_markov(
            sim_e,
            subject="id",
            time="years",
            state="true_state",
            qmatrix=Q3,
            exact_death_states=(3,),
        ),
        "data": {"sim_homog": sim_h, "sim_inhomog": sim_i},
    }


@pytest.mark.parametrize("name", ["cav", "cav_panel", "sim_homog", "sim_inhomog", "sim_exact"])
def test_fits_match_msm(fits, name):
    ref = load(name)
    assert fits[name].minus2loglik == pytest.approx(one(ref["minus2loglik"]), rel=1e-9)


# ------------------------------------------------------------------ efpt.msm
@pytest.mark.parametrize(
    "name,to", [("cav", 4), ("sim_homog", 3), ("sim_inhomog", 3), ("sim_exact", 3)]
)
def test_efpt_matches_msm(fits, name, to):
    ref = load(name)
    key = f"efpt_to{to}"
    r = first_passage_time(fits[name], to, ci="normal", n_draws=2000, seed=7)
    np.testing.assert_allclose(r.estimate, msm_num(ref[key]["estimate"]), rtol=1e-6)
    # simulation limits: numpy's draws against R's, both B = 2000 -> Monte Carlo agreement
    np.testing.assert_allclose(r.lower, msm_num(ref[key]["lower"]), rtol=0.03)
    np.testing.assert_allclose(r.upper, msm_num(ref[key]["upper"]), rtol=0.03)
    # our delta-method limits (no msm equivalent) sit within 10% of the simulation ones (skewed)
    d = first_passage_time(fits[name], to, ci="delta")
    fin = d.estimate > 0
    np.testing.assert_allclose(d.lower[fin], r.lower[fin], rtol=0.10)
    np.testing.assert_allclose(d.upper[fin], r.upper[fin], rtol=0.10)


def test_efpt_infinite_when_another_absorbing_state_comes_first(fits):
    ref = load("cav")
    r = first_passage_time(fits["cav"], 3)
    assert np.array_equal(np.isinf(r.estimate), np.isinf(msm_num(ref["efpt_to3"])))
    assert r.estimate[2] == 0


def test_efpt_start_distribution_is_the_weighted_mean(fits):
    r = first_passage_time(fits["sim_homog"], 3)
    w = first_passage_time(fits["sim_homog"], 3, start=[0.25, 0.75, 0])
    assert w.estimate[0] == pytest.approx(0.25 * r.estimate[0] + 0.75 * r.estimate[1])


# ------------------------------------------------------------------ qratio.msm
@pytest.mark.parametrize("name", ["cav", "cav_sex_panel", "sim_homog", "sim_inhomog"])
def test_qratio_matches_msm(fits, name):
    ref = load(name)["qratio"]
    for key, (est, se, lo, hi) in ref.items():
        a, b, c, d = (int(ch) for ch in key)
        r = intensity_ratio(fits[name], (a, b), (c, d))
        if fits[name].covariance is None:
            # our Hessian check finds the sex effect on 2->4 not identifiable (smallest
            # eigenvalue 3e-8 of the largest); msm reports limits regardless, we do not
            assert r.estimate == pytest.approx(est, rel=0.02)  # the flat direction moves it
            assert np.isnan(r.lower) and np.isnan(r.se)
            continue
        np.testing.assert_allclose(
            [r.estimate, r.se, r.lower, r.upper], [est, se, lo, hi], rtol=1e-6, err_msg=key
        )


# ------------------------------------------------------------------ pearson.msm
def _check_pearson(p, ref, rel=1e-6, p_acc_tol=1e-6):
    assert p.statistic == pytest.approx(one(ref["stat"]), rel=rel)
    assert p.transitions == tuple(ref["transitions"])
    np.testing.assert_array_equal(p.observed, np.asarray(ref["observed"], dtype=float))
    e = np.asarray(ref["expected"], dtype=float)
    np.testing.assert_allclose(p.expected, e, rtol=rel, atol=rel * e.max())
    assert p.df_upper == one(ref["df_upper"])
    assert p.df_lower == one(ref["df_lower"])
    # msm computes 1 - pchisq(), which is 0 below 1e-16; we report the exact tail
    for ours, key in ((p.p_upper, "p_upper"), (p.p_lower, "p_lower")):
        r = one(ref[key])
        if r > 1e-12:
            assert ours == pytest.approx(r, rel=1e-5)
        else:
            assert ours < 1e-12
    assert p.p_accurate == pytest.approx(one(ref["p_accurate"]), abs=p_acc_tol)


@pytest.mark.parametrize("name", ["cav_panel", "cav_sex_panel", "sim_homog", "sim_inhomog"])
def test_pearson_matches_msm(fits, name):
    rel = 1e-5 if name == "cav_sex_panel" else 1e-6
    # the accurate p uses our expected information; msm's is inflated by its aggregation of
    # time lags by printed value (see pearson_test's docstring): 7e-5 apart on sim_homog
    _check_pearson(pearson_test(fits[name]), load(name)["pearson"], rel=rel, p_acc_tol=1e-4)
    # given msm's information matrix, the accurate p-value is msm's to 1e-8
    info = np.asarray(load(name)["info"], dtype=float) / 2
    p = pearson_test(fits[name], information=info)
    assert p.p_accurate == pytest.approx(one(load(name)["pearson"]["p_accurate"]), abs=1e-8)


def test_pearson_other_groupings_match_msm(fits):
    p = pearson_test(fits["cav_panel"], timegroups=4, intervalgroups=2)
    _check_pearson(p, load("cav_panel")["pearson_t4i2"])


@pytest.mark.parametrize("name", ["cav", "sim_exact"])
def test_pearson_with_exact_deaths_agrees_in_distribution(fits, name):
    """Imputed visit times after deaths: msm used N = 2000 (R's RNG), we use N = 400."""
    ref = load(name)["pearson"]
    p = pearson_test(fits[name], n_imputations=400, seed=11)
    assert p.statistic == pytest.approx(one(ref["stat"]), rel=0.015)
    np.testing.assert_allclose(p.observed, np.asarray(ref["observed"], dtype=float), atol=0.6)
    e = np.asarray(ref["expected"], dtype=float)
    np.testing.assert_allclose(p.expected, e, atol=0.02 * e.max())
    assert p.df_upper == one(ref["df_upper"])
    assert np.isnan(p.df_lower) and p.p_accurate is None


def test_pearson_rejects_a_wrong_model_and_accepts_a_right_one(fits):
    """Data with MRD- -> MRD+ at 1.2/year in year 1 and 0.05 after, fitted homogeneous."""
    wrong = pearson_test(fits["sim_inhomog"])
    right = pearson_test(fits["sim_homog"])
    assert wrong.p_accurate < 1e-6 and wrong.p_upper < 1e-6
    assert right.p_accurate > 0.5 and right.p_lower > 0.5
    # with exact death times (imputation route) a correct model is accepted too
    assert pearson_test(fits["sim_exact"], n_imputations=100, seed=1).p_upper > 0.05


def test_pearson_bootstrap_matches_msm_in_distribution(fits):
    ref = load("sim_homog")["pearson"]
    p = pearson_test(fits["sim_homog"], boot=True, n_boot=60, seed=3)
    rb = np.asarray(ref["boot_stats"], dtype=float)
    assert len(p.boot_statistics) == 60
    # means of two bootstrap samples (60 ours, 100 msm's): within 4 standard errors
    se = np.sqrt(rb.var() / 100 + p.boot_statistics.var() / 60)
    assert abs(p.boot_statistics.mean() - rb.mean()) < 4 * se
    assert p.p_boot > 0.5 and one(ref["p_boot"]) > 0.5
    # reproducible with the seed
    again = pearson_test(fits["sim_homog"], boot=True, n_boot=60, seed=3)
    np.testing.assert_array_equal(again.boot_statistics, p.boot_statistics)


def test_pearson_bootstrap_rejects_the_wrong_model(fits):
    p = pearson_test(fits["sim_inhomog"], boot=True, n_boot=20, seed=3)
    assert p.p_boot == 0.0


# ------------------------------------------------------------------ lrtest.msm against pci
def test_homogeneity_lr_equals_msm_with_exact_deaths(cav):
    """cav, death at exact times: our nested LR equals lrtest.msm(cav.msm, cavpci.msm)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = time_homogeneity_test(
            cav,
            cuts=[5, 10],
            subject="PTNUM",
            time="years",
            state="state",
            qmatrix=Q_CAV,
            exact_death_states=(4,),
            errors="warn",
        )
    m2_h = json.loads((REF / "msm_cav.json").read_text())["minus2loglik"][0]
    m2_p = json.loads((REF / "msm_cav_pci.json").read_text())["minus2loglik"][0]
    assert h.minus2loglik_homogeneous == pytest.approx(m2_h, rel=1e-8)
    assert h.minus2loglik_piecewise == pytest.approx(m2_p, rel=1e-8)
    assert h.df == 14 and h.preferred == "piecewise"


def test_homogeneity_test_rejects_and_accepts(fits):
    kw = dict(subject="id", time="years", state="state", qmatrix=Q3)
    right = time_homogeneity_test(fits["data"]["sim_homog"], cuts=[1.0], **kw)
    wrong = time_homogeneity_test(fits["data"]["sim_inhomog"], cuts=[1.0], **kw)
    assert right.homogeneous_adequate and right.statistic >= 0
    assert not wrong.homogeneous_adequate and wrong.p_value < 1e-10
    assert "kept" in right.reason() and "rejected" in wrong.reason()
    # msm's pci fit agrees with ours; msm's lrtest against the plain fit is not a valid LR here
    # (panel-observed absorbing state: negative statistic), ours is
    ref = load("sim_homog")
    assert right.minus2loglik_piecewise == pytest.approx(one(ref["pci_minus2loglik"]), rel=1e-8)
    assert one(ref["lrtest"]["statistic"]) < 0


def test_efpt_infinite_when_the_target_cannot_be_reached(fits):
    f = fits["sim_homog"]
    q = f.qmatrix()
    from mrdtrack.multistate.derived import _efpt_from_q

    q2 = q.copy()
    q2[:, 2] = 0.0  # no transition into state 3
    np.fill_diagonal(q2, 0.0)
    np.fill_diagonal(q2, -q2.sum(axis=1))
    est = _efpt_from_q(q2, np.array([False, False, True]))
    assert np.all(np.isinf(est[:2])) and est[2] == 0
