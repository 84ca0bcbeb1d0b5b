"""The study report: every analysis of an MRD study as HTML, PDF, results.json and figures.

``build_report(study, out, config=...)`` is the entry point (CLI: ``mrdtrack report``); the
analysis options are a `ReportConfig` read by `load_config` from TOML.
"""

from __future__ import annotations

from mrdtrack.report.build import ReportOutput, build_report
from mrdtrack.report.config import ReportConfig, load_config
from mrdtrack.report.provenance import RunRecord

__all__ = ["ReportConfig", "ReportOutput", "RunRecord", "build_report", "load_config"]
