"""Tables export: DOCX and RTF open in LibreOffice and their table text equals the HTML's."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from report_synthetic import REFERENCE

from mrdtrack.errors import MrdtrackError
from mrdtrack.report.build import build_report
from mrdtrack.report.export import parse_formats

docx = pytest.importorskip("docx")
pytest.importorskip("rtflite")


class _Tables(HTMLParser):
    """Cell text of every <table id="tab-..."> of the report (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._cur: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and (a.get("id") or "").startswith("tab-"):
            self._cur = a["id"][4:]
            self.tables[self._cur] = []
        elif self._cur and tag == "tr":
            self._row = []
        elif self._cur and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._cur = None
        elif self._cur and tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell or []))
            self._cell = None
        elif self._cur and tag == "tr" and self._row is not None:
            self.tables[self._cur].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _is_note(text):
    return text.startswith("Source: ") or (text.endswith((".", ")")) and len(text) > 40)


def _docx_tables(path):
    d = docx.Document(str(path))
    return [[[c.text for c in r.cells] for r in t.rows] for t in d.tables]


def test_unknown_format_is_one_clear_error():
    assert parse_formats("html, PDF,docx") == ("html", "pdf", "docx")
    with pytest.raises(MrdtrackError, match="unknown --format xlsx"):
        parse_formats("html,xlsx")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "report"
    return build_report(
        REFERENCE / "study", out, argv=["mrdtrack", "report"], formats=("html", "docx", "rtf")
    )


@pytest.fixture(scope="module")
def html_tables(exported):
    p = _Tables()
    p.feed(exported.html.read_text(encoding="utf-8"))
    names = [n for n in p.tables if n not in ("options", "inputs", "versions")]
    return [p.tables[n] for n in names]


def test_docx_tables_equal_the_html_tables(exported, html_tables):
    assert not exported.pdf.exists()  # formats chosen: no PDF
    got = _docx_tables(exported.out / "tables.docx")
    assert len(got) == len(html_tables) > 10
    assert got == html_tables


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_docx_and_rtf_open_in_libreoffice_with_the_html_text(exported, html_tables, tmp_path):
    files = [exported.out / "tables.docx", exported.out / "tables.rtf"]
    run = subprocess.run(
        [
            "soffice",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "tables.pdf").stat().st_size > 10_000
    # RTF read back through LibreOffice: the same cells as the HTML
    conv = tmp_path / "rtf"
    rtf_one = sorted((exported.out / "tables").glob("*.rtf"))
    assert len(rtf_one) == len(html_tables)
    run = subprocess.run(
        [
            "soffice",
            "--headless",
            "--convert-to",
            "docx",
            "--outdir",
            str(conv),
            *map(str, rtf_one),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    for f, want in zip(rtf_one, html_tables, strict=True):
        parts = _docx_tables(conv / (f.stem + ".docx"))
        # rtflite paginates a long table, repeating the column header on each page
        got = parts[0] + [r for part in parts[1:] for r in part if r != parts[0][0]]
        # r2rtf layout: footnotes and the source line are merged rows at the table's foot
        got = [r for r in got if len(set(r)) > 1 or not _is_note(r[0])]
        assert [[c.strip() for c in r] for r in got] == [[c.strip() for c in r] for r in want], (
            f.name
        )
