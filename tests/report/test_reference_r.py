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


# ---- quantities added with the clinical-study-report layout (issue 23) ----


def _close_if(r, key, ours):
    assert key in r, f"{key} missing from reference.csv"
    assert close(ours, r[key]), (key, ours, r[key])


def test_pfs_events_by_type_and_quartiles_match_r(sections, r_values):
    v = sections["pfs"]["values"]
    assert v["events_by_type"]["progression"] == r_values["pfs_n_progression"]
    assert v["events_by_type"]["death"] == r_values["pfs_n_death"]
    for p in (25, 50, 75):
        q = v["quartiles"][f"q{p}"]
        for part, suffix in (("estimate", ""), ("lower", "_lower"), ("upper", "_upper")):
            key = f"pfs_q{p}{suffix}"
            if key in r_values:
                _close_if(r_values, key, q[part])
            else:
                assert q[part] is None, key  # not reached in R either


def test_overall_survival_matches_r(sections, r_values):
    v = sections["os"]["values"]
    assert (v["n"], v["deaths"]) == (r_values["os_n"], r_values["os_deaths"])
    for t in (12, 24, 36):
        at = v["at"][str(t)]
        _close_if(r_values, f"os_{t}_surv", at["surv"])
        _close_if(r_values, f"os_{t}_lower", at["lower"])
        assert at["n_risk"] == r_values[f"os_{t}_nrisk"]


def test_clopper_pearson_matches_r_binom_test(sections, r_values):
    s = sections["safety"]["values"]
    assert s["patients_with_serious_ae"] == r_values["sae_n"]
    _close_if(r_values, "sae_ci_lower", s["serious_ae_ci"]["lower"])
    _close_if(r_values, "sae_ci_upper", s["serious_ae_ci"]["upper"])


def test_simon_makuch_and_rates_match_r(sections, r_values):
    td = sections["timedep"]["values"]
    for g in ("negative", "positive"):
        for t in (12, 24, 36):
            at = td["simon_makuch"][g]["at"][str(t)]
            _close_if(r_values, f"sm_{g}_{t}_surv", at["surv"])
            assert at["n_risk"] == r_values[f"sm_{g}_{t}_nrisk"]
        pt = td["time_dependent_cox"]["person_time"][g]
        _close_if(r_values, f"py_{g}", pt["person_years"])
        _close_if(r_values, f"rate100_{g}", pt["rate_per_100_patient_years"])


def test_landmark_series_36_months_matches_r(sections, r_values):
    s = sections["landmark"]["values"]["series"]["36"]
    assert s["at_risk"] == r_values["lm36_at_risk"]
    c = s["lost_vs_sustained"]
    _close_if(r_values, "lm36_lost_vs_sustained_logrank_p", c["logrank"]["p"])
    # monotone likelihood: R's coxph returns a non-converged 3.5e-9; we report 0, never it
    assert c["cox_ml"]["monotone"] and c["cox_ml"]["hazard_ratio"] == 0.0


def test_multivariable_cox_and_ph_test_match_r(sections, r_values):
    m = sections["pfs"]["values"]["multivariable_cox"]
    assert (m["n"], m["events"]) == (r_values["mv_n"], r_values["mv_events"])
    for t in m["terms"]:
        _close_if(r_values, f"mv_hr_{t['term']}", t["hazard_ratio"])
    ph = m["ph_test"]["terms"]
    assert set(ph) == {k[4:-6] for k in r_values if k.startswith("zph_") and k.endswith("_chisq")}
    for term, v in ph.items():
        _close_if(r_values, f"zph_{term}_chisq", v["chisq"])
        _close_if(r_values, f"zph_{term}_p", v["p"])


def test_aet04_highest_grade_counts_match_r(sections, r_values):
    import re

    rows = [r for r in sections["safety"]["values"]["aet04"] if r["level"] == "pt"]
    assert rows
    for r in rows:
        k = re.sub(r"[^A-Za-z0-9]+", "_", r["label"])
        assert r["any"] == r_values[f"aet04_{k}_any"], r["label"]
        assert r["Grade 1–2"] == r_values[f"aet04_{k}_g12"], r["label"]
        assert r["Grade 3–4"] == r_values[f"aet04_{k}_g34"], r["label"]
        assert r["Grade 5"] == r_values[f"aet04_{k}_g5"], r["label"]
