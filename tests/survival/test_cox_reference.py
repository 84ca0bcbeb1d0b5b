"""Cox model against R survival: every quantity on data sets shipped with R (fixtures made by
tests/reference/survival_cox/make_reference.R; R is not needed to run these tests)."""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from mrdtrack.survival.cox import cox_ph

REF = Path(__file__).resolve().parents[1] / "reference" / "survival_cox"

# case -> cox_ph keyword arguments reproducing the R call in make_reference.R
CASES = {
    "lung_efron": dict(time="time", event="status", covariates=["age", "sex", "ph.ecog"]),
    "lung_breslow": dict(
        time="time", event="status", covariates=["age", "sex", "ph.ecog"], ties="breslow"
    ),
    "lung_strata_sex": dict(
        time="time", event="status", covariates=["age", "ph.ecog"], strata="sex"
    ),
    "lung_strata_inst": dict(time="time", event="status", covariates=["age", "sex"], strata="inst"),
    "lung_weights": dict(
        time="time", event="status", covariates=["age", "sex", "ph.ecog"], weights="w"
    ),
    "lung_timefix": dict(time="time", event="status", covariates=["age", "sex", "ph.ecog"]),
    "lung_fracweights": dict(
        time="time", event="status", covariates=["age", "sex", "ph.ecog"], weights="fw"
    ),
    "veteran_strata_breslow": dict(
        time="time",
        event="status",
        covariates=["celltype", "karno"],
        strata="trt",
        ties="breslow",
        reference={"celltype": "squamous"},
    ),
    "heart_strata_cluster": dict(
        time="stop",
        start="start",
        event="event",
        covariates=["age", "year", "transplant"],
        strata="surgery",
        cluster="id",
    ),
    "veteran": dict(
        time="time",
        event="status",
        covariates=["celltype", "karno"],
        reference={"celltype": "squamous"},
    ),
    "ovarian": dict(time="futime", event="fustat", covariates=["age", "ecog.ps", "rx"]),
    "ovarian_breslow": dict(
        time="futime", event="fustat", covariates=["age", "ecog.ps", "rx"], ties="breslow"
    ),
    "colon_cluster": dict(
        time="time",
        event="status",
        covariates=["rx", "sex", "age", "nodes"],
        cluster="id",
        reference={"rx": "Obs"},
    ),
    "heart": dict(
        time="stop",
        start="start",
        event="event",
        covariates=["age", "year", "surgery", "transplant"],
    ),
    "heart_breslow": dict(
        time="stop",
        start="start",
        event="event",
        covariates=["age", "year", "surgery", "transplant"],
        ties="breslow",
    ),
    "heart_cluster": dict(
        time="stop",
        start="start",
        event="event",
        covariates=["age", "year", "surgery", "transplant"],
        cluster="id",
    ),
    "monotone": dict(time="time", event="status", covariates=["x", "z"]),
}


def load_data(case: str) -> pl.DataFrame:
    return pl.read_csv(REF / f"{case}_data.csv", infer_schema_length=None)


def load_ref(case: str) -> dict:
    out: dict[str, list] = {}
    with open(REF / f"{case}_ref.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["quantity"], []).append(row["value"])
    ref: dict = {}
    for k, v in out.items():
        if k in ("names", "zph_terms"):
            ref[k] = v
        else:
            ref[k] = np.array([np.nan if x == "NA" else float(x) for x in v])
    return ref


def rel_err(a, b) -> float:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


TOL = 1e-6  # the tolerance on coefficients, SEs and tests (we reach ~1e-13)


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name = request.param
    ref = load_ref(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = cox_ph(load_data(name), **CASES[name])
    return name, fit, ref


def _order(fit, ref):
    assert sorted(fit.names) == sorted(ref["names"])
    return [fit.names.index(n) for n in ref["names"]]


def test_coefficients_and_variance(case):
    name, fit, ref = case
    idx = _order(fit, ref)
    tol = 1e-6 if name != "monotone" else 1e-5  # a diverging iterate: only the path matches
    assert rel_err(fit.coef_array[idx], ref["coef"]) < tol
    assert rel_err(np.sqrt(np.diag(fit.var))[idx], ref["se"]) < (
        TOL if name != "monotone" else 1e-5
    )
    assert fit.iterations == int(ref["iter"][0])
    assert fit.n == int(ref["n"][0]) and fit.n_events == int(ref["nevent"][0])
    assert rel_err(np.array([fit.means[n] for n in ref["names"]]), ref["means"]) < 1e-12 or (
        np.allclose([fit.means[n] for n in ref["names"]], ref["means"], rtol=1e-12, atol=1e-14)
    )
    if name != "monotone":
        assert rel_err([fit.coef[n] for n in ref["names"]], ref["coef"]) < TOL
        assert rel_err([fit.se[n] for n in ref["names"]], ref["se"]) < TOL
        assert rel_err([fit.hazard_ratio[n] for n in ref["names"]], np.exp(ref["coef"])) < TOL


def test_loglik_and_tests(case):
    name, fit, ref = case
    assert rel_err(fit.loglik, ref["loglik"]) < TOL
    assert rel_err(fit.tests["score"].statistic, ref["score"][0]) < TOL
    assert rel_err(fit.tests["wald"].statistic, ref["wald"][0]) < (
        TOL if name != "monotone" else 1e-4
    )
    lrt = 2 * (ref["loglik"][1] - ref["loglik"][0])
    assert rel_err(fit.tests["likelihood_ratio"].statistic, lrt) < TOL
    assert fit.tests["likelihood_ratio"].df == len(ref["names"])


def test_robust_variance(case):
    _name, fit, ref = case
    if "robust_se" not in ref:
        assert fit.robust_se is None and "robust_score" not in fit.tests
        return
    idx = _order(fit, ref)
    assert rel_err(np.sqrt(np.diag(fit.robust_var))[idx], ref["robust_se"]) < TOL
    assert rel_err(fit.tests["robust_score"].statistic, ref["rscore"][0]) < TOL
    # R's fit$var is the robust variance for a clustered fit
    assert rel_err(fit.robust_var[np.ix_(idx, idx)].reshape(-1, order="F"), ref["var"]) < TOL


def test_concordance(case):
    _, fit, ref = case
    c = fit.concordance
    got = [c.concordant, c.discordant, c.tied_x, c.tied_y, c.tied_xy, c.concordance, c.std_err]
    assert rel_err(got, ref["concordance"]) < TOL


def test_cox_zph(case):
    _, fit, ref = case
    if "zph_chisq" not in ref:
        return
    z = fit.ph_test(transform="km")
    assert list(z.terms) == ref["zph_terms"]
    assert rel_err(z.chisq, ref["zph_chisq"]) < TOL
    assert np.array_equal(z.df, ref["zph_df"])
    assert rel_err(z.p_value, ref["zph_p"]) < TOL
    assert z.table().height == len(ref["zph_terms"])


def test_baseline_survival(case):
    _, fit, ref = case
    if "bs_time" not in ref:
        return
    b = fit.baseline_survival()
    assert b.height == len(ref["bs_time"])
    np.testing.assert_array_equal(b["time"].to_numpy(), ref["bs_time"])
    np.testing.assert_allclose(b["n_risk"].to_numpy(), ref["bs_n_risk"], rtol=1e-12)
    np.testing.assert_allclose(b["n_event"].to_numpy(), ref["bs_n_event"], rtol=1e-12)
    assert rel_err(b["surv"].to_numpy(), ref["bs_surv"]) < TOL
    assert (
        rel_err(
            b["cumhaz"].to_numpy()[ref["bs_cumhaz"] > 0], ref["bs_cumhaz"][ref["bs_cumhaz"] > 0]
        )
        < TOL
    )
    assert (
        rel_err(
            b["std_err"].to_numpy()[ref["bs_std_err"] > 0], ref["bs_std_err"][ref["bs_std_err"] > 0]
        )
        < TOL
    )
    if "bs_strata_size" in ref:
        sizes = b.group_by("stratum", maintain_order=True).len()["len"].to_numpy()
        np.testing.assert_array_equal(sizes, ref["bs_strata_size"])


def test_monotone_likelihood_reported_as_R_warns():
    ref = load_ref("monotone")
    assert ref["monotone_warning"][0] == 1
    with pytest.warns(RuntimeWarning, match="monotone likelihood"):
        fit = cox_ph(load_data("monotone"), **CASES["monotone"])
    assert fit.monotone == {"x": math.inf}
    assert fit.coef["x"] == math.inf and math.isnan(fit.se["x"])
    assert fit.hazard_ratio["x"] == math.inf
    assert math.isfinite(fit.coef["z"])
    tab = fit.table()
    row = tab.filter(pl.col("term") == "x").row(0, named=True)
    assert row["monotone"] and row["coef"] == math.inf and row["lower"] is None
    text = fit.summary()
    assert "not estimable by maximum likelihood" in text and "firth=True" in text
    # the huge last iterate never appears as an estimate
    assert f"{fit.coef_array[0]:.4f}" not in text


def test_timefix_merges_noise_ties_as_R():
    data = load_data("lung_timefix")
    fixed = cox_ph(data, "time", "status", ["age", "sex", "ph.ecog"])
    plain = cox_ph(load_data("lung_efron"), "time", "status", ["age", "sex", "ph.ecog"])
    np.testing.assert_allclose(fixed.coef_array, plain.coef_array, rtol=1e-12)
    raw = cox_ph(data, "time", "status", ["age", "sex", "ph.ecog"], timefix=False)
    assert rel_err(raw.coef_array, fixed.coef_array) > 1e-6  # noise breaks Efron's ties
