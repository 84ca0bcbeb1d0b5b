"""Design studies: scenarios, schedule lead time, early-intervention power, CLI."""

import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.cli import app
from mrdtrack.simulate.design import (
    early_intervention_chunk,
    load_scenario,
    residual_pool,
    schedule_chunk,
)
from mrdtrack.simulate.params import load_params

warnings.filterwarnings("ignore", category=RuntimeWarning)
P = load_params()


def test_more_frequent_assessment_detects_more_resurgence_earlier():
    rows = {m: schedule_chunk({"params": P, "interval_months": m}, 3, 0, 40) for m in (12, 3)}
    # the same patients progress whatever the schedule (common random numbers)
    assert rows[12]["progressions"].to_list() == rows[3]["progressions"].to_list()
    frac = {m: r["preceded"].sum() / r["progressions"].sum() for m, r in rows.items()}
    assert frac[3] > frac[12]
    lead3 = np.concatenate([np.asarray(x) for x in rows[3]["lead_days"]])
    assert (lead3 > 0).all()


@pytest.fixture(scope="module")
def pool():
    t, s, per_patient = residual_pool(P, 1, n_trials=60)
    assert 0 < per_patient < 1
    return t, s


def _power(pool, n, hr, reps=200):
    pt = {
        "n_randomised": n,
        "hazard_ratio": hr,
        "accrual_months": 24,
        "followup_months": 24,
        "alpha": 0.05,
        "pool_times": pool[0],
        "pool_surv": pool[1],
    }
    return early_intervention_chunk(pt, 5, 0, reps)["reject"].mean()


def test_power_grows_with_n_and_size_is_controlled(pool):
    assert _power(pool, 40, 0.5) < _power(pool, 160, 0.5)
    assert _power(pool, 80, 1.0, reps=400) < 0.06  # one-sided rejections under the null


def test_scenario_errors(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('study = "nope"\n', encoding="utf-8")
    with pytest.raises(MrdtrackError, match="study must be"):
        load_scenario(f)


def test_cli_design_runs_and_resumes(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text(
        'study = "schedule"\nreplicates = 6\nchunk_size = 3\n'
        "[schedule]\nintervals_months = [12, 6]\n",
        encoding="utf-8",
    )
    args = ["design", "--scenario", str(f), "--out", str(tmp_path / "o"), "--workers", "0"]
    r1 = CliRunner().invoke(app, args)
    assert r1.exit_code == 0, r1.output
    assert "chunks computed 4, reused from disk 0" in r1.output
    r2 = CliRunner().invoke(app, args)
    assert "chunks computed 0, reused from disk 4" in r2.output
    assert (tmp_path / "o" / "table.csv").exists() and (tmp_path / "o" / "figure.svg").exists()


def test_design_under_uncertainty_reports_fixed_and_propagated(tmp_path):
    from mrdtrack.simulate.design import load_posterior

    post = tmp_path / "post.csv"
    post.write_text(
        "progression__lost_late,progression__persistent_positive\n0.5,0.1\n1.4,0.17\n3.0,0.3\n",
        encoding="utf-8",
    )
    draws = load_posterior(post, P)
    assert [d.progression.lost_late for d in draws] == [0.5, 1.4, 3.0]
    f = tmp_path / "s.toml"
    f.write_text(
        'study = "landmark_precision"\nreplicates = 30\nchunk_size = 10\n'
        "[landmark_precision]\nn_patients = [108]\nextra_followup_months = [0]\n",
        encoding="utf-8",
    )
    args = ["design", "--scenario", str(f), "--out", str(tmp_path / "o"), "--workers", "0"]
    r = CliRunner().invoke(app, [*args, "--posterior", str(post), "--draws", "3"])
    assert r.exit_code == 0, r.output
    assert "3 posterior draws" in r.output
    import polars as pl

    tab = pl.read_csv(tmp_path / "o" / "table.csv")
    row = tab.filter(pl.col("result") == "median_hr").row(0, named=True)
    assert row["fixed_lower"] <= row["fixed"] <= row["fixed_upper"]
    # the per-draw values differ (lost_late from 0.5 to 3 / year)
    assert (row["propagated_upper"] - row["propagated_lower"]) > 0
    bad = tmp_path / "bad.csv"
    bad.write_text("observation:progression__negative\n0.1\n", encoding="utf-8")
    r = CliRunner().invoke(app, [*args, "--posterior", str(bad)])
    assert r.exit_code == 2 and "arm-specific" in r.output
