"""Calibration: targets schema, the simulated-moments fit, and the calibration report."""

import warnings

import numpy as np
import pytest

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.calibrate import (
    calibrate,
    calibration_report,
    default_params_for,
    load_targets,
)
from mrdtrack.simulate.params import load_params

warnings.filterwarnings("ignore", category=RuntimeWarning)


@pytest.fixture(scope="module")
def report():
    t = load_targets()
    return calibration_report(default_params_for(t), t, n_replicates=1000, seed=1)


def test_targets_schema_accepts_the_reference_layout(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('[cohort]\nenrolled = 108\n[pfs]\nmedian = "not reached"\n', encoding="utf-8")
    t = load_targets(f)
    assert t.values == {"cohort.enrolled": 108, "pfs.median": "not reached"}
    f.write_text('schema = "other/1"\n', encoding="utf-8")
    with pytest.raises(MrdtrackError, match="schema"):
        load_targets(f)


def test_every_published_figure_inside_its_interval(report):
    assert report.n_replicates >= 1000
    assert report.all_inside, report.summary()
    rows = {r["figure"]: r for r in report.table().iter_rows(named=True)}
    assert rows["cohort.evaluable_pfs"]["lower"] <= 100 <= rows["cohort.evaluable_pfs"]["upper"]
    assert rows["landmark_2y.lost_vs_sustained_hr"]["inside"] is True
    assert rows["design.lenalidomide_mg"]["inside"] is None  # a design input, not tested
    assert "inside their simulated 95% interval" in report.summary()


def test_report_can_say_no():
    t = load_targets()
    t.values["cohort.evaluable_pfs"] = 50
    rep = calibration_report(load_params(), t, n_replicates=100, seed=2)
    assert not rep.all_inside


def test_simulated_moments_fit_lowers_the_objective():
    t = load_targets()
    start = load_params().replace(progression__persistent_positive=0.2)
    fit = calibrate(
        start, t, free=("progression__persistent_positive",), n_replicates=60, max_evaluations=12
    )
    assert fit.params.progression.persistent_positive < 0.2
    assert np.isfinite(fit.objective)
    assert "simulated moments" in fit.summary()


def test_second_example_study_calibrates():
    from importlib import resources

    path = resources.files("mrdtrack.data").joinpath("targets/uams_loss_of_negativity.toml")
    t = load_targets(str(path))
    assert t.sources
    p = default_params_for(t)
    assert p.name == "uams_loss_of_negativity"
    # 568 patients x 41 visits per trial: 300 trials here; the CLI default is 1000
    rep = calibration_report(p, t, n_replicates=300, seed=1)
    assert rep.all_inside, rep.summary()


def test_cli_calibrate_prints_the_table_and_exit_code():
    from typer.testing import CliRunner

    from mrdtrack.simulate.cli import app

    r = CliRunner().invoke(app, ["calibrate", "-n", "1000"])
    assert r.exit_code == 0, r.output
    assert "29 of 29 published figures inside" in r.output
    r = CliRunner().invoke(app, ["calibrate", "-n", "50", "--json"])
    assert r.exit_code in (0, 4) and r.output.lstrip().startswith("[")
