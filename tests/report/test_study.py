"""Disclosure: the demo says what it is (simulated; which trial; how selected) and compares
itself with the published figures; a user's study gets populations, not the demo's story."""

from __future__ import annotations

import pytest

from mrdtrack.report.sections import SECTIONS
from mrdtrack.report.sections._base import SectionResult
from mrdtrack.report.sections.study import _lookup, published


def test_study_section_is_shown_first_but_runs_last():
    assert SECTIONS[0].key == "study" and SECTIONS[0].runs_last


def test_lookup_follows_keys_with_spaces_and_misses_give_none():
    r = SectionResult("safety", "Safety")
    r.values["by_term"] = {"Lymphocyte count decreased": {"any_n": 3}}
    assert _lookup({"safety": r}, "safety.by_term.Lymphocyte count decreased.any_n") == 3
    assert _lookup({"safety": r}, "safety.by_term.Fatigue.any_n") is None
    assert _lookup({}, "safety.x") is None


def test_published_facts_cite_the_paper():
    pub = published()
    assert pub["registration"] == "NCT02538198"
    assert "Lancet Haematol 2021" in pub["citation"] and "e422" in pub["citation"]
    hr = [f for f in pub["fact"] if f.get("value") == 5.88]
    assert hr and "persistent" in hr[0]["label"]


def test_demo_discloses_its_construction_and_compares_with_the_paper(demo_report):
    s = demo_report.results["sections"]["study"]["values"]
    assert demo_report.results["section_order"][0] == "study"
    assert s["founding_study"]["registration"] == "NCT02538198"
    assert s["demo_construction"]["pool_size"] == 3000
    assert s["demo_construction"]["selected"] == 108
    assert s["demo_construction"]["selection"] == "counts only"
    rows = s["published_vs_demo"]
    # every published fact resolves to a demo value (a broken path would print "—")
    missing = [k for k, v in rows.items() if v["demo"] is None and "Median PFS" not in k]
    assert missing == []
    assert rows["Patients enrolled"]["demo"] == 108
    assert rows["Patients enrolled"]["basis"] == "by selection"
    # selected on counts only (issue 19): the landmark HR is the model's, computed by the
    # landmark section and shown beside the published 5.88, not tuned to it
    hr = rows["24-month landmark: loss vs persistent positivity, HR"]
    assert hr["basis"] == "model" and hr["published"] == "5.88"
    lm = demo_report.results["sections"]["landmark"]["values"]["comparisons"]
    assert hr["demo"] == lm["lost_vs_persistent"]["cox_ml"]["hazard_ratio"]
    assert hr["demo"] == pytest.approx(1.20, abs=0.01)
    assert all(
        v["basis"] in ("model", "by selection") or "by selection" in v["basis"]
        for v in rows.values()
    )
    assert {k for k, v in rows.items() if v["basis"] == "model"} >= {
        "Median follow-up, months",
        "PFS at 60 months",
        "24-month landmark: loss vs sustained negativity, HR",
        "24-month landmark: loss vs persistent positivity, log-rank p",
        "24-month landmark: loss vs sustained negativity, log-rank p",
    }
    page = demo_report.html.read_text(encoding="utf-8")
    assert "NCT02538198" in page and "Published vs demo" in page
    assert "SIMULATED" in page and "COUNTS ONLY" in page
    assert "by construction" not in page.lower()
    # beside the landmark HRs too
    assert "selected on published counts only" in page


def test_a_user_study_gets_populations_but_no_demo_story(synthetic_report):
    s = synthetic_report.results["sections"]["study"]["values"]
    assert s["data_source"] == "user study"
    assert "published_vs_demo" not in s
    assert "NCT02538198" not in synthetic_report.html.read_text(encoding="utf-8")


def test_conversion_to_sustained_rule_is_stated_with_its_counts(demo_report):
    v = demo_report.results["sections"]["trajectories"]["values"]
    assert v["sustained_after_conversion"] == 14
    page = demo_report.html.read_text(encoding="utf-8")
    assert "14 of the 45 sustained negatives had converted" in page
    assert "so 17 are counted as conversion there" in page


def test_populations_108_100_99_72_are_explained(demo_report):
    page = demo_report.html.read_text(encoding="utf-8")
    for text in (
        "All 108 enrolled patients",
        "100 evaluable for PFS",
        "Time-dependent Cox model: 99",
        "the 72 evaluable patients alive",
    ):
        assert text in page
    lm = demo_report.results["sections"]["landmark"]
    rows = lm["tables"]["landmark_classes"]["rows"]
    # 72 at risk at the landmark, as R (tests/reference/demo/demo_reference.csv)
    assert rows[-1]["label"] == "Total" and rows[-1]["n"] == 72
    assert sum(r["n"] for r in rows[:-1]) == 72  # not classifiable included
