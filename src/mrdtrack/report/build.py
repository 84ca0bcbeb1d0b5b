"""Build the study report: compute every section, write results.json, render HTML and PDF.

Flow: read the study (or the embedded demo) → run each section (a section may skip itself for
a data reason, given in the report; any error stops the run) → write
``results.json`` (every number, stable names), ``run.json`` (provenance), figures (SVG/PNG),
``report.html`` (self-contained) and ``report.pdf`` into a temporary folder beside ``out``,
which is moved into place only when everything succeeded: a failed run leaves no report that
looks complete.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from mrdtrack.cohort import Cohort
from mrdtrack.errors import MrdtrackError
from mrdtrack.io import load_study as read_study_folder
from mrdtrack.report import fmt
from mrdtrack.report.config import OPTION_DOCS, ReportConfig, load_config
from mrdtrack.report.export import FORMATS, write_docx, write_rtf
from mrdtrack.report.pdf import render_pdf
from mrdtrack.report.provenance import RunRecord
from mrdtrack.report.sections import (
    SECTIONS,
    Context,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
    config_for_disease,
)

RESULTS_SCHEMA = "mrdtrack.report.results/1"
RUN_MARKER = "run.json"


@dataclass(frozen=True)
class ReportOutput:
    """Where the report went and what it contains."""

    out: Path
    results: dict[str, Any]
    skipped: dict[str, str]

    @property
    def html(self) -> Path:
        return self.out / "report.html"

    @property
    def pdf(self) -> Path:
        return self.out / "report.pdf"


def load_study(study: str | Path | Cohort | None) -> Cohort:
    """A Cohort from a Cohort, a study folder (CSV/Parquet/Excel or ADaM), or None (the demo).

    Folders are read by `mrdtrack.io.load_study` (ADaM detected from .xpt/.sas7bdat files).
    """
    if isinstance(study, Cohort):
        return study
    if study is not None and not Path(study).exists():
        raise MrdtrackError(f"study path not found: {Path(study).name}")
    return read_study_folder(None if study is None else Path(study))


def run_sections(
    ctx: Context,
    sections: tuple[Section, ...] | None = None,
    progress: Callable[[SectionResult], None] | None = None,
) -> dict[str, SectionResult]:
    """Compute each section; a section skips itself (with the reason) for a data reason.

    Sections marked ``runs_last`` (they read the others' results) are computed last; the
    returned dict keeps the report order."""
    ordered = SECTIONS if sections is None else sections
    for section in sorted(ordered, key=lambda s: s.runs_last):
        res = SectionResult(section.key, section.title)
        try:
            section.compute(ctx, res)
        except SectionSkipped as e:
            res = SectionResult(section.key, section.title, "skipped", str(e))
        ctx.results[section.key] = res
        if progress is not None:
            progress(res)
    ctx.results = {s.key: ctx.results[s.key] for s in ordered}
    return ctx.results


def _jsonable(x: Any) -> Any:
    """Plain JSON values; non-finite floats become the strings "inf"/"-inf"/null (NaN)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if hasattr(x, "item"):  # numpy scalars
        return _jsonable(x.item())
    return str(x)


def results_dict(
    cohort: Cohort, config: ReportConfig, record: RunRecord, sections: dict[str, SectionResult]
) -> dict[str, Any]:
    """The results.json content: identical for identical inputs except ``timestamp``."""
    return _jsonable(
        {
            "schema": RESULTS_SCHEMA,
            "timestamp": record.started,
            "study": {
                "name": cohort.name,
                "patients": cohort.n_patients,
                "mrd_records": cohort.mrd.height,
                "adverse_event_records": cohort.adverse_events.height,
                "records_excluded": cohort.exclusions.height,
            },
            "options": config.as_dict(),
            "provenance": record.stable(),
            "section_order": list(sections),
            "sections": {k: s.as_json() for k, s in sections.items()},
        }
    )


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("mrdtrack.report", "templates"),
        autoescape=True,  # every user string (terms, sites, ids, file names) is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _items(figs: list[dict[str, Any]], tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Figures and tables in display order: figures first (as they come), except a figure
    with ``after_table`` which follows that table (a missing table: at the end)."""
    placed = {t["name"] for t in tables}
    out: list[dict[str, Any]] = [
        {"kind": "figure", "figure": f} for f in figs if f["after_table"] not in placed
    ]
    for t in tables:
        out.append({"kind": "table", "table": t})
        out += [{"kind": "figure", "figure": f} for f in figs if f["after_table"] == t["name"]]
    return out


def section_population(key: str, sections: dict[str, SectionResult]) -> str:
    """The analysis population of a section's tables (counts from the disposition section)."""
    d = sections.get("disposition")
    v = d.values if d is not None else {}
    enrolled = f"all enrolled patients (N={v['enrolled']})" if v else "all enrolled patients"
    evaluable = (
        f"patients evaluable for PFS (N={v['evaluable_pfs']}; {v['evaluable_rule']})"
        if v
        else "patients evaluable for PFS"
    )
    if key in ("followup", "pfs", "landmark", "timedep"):
        return evaluable
    if key in ("study", "methods"):
        return ""
    return enrolled


def display_model(
    cohort: Cohort,
    config: ReportConfig,
    record: RunRecord,
    sections: dict[str, SectionResult],
    figures_dir: Path,
    inline: bool,
) -> dict[str, Any]:
    """Formatted text for the renderers (HTML inlines figures, PDF refers to files)."""
    out_sections = []
    for s in sections.values():
        figs = []
        for f in s.figures:
            svg = figures_dir / f"{f.name}.svg"
            src = (
                "data:image/svg+xml;base64," + base64.b64encode(svg.read_bytes()).decode("ascii")
                if inline
                else f"figures/{f.name}.svg"
            )
            figs.append(
                {
                    "src": src,
                    "caption": f.caption,
                    "alt": f.alt,
                    "name": f.name,
                    "pdf_width_cm": (width := _pdf_width_cm(svg)),
                    "pdf_height_cm": round(width * _svg_aspect(svg), 2),
                    "pdf_min_scale": _min_scale(figures_dir, f.name, width),
                    "after_table": f.after_table or "",
                }
            )
        tables = [
            {
                "name": t.name,
                "caption": t.caption,
                "headers": [c.label for c in t.columns],
                "rows": (rows := _display_rows(t)),
                **dict(
                    zip(
                        ("widths", "font_pt"),
                        column_layout([c.label for c in t.columns], rows),
                        strict=True,
                    )
                ),
                "notes": list(t.notes),
            }
            for t in s.tables
        ]
        out_sections.append(
            {
                "key": s.key,
                "title": s.title,
                "population": section_population(s.key, sections),
                "status": s.status,
                "reason": s.reason or "",
                "highlights": [list(h) for h in s.highlights],
                "paragraphs": list(s.paragraphs),
                "tables": tables,
                "figures": figs,
                "items": _items(figs, tables),
                "notes": list(s.notes),
            }
        )
    options = [
        {"name": k, "value": _option_text(v), "doc": OPTION_DOCS.get(k, "")}
        for k, v in config.as_dict().items()
    ]
    return {
        "title": f"MRD dynamics report: {cohort.name}",
        "study": cohort.name,
        "sections": out_sections,
        "options": options,
        "run": record.as_dict(),
    }


def _display_rows(t: Table) -> list[list[str]]:
    """Formatted cells; a value repeated down a ``collapse`` column is shown once (nested:
    a column is blanked only while the collapse columns before it are blanked too)."""
    rows: list[list[str]] = []
    previous: list[str] | None = None
    for r in t.rows:
        cells = [fmt.cell(r.get(c.key), c.fmt) for c in t.columns]
        shown = list(cells)
        same_so_far = previous is not None
        for k, c in enumerate(t.columns):
            if c.key not in t.collapse:
                continue
            same_so_far = same_so_far and previous is not None and previous[k] == cells[k]
            if same_so_far:
                shown[k] = ""
        rows.append(shown)
        previous = cells
    return rows


_SVG_SIZE = re.compile(rb'<svg[^>]*?width="([0-9.]+)pt"[^>]*?height="([0-9.]+)pt"', re.S)


#: smallest printed text size of a figure (pt); the PDF may shrink a figure to fit the rest of a
#: page, never below this
MIN_FIGURE_FONT_PT = 6.0
#: and never below this share of its natural size
MIN_FIGURE_SCALE = 0.75


def _svg_aspect(svg: Path) -> float:
    m = _SVG_SIZE.search(svg.read_bytes()[:4000])
    return float(m.group(2)) / float(m.group(1)) if m else 0.6


def _min_scale(figures_dir: Path, name: str, width_cm: float) -> float:
    """How far the PDF may shrink a figure to fit a page: its smallest text must stay at or
    above `MIN_FIGURE_FONT_PT` at print size (sizes recorded by `figures.save`)."""
    reg = figures_dir / "text-sizes.json"
    sizes = json.loads(reg.read_text()).get(name) if reg.exists() else None
    if not sizes or not sizes["min_font_pt"]:
        return 1.0
    printed = sizes["min_font_pt"] * width_cm / (2.54 * sizes["width_in"])
    return round(min(1.0, max(MIN_FIGURE_SCALE, MIN_FIGURE_FONT_PT / printed)) + 0.005, 2)


def _pdf_width_cm(
    svg: Path, max_width: float = 16.0, max_height: float = 12.0, tall_height: float = 23.0
) -> float:
    """Printed width of a figure: the text width (16 cm), or less so that a wide-or-square
    figure is at most ``max_height`` tall (a calibration plot must not fill a page); a tall
    figure (height > 1.2 x width, e.g. a swimmer plot) may take ``tall_height``, a page."""
    m = _SVG_SIZE.search(svg.read_bytes()[:4000])
    if not m:
        return max_width
    w, h = float(m.group(1)), float(m.group(2))
    limit = tall_height if h > 1.2 * w else max_height
    return round(min(max_width, limit * w / h), 2)


#: PDF text width (A4, 2 cm margins) and the cell padding of the typst tables, in points
TEXT_WIDTH_PT = 481.9
CELL_PAD_PT = 8.0
CHAR_EM = 0.6  # mean advance of DejaVu Sans characters (bold headers included), in em


def column_layout(
    headers: list[str], rows: list[list[str]], cap: int = 38, label_min: int = 30
) -> tuple[list[float], float]:
    """Column widths (pt) and font size (pt) of a PDF table, so that no column is narrower
    than its longest word and the first (label) column does not wrap below ``label_min``
    characters; space beyond the minimum goes to the columns that need it (long cells capped
    at ``cap`` characters wrap). Tried at 8.5 pt, then 7.5 pt."""
    n = len(headers)

    def words(s: str) -> int:
        return max((len(w) for w in s.split()), default=0)

    need, least = [], []
    for j, h in enumerate(headers):
        cells = [r[j] for r in rows if j < len(r)]
        longest = max([len(c) for c in cells] + [words(h), 2])
        nd = min(longest, cap)
        mn = max([words(c) for c in cells] + [words(h), 2])
        if j == 0:
            mn = max(mn, min(nd, label_min))
        least.append(min(mn, 24))
        need.append(max(nd, least[-1]))
    for size in (8.5, 7.5):
        cw = CHAR_EM * size
        avail = TEXT_WIDTH_PT - n * CELL_PAD_PT
        if sum(need) * cw <= avail:
            return [round(x * cw + CELL_PAD_PT, 1) for x in need], size
        if sum(least) * cw <= avail:
            extra = avail - sum(least) * cw
            gap = [nd - mn for nd, mn in zip(need, least, strict=True)]
            tot = sum(gap) or 1.0
            return [
                round((mn + extra / cw * g / tot) * cw + CELL_PAD_PT, 1)
                for mn, g in zip(least, gap, strict=True)
            ], size
    cw = CHAR_EM * 7.5
    scale = (TEXT_WIDTH_PT - n * CELL_PAD_PT) / (sum(least) * cw)
    return [math.floor(10 * (mn * cw * scale + CELL_PAD_PT)) / 10 for mn in least], 7.5


def _option_text(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, list):
        return ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) or "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def render_html(model: dict[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(**model)


def _check_out(out: Path) -> None:
    """``out`` must be absent, empty, or an earlier mrdtrack report (never a user's folder)."""
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / RUN_MARKER).exists())
    ):
        raise MrdtrackError(
            f"output folder {out.name} exists and is not an mrdtrack report; "
            "choose another --out or remove it"
        )


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished report into ``out`` (replacing an earlier mrdtrack report only)."""
    _check_out(out)
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)


def build_report(
    study: str | Path | Cohort | None = None,
    out: str | Path = "mrdtrack-report",
    *,
    config: str | Path | ReportConfig | None = None,
    pdf: bool = True,
    argv: list[str] | None = None,
    formats: tuple[str, ...] | None = None,
    progress: Callable[[SectionResult], None] | None = None,
) -> ReportOutput:
    """Compute and write the complete study report into ``out``.

    Parameters
    ----------
    study : path, Cohort or None
        A study folder (read with `mrdtrack.read_study`, or `read_adam` if it holds .xpt /
        .sas7bdat files), a Cohort, or None for the embedded demo study.
    out : path
        Output folder (created; an earlier mrdtrack report there is replaced only at the end).
    config : path, ReportConfig or None
        Analysis options (TOML; see `mrdtrack.report.config`); None uses the defaults.
    pdf : bool
        Also write report.pdf (typst); ignored when ``formats`` is given.
    formats : tuple of str, optional
        Outputs among "html", "pdf", "docx", "rtf" (`export.FORMATS`); the HTML report and
        results.json are always written. "docx" writes tables.docx, "rtf" tables.rtf and one
        RTF per table in tables/ (see `mrdtrack.report.export`).
    argv : list of str
        The command line to record (default ``sys.argv``).
    progress : callable, optional
        Called with each finished `SectionResult` (the CLI prints progress on stderr).

    Raises
    ------
    StudyValidationError
        The study failed validation; nothing is written.
    """
    out = Path(out).resolve()
    _check_out(out)
    if formats is None:
        formats = ("html", "pdf") if pdf else ("html",)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise MrdtrackError(f"unknown output format(s) {', '.join(bad)}; choose from {FORMATS}")
    pdf = "pdf" in formats
    cfg = config if isinstance(config, ReportConfig) else load_config(config)
    record = RunRecord.start(argv, seed=cfg.seed)
    if isinstance(config, (str, Path)):
        record.add_config_file(config)
    cohort = load_study(study)
    cfg = config_for_disease(cfg, cohort)  # the disease preset's MRD level
    if study is None:
        cohort = dataclasses.replace(cohort, name="embedded demo study (simulated patients)")
    record.add_inputs(cohort.sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        figures_dir = tmp / "figures"
        figures_dir.mkdir()
        ctx = Context(cohort=cohort, config=cfg, figures_dir=figures_dir, is_demo=study is None)
        sections = run_sections(ctx, progress=progress)
        results = results_dict(cohort, cfg, record, sections)
        (tmp / "results.json").write_text(
            json.dumps(results, indent=2, sort_keys=True, allow_nan=False) + "\n",
            encoding="utf-8",
        )
        if pdf:
            model = display_model(cohort, cfg, record, sections, figures_dir, inline=False)
            record.pdf_pages = render_pdf(model, tmp, tmp / "report.pdf")
        if "docx" in formats or "rtf" in formats:
            tmodel = display_model(cohort, cfg, record, sections, figures_dir, inline=False)
            if "docx" in formats:
                write_docx(tmodel, tmp / "tables.docx")
            if "rtf" in formats:
                write_rtf(tmodel, tmp)
        record.finish()
        model = display_model(cohort, cfg, record, sections, figures_dir, inline=True)
        (tmp / "report.html").write_text(render_html(model), encoding="utf-8")
        (tmp / RUN_MARKER).write_text(
            json.dumps(_jsonable(record.as_dict()), indent=2, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    skipped = {k: s.reason or "" for k, s in sections.items() if s.status == "skipped"}
    return ReportOutput(out=out, results=results, skipped=skipped)
