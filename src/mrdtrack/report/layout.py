"""A layout check of the PDF report that can fail: page fill, orphan headings, figure text size.

- **Page fill**: the share of a page's text area (A4, 2 cm margins) down to its lowest ink,
  from a 30-dpi rendering (poppler ``pdftoppm``); a page below ``min_fill`` is a defect
  unless it is the last page of a section (the next page starts with a section heading) or of
  the report.
- **Orphan heading**: a section heading that is the last line of text on a page.
- **Figure text**: the smallest text of every figure (recorded by `figures.save` in
  ``figures/text-sizes.json`` at the figure's own size) times the print scale (printed width /
  drawn width) must be at least ``min_font_pt`` (6 pt).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

PAGE_H_CM = 29.7
MARGIN_CM = 2.0
DEFAULT_MIN_FILL = 0.65
DEFAULT_MIN_FONT_PT = 6.0


@dataclass(frozen=True)
class LayoutReport:
    pages: int
    fill: tuple[float, ...]
    last_lines: tuple[str, ...]
    first_lines: tuple[str, ...]
    problems: tuple[str, ...]


def _poppler(tool: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        raise RuntimeError(f"{tool} (poppler-utils) is needed for the layout check")
    return exe


def page_fill(pdf: Path, dpi: int = 30) -> list[float]:
    """Fraction of each page's text area used, down to the lowest non-white pixel."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [_poppler("pdftoppm"), "-png", "-gray", "-r", str(dpi), str(pdf), f"{tmp}/p"],
            check=True,
            capture_output=True,
        )
        out = []
        for f in sorted(Path(tmp).glob("p-*.png"), key=lambda p: int(p.stem.split("-")[1])):
            a = np.asarray(Image.open(f).convert("L"))
            px_per_cm = a.shape[0] / PAGE_H_CM
            top = int(MARGIN_CM * px_per_cm)
            bottom = int((PAGE_H_CM - MARGIN_CM) * px_per_cm)
            ink = np.flatnonzero((a[top:bottom] < 200).any(axis=1))
            last = top + (int(ink[-1]) if ink.size else 0)
            out.append((last - top) / (bottom - top))
        return out


def page_lines(pdf: Path, header: str | None = None) -> list[list[str]]:
    """Text lines of each page, without the running ``header`` and the page number."""
    txt = subprocess.run(
        [_poppler("pdftotext"), "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pages = []
    for k, page in enumerate(txt.split("\f")):
        lines = [ln.strip() for ln in page.splitlines() if ln.strip()]
        if header and lines and lines[0] == header:
            lines = lines[1:]
        if lines and re.fullmatch(r"\d+\s*/\s*\d+", lines[-1]):
            lines = lines[:-1]
        if lines or k == 0:
            pages.append(lines)
    return pages[: len(pages) - (1 if pages and not pages[-1] else 0)]


def check_pdf(
    pdf: Path,
    headings: list[str],
    min_fill: float = DEFAULT_MIN_FILL,
    header: str | None = None,
) -> LayoutReport:
    """Page fill and orphan headings of a PDF whose section headings are ``headings`` (and
    whose pages carry the running ``header`` line, ignored)."""
    fill = page_fill(pdf)
    lines = page_lines(pdf, header)
    heads = set(headings)
    problems = []
    n = len(fill)
    first = [ls[0] if ls else "" for ls in lines] + [""] * (n - len(lines))
    last = [ls[-1] if ls else "" for ls in lines] + [""] * (n - len(lines))
    for p in range(n):
        if last[p] in heads:
            problems.append(f"page {p + 1}: heading {last[p]!r} is the last line")
        section_ends = p == n - 1 or first[p + 1] in heads
        if fill[p] < min_fill and not section_ends:
            problems.append(
                f"page {p + 1}: {100 * fill[p]:.0f}% filled (< {100 * min_fill:.0f}%) and "
                "not the last page of a section"
            )
    return LayoutReport(n, tuple(fill), tuple(last), tuple(first), tuple(problems))


def figure_text_problems(
    figures_dir: Path, printed_width_cm: dict[str, float], min_font_pt: float = DEFAULT_MIN_FONT_PT
) -> list[str]:
    """Figures whose smallest text prints below ``min_font_pt``."""
    sizes = json.loads((figures_dir / "text-sizes.json").read_text())
    out = []
    for name, width_cm in sorted(printed_width_cm.items()):
        s = sizes.get(name)
        if s is None:
            out.append(f"figure {name}: no recorded text size")
            continue
        scale = width_cm / (2.54 * s["width_in"])
        printed = s["min_font_pt"] * scale
        if printed < min_font_pt - 1e-9:
            out.append(
                f"figure {name}: smallest text {printed:.1f} pt at print size "
                f"(< {min_font_pt:g} pt)"
            )
    return out
