"""The HTML report in headless Chromium: no console errors, every image loads, no script runs."""

from __future__ import annotations

import os

import pytest
from report_cdp import chromium_binary, inspect_page, open_page_cli
from report_synthetic import ARTIFACTS

pytestmark = pytest.mark.skipif(
    chromium_binary() is None and not os.environ.get("CI"),
    reason="chromium is not installed (CI installs it and never skips)",
)


def _check(report, n_figures: int) -> None:
    assert report.errors == []
    probe = report.probe
    assert probe["n_images"] == n_figures > 0
    assert probe["broken"] == []
    assert probe["external"] == []
    assert probe["n_scripts"] == 0
    assert probe["xss"] is None


def test_synthetic_report_in_chromium(synthetic_report):
    shot = ARTIFACTS / "report-synthetic.png"
    report = inspect_page(synthetic_report.html, screenshot=shot)
    n_fig = len(list((synthetic_report.out / "figures").glob("*.svg")))
    _check(report, n_fig)
    assert report.probe["n_sections"] == len(synthetic_report.results["section_order"])
    assert shot.stat().st_size > 10_000


def test_hostile_strings_do_not_run_in_chromium(hostile_report):
    report = inspect_page(hostile_report.html)
    n_fig = len(list((hostile_report.out / "figures").glob("*.svg")))
    _check(report, n_fig)
    # the hostile text is shown as text, not interpreted
    assert "<script>window.__mrdtrack_xss=1</script>" in report.probe["text"]
    assert report.probe["title"].startswith("MRD dynamics report: study <script>")


def test_demo_report_in_chromium(demo_report):
    shot = ARTIFACTS / "report-screenshot.png"
    report = inspect_page(demo_report.html, screenshot=shot)
    n_fig = len(list((demo_report.out / "figures").glob("*.svg")))
    _check(report, n_fig)
    assert shot.stat().st_size > 10_000


def test_fallback_without_devtools_sees_the_same(hostile_report, tmp_path):
    shot = tmp_path / "fallback.png"
    report = open_page_cli(hostile_report.html, screenshot=shot)
    n_fig = len(list((hostile_report.out / "figures").glob("*.svg")))
    _check(report, n_fig)
    assert "<script>window.__mrdtrack_xss=1</script>" in report.probe["text"]
    assert shot.stat().st_size > 10_000


BAD_PAGE = """<!DOCTYPE html><html><head><title>x</title></head><body><main><section>a</section>
</main><img src="data:image/png;base64,AAAA" alt="broken">
<script>console.error("boom"); window.__mrdtrack_xss = 1; undefinedFn();</script></body></html>"""


def test_the_browser_checks_can_fail(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(BAD_PAGE)
    report = inspect_page(page)
    assert report.errors
    assert report.probe["broken"] == ["broken"]
    assert report.probe["n_scripts"] == 1
