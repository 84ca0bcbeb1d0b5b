"""Run record of a report: input checksums, software versions, options, seed, command, times.

Written beside every report as ``run.json`` and shown in the report's provenance block. The
parts that do not change between identical runs (inputs, versions, options) also go into
``results.json``; the times and the command line only into the run record and the report.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Packages whose versions can change a number or a figure in the report.
PACKAGES = (
    "mrdtrack",
    "numpy",
    "scipy",
    "polars",
    "numba",
    "matplotlib",
    "jinja2",
    "typst",
    "pyreadstat",
)


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed version of each package ("not installed" when absent)."""
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def utc_now() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class RunRecord:
    """Provenance of one report run (mutable while the run is in progress)."""

    command: str
    started: str = field(default_factory=utc_now)
    finished: str | None = None
    seed: int | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    config_file: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=package_versions)
    platform: str = field(default_factory=lambda: f"{platform.system()} {platform.machine()}")
    pdf_pages: int | None = None

    @classmethod
    def start(cls, argv: list[str] | None = None, seed: int | None = None) -> RunRecord:
        args = sys.argv if argv is None else argv
        prog = Path(args[0]).name if args else "mrdtrack"
        if prog in ("__main__.py", "-c", ""):
            prog = "mrdtrack"
        return cls(command=" ".join([prog, *args[1:]]), seed=seed)

    def add_inputs(self, sources: Any) -> None:
        """Record the cohort's input files (name, table, rows read, SHA-256)."""
        for s in sources:
            self.inputs.append(
                {
                    "file": Path(s.path).name,
                    "table": s.table,
                    "rows_read": int(s.rows_read),
                    "sha256": s.sha256,
                }
            )

    def add_config_file(self, path: str | Path | None) -> None:
        if path is not None:
            self.config_file = {"file": Path(path).name, "sha256": sha256_file(path)}

    def finish(self) -> None:
        self.finished = utc_now()

    def stable(self) -> dict[str, Any]:
        """The part that is identical for identical runs (goes into results.json)."""
        return {
            "inputs": self.inputs,
            "config_file": self.config_file,
            "seed": self.seed,
            "versions": self.versions,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "started": self.started,
            "finished": self.finished,
            "platform": self.platform,
            "pdf_pages": self.pdf_pages,
            **self.stable(),
        }
