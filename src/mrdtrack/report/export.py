"""Tables export for medical writers: every report table as DOCX (python-docx) and RTF (rtflite,
the Python counterpart of the r2rtf package used in pharma).

The tables are built once as data (`sections._base.Table`) and formatted once
(`build._display_rows`); the HTML (Jinja), PDF (typst), DOCX and RTF renderers all receive the
same display model, so their cell text is identical (tested). Each exported table carries its
number and title, the analysis population, its column headers, rows and footnotes, and a
source line. great-tables is not used: the report's tables are rendered by the four renderers
above (the dependency was dropped).

Outputs: ``tables.docx`` (all tables, one per page) and ``tables.rtf`` (all tables) plus
``tables/tNN_<name>.rtf`` (one RTF per table, as TLG deliveries usually are).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import polars as pl

from mrdtrack.errors import MrdtrackError

FORMATS = ("html", "pdf", "docx", "rtf")


def parse_formats(text: str | None) -> tuple[str, ...]:
    """``"html,pdf,docx"`` -> ("html", "pdf", "docx"); unknown names are one clear error."""
    if text is None:
        return ("html", "pdf")
    names = tuple(dict.fromkeys(x.strip().lower() for x in text.split(",") if x.strip()))
    bad = [x for x in names if x not in FORMATS]
    if bad or not names:
        raise MrdtrackError(
            f"unknown --format {', '.join(bad) or repr(text)}; choose from {', '.join(FORMATS)}"
        )
    return names


def numbered_tables(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Every table of the display model in report order, numbered as the PDF numbers them,
    with its section's analysis population."""
    out = []
    k = 0
    for s in model["sections"]:
        for t in s["tables"]:
            k += 1
            out.append({**t, "number": k, "population": s.get("population") or ""})
    return out


def _source(model: dict[str, Any]) -> str:
    return f"Source: {model['study']}; mrdtrack {model['run']['versions'].get('mrdtrack', '')}."


def write_docx(model: dict[str, Any], path: Path) -> Path:
    """All tables in one Word document (title, population, table, footnotes, source)."""
    try:  # optional dependency: the office extra
        import docx
        from docx.enum.section import WD_ORIENT
        from docx.shared import Cm, Pt
    except ModuleNotFoundError as e:
        raise MrdtrackError(
            "the DOCX export needs python-docx: pip install 'mrdtrack[office]'"
        ) from e
    doc = docx.Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Cm(29.7), Cm(21.0)
    for m in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, m, Cm(1.8))
    style = doc.styles["Normal"]
    style.font.name = "Arial"
    style.font.size = Pt(9)
    tables = numbered_tables(model)
    for i, t in enumerate(tables):
        if i:
            doc.add_page_break()
        title = doc.add_paragraph()
        run = title.add_run(f"Table {t['number']}: {t['caption']}")
        run.bold = True
        if t["population"]:
            doc.add_paragraph(f"Population: {t['population']}")
        table = doc.add_table(rows=1, cols=len(t["headers"]))
        table.style = "Table Grid"
        for cell, h in zip(table.rows[0].cells, t["headers"], strict=True):
            cell.text = h
            for r in cell.paragraphs[0].runs:
                r.bold = True
        for row in t["rows"]:
            cells = table.add_row().cells
            for cell, v in zip(cells, row, strict=True):
                cell.text = v
        for note in t["notes"]:
            p = doc.add_paragraph(note)
            p.runs[0].font.size = Pt(8)
        src = doc.add_paragraph(_source(model))
        src.runs[0].font.size = Pt(8)
    doc.core_properties.title = model["title"]
    doc.save(path)
    return path


def write_rtf(model: dict[str, Any], folder: Path) -> list[Path]:
    """One RTF per table (``tables/tNN_name.rtf``) and all of them in ``tables.rtf``."""
    try:  # optional dependency: the office extra
        import rtflite
    except ModuleNotFoundError as e:
        raise MrdtrackError("the RTF export needs rtflite: pip install 'mrdtrack[office]'") from e
    tdir = folder / "tables"
    tdir.mkdir(exist_ok=True)
    files = []
    for t in numbered_tables(model):
        n = len(t["headers"])
        cols = [f"c{j}" for j in range(n)]
        df = pl.DataFrame(
            {c: [row[j] for row in t["rows"]] for j, c in enumerate(cols)},
            schema={c: pl.String for c in cols},
        )
        widths = [2.0] + [1.0] * (n - 1) if n > 1 else [1.0]
        title = [f"Table {t['number']}: {t['caption']}"]
        if t["population"]:
            title.append(f"Population: {t['population']}")
        doc = rtflite.RTFDocument(
            df=df,
            rtf_page=rtflite.RTFPage(orientation="landscape"),
            rtf_title=rtflite.RTFTitle(text=title, text_convert=[False]),
            rtf_column_header=[
                rtflite.RTFColumnHeader(
                    text=list(t["headers"]),
                    col_rel_width=widths,
                    text_justification=[["l"] + ["c"] * (n - 1)],
                    text_convert=[False],  # no LaTeX-like conversion: text as the HTML shows
                )
            ],
            rtf_body=rtflite.RTFBody(
                col_rel_width=widths,
                text_justification=[["l"] + ["c"] * (n - 1)],
                text_convert=[False],
            ),
            rtf_footnote=rtflite.RTFFootnote(text=list(t["notes"]), text_convert=[False])
            if t["notes"]
            else None,
            rtf_source=rtflite.RTFSource(text=[_source(model)], text_convert=[False]),
        )
        f = tdir / f"t{t['number']:02d}_{t['name']}.rtf"
        with contextlib.redirect_stdout(io.StringIO()):  # rtflite prints the file name
            doc.write_rtf(f)
        files.append(f)
    if files:
        with contextlib.redirect_stdout(io.StringIO()):
            rtflite.assemble_rtf([str(f) for f in files], str(folder / "tables.rtf"))
    return files
