"""The HTML report in headless Chromium: no console errors, every image loads, no script runs."""

from __future__ import annotations

import importlib.util

import pytest
from report_cdp import PROBE_JS, chromium_binary, open_page
from report_synthetic import ARTIFACTS

pytestmark = [
    pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("websockets") is None, reason="websockets is not installed"
    ),
]


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
    report = open_page(synthetic_report.html, PROBE_JS, screenshot=shot)
    n_fig = len(list((synthetic_report.out / "figures").glob("*.svg")))
    _check(report, n_fig)
    assert report.probe["n_sections"] == len(synthetic_report.results["section_order"])
    assert shot.stat().st_size > 10_000


def test_hostile_strings_do_not_run_in_chromium(hostile_report):
    report = open_page(hostile_report.html, PROBE_JS)
    n_fig = len(list((hostile_report.out / "figures").glob("*.svg")))
    _check(report, n_fig)
    # the hostile text is shown as text, not interpreted
    assert "<script>window.__mrdtrack_xss=1</script>" in report.probe["text"]
    assert report.probe["title"].startswith("MRD dynamics report: study <script>")


def test_demo_report_in_chromium(demo_report):
    shot = ARTIFACTS / "report-screenshot.png"
    report = open_page(demo_report.html, PROBE_JS, screenshot=shot)
    n_fig = len(list((demo_report.out / "figures").glob("*.svg")))
    _check(report, n_fig)
    assert shot.stat().st_size > 10_000
