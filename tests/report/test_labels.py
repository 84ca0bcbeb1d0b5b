"""Labels: one helper per kind of label, so figures, tables and text agree and no engine code
(snake_case identifiers) or malformed p value reaches the reader."""

from __future__ import annotations

import html
import re

import polars as pl
import pytest

from mrdtrack.report import fmt, labels
from mrdtrack.report.sections.mrd_over_time import negative_share_labels


@pytest.mark.parametrize(
    "p, text", [(0.00002, "p < 0.0001"), (0.01497, "p = 0.015"), (0.5, "p = 0.500")]
)
def test_p_in_text_never_reads_equals_less_than(p, text):
    assert fmt.p_text(p) == text


def test_share_is_percent_of_the_denominator_with_counts():
    assert fmt.share(44, 103) == "42.7% (44/103)"
    assert fmt.share(46, 80) == "57.5% (46/80)"
    assert fmt.share(0, 0).startswith("—")


def test_rates_per_100_patient_years():
    assert fmt.rate_per_100py(5, 159.5) == pytest.approx(3.1348, abs=1e-4)
    assert fmt.rate_per_100py(1, 0) is None


def test_codes_become_words_and_responses_keep_clinical_order():
    assert labels.label("died_on_or_before_landmark") == "Died on or before the landmark"
    assert labels.label("no_assessment") == "No MRD assessment"
    assert labels.label("some_new_code") == "Some new code"
    assert labels.ordered("baseline_response", ["CR", "PR", "VGPR", "sCR"]) == [
        "sCR",
        "CR",
        "VGPR",
        "PR",
    ]


def test_figure_bar_labels_are_percent_of_evaluable_as_the_table():
    wide = pl.DataFrame(
        {"visit": [0, 1], "negative": [44, 46], "positive": [59, 34]},
    )
    shown = negative_share_labels(wide)
    assert "42.7%" in shown[0] and "(44/103)" in shown[0]
    assert "57.5%" in shown[1] and "(46/80)" in shown[1]
    # the % of ALL patients (40.7% = 44/108) must not be what the label shows
    assert "40.7%" not in shown[0]


def _visible_text(page: str) -> str:
    page = re.sub(r"<img[^>]*>", " ", page)
    page = re.sub(r"<code>.*?</code>", " ", page, flags=re.S)  # option names, file hashes
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_demo_report_shows_no_engine_codes(demo_report):
    page = demo_report.html.read_text(encoding="utf-8")
    # the provenance block (option names, file names) is checked elsewhere
    body = re.sub(r'<section id="methods">.*?</section>', " ", page, flags=re.S)
    text = _visible_text(body)
    text = re.sub(r"\bmrdtrack(\.\w+)+", " ", text)  # module paths cited in methods text
    codes = sorted(set(re.findall(r"\b[a-z0-9]+_[a-z0-9_]+\b", text)))
    assert codes == []
    assert "p = <" not in text
    assert "per month" not in text
    # figure 4's labels (SVG text is drawn as paths, so check the stored section values)
    by_visit = demo_report.results["sections"]["mrd_over_time"]["values"]["by_visit"]
    assert round(100 * by_visit["0"]["negative_fraction_evaluable"], 1) == 42.7
    assert round(100 * by_visit["1"]["negative_fraction_evaluable"], 1) == 61.3  # 49 / 80
    assert round(100 * by_visit["4"]["negative_fraction_evaluable"], 1) == 91.7  # 11 / 12


def test_demo_table_of_baseline_lists_responses_in_clinical_order(demo_report):
    rows = demo_report.results["sections"]["baseline"]["tables"]["table1"]["rows"]
    levels = [r["level"] for r in rows if r["variable"] == "Response at start of maintenance"]
    assert levels == ["sCR", "CR", "VGPR", "PR"]
    caption = demo_report.results["sections"]["baseline"]["tables"]["table1"]["caption"]
    assert "(Table 1)" not in caption
