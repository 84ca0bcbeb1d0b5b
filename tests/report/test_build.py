"""The report folder: contents, results.json, determinism, no partial report, escaping."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from report_synthetic import REFERENCE, XSS, make_cohort, make_tables, write_study

from mrdtrack.errors import StudyValidationError
from mrdtrack.report.build import build_report
from mrdtrack.report.sections import SECTIONS


def test_report_folder_contents(synthetic_report):
    out = synthetic_report.out
    for name in ("report.html", "report.pdf", "results.json", "run.json"):
        assert (out / name).is_file(), name
    svgs = sorted(p.stem for p in (out / "figures").glob("*.svg"))
    pngs = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert svgs == pngs
    assert {"disposition_flow", "pfs_overall", "pfs_by_baseline_mrd"} <= set(svgs)
    # nothing left over from the temporary folder
    assert not list(out.parent.glob(f".{out.name}.tmp-*"))
    assert not (out / "report-data.json").exists()


def test_results_json_has_every_section_with_stable_names(synthetic_report):
    r = json.loads((synthetic_report.out / "results.json").read_text())
    assert r["schema"] == "mrdtrack.report.results/1"
    assert r["section_order"] == [s.key for s in SECTIONS]
    assert set(r["sections"]) == set(r["section_order"])
    for key, s in r["sections"].items():
        assert s["status"] in ("ok", "skipped"), key
        if s["status"] == "skipped":
            assert s["reason"], key
    d = r["sections"]["disposition"]["values"]
    assert d["enrolled"] == 60
    assert r["options"]["landmark"] == 24.0
    assert set(r["provenance"]) == {"inputs", "config_file", "seed", "versions"}


def test_report_numbers_match_the_cohort(synthetic_report, synthetic_tables):
    r = synthetic_report.results["sections"]
    p = synthetic_tables["patients"]
    assert r["disposition"]["values"]["evaluable_pfs"] == int((p["cycles_completed"] >= 4).sum())
    ae = synthetic_tables["adverse_events"]
    n_sae = ae.filter(pl.col("serious"))["patient_id"].n_unique()
    assert r["safety"]["values"]["patients_with_serious_ae"] == n_sae
    assert r["safety"]["values"]["records_missing_grade"] == 1
    pfs = r["pfs"]["values"]
    assert pfs["n"] == r["disposition"]["values"]["evaluable_pfs"]


def test_two_runs_give_identical_results_except_timestamp(
    synthetic_report, synthetic_tables, tmp_path
):
    again = build_report(REFERENCE / "study", tmp_path / "again", pdf=False)
    a = json.loads((synthetic_report.out / "results.json").read_text())
    b = json.loads((again.out / "results.json").read_text())
    a.pop("timestamp")
    b.pop("timestamp")
    assert a == b
    text_a = (synthetic_report.out / "results.json").read_text()
    text_b = (again.out / "results.json").read_text()
    strip = re.compile(r'"timestamp": "[^"]*"')
    assert strip.sub("", text_a) == strip.sub("", text_b)
    for svg in (synthetic_report.out / "figures").glob("*.svg"):
        assert svg.read_bytes() == (again.out / "figures" / svg.name).read_bytes(), svg.name


def test_a_broken_study_writes_nothing(tmp_path):
    tables = make_tables()
    tables["mrd"] = tables["mrd"].with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(pl.lit(None)).otherwise(pl.col("day")).alias("day")
    )
    tables["outcomes"] = tables["outcomes"].drop("last_contact_day")
    study = write_study(tmp_path / "broken", tables)
    out = tmp_path / "out"
    with pytest.raises(StudyValidationError) as info:
        build_report(study, out, pdf=False)
    assert info.value.problems
    assert not out.exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_a_failing_section_leaves_no_report(tmp_path, monkeypatch):
    from mrdtrack.report import build as build_mod
    from mrdtrack.report.sections._base import Section

    def boom(ctx, res):
        raise RuntimeError("failure inside a section")

    # the first section writes a figure into the temporary folder; the second fails
    sections = (SECTIONS[0], Section("safety", "Safety", boom))
    monkeypatch.setattr(build_mod, "SECTIONS", sections)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="failure inside a section"):
        build_report(make_cohort(), out, pdf=False)
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_existing_foreign_folder_is_not_overwritten(tmp_path):
    from mrdtrack.errors import MrdtrackError

    out = tmp_path / "taken"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(MrdtrackError, match="not an mrdtrack report"):
        build_report(make_cohort(), out, pdf=False)
    assert (out / "thesis.docx").read_text() == "precious"


def test_user_strings_are_escaped_in_html(hostile_report):
    html = (hostile_report.out / "report.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"<img[^>]*onerror", html)
    assert "&lt;script&gt;window.__mrdtrack_xss=1&lt;/script&gt;" in html
    assert "Site &#34;A&#34;" in html
    # results.json keeps the raw strings (JSON escaping only)
    r = json.loads((hostile_report.out / "results.json").read_text())
    assert "Fatigue " + XSS in r["sections"]["safety"]["values"]["by_term"]


def test_a_study_without_events_or_adverse_events_still_reports(tmp_path):
    tables = make_tables()
    tables["outcomes"] = tables["outcomes"].with_columns(
        pl.lit(None, pl.Int64).alias("progression_day"),
        pl.lit(None, pl.Int64).alias("death_day"),
        pl.lit(None, pl.String).alias("progression_method"),
        pl.lit(None, pl.String).alias("death_cause"),
    )
    tables["adverse_events"] = tables["adverse_events"].head(0)
    r = build_report(make_cohort(tables), tmp_path / "out", pdf=False).results["sections"]
    lm = r["landmark"]["values"]["comparisons"]["lost_vs_sustained"]
    assert lm["status"] == "not estimable: no event after the landmark in either group"
    assert r["timedep"]["values"]["time_dependent_cox"]["status"].startswith("not estimable")
    assert r["pfs"]["values"]["events"] == 0
    assert r["safety"]["values"]["deaths_on_study"] == 0
