"""The survival API contract (issue #17): argument names, options a path does not use, result
field shapes, one input-check format, and the import graph."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from mrdtrack.survival import (
    CoxTest,
    cox_ph,
    cox_ph_batched,
    cumulative_incidence,
    fine_gray,
    gray_test,
    kaplan_meier,
    logrank_test,
    median_followup,
)


def _data(n: int = 120, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["A", "B", "C"], size=n)
    x = rng.normal(size=n)
    rate = np.exp(0.4 * x + 0.5 * (arm == "B") - 0.3 * (arm == "C"))
    t = np.ceil(rng.exponential(100.0 / rate))
    status = rng.choice([0, 1, 2], size=n, p=[0.3, 0.5, 0.2])
    return pl.DataFrame(
        {
            "time": t,
            "status": status,
            "event": (status > 0).astype(np.int64),
            "x": x,
            "arm": arm,
            "arm_b": (arm == "B").astype(np.float64),
            "arm_c": (arm == "C").astype(np.float64),
            "id": np.arange(n) // 2,
        }
    )


# --------------------------------------------------------------- options a path does not use
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"firth": True, "robust": True}, "robust is not used with firth=True"),
        ({"firth": True, "robust": False}, "robust is not used with firth=True"),
        ({"firth": True, "cluster": "id"}, "cluster is not used with firth=True"),
        ({"max_step": 1.0}, "used only with firth=True"),
        ({"gtol": 1e-8}, "used only with firth=True"),
        ({"reference": {"x": 0.0}}, "reference is only used for categorical covariates"),
        ({"reference": {"not_a_covariate": "A"}}, "reference is only used for categorical"),
    ],
)
def test_cox_options_the_path_does_not_use_raise_type_error(kwargs, match):
    with pytest.raises(TypeError, match=match):
        cox_ph(_data(), "time", "event", ["x", "arm"], **kwargs)


def test_fine_gray_reference_for_a_numeric_covariate_is_a_type_error():
    with pytest.raises(TypeError, match="reference is only used for categorical"):
        fine_gray(_data(), "time", "status", 1, ["x"], reference={"x": 1.0})


def test_cox_ph_batched_names_with_data_is_a_type_error():
    d = _data().with_columns(rep=pl.lit(0))
    with pytest.raises(TypeError, match="names is not used with data"):
        cox_ph_batched("time", "event", "x", "rep", data=d, names=["age"])
    assert cox_ph_batched("time", "event", "x", "rep", data=d).names == ("x",)


def test_iteration_controls_reach_the_firth_fit():
    d = _data()
    full = cox_ph(d, "time", "event", ["x"], firth=True)
    assert full.converged and full.iterations > 1
    with pytest.warns(RuntimeWarning, match="did not converge"):
        one = cox_ph(d, "time", "event", ["x"], firth=True, max_iter=1)
    assert not one.converged and one.iterations == 1
    assert one.options["max_iter"] == 1
    loose = cox_ph(d, "time", "event", ["x"], firth=True, tol=1e-2)
    assert loose.options["tol"] == 1e-2 and loose.iterations <= full.iterations


def test_cox_max_iter_and_tol_are_r_coxph_control():
    d = _data()
    fit = cox_ph(d, "time", "event", ["x", "arm"])
    assert fit.converged
    with pytest.warns(RuntimeWarning, match="did not converge in 2 iterations"):
        short = cox_ph(d, "time", "event", ["x", "arm"], max_iter=2)
    assert not short.converged
    loose = cox_ph(d, "time", "event", ["x", "arm"], tol=1e-3)
    assert loose.iterations < fit.iterations


# --------------------------------------------------------------- result field shapes
def test_fine_gray_fields_are_shaped_like_cox():
    d = _data()
    fg = fine_gray(d, "time", "status", 1, ["x", "arm"])
    cox = cox_ph(d, "time", "event", ["x", "arm"])
    assert fg.names == cox.names == ("x", "armB", "armC")
    for fit in (fg, cox):
        for field in ("coef", "se", "hazard_ratio"):
            value = getattr(fit, field)
            assert isinstance(value, dict) and list(value) == list(fit.names), field
            assert all(isinstance(v, float) for v in value.values())
    assert set(fg.z) == set(fg.p_value) == set(fg.names)
    lr = fg.lr_test
    assert isinstance(lr, CoxTest) and isinstance(cox.tests["likelihood_ratio"], CoxTest)
    assert lr.df == 3 and lr.statistic == pytest.approx(2 * (fg.loglik - fg.loglik_null))
    assert fg.se["x"] == pytest.approx(math.sqrt(fg.variance[0, 0]), rel=1e-15)
    tab = fg.table()
    assert tab["term"].to_list() == list(fg.names)
    np.testing.assert_allclose(tab["coef"].to_numpy(), fg.coef_array, rtol=0)


def test_fine_gray_expands_a_text_covariate_as_cox_ph_does():
    # R: crr(time, status, cov1 = model.matrix(~ x + arm, d)[, -1]): the dummies by hand
    d = _data()
    by_text = fine_gray(d, "time", "status", 1, ["x", "arm"])
    by_hand = fine_gray(d, "time", "status", 1, ["x", "arm_b", "arm_c"])
    np.testing.assert_allclose(by_text.coef_array, by_hand.coef_array, rtol=1e-12)
    np.testing.assert_allclose(by_text.variance, by_hand.variance, rtol=1e-12)
    # another reference level reparametrises the same fit
    relevel = fine_gray(d, "time", "status", 1, ["x", "arm"], reference={"arm": "B"})
    assert relevel.names == ("x", "armA", "armC")
    assert relevel.coef["armA"] == pytest.approx(-by_text.coef["armB"], rel=1e-8)
    assert relevel.loglik == pytest.approx(by_text.loglik, rel=1e-12)


def test_conf_level_names_the_interval_level_everywhere():
    d = _data()
    cox = cox_ph(d, "time", "event", ["x"])
    fg = fine_gray(d, "time", "status", 1, ["x"])
    firth = cox_ph(d, "time", "event", ["x"], firth=True)
    for fit in (cox, fg):
        wide = fit.conf_int(conf_level=0.99).row(0, named=True)
        narrow = fit.conf_int(conf_level=0.8).row(0, named=True)
        assert wide["lower"] < narrow["lower"] < narrow["upper"] < wide["upper"]
    wald = firth.conf_int(conf_level=0.99, method="wald").row(0, named=True)
    assert wald["lower"] < firth.conf_int(method="wald")["lower"][0]
    assert "99%" in cox.summary(conf_level=0.99) and "99%" in firth.summary(conf_level=0.99)
    with pytest.raises(ValueError, match="conf_level"):
        cox.conf_int(conf_level=95)
    with pytest.raises(ValueError, match="conf_level"):
        fg.conf_int(conf_level=1.5)


# --------------------------------------------------------------- one input-check format
ENTRY_POINTS = [
    ("kaplan_meier", lambda d: kaplan_meier(d, "tt", "event", by="grp")),
    ("median_followup", lambda d: median_followup(d, "tt", "event", by="grp")),
    ("logrank_test", lambda d: logrank_test(d, "tt", "event", "grp")),
    ("cox_ph", lambda d: cox_ph(d, "tt", "event", ["x", "grp"])),
    ("cumulative_incidence", lambda d: cumulative_incidence(d, "tt", "status", by="grp")),
    ("gray_test", lambda d: gray_test(d, "tt", "status", "grp", 1)),
    ("fine_gray", lambda d: fine_gray(d, "tt", "status", 1, ["x", "grp"])),
]


@pytest.mark.parametrize(("name", "call"), ENTRY_POINTS, ids=[n for n, _ in ENTRY_POINTS])
def test_every_missing_column_in_one_message_of_one_format(name, call):
    d = _data().select("time", "event", "status", "x")
    with pytest.raises(ValueError) as info:
        call(d)
    msg = str(info.value)
    assert msg.startswith("time column 'tt', ")
    assert "column 'grp'" in msg
    assert msg.endswith("not found; available columns: event, status, time, x")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: kaplan_meier(d, "time", "event"), "event column 'event': 2 rows with"),
        (lambda d: logrank_test(d, "time", "event", "arm"), "event column 'event': 2 rows with"),
        (lambda d: cox_ph(d, "time", "event", "x"), "event column 'event': 2 rows with"),
        (
            lambda d: cumulative_incidence(d, "time", "status"),
            "status column 'status': 2 rows with",
        ),
        (lambda d: fine_gray(d, "time", "status", 1, "x"), "status column 'status': 2 rows with"),
    ],
)
def test_bad_values_name_role_column_and_count(call, match):
    d = _data().with_columns(
        event=pl.Series([None, None] + [1] * 118, dtype=pl.Int64),
        status=pl.Series([None, None] + [1] * 118, dtype=pl.Int64),
    )
    with pytest.raises(ValueError, match=match + " a missing value"):
        call(d)


# --------------------------------------------------------------- import graph
def test_firth_does_not_import_cox():
    # the cox <-> firth cycle is gone: shared constants and CoxTest live in survival/_control.py
    code = (
        "import sys, mrdtrack.survival.firth, mrdtrack.survival.competing;"
        "print('mrdtrack.survival.cox' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
