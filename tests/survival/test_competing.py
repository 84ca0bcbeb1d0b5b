"""Competing risks against R survival (survfit multi-state) and cmprsk (cuminc, crr).

The reference files are written by tests/reference/survival_competing/make_reference.R from
data sets shipped with R (survival::mgus2, survival::pbc); R is not needed at test time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrdtrack.errors import EstimationError
from mrdtrack.survival.competing import cumulative_incidence, fine_gray, gray_test

REF = Path(__file__).resolve().parents[1] / "reference" / "survival_competing"


@pytest.fixture(scope="module")
def mgus2() -> pl.DataFrame:
    return pl.read_csv(REF / "mgus2_cr.csv")


@pytest.fixture(scope="module")
def pbc() -> pl.DataFrame:
    return pl.read_csv(REF / "pbc_cr.csv", schema_overrides={"edema": pl.Utf8, "stage": pl.Utf8})


def _data(name, mgus2, pbc):
    return {"mgus2": (mgus2, "etime", "event"), "pbc": (pbc, "time", "status")}[name]


# ------------------------------------------------------------------ Aalen-Johansen vs survfit


@pytest.mark.parametrize(
    ("dataset", "by", "file", "conf_type"),
    [
        ("mgus2", "sex", "aj_mgus2_by_sex_log.csv", "log"),
        ("mgus2", None, "aj_mgus2_all_log.csv", "log"),
        ("mgus2", "sex", "aj_mgus2_by_sex_loglog.csv", "log-log"),
        ("mgus2", "sex", "aj_mgus2_by_sex_plain.csv", "plain"),
        ("pbc", "edema", "aj_pbc_by_edema_log.csv", "log"),
    ],
)
def test_aalen_johansen_matches_survfit(dataset, by, file, conf_type, mgus2, pbc):
    data, time, status = _data(dataset, mgus2, pbc)
    ref = pl.read_csv(REF / file, null_values="NA", infer_schema_length=None)
    tab = cumulative_incidence(data, time, status, by=by, conf_type=conf_type).table()
    for cause in (1, 2):
        ours = tab.filter(pl.col("cause") == cause)
        assert ours.height == ref.height
        np.testing.assert_array_equal(ours["time"].to_numpy(), ref["time"].to_numpy())
        np.testing.assert_array_equal(ours["n_risk"].to_numpy(), ref["n_risk"].to_numpy())
        np.testing.assert_array_equal(ours["n_event"].to_numpy(), ref[f"nevent_{cause}"].to_numpy())
        for col, rcol in (("estimate", "p"), ("lower", "lo"), ("upper", "hi")):
            a = ours[col].to_numpy()
            b = ref[f"{rcol}_{cause}"].cast(pl.Float64).to_numpy()
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, equal_nan=True)
        # variances, not std errors: at p = 1 both are rounding noise around 0
        np.testing.assert_allclose(
            ours["std_err"].to_numpy() ** 2,
            ref[f"se_{cause}"].to_numpy() ** 2,
            rtol=1e-10,
            atol=1e-15,
        )


def _dense_ij_reference(time, status, k):
    """Pure-numpy influence recursion U_i(t) = U_i(t-) H(t) + p(t-) dH/dw_i, all subjects."""
    ut = np.unique(time)
    n = len(time)
    u = np.zeros((n, k + 1))
    p = np.zeros(k + 1)
    p[0] = 1.0
    out_p, out_v = [], []
    for t in ut:
        at_risk = (time >= t).astype(float)
        n_risk = at_risk.sum()
        dn = np.stack([(time == t) & (status == c) for c in range(1, k + 1)], axis=1).astype(float)
        dlam = dn.sum(axis=0) / n_risk
        h = np.eye(k + 1)
        h[0, 0] = 1.0 - dlam.sum()
        h[0, 1:] = dlam
        dh = np.zeros((n, k + 1))
        ddl = (dn - at_risk[:, None] * dlam[None, :]) / n_risk
        dh[:, 0] = -p[0] * ddl.sum(axis=1)
        dh[:, 1:] = p[0] * ddl
        u = u @ h + dh
        p = p @ h
        out_p.append(p.copy())
        out_v.append((u**2).sum(axis=0))
    return ut, np.array(out_p), np.array(out_v)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 12), st.integers(0, 3)),
        min_size=2,
        max_size=40,
    )
)
def test_ij_kernel_equals_dense_reference(rows):
    time = np.array([r[0] for r in rows], dtype=float)
    status = np.array([r[1] for r in rows], dtype=np.int64)
    if not np.any(status > 0):
        status[0] = 1
    ci = cumulative_incidence(
        pl.DataFrame({"t": time, "s": status}), "t", "s", causes=[1, 2, 3]
    ).table()
    ut, p, v = _dense_ij_reference(time, status, 3)
    for c in (1, 2, 3):
        part = ci.filter(pl.col("cause") == c)
        np.testing.assert_allclose(part["time"].to_numpy(), ut)
        np.testing.assert_allclose(part["estimate"].to_numpy(), p[:, c], atol=1e-12)
        np.testing.assert_allclose(part["std_err"].to_numpy() ** 2, v[:, c], atol=1e-12)


def test_cif_and_event_free_partition_probability(mgus2):
    tab = cumulative_incidence(mgus2, "etime", "event", by="sex").table()
    wide = tab.pivot(on="cause", index=["group", "time"], values="estimate")
    total = wide["1"] + wide["2"]
    assert (total <= 1.0 + 1e-12).all()
    for _, part in tab.group_by(["group", "cause"]):
        est = part.sort("time")["estimate"].to_numpy()
        assert np.all(np.diff(est) >= -1e-15)


def test_pandas_input_and_row_order(mgus2):
    a = cumulative_incidence(mgus2, "etime", "event", by="sex").table()
    shuffled = mgus2.sample(fraction=1.0, shuffle=True, seed=3).to_pandas()
    assert isinstance(shuffled, pd.DataFrame)
    b = cumulative_incidence(shuffled, "etime", "event", by="sex").table()
    np.testing.assert_allclose(a["estimate"].to_numpy(), b["estimate"].to_numpy())
    np.testing.assert_allclose(a["std_err"].to_numpy(), b["std_err"].to_numpy(), atol=1e-15)


def test_at_and_summary(mgus2):
    ci = cumulative_incidence(mgus2, "etime", "event", by="sex")
    at = ci.at([0.5, 120.0, 1e6])
    assert at.height == 2 * 2 * 3
    assert (at.filter(pl.col("time") == 0.5)["estimate"] == 0.0).all()
    text = ci.summary()
    assert "infinitesimal jackknife" in text and "Gray's test" in text
    assert len(ci.tests) == 2


# ------------------------------------------------------------------ cuminc: Gray variance, test


@pytest.mark.parametrize(
    ("dataset", "by", "stem", "strata", "rho"),
    [
        ("mgus2", "sex", "cuminc_mgus2_by_sex", None, 0.0),
        ("pbc", "edema", "cuminc_pbc_by_edema", None, 0.0),
        ("pbc", "edema", "cuminc_pbc_by_edema_strata_sex", "sex", 0.0),
        ("pbc", "sex", "cuminc_pbc_by_sex_rho1", None, 1.0),
    ],
)
def test_cuminc_variance_and_gray_test(dataset, by, stem, strata, rho, mgus2, pbc):
    data, time, status = _data(dataset, mgus2, pbc)
    ref = pl.read_csv(REF / f"{stem}_curves.csv", schema_overrides={"group": pl.Utf8})
    ci = cumulative_incidence(data, time, status, by=by, variance="gray")
    for (g, c), part in ref.group_by(["group", "cause"], maintain_order=True):
        tt = part["time"].to_numpy()
        # cuminc lists both corners of each step; the right-continuous value is the later one
        keep = np.r_[tt[1:] != tt[:-1], True]
        ours = ci.at(tt[keep]).filter((pl.col("group") == str(g)) & (pl.col("cause") == int(c)))
        np.testing.assert_allclose(
            ours["estimate"].to_numpy(), part["est"].to_numpy()[keep], rtol=1e-10, atol=1e-14
        )
        np.testing.assert_allclose(
            ours["std_err"].to_numpy() ** 2, part["var"].to_numpy()[keep], rtol=1e-10, atol=1e-15
        )
    tests = pl.read_csv(REF / f"{stem}_test.csv")
    for row in tests.iter_rows(named=True):
        g = gray_test(data, time, status, by, int(row["cause"]), strata=strata, rho=rho)
        assert g.df == row["df"]
        np.testing.assert_allclose(g.statistic, row["stat"], rtol=1e-10)
        np.testing.assert_allclose(g.p_value, row["p"], rtol=1e-8, atol=1e-15)
        assert g.table().height == 1 and "cmprsk" in g.summary()


def test_gray_test_invariant_to_group_left_out(pbc):
    a = gray_test(pbc, "time", "status", "edema", 2)
    recoded = pbc.with_columns(
        pl.col("edema").replace({"0.0": "z0", "0.5": "a5", "1.0": "m1"}).alias("edema")
    )
    b = gray_test(recoded, "time", "status", "edema", 2)
    np.testing.assert_allclose(a.statistic, b.statistic, rtol=1e-10)


# ------------------------------------------------------------------ crr


@pytest.mark.parametrize(
    ("dataset", "cause", "covs", "stem"),
    [
        ("mgus2", 1, ["age", "male"], "crr_mgus2_cause1"),
        ("mgus2", 2, ["age", "male"], "crr_mgus2_cause2"),
        ("pbc", 2, ["age", "logbili", "albumin"], "crr_pbc_cause2"),
        ("pbc", 1, ["age", "logbili", "albumin"], "crr_pbc_cause1"),
    ],
)
def test_fine_gray_matches_crr(dataset, cause, covs, stem, mgus2, pbc):
    data, time, status = _data(dataset, mgus2, pbc)
    ref = pl.read_csv(REF / f"{stem}.csv")
    refvar = pl.read_csv(REF / f"{stem}_var.csv").to_numpy()
    fit = fine_gray(data, time, status, cause, covs)
    assert fit.converged
    tab = fit.table()
    for ours, theirs in (
        ("coef", "coef"),
        ("se", "se"),
        ("hazard_ratio", "hr"),
        ("z", "z"),
        ("p_value", "p"),
        ("lower", "lower"),
        ("upper", "upper"),
    ):
        np.testing.assert_allclose(tab[ours].to_numpy(), ref[theirs].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fit.variance, refvar, rtol=1e-8)
    np.testing.assert_allclose(fit.loglik, ref["loglik"][0], rtol=1e-10)
    np.testing.assert_allclose(fit.loglik_null, ref["loglik_null"][0], rtol=1e-10)
    assert fit.n == ref["n"][0]
    assert "cmprsk::crr" in fit.summary()


def test_fine_gray_row_order_invariance(pbc):
    a = fine_gray(pbc, "time", "status", 2, ["age", "logbili"])
    b = fine_gray(pbc.reverse(), "time", "status", 2, ["age", "logbili"])
    np.testing.assert_allclose(a.coef_array, b.coef_array, rtol=1e-10)
    np.testing.assert_allclose(list(a.se.values()), list(b.se.values()), rtol=1e-10)


def test_fine_gray_without_competing_events_is_cox_breslow():
    # with no competing events the weights vanish: the Breslow Cox partial likelihood remains
    rng = np.random.default_rng(5)
    n = 80
    x = rng.normal(size=n)
    t = np.round(rng.exponential(np.exp(-0.5 * x)) * 10) + 1
    s = (rng.random(n) < 0.7).astype(int)
    fit = fine_gray(pl.DataFrame({"t": t, "s": s, "x": x}), "t", "s", 1, ["x"])
    # direct Breslow partial likelihood, maximised by Newton on our own naive code
    beta = 0.0
    for _ in range(50):
        u = info = 0.0
        for ti in np.unique(t[s == 1]):
            d = np.sum((t == ti) & (s == 1))
            r = t >= ti
            e = np.exp(beta * x[r])
            xb = np.sum(e * x[r]) / e.sum()
            u += np.sum(x[(t == ti) & (s == 1)]) - d * xb
            info += d * (np.sum(e * x[r] ** 2) / e.sum() - xb**2)
        beta += u / info
    np.testing.assert_allclose(fit.coef["x"], beta, rtol=1e-9)


# ------------------------------------------------------------------ bad input


def test_cause_outside_declared_set(mgus2):
    with pytest.raises(ValueError, match="rows with a cause code outside"):
        cumulative_incidence(mgus2, "etime", "event", causes=[1])


def test_no_events_of_requested_cause(mgus2):
    data = mgus2.with_columns(pl.col("event").replace({1: 2}))
    with pytest.raises(EstimationError, match="no events of cause 1"):
        fine_gray(data, "etime", "event", 1, ["age"])
    with pytest.raises(EstimationError, match="no events of cause 1"):
        gray_test(data, "etime", "event", "sex", 1, causes=[1, 2])


def test_bad_status_and_time_values():
    df = pl.DataFrame({"t": [1.0, 2.0, -1.0, 3.0], "s": [1, 0, 2, 1]})
    with pytest.raises(ValueError, match="'t': 1 row with a negative"):
        cumulative_incidence(df, "t", "s")
    df = pl.DataFrame({"t": [1.0, 2.0, 1.0, 3.0], "s": [1.0, 0.0, -2.0, 1.5]})
    with pytest.raises(ValueError, match="'s': 2 rows with a status that is not 0"):
        cumulative_incidence(df, "t", "s")
    df = pl.DataFrame({"t": [1.0, None, 1.0], "s": [1, 0, 2]})
    with pytest.raises(ValueError, match="1 row with a missing value"):
        cumulative_incidence(df, "t", "s")


def test_gray_test_needs_two_groups(mgus2):
    with pytest.raises(EstimationError, match="two groups"):
        gray_test(mgus2.filter(pl.col("sex") == "F"), "etime", "event", "sex", 1)


def test_fine_gray_missing_covariate_value(pbc):
    data = pbc.with_columns(
        pl.when(pl.col("age") > 70).then(None).otherwise(pl.col("age")).alias("age")
    )
    with pytest.raises(ValueError, match="covariate column 'age': "):
        fine_gray(data, "time", "status", 2, ["age"])
