"""``mrdtrack predict`` on the embedded demo study."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from mrdtrack.predict.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_json():
    res = runner.invoke(
        app, ["--at", "24m", "--watch-list", "--n-boot", "30", "--multistate", "--json"]
    )
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_watch_list_and_model_from_the_demo(demo_json):
    terms = [r["term"] for r in demo_json["model"]]
    assert "lost_negativity" in terms and "lm1" in terms
    risks = [r["risk"] for r in demo_json["watch_list"]]
    assert risks == sorted(risks, reverse=True) and all(0 < r < 1 for r in risks)
    # every risk on the watch list carries a bootstrap interval of positive width
    assert all(r["lower"] < r["risk"] < r["upper"] for r in demo_json["watch_list"])


def test_patient_prediction_with_figure(demo_json, tmp_path):
    pid = demo_json["watch_list"][0]["patient_id"]
    fig = tmp_path / "traj.svg"
    res = runner.invoke(
        app, ["--patient", pid, "--at", "24m", "--n-boot", "20", "--figure", str(fig)]
    )
    assert res.exit_code == 0, res.output
    assert "Risk of progression or death within 24 months, at month 24.0" in res.output
    assert "negativity lost" in res.output
    # issue 20: a genuine interval and the day each result became known
    assert "95% CI" in res.output and "known day" in res.output
    assert "degenerate" not in res.output
    assert fig.read_text().startswith("<?xml")


def test_multistate_comparison_on_the_demo(demo_json):
    models = {r["model"] for r in demo_json["multistate_comparison"]}
    assert models == {"supermodel", "multistate"}


def test_evaluate_on_the_demo_has_no_spurious_auc_below_half():
    """Issue 20: on the demo the no-MRD model sits at 0.5 and every AUC's interval reaches 0.5
    or above (the pooled computation gave 0.27-0.32 and 0.000)."""
    res = runner.invoke(
        app,
        [
            "--landmarks",
            "0,182,365,730,1095",
            "--window",
            "730",
            "--evaluate",
            "--eval-boot",
            "20",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    acc = json.loads(res.output)["accuracy"]
    assert len(acc) == 15
    # at the 36-month landmark no demo patient is followed event-free to the horizon: no AUC
    none = [r for r in acc if r["n_controls"] == 0]
    assert {r["landmark"] for r in none} == {1095}
    assert all(math.isnan(r["auc"]) for r in none)
    for r in acc:
        if r["n_controls"] == 0:
            continue
        if r["model"] == "baseline":
            assert r["auc"] == pytest.approx(0.5, abs=1e-12)
        assert r["auc_upper"] >= 0.5
