"""The embedded demo study: exact published counts, readers, byte-stable rebuild."""

import hashlib
import warnings
from importlib import resources
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mrdtrack.simulate.cli import app
from mrdtrack.simulate.demo import DEMO_SEED

warnings.filterwarnings("ignore", category=RuntimeWarning)
DEMO = Path(str(resources.files("mrdtrack.data").joinpath("demo")))


def _imwg_counts(cohort, until=None):
    """Class counts by the simulator's own classifier (IMWG rules, see _classify)."""
    import numpy as np

    from mrdtrack.simulate import _classify as C

    m = cohort.mrd.sort(["patient_id", "day"])
    codes = {"negative": 1, "positive": 2, "not_evaluable": 3}
    counts = dict.fromkeys(C.CLASSES, 0)
    for _, g in m.group_by("patient_id", maintain_order=True):
        d = g["day"].to_numpy()[None, :]
        r = np.array([[codes[x] for x in g["result"]]], dtype=np.int8)
        s = g["sensitivity"].fill_null(1.0).to_numpy()[None, :]
        c = C.classify(d, r, s, until=np.inf if until is None else until)[0]
        counts[C.CLASSES[c]] += 1
    return counts


def _shipped_trials():
    """The shipped demo's patients as simulator arrays, re-derived from the seed (cached)."""
    global _TRIALS
    if _TRIALS is None:
        from mrdtrack.simulate.demo import build_demo

        _TRIALS = build_demo().trials
    return _TRIALS


_TRIALS = None


@pytest.fixture(scope="module")
def cohort():
    from mrdtrack.io import read_study

    return read_study(DEMO / "csv")


def test_published_counts_hold_exactly(cohort):
    assert cohort.n_patients == 108
    assert cohort.exclusions.height == 0
    assert cohort.patients.filter(pl.col("cycles_completed") >= 4).height == 100
    base = cohort.mrd.filter(pl.col("visit") == "BASELINE")
    calls = base.filter(
        (pl.col("result") == "positive")
        | ((pl.col("result") == "negative") & (pl.col("sensitivity") <= 1e-5))
    )
    assert calls.height == 103
    assert calls.filter(pl.col("result") == "negative").height == 44
    assert calls.filter(pl.col("result") == "positive").height == 59
    assert cohort.outcomes["treatment_end_day"].null_count() == 62
    assert cohort.outcomes["death_day"].drop_nulls().len() == 1
    counts = _imwg_counts(cohort)
    assert counts["sustained_negative"] == 45
    assert counts["conversion"] == 8
    assert counts["loss_of_negativity"] == 10


def test_counts_with_the_mrd_module(cohort):
    from mrdtrack.mrd import trajectories as traj

    for tol in (0, 30, 60):
        tab = traj.classify_trajectories(cohort, tolerance_days=tol).table()
        vc = dict(tab["mrd_class"].value_counts().rows())
        assert vc["sustained_negative"] == 45
        assert vc["conversion"] == 8
        assert vc["loss_of_negativity"] == 10


def test_safety_counts(cohort):
    ae = cohort.adverse_events
    n = 108

    def frac(expr):
        return ae.filter(expr)["patient_id"].n_unique() / n

    assert round(frac(pl.col("serious")), 2) == 0.18
    for term in ("Lymphocyte count decreased", "Neutrophil count decreased"):
        assert round(frac((pl.col("term") == term) & (pl.col("grade") >= 3)), 2) == 0.44


def test_continuous_figures_close_to_published():
    from mrdtrack.simulate.demo import continuous_figures

    c = continuous_figures(_shipped_trials())
    assert c["median_followup_months"] == pytest.approx(40.7, abs=1.0)
    assert c["pfs_5y"] == pytest.approx(0.64, abs=0.03)
    assert c["landmark_events_sustained"] == 0
    assert 4.0 < c["landmark_lost_vs_persistent_hr"] < 8.0
    assert c["landmark_lost_vs_sustained_p"] < 1e-4


def test_adam_version_reads_to_the_same_cohort(cohort):
    from mrdtrack import io

    adam = io.read_adam(DEMO / "adam")
    for t in ("patients", "mrd", "outcomes", "adverse_events"):
        a = getattr(cohort, t)
        assert a.equals(getattr(adam, t).select(a.columns)), t


def test_cli_rebuild_is_byte_identical(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--seed", str(DEMO_SEED)])
    assert res.exit_code == 0, res.output
    shipped = sorted(p.relative_to(DEMO) for p in DEMO.rglob("*") if p.is_file())
    rebuilt = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert shipped == rebuilt
    for rel in shipped:
        a = hashlib.sha256((DEMO / rel).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest()
        assert a == b, rel


def test_another_seed_gives_another_study_with_the_same_counts(tmp_path):
    from mrdtrack.simulate.demo import build_demo

    d = build_demo(seed=7, tune_swaps=0)
    assert d.counts["sustained_negative"] == 45
    tab = d.table()
    assert tab.filter(tab["figure"] == "deaths")["demo"].item() == 1.0
    assert not d.frames["patients"].equals(pl.read_csv(DEMO / "csv" / "patients.csv"))
