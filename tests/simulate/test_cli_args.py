"""Every bad argument of ``mrdtrack simulate``: one line on stderr, exit 2, never a traceback."""

import pytest
from typer.testing import CliRunner

from mrdtrack.simulate.cli import app


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "bad.toml").write_text("schema = \n", encoding="utf-8")
    (d / "typo.toml").write_text(
        'schema = "mrdtrack.simulate.targets/2"\n[trial]\nenroled = 5\n', encoding="utf-8"
    )
    (d / "afile").write_text("x", encoding="utf-8")
    (d / "zero.toml").write_text(
        'schema = "mrdtrack.simulate.targets/2"\nparams = "founding_study.toml"\n'
        "[trial]\nenrolled = 20\n"
        '[[assessments]]\nname = "b"\nvisit = 0\nday = 0\nlod = 1e-5\n'
        '[[figures]]\nname = "n"\nkind = "count"\nstatistic = "mrd_negative"\n'
        'assessment = "b"\nvalue = 5\nrole = "fit"\n'
        '[calibration]\nfree = ["followup__loss_per_year", "baseline_mrd__missing"]\n'
        "[calibration.priors]\nbaseline_mrd__missing = { centre = 0.0, sd = 1.0 }\n",
        encoding="utf-8",
    )
    return d


BAD = {
    "negative replicates": ["calibrate", "-n", "-5"],
    "negative seed": ["calibrate", "--seed", "-1"],
    "zero chains": ["calibrate", "--fit", "--chains", "0"],
    "negative budget": ["calibrate", "--fit", "--max-evaluations", "-3"],
    "missing targets": ["calibrate", "--targets", "{d}/nosuch.toml"],
    "targets is a folder": ["calibrate", "--targets", "{d}"],
    "bad TOML": ["calibrate", "--targets", "{d}/bad.toml"],
    "misspelt key": ["calibrate", "--targets", "{d}/typo.toml"],
    "missing params": ["calibrate", "--params", "{d}/nosuch.toml"],
    "bad params TOML": ["calibrate", "--params", "{d}/bad.toml"],
    "unknown free": ["calibrate", "--fit", "--free", "progression__negatve"],
    "misspelt tie": [
        "calibrate",
        "--fit",
        "--tie",
        "progression__lost_erly=progression__lost_late",
    ],
    "tie of one": ["calibrate", "--fit", "--tie", "progression__lost_late"],
    "tie without fit": ["calibrate", "--tie", "progression__lost_early=progression__lost_late"],
    "negative fit workers": ["calibrate", "--fit", "--workers", "-2"],
    "workers without fit": ["calibrate", "--workers", "2"],
    "bad fit scheduler": ["calibrate", "--fit", "--scheduler", "localhost:8786"],
    "logit of a parameter at 0": ["calibrate", "--fit", "--targets", "{d}/zero.toml"],
    "budget too small": ["calibrate", "--fit", "--max-evaluations", "5"],
    "write-params is a folder": ["calibrate", "--fit", "--write-params", "{d}"],
    "write-params without fit": ["calibrate", "--write-params", "{d}/p.toml"],
    "write-params in a file": ["calibrate", "--fit", "--write-params", "{d}/afile/p.toml"],
    "unknown scenario": ["design", "--scenario", "{d}/nosuch.toml", "--out", "{d}/o"],
    "bad scenario TOML": ["design", "--scenario", "{d}/bad.toml", "--out", "{d}/o"],
    "design out is a file": ["design", "--scenario", "{d}/bad.toml", "--out", "{d}/afile"],
    "negative workers": [
        "design",
        "--scenario",
        "{d}/bad.toml",
        "--out",
        "{d}/o",
        "--workers",
        "-1",
    ],
    "demo out is a file": ["demo", "--out", "{d}/afile"],
    "demo negative seed": ["demo", "--out", "{d}/o", "--seed", "-4"],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_argument_exits_2_with_one_line(case, files):
    args = [a.format(d=files) for a in BAD[case]]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, (case, r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output
    lines = [x for x in r.output.strip().splitlines() if x.strip()]
    assert len(lines) == 1, (case, r.output)


def test_misspelt_name_suggests_the_nearest(files):
    r = CliRunner().invoke(app, ["calibrate", "--targets", f"{files}/typo.toml"])
    assert "did you mean 'enrolled'" in r.output
    r = CliRunner().invoke(app, ["calibrate", "--fit", "--free", "progression__negatve"])
    assert "progression__negatve" in r.output
    tie = "progression__lost_erly=progression__lost_late"
    r = CliRunner().invoke(app, ["calibrate", "--fit", "--tie", tie])
    assert "did you mean 'progression__lost_early'" in r.output


def test_calibrate_check_runs_and_prints_json():
    import json

    r = CliRunner().invoke(app, ["calibrate", "-n", "400"])
    assert r.exit_code == 0, r.output
    assert "not rejected" in r.output and "inputs (not tested): 15" in r.output
    r = CliRunner().invoke(app, ["calibrate", "-n", "100", "--json"])
    assert r.exit_code in (0, 4)
    rows = json.loads(r.output)
    assert {row["status"] for row in rows if row["role"] == "design"} == {"input"}


def test_calibrate_fit_writes_parameters_and_posterior(tmp_path):
    args = ["calibrate", "--fit", "--free", "safety__serious_fraction", "--n-sim", "20"]
    args += ["--max-evaluations", "30", "--chains", "1", "--draws", "20", "-n", "100"]
    args += [
        "--write-params",
        str(tmp_path / "p.toml"),
        "--write-posterior",
        str(tmp_path / "d.csv"),
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code in (0, 4), r.output
    assert "Bayesian synthetic likelihood" in r.output
    assert (tmp_path / "p.toml").read_text().startswith('schema = "mrdtrack.simulate.params/1"')
    assert (tmp_path / "d.csv").read_text().splitlines()[0] == "safety__serious_fraction"
