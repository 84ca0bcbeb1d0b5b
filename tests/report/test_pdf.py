"""The PDF report: typeset by typst, rendered page by page with pdftoppm."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None and not os.environ.get("CI"),
    reason="poppler-utils (pdftoppm) is not installed (CI installs it and never skips)",
)


def _pages_from_pdfinfo(pdf) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


def test_pdf_renders_with_the_expected_page_count(synthetic_report, tmp_path):
    pdf = synthetic_report.pdf
    assert pdf.read_bytes()[:5] == b"%PDF-"
    expected = json.loads((synthetic_report.out / "run.json").read_text())["pdf_pages"]
    assert expected == _pages_from_pdfinfo(pdf)
    # every section starts on its own heading; the figures make it at least this long
    assert 6 <= expected <= 40
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == expected
    assert all(p.stat().st_size > 1000 for p in pngs)


def test_pdf_sets_hostile_strings_as_text(hostile_report):
    if shutil.which("pdftotext") is None and not os.environ.get("CI"):
        pytest.skip("pdftotext not installed")
    text = subprocess.run(
        ["pdftotext", str(hostile_report.pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "<script>window.__mrdtrack_xss=1</script>" in text.replace("\n", "")
