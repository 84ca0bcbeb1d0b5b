"""The section contract: what a report section declares, computes and returns.

A section imports the analysis functions it uses like any module. It skips itself for a data
reason (no patient evaluable, no event...) by raising `SectionSkipped` with that reason; every
other error propagates: a bug must never turn into a quietly missing section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.report.config import ReportConfig


class SectionSkipped(Exception):
    """Raised inside a section's compute to skip it for a data reason (the message says why)."""


@dataclass(frozen=True)
class Column:
    """One displayed column: key in the row dicts, header label, number format."""

    key: str
    label: str
    fmt: str = "auto"  # auto | int | pct | p | f1 | f2 | f3 | sci | text


@dataclass(frozen=True)
class Table:
    """A table of a section: raw values per row (results.json) plus display columns."""

    name: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    notes: tuple[str, ...] = ()
    collapse: tuple[str, ...] = ()  # display only: blank a repeated value in these columns

    @classmethod
    def from_frame(
        cls,
        name: str,
        caption: str,
        frame: pl.DataFrame,
        labels: dict[str, str | tuple[str, str]],
        notes: tuple[str, ...] = (),
        collapse: tuple[str, ...] = (),
    ) -> Table:
        """Build from a polars frame; ``labels`` maps column -> label or (label, format)."""
        cols = []
        for key, spec in labels.items():
            label, fmt = (spec, "auto") if isinstance(spec, str) else spec
            cols.append(Column(key, label, fmt))
        keep = [c.key for c in cols]
        rows = tuple(frame.select(keep).to_dicts())
        return cls(name, caption, tuple(cols), rows, notes, collapse)

    def as_json(self) -> dict[str, Any]:
        return {
            "caption": self.caption,
            "columns": [c.key for c in self.columns],
            "rows": [dict(r) for r in self.rows],
        }


@dataclass(frozen=True)
class Figure:
    """A figure written by the section (file stem inside figures/) and its caption."""

    name: str
    caption: str
    alt: str
    after_table: str | None = None  # display: place after this table of the section, not first


@dataclass
class SectionResult:
    """What a section hands to the renderers (and, except display text, to results.json)."""

    key: str
    title: str
    status: str = "ok"  # ok | skipped
    reason: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    highlights: list[tuple[str, str]] = field(default_factory=list)  # (label, display text)
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title, "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        out["values"] = self.values
        out["tables"] = {t.name: t.as_json() for t in self.tables}
        out["figures"] = [f"figures/{f.name}.svg" for f in self.figures]
        return out


@dataclass
class Context:
    """Everything a section may read: the cohort, the options, shared intermediate results."""

    cohort: Cohort
    config: ReportConfig
    figures_dir: Path
    shared: dict[str, Any] = field(default_factory=dict)
    results: dict[str, SectionResult] = field(default_factory=dict)
    is_demo: bool = False  # the embedded demo study (simulated patients): disclosed as such

    def cached(self, key: str, make: Callable[[], Any]) -> Any:
        """Compute an intermediate once per run (e.g. MRD calls used by several sections)."""
        if key not in self.shared:
            self.shared[key] = make()
        return self.shared[key]


@dataclass(frozen=True)
class Section:
    """A report section: key (stable name in results.json), title, compute."""

    key: str
    title: str
    compute: Callable[[Context, SectionResult], None]
    # computed after the others (reads their results), shown in place
    runs_last: bool = field(default=False, kw_only=True)
