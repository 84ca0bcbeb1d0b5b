"""mrdtrack.multistate against R msm 1.7 (outputs committed in tests/reference/multistate).

msm's default BFGS stops about 1e-3 (relative) short of the maximum; the reference script
therefore also refits with ``reltol = 1e-14``.  We check (a) our -2 log L at msm's *default*
estimates equals msm's reported -2 log L (1e-6), and (b) our estimates, CIs and derived
quantities against the tightly converged msm fit (1e-4 relative; pmatrix 1e-5 absolute).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from mrdtrack.errors import EstimationError
from mrdtrack.multistate import fit_panel_markov, lr_test

REF = Path(__file__).resolve().parents[1] / "reference" / "multistate"
Q_CAV = np.array(
    [[0, 0.25, 0, 0.25], [0.166, 0, 0.166, 0.166], [0, 0.25, 0, 0.25], [0, 0, 0, 0]], dtype=float
)
Q_CAV_MISC = np.array(
    [[0, 0.148, 0, 0.0171], [0, 0, 0.202, 0.081], [0, 0, 0, 0.126], [0, 0, 0, 0]], dtype=float
)
E_CAV = np.array([[0, 0.1, 0, 0], [0.1, 0, 0.1, 0], [0, 0.1, 0, 0], [0, 0, 0, 0]], dtype=float)
Q_MRD = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]], dtype=float)
E_MRD = np.array([[0, 0.05, 0], [0.05, 0, 0], [0, 0, 0]], dtype=float)


def load_ref(name: str) -> dict:
    """An msm output file; scalars come back as 1-element lists, so unwrap them."""
    raw = json.loads((REF / f"{name}.json").read_text())
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in raw.items()}


REL = 1e-4


def close(ours, ref, rel=REL, abs_=0.0):
    ours = np.asarray(ours, dtype=float)
    ref = np.asarray(ref, dtype=float)
    finite = np.abs(ref) < 1e300
    assert np.all(np.isinf(ours[~finite])), "msm reports infinity here"
    np.testing.assert_allclose(ours[finite], ref[finite], rtol=rel, atol=abs_)


def at(matrix, pairs):
    m = np.asarray(matrix, dtype=float)
    return [m[a - 1, b - 1] for a, b in pairs]


def msm_params(ref: dict, fit, key="estimates") -> np.ndarray:
    """msm's estimate vector in our layout (msm stores misclassification per state block)."""
    nq = len(fit.transitions) * (1 + len(fit.covariate_names))
    est = np.asarray(ref[key], dtype=float)[:nq]
    if fit.hidden:
        # msm's block per state: ncats, basecat, then one entry per category, log(e_rs / e_rr)
        # off the base category; a state with no misclassification has a 1-entry block
        full = np.asarray(ref[key], dtype=float)
        pos, eta = nq, {}
        k = fit.n_states
        rows = {a for a, _ in fit.misclassifications}
        for r in range(1, k + 1):
            if r in rows:
                for s in range(1, k + 1):
                    eta[(r, s)] = full[pos + 1 + s]
                pos += 2 + k
            else:
                pos += 1
        est = np.concatenate([est, [eta[m] for m in fit.misclassifications]])
    return est


@pytest.fixture(scope="module")
def fits(cav, cav_cens, sim):
    out = {}
    out["cav"] = fit_panel_markov(
        cav, subject="PTNUM", time="years", state="state", qmatrix=Q_CAV, exact_death_states=(4,)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["cav_sex"] = fit_panel_markov(
            cav,
            subject="PTNUM",
            time="years",
            state="state",
            qmatrix=Q_CAV,
            exact_death_states=(4,),
            covariates=["sex"],
            errors="warn",
        )
    out["cav_misc"] = fit_panel_markov(
        cav,
        subject="PTNUM",
        time="years",
        state="state",
        qmatrix=Q_CAV_MISC,
        ematrix=E_CAV,
        exact_death_states=(4,),
        obstrue="firstobs",
    )
    out["cav_cens"] = fit_panel_markov(
        cav_cens,
        subject="PTNUM",
        time="years",
        state="state",
        qmatrix=Q_CAV,
        exact_death_states=(4,),
        censored_states={99: (1, 2, 3)},
    )
    common = dict(subject="id", time="years", qmatrix=Q_MRD, exact_death_states=(3,))
    hmm = dict(state="state", ematrix=E_MRD, obstrue="firstobs", initprobs=(0.55, 0.45, 0))
    out["sim_hmm"] = fit_panel_markov(sim, **common, **hmm)
    out["sim_hmm_cov"] = fit_panel_markov(sim, **common, **hmm, covariates=["highrisk"])
    out["sim_true_cov"] = fit_panel_markov(
        sim, **common, state="true_state", covariates=["highrisk"]
    )
    return out


ALL = ["cav", "cav_sex", "cav_misc", "cav_cens", "sim_hmm", "sim_hmm_cov", "sim_true_cov"]


@pytest.mark.parametrize("name", ALL)
def test_loglik_at_msm_default_estimates(fits, name):
    fit = fits[name]
    ref = load_ref(f"msm_{name}")
    assert fit.minus2loglik_at(msm_params(ref, fit, "default_estimates")) == pytest.approx(
        ref["default_minus2loglik"], abs=1e-6
    )
    assert fit.minus2loglik_at(msm_params(ref, fit)) == pytest.approx(ref["minus2loglik"], abs=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_minus2loglik_not_worse_than_msm(fits, name):
    ref = load_ref(f"msm_{name}")
    assert fits[name].minus2loglik <= ref["minus2loglik"] + 1e-6
    assert fits[name].minus2loglik == pytest.approx(ref["minus2loglik"], abs=1e-5)


@pytest.mark.parametrize("name", [n for n in ALL if n != "cav_sex"])
def test_intensities_and_cis(fits, name):
    fit, ref = fits[name], load_ref(f"msm_{name}")
    close(fit.params, msm_params(ref, fit), rel=REL, abs_=1e-6)
    q = fit.intensities()
    for col, key in [("estimate", "estimate"), ("lower", "lower"), ("upper", "upper")]:
        close(q[col], at(ref["qmatrix"][key], fit.transitions))
    close(q["se"], at(ref["qmatrix"]["se"], fit.transitions), rel=1e-3)


def test_cav_sex_flat_direction_reported_and_rest_matches(fits):
    """sex on 2->4 has its MLE at -infinity: msm reports HR 4e-4 (0 to 1e57); we say so."""
    fit, ref = fits["cav_sex"], load_ref("msm_cav_sex")
    assert fit.covariance is None
    keep = np.ones(len(fit.params), dtype=bool)
    keep[[4, 7 + 4]] = False  # log q 2->4 and the sex effect on 2->4
    close(fit.params[keep], np.asarray(ref["estimates"])[keep], rel=REL, abs_=1e-6)


def test_cav_sex_singular_hessian_raises(cav):
    with pytest.raises(EstimationError, match="sex effect on 2->4"):
        fit_panel_markov(
            cav,
            subject="PTNUM",
            time="years",
            state="state",
            qmatrix=Q_CAV,
            exact_death_states=(4,),
            covariates=["sex"],
        )


@pytest.mark.parametrize("name", ["sim_hmm_cov", "sim_true_cov"])
def test_hazard_ratios(fits, name):
    fit, ref = fits[name], load_ref(f"msm_{name}")
    hr = fit.hazard_ratios()
    for col, key in [("hazard_ratio", "estimate"), ("lower", "lower"), ("upper", "upper")]:
        close(hr[col], ref["hr_highrisk"][key])
    assert fit.covariate_means[0] == pytest.approx(ref["covmeans"], abs=1e-12)


@pytest.mark.parametrize("name", ["cav", "cav_misc", "cav_cens", "sim_hmm", "sim_true_cov"])
def test_pmatrix(fits, name):
    fit, ref = fits[name], load_ref(f"msm_{name}")
    np.testing.assert_allclose(fit.pmatrix(5).estimate, ref["pmatrix_5"], atol=1e-5, rtol=0)
    if "pmatrix_1" in ref:
        np.testing.assert_allclose(fit.pmatrix(1).estimate, ref["pmatrix_1"], atol=1e-5, rtol=0)


def test_pmatrix_normal_ci_like_msm(fits):
    """msm ci="normal" draws 2000 parameter vectors: agreement up to Monte Carlo error."""
    fit, ref = fits["cav"], load_ref("msm_cav")
    res = fit.pmatrix(5, ci="normal", n_draws=2000, seed=1)
    np.testing.assert_allclose(res.lower, ref["pmatrix_5_normal_lower"], atol=0.01)
    np.testing.assert_allclose(res.upper, ref["pmatrix_5_normal_upper"], atol=0.01)
    delta = fit.pmatrix(5, ci="delta")
    assert np.all(delta.lower <= delta.estimate + 1e-15)
    assert np.all(delta.upper >= delta.estimate - 1e-15)


def test_pmatrix_with_covariates(fits):
    fit, ref = fits["cav_sex"], load_ref("msm_cav_sex")
    np.testing.assert_allclose(
        fit.pmatrix(5, covariates={"sex": 1}).estimate, ref["pmatrix_5_sex1"], atol=1e-5
    )


@pytest.mark.parametrize("name", ["cav", "cav_misc", "sim_hmm", "sim_true_cov"])
def test_sojourn_totlos(fits, name):
    fit, ref = fits[name], load_ref(f"msm_{name}")
    soj = fit.sojourn()
    for col, key in [("estimate", "estimates"), ("lower", "L"), ("upper", "U"), ("se", "SE")]:
        close(soj[col], ref["sojourn"][key], rel=1e-3 if col == "se" else REL)
    close(fit.total_length_of_stay(5)["estimate"], ref["totlos_5"])
    close(fit.total_length_of_stay()["estimate"], ref["totlos_inf"])


@pytest.mark.parametrize("name", ["cav", "cav_sex", "cav_misc", "sim_hmm", "sim_true_cov"])
def test_prevalence(fits, name):
    fit, ref = fits[name], load_ref(f"msm_{name}")
    times = ref["prevalence_times"]
    k = fit.n_states
    pv = fit.prevalence(times)
    obs = pv["observed"].to_numpy().reshape(len(times), k)
    np.testing.assert_array_equal(obs, np.asarray(ref["prevalence_observed"])[:, :k])
    if name == "cav_sex":
        return  # expected counts depend on the drifting 2->4 sex effect
    exp = pv["expected"].to_numpy().reshape(len(times), k)
    close(exp, np.asarray(ref["prevalence_expected"])[:, :k], abs_=1e-6)


def test_misclassification_cis(fits):
    fit, ref = fits["sim_hmm"], load_ref("msm_sim_hmm")
    m = fit.misclassification()
    for col in ["estimate", "lower", "upper"]:
        close(m[col], at(ref["ematrix"][col], fit.misclassifications))


def test_misclassification_cis_cav_msm_formula_fixed(fits):
    """Rows with two misclassification parameters: msm 1.7's ematrix.msm limits use a wrong
    delta-method formula; compare with the correct one computed by msm::deltamethod."""
    fit, ref = fits["cav_misc"], load_ref("msm_cav_misc")
    m = fit.misclassification()
    close(m["estimate"], at(ref["ematrix"]["estimate"], fit.misclassifications))
    single = [0, 3]  # 1->2 and 3->2 are alone in their row: msm is right there
    for col in ["lower", "upper"]:
        close(
            m[col].to_numpy()[single],
            np.asarray(at(ref["ematrix"][col], fit.misclassifications))[single],
        )
    fixed = ref["ematrix_row2_correct_delta"]
    close(m.row(1)[3:5], fixed["e21"])
    close(m.row(2)[3:5], fixed["e23"])


@pytest.mark.parametrize("name", ["cav_misc", "sim_hmm"])
def test_viterbi_mostly_agrees_with_msm(fits, name):
    """Our Viterbi path is the exact argmax (see test_hmm); msm 1.7 differs on ~1% of rows."""
    fit, ref = fits[name], load_ref(f"msm_{name}")
    ours = fit.viterbi()["fitted"].to_numpy()
    agree = np.mean(ours == np.asarray(ref["viterbi"]))
    assert agree > 0.98


def test_lr_test(fits):
    ref = {k: v[0] for k, v in load_ref("msm_cav_sex")["lrtest"].items()}
    res = lr_test(fits["cav"], fits["cav_sex"])
    assert res.df == ref["df"]
    assert res.statistic == pytest.approx(ref["statistic"], abs=2e-3)  # msm's stopping error
    assert res.p_value == pytest.approx(ref["p"], rel=1e-3)


def test_crude_initial_values(cav):
    from mrdtrack.multistate import crude_initial_values

    ref = load_ref("msm_cav")
    ci = crude_initial_values(cav, subject="PTNUM", time="years", state="state", qmatrix=Q_CAV)
    np.testing.assert_allclose(ci, ref["crudeinits"], rtol=1e-12, atol=1e-15)


def test_piecewise_constant_intensities(cav):
    """msm vignette pci = c(5, 10); timeperiod[10,Inf) on 3->4 drifts to 0 in msm and here."""
    ref = load_ref("msm_cav_pci")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_panel_markov(
            cav,
            subject="PTNUM",
            time="years",
            state="state",
            qmatrix=Q_CAV,
            exact_death_states=(4,),
            pci=[5, 10],
            errors="warn",
        )
    assert fit.covariate_names == ("timeperiod[5,10)", "timeperiod[10,inf)")
    np.testing.assert_allclose(fit.covariate_means, ref["covmeans"], rtol=1e-12)
    assert fit.minus2loglik_at(np.asarray(ref["default_estimates"])) == pytest.approx(
        ref["default_minus2loglik"], abs=1e-6
    )
    assert fit.minus2loglik <= ref["minus2loglik"] + 1e-6
    keep = np.ones(len(fit.params), dtype=bool)
    keep[[6, 20]] = False  # log q 3->4 (centred) and the drifting period-3 effect on 3->4
    close(fit.params[keep], np.asarray(ref["estimates"])[keep], rel=REL, abs_=1e-6)
