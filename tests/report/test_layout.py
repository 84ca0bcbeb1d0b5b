"""PDF layout check: it passes on the demo report and fails on the defects it names."""

from __future__ import annotations

import json
import shutil

import pytest

from mrdtrack.report.build import _pdf_width_cm, column_layout
from mrdtrack.report.layout import check_pdf, figure_text_problems

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils not installed",
)


def _headings(results):
    return [
        f"{i + 1}. {results['sections'][k]['title']}"
        for i, k in enumerate(results["section_order"])
    ]


def test_demo_pdf_has_full_pages_no_orphan_heading_and_readable_figures(demo_report):
    heads = _headings(demo_report.results)
    title = f"MRD dynamics report: {demo_report.results['study']['name']}"
    rep = check_pdf(demo_report.pdf, heads, header=title)
    assert rep.problems == ()
    assert min(rep.fill[:-1]) >= 0.65
    assert sum(1 for line in rep.first_lines if line in heads) >= 1  # headings are seen
    figs = demo_report.out / "figures"
    widths = {p.stem: _pdf_width_cm(p) for p in figs.glob("*.svg")}
    assert len(widths) >= 10
    assert figure_text_problems(figs, widths) == []
    # the calibration plot (4.8 x 4.4 in) prints 12 cm tall, not page-wide (16 x 14.7 cm)
    assert widths["prediction_calibration"] == pytest.approx(12 * 4.8 / 4.4, abs=0.05)


def test_the_check_rejects_an_orphan_heading_and_a_half_empty_page(tmp_path):
    typst = pytest.importorskip("typst")
    src = tmp_path / "bad.typ"
    src.write_text(
        '#set page(paper: "a4", margin: 2cm, numbering: "1 / 1")\n'
        "= 1. Alpha\n#lorem(60)\n#pagebreak()\n#lorem(40)\n#pagebreak()\n"
        "#lorem(600)\n#v(1fr)\n= 2. Beta\n#pagebreak()\n#lorem(30)\n"
    )
    pdf = tmp_path / "bad.pdf"
    pdf.write_bytes(typst.compile(str(src)))
    rep = check_pdf(pdf, ["1. Alpha", "2. Beta"])
    text = " ".join(rep.problems)
    assert "page 1:" in text and "filled" in text  # short page inside section 1
    assert "heading '2. Beta' is the last line" in text


def test_the_check_rejects_figure_text_below_6_pt(tmp_path):
    (tmp_path / "text-sizes.json").write_text(
        json.dumps({"swimmer": {"min_font_pt": 6.0, "width_in": 8.0}})
    )
    # 8 in drawn, printed 16 cm wide: 6 pt * 16 / 20.32 = 4.7 pt
    (problem,) = figure_text_problems(tmp_path, {"swimmer": 16.0})
    assert "4.7 pt" in problem
    assert figure_text_problems(tmp_path, {"swimmer": 20.32}) == []


def test_label_column_does_not_wrap_and_no_column_is_narrower_than_its_longest_word():
    headers = ["Group", "Time (months)", "At risk", "Events since previous time"]
    rows = [["Conversion MRD+ → MRD−", "12.0", "12", "0"]] * 5
    widths, size = column_layout(headers, rows)
    assert size == 8.5
    char = 0.6 * size
    assert widths[0] >= len("Conversion MRD+ → MRD−") * char
    assert widths[3] >= len("previous") * char
    many = [f"Column header {k}" for k in range(12)]
    widths, size = column_layout(many, [["x" * 30] * 12])
    assert size == 7.5 and sum(widths) <= 482
