"""On the embedded demo study, class counts equal the study's own table (provenance.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import mrdtrack
from mrdtrack.mrd import baseline_status, classify_trajectories

DEMO = Path(mrdtrack.__file__).parent / "data" / "demo"


@pytest.fixture(scope="module")
def demo():
    prov = DEMO / "provenance.toml"
    counts = tomllib.loads(prov.read_text())["counts"]
    return mrdtrack.read_study(DEMO / "csv"), counts


def test_class_counts_match_demo_table(demo):
    cohort, counts = demo
    got = classify_trajectories(cohort).as_dict()
    assert got["sustained_negative"] == counts["sustained_negative"]
    assert got["conversion"] == counts["conversion"]
    assert got["loss_of_negativity"] == counts["loss_of_negativity"]
    assert sum(got.values()) == cohort.n_patients


def test_baseline_counts_match_demo_table(demo):
    cohort, counts = demo
    b = baseline_status(cohort)["status"].value_counts()
    got = dict(b.iter_rows())
    assert got.get("negative", 0) == counts["baseline_negative"]
    assert got.get("positive", 0) == counts["baseline_positive"]
