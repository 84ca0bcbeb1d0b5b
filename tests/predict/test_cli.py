"""``mrdtrack predict`` on the embedded demo study."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mrdtrack.predict.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_json():
    res = runner.invoke(app, ["--at", "24m", "--watch-list", "--multistate", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_watch_list_and_model_from_the_demo(demo_json):
    terms = [r["term"] for r in demo_json["model"]]
    assert "lost_negativity" in terms and "lm1" in terms
    risks = [r["risk"] for r in demo_json["watch_list"]]
    assert risks == sorted(risks, reverse=True) and all(0 < r < 1 for r in risks)


def test_patient_prediction_with_figure(demo_json, tmp_path):
    pid = demo_json["watch_list"][0]["patient_id"]
    fig = tmp_path / "traj.svg"
    res = runner.invoke(
        app, ["--patient", pid, "--at", "24m", "--n-boot", "20", "--figure", str(fig)]
    )
    assert res.exit_code == 0, res.output
    assert "Risk of progression or death within 24 months, at month 24.0" in res.output
    assert "negativity lost" in res.output
    assert fig.read_text().startswith("<?xml")


def test_multistate_comparison_on_the_demo(demo_json):
    models = {r["model"] for r in demo_json["multistate_comparison"]}
    assert models == {"supermodel", "multistate"}
