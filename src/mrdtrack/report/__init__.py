"""The study report: every analysis of an MRD study as HTML, PDF, results.json and figures.

``build_report(study, out, config=...)`` is the entry point (CLI: ``mrdtrack report``); the
analysis options are a `ReportConfig` read by `load_config` from TOML. Names are resolved
lazily so that registering the CLI command does not import matplotlib or typst.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "build_report": "mrdtrack.report.build",
    "ReportOutput": "mrdtrack.report.build",
    "ReportConfig": "mrdtrack.report.config",
    "load_config": "mrdtrack.report.config",
    "RunRecord": "mrdtrack.report.provenance",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'mrdtrack.report' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
