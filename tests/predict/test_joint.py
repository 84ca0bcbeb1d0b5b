"""Joint-model dynamic prediction in `mrdtrack.predict`: same rows and folds as the supermodel's
cross-validation, the guarantee-time rule, a check that can fail (levels that carry the risk
versus levels shuffled between patients), and ``mrdtrack predict --model joint``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from mrdtrack.cohort import Cohort
from mrdtrack.io import read_study
from mrdtrack.joint import JointTruth, simulate_joint
from mrdtrack.predict import cross_validate
from mrdtrack.predict.cli import app
from mrdtrack.predict.evaluate import compare_models
from mrdtrack.predict.joint import (
    JointComparison,
    JointOptions,
    comparison_in_words,
    cross_validate_joint,
    fit_joint,
    joint_risk,
    level_data,
)

#: A level that carries the risk strongly: hazard x e^{1.5} per log10 unit, ~0.25/year at -4.
TRUTH = JointTruth(
    xi=0.25 * np.exp(6.0), alpha=1.5, gamma=0.0, visits=(0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
)
LANDMARKS = (182, 365, 730)
WINDOW = 730
OPTIONS = JointOptions(random_effects="intercept")


def levels_cohort(n: int, seed: int, shuffle: bool = False) -> Cohort:
    """A study from `simulate_joint` (days = years x 365.25): a sample below its LOD is a
    negative with that sensitivity, otherwise a positive with its clonal fraction. With
    ``shuffle`` each patient's level values are replaced by another patient's (visit times
    and follow-up unchanged): the levels then carry no information about that patient."""
    long, pat = simulate_joint(n, TRUTH, seed=seed)
    if shuffle:
        perm = np.random.default_rng(seed + 1).permutation(long.height)
        long = long.with_columns(
            pl.Series("value", long["value"].to_numpy()[perm]),
            pl.Series("censored", long["censored"].to_numpy()[perm]),
        )
    day = (pat["event_time"] * 365.25).round(0).cast(pl.Int64).clip(lower_bound=1)
    patients = pl.DataFrame({"patient_id": pat["id"], "cutoff_day": np.full(n, 2500)})
    outcomes = pl.DataFrame(
        {
            "patient_id": pat["id"],
            "progression_day": day.zip_with(
                pat["event"] == 1, pl.Series([None] * n, dtype=pl.Int64)
            ),
            "death_day": pl.Series([None] * n, dtype=pl.Int64),
            "last_contact_day": day,
        }
    )
    mrd = long.select(
        pl.col("id").alias("patient_id"),
        (pl.col("time") * 365.25).round(0).cast(pl.Int64).alias("day"),
        pl.when(pl.col("censored")).then(pl.lit("negative")).otherwise(pl.lit("positive"))
        .alias("result"),
        pl.lit("NGS").alias("method"),
        pl.lit("bone_marrow").alias("specimen"),
        pl.when(pl.col("censored")).then(10 ** pl.col("value")).otherwise(1e-6)
        .alias("sensitivity"),
        pl.when(pl.col("censored")).then(None).otherwise(10 ** pl.col("value"))
        .alias("clonal_fraction"),
        pl.lit(True).alias("adequate"),
        pl.lit(None, dtype=pl.String).alias("visit"),
    )  # fmt: skip
    ae = pl.DataFrame(schema={"patient_id": pl.String, "term": pl.String})
    return Cohort(patients=patients, mrd=mrd, outcomes=outcomes, adverse_events=ae)


@pytest.fixture(scope="module")
def cohort():
    return levels_cohort(240, seed=11)


@pytest.fixture(scope="module")
def joint_cv(cohort):
    return cross_validate_joint(
        cohort, landmarks=LANDMARKS, window=WINDOW, options=OPTIONS, folds=3, seed=5, n_boot=60
    )


def test_same_rows_and_folds_as_the_supermodel_cross_validation(cohort, joint_cv):
    sm = cross_validate(
        cohort, landmarks=LANDMARKS, window=WINDOW, folds=3, seed=5,
        models={"last_mrd": {"mrd_features": ("mrd_positive",)}},
    )  # fmt: skip
    key = ["landmark", "patient_id", "fold", "time", "event", "null_risk"]
    a = sm.predictions.select(key).sort("landmark", "patient_id")
    b = joint_cv.accuracy.predictions.select(key).sort("landmark", "patient_id")
    assert a.equals(b)
    assert joint_cv.n_converged == 3


def test_levels_that_carry_the_risk_are_detected_and_shuffled_ones_are_not(cohort, joint_cv):
    """The check can fail: with every patient's levels replaced by another patient's, the
    cross-validated AUC falls to ~0.5 and its interval covers 0.5."""
    t = joint_cv.accuracy.table().sort("landmark")
    assert (t["auc_lower"] > 0.5).all(), t.select("landmark", "auc", "auc_lower")
    assert (t["ipa"] > 0).all()
    shuffled = cross_validate_joint(
        levels_cohort(240, seed=11, shuffle=True), landmarks=LANDMARKS, window=WINDOW,
        options=OPTIONS, folds=3, seed=5, n_boot=60,
    ).accuracy.table()  # fmt: skip
    assert (shuffled["auc_lower"] < 0.5).all() and (shuffled["auc"] < t["auc"]).all()


def test_risk_uses_only_results_known_at_the_landmark(cohort):
    """Guarantee-time rule: with a reporting lag of 30 days a sample taken 10 days before the
    landmark does not enter the prediction; with no lag it does."""
    data = level_data(cohort)
    fit = fit_joint(data, OPTIONS)
    s = 365
    near = (data.obs_time * 365.25 > s - 30) & (data.obs_time * 365.25 <= s)
    assert near.any()
    moved = replace(data, value=np.where(near, data.value + 2.0, data.value))
    lagged = [joint_risk(fit, d, s, [WINDOW], lag=30) for d in (data, moved)]
    assert lagged[0].equals(lagged[1])
    now = [joint_risk(fit, d, s, [WINDOW]) for d in (data, moved)]
    assert not now[0]["risk"].equals(now[1]["risk"])


runner = CliRunner()


def _demo_patient_at_risk(day: int) -> str:
    cohort = read_study(Path(__file__).resolve().parents[2] / "src/mrdtrack/data/demo/csv")
    return cohort.pfs("days").filter(pl.col("time") > day).sort("patient_id")["patient_id"][0]


def test_cli_joint_model_evaluate_and_patient():
    pid = _demo_patient_at_risk(400)
    res = runner.invoke(
        app,
        ["--model", "joint", "--random-effects", "intercept", "--landmarks", "0,365,730",
         "--evaluate", "--eval-boot", "10", "--patient", pid, "--at", "12m", "--n-boot", "30",
         "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["converged"] is True
    assert {r["model"] for r in out["accuracy"]} == {"joint"}
    assert len(out["accuracy"]) == 3 and out["fold_fits_converged"] == 5
    p = out["prediction"]
    assert p["landmark"] == 365 and p["horizon"] == 730
    assert 0 < p["risk_lower"] < p["risk"] < p["risk_upper"] < 1


def test_cli_refuses_a_patient_prediction_from_a_model_that_did_not_converge():
    """The demo's random intercept-and-slope fit does not converge: no risk is printed from
    it (exit 4), and the output names the simpler model."""
    pid = _demo_patient_at_risk(400)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        res = runner.invoke(app, ["--model", "joint", "--patient", pid])
    assert res.exit_code == 4
    assert "converged: False" in res.output
    assert "gives no prediction for the patient; try --random-effects intercept" in res.output


def test_cli_options_the_joint_model_does_not_use_are_errors():
    res = runner.invoke(app, ["--model", "joint", "--watch-list", "--interactions"])
    assert res.exit_code == 2
    assert "--interactions, --watch-list: not used by --model joint" in res.output
    res = runner.invoke(app, ["--random-effects", "intercept"])
    assert res.exit_code == 2 and "not used by --model supermodel" in res.output
    res = runner.invoke(app, ["--model", "jm"])
    assert res.exit_code == 2 and "--model must be one of" in res.output


def test_paired_difference_is_zero_for_identical_models_and_detects_a_better_one(joint_cv):
    """compare_models: a model against itself differs by exactly 0 in every resample; the
    joint model against the fold's Kaplan-Meier risk (no patient information, AUC 0.5) has
    an AUC difference whose interval lies above 0."""
    p = joint_cv.accuracy.predictions
    same = pl.concat([p, p.with_columns(pl.lit("copy").alias("model"))])
    d = compare_models(same, WINDOW, "joint", "copy", n_boot=30, seed=1)
    assert (d["auc_diff"] == 0).all() and (d["auc_diff_lower"] == 0).all()
    assert (d["brier_diff_upper"] == 0).all()
    null = p.with_columns(pl.lit("km").alias("model"), pl.col("null_risk").alias("risk"))
    d = compare_models(pl.concat([p, null]), WINDOW, "km", "joint", n_boot=60, seed=1)
    assert ((d["auc_a"] - 0.5).abs() < 1e-12).all()
    assert (d["auc_diff_lower"] > 0).all()


def _comparison(diff_rows: list[dict]) -> JointComparison:
    d = pl.DataFrame(diff_rows)
    return JointComparison("mrd_history", {}, OPTIONS, {}, differences=d)


def test_comparison_in_words_follows_the_intervals():
    base = {"n_controls": 20, "auc_a": 0.70, "auc_b": 0.60, "brier_diff_lower": -0.01,
            "brier_diff_upper": 0.02}  # fmt: skip
    cmp = _comparison([
        {**base, "landmark": 365, "auc_diff_lower": -0.20, "auc_diff_upper": 0.05},
        {**base, "landmark": 730, "auc_diff_lower": -0.20, "auc_diff_upper": -0.01},
        {**base, "landmark": 1095, "n_controls": 2, "auc_diff_lower": 0.1, "auc_diff_upper": 0.2},
    ])  # fmt: skip
    text = comparison_in_words(cmp, "MRD history")
    assert "At the 2 landmarks" in text
    assert "supermodel discriminates better at month(s) 24" in text
    assert "joint model discriminates better" not in text  # month 36 has too few controls
    none = _comparison([{**base, "landmark": 365, "auc_diff_lower": -0.1, "auc_diff_upper": 0.1}])
    assert "does not discriminate measurably better or worse" in comparison_in_words(none, "x")
    failed = JointComparison("mrd_history", {}, None, {})
    assert "Neither the joint model" in comparison_in_words(failed, "x")
