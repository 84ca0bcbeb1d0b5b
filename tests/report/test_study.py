"""Disclosure: the demo says what it is (simulated; which trial; how selected) and compares
itself with the published figures; a user's study gets populations, not the demo's story."""

from __future__ import annotations

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


def test_demo_discloses_its_construction_and_matches_the_paper(demo_report):
    s = demo_report.results["sections"]["study"]["values"]
    assert demo_report.results["section_order"][0] == "study"
    assert s["founding_study"]["registration"] == "NCT02538198"
    assert s["demo_construction"]["pool_size"] == 3000
    assert s["demo_construction"]["selected"] == 108
    rows = s["published_vs_demo"]
    # every published fact resolves to a demo value (a broken path would print "—")
    missing = [k for k, v in rows.items() if v["demo"] is None and "Median PFS" not in k]
    assert missing == []
    assert rows["Patients enrolled"]["demo"] == 108
    assert abs(rows["24-month landmark: loss vs persistent positivity, HR"]["demo"] - 5.88) < 0.1
    page = demo_report.html.read_text(encoding="utf-8")
    assert "NCT02538198" in page and "BY CONSTRUCTION" in page
    assert "by construction" in page  # beside the landmark HRs too


def test_a_user_study_gets_populations_but_no_demo_story(synthetic_report):
    s = synthetic_report.results["sections"]["study"]["values"]
    assert s["data_source"] == "user study"
    assert "published_vs_demo" not in s
    assert "NCT02538198" not in synthetic_report.html.read_text(encoding="utf-8")


def test_conversion_to_sustained_rule_is_stated_with_its_counts(demo_report):
    v = demo_report.results["sections"]["trajectories"]["values"]
    assert v["sustained_after_conversion"] == 15
    page = demo_report.html.read_text(encoding="utf-8")
    assert "15 of the 45 sustained negatives had converted" in page
    assert "so 19 are counted as conversion there" in page


def test_populations_108_100_96_73_are_explained(demo_report):
    page = demo_report.html.read_text(encoding="utf-8")
    for text in (
        "All 108 enrolled patients",
        "100 evaluable for PFS",
        "Time-dependent Cox model: 96",
        "the 73 evaluable patients alive",
    ):
        assert text in page
    lm = demo_report.results["sections"]["landmark"]
    rows = lm["tables"]["landmark_classes"]["rows"]
    assert rows[-1]["label"] == "Total" and rows[-1]["n"] == 73
    assert sum(r["n"] for r in rows[:-1]) == 73  # not classifiable included
