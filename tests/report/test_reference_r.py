"""The report's numbers on the synthetic study equal R's (tests/reference/report).

R derives PFS, evaluability, baseline MRD status, the landmark risk set and the tmerge
(start, stop] data on its own from the same CSV files (only the landmark trajectory classes
are given to it); `make_reference.sh` regenerates the files. Tolerance: 1e-9 relative.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

REF = Path(__file__).resolve().parents[1] / "reference" / "report"


@pytest.fixture(scope="module")
def r_values():
    with open(REF / "reference.csv", newline="") as f:
        return {row["key"]: float(row["value"]) for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def sections(synthetic_report):
    return synthetic_report.results["sections"]


def test_committed_study_is_the_synthetic_one(synthetic_tables):
    for name, frame in synthetic_tables.items():
        committed = pl.read_csv(REF / "study" / f"{name}.csv", schema=frame.schema)
        assert committed.equals(frame), name


def close(a, b):
    return a == pytest.approx(b, rel=1e-9, abs=1e-12)


def test_followup_and_pfs_match_r(sections, r_values):
    r = r_values
    assert sections["disposition"]["values"]["evaluable_pfs"] == r["evaluable"]
    fu = sections["followup"]["values"]
    for ours, key in (
        ("median", "fu_median"),
        ("lower", "fu_lower"),
        ("upper", "fu_upper"),
        ("q1", "fu_q1"),
        ("q3", "fu_q3"),
    ):
        assert close(fu[ours], r[key]), ours
    pfs = sections["pfs"]["values"]
    assert pfs["events"] == r["events"]
    assert close(pfs["median"]["estimate"], r["pfs_median"])
    assert close(pfs["median"]["lower"], r["pfs_median_lower"])
    for t in (12, 24, 36, 48):
        at = pfs["at"][str(t)]
        for k in ("surv", "lower", "upper"):
            assert close(at[k], r[f"pfs_{t}_{k}"]), (t, k)
        assert at["n_risk"] == r[f"pfs_{t}_nrisk"]


def test_pfs_by_baseline_mrd_matches_r(sections, r_values):
    r = r_values
    b = sections["pfs"]["values"]["by_baseline_mrd"]
    assert b["groups"]["negative"]["n"] == r["bl_n_negative"]
    assert b["groups"]["positive"]["n"] == r["bl_n_positive"]
    assert close(b["logrank"]["statistic"], r["bl_logrank_chisq"])
    assert close(b["logrank"]["p"], r["bl_logrank_p"])
    assert close(b["cox"]["hazard_ratio"], r["bl_hr"])
    assert close(b["cox"]["lower"], r["bl_hr_lower"])
    assert close(b["cox"]["upper"], r["bl_hr_upper"])
    assert close(b["cox"]["tests"]["likelihood_ratio"]["p"], r["bl_lrt_p"])


def test_landmark_matches_r(sections, r_values):
    r = r_values
    lm = sections["landmark"]["values"]
    assert lm["at_risk"] == r["lm_at_risk"]
    for key in ("lost_vs_sustained", "lost_vs_persistent"):
        c = lm["comparisons"][key]
        assert sum(g["n"] for g in c["counts"].values()) == r[f"{key}_n"]
        assert close(c["logrank"]["p"], r[f"{key}_logrank_p"])
        ml = c["cox_ml"]
        assert close(ml["hazard_ratio"], r[f"{key}_hr"])
        assert close(ml["lower"], r[f"{key}_lower"])
        assert close(ml["upper"], r[f"{key}_upper"])
        assert close(ml["tests"]["likelihood_ratio"]["p"], r[f"{key}_lrt_p"])


def test_time_dependent_cox_matches_r_tmerge(sections, r_values):
    r = r_values
    td = sections["timedep"]["values"]["time_dependent_cox"]
    assert td["rows"] == r["td_rows"]
    assert close(td["hazard_ratio"], r["td_hr"])
    assert close(td["lower"], r["td_hr_lower"])
    assert close(td["upper"], r["td_hr_upper"])
    assert close(td["tests"]["likelihood_ratio"]["p"], r["td_lrt_p"])
