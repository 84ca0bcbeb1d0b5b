"""Readers: a folder of CSV/Parquet/Excel tables (with a study map) and CDISC ADaM datasets.

Both end in `mrdtrack.cohort.Cohort.from_frames` (the rules of `mrdtrack.validation`) and return
the same validated `Cohort`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mrdtrack.cohort import Cohort
from mrdtrack.io.adam import read_adam, write_adam
from mrdtrack.io.folder import read_study
from mrdtrack.io.mapping import StudyMap, load_mapping
from mrdtrack.validation import RULES, ValidationOptions

__all__ = [
    "RULES",
    "StudyMap",
    "ValidationOptions",
    "demo_study_path",
    "example_study_path",
    "load_mapping",
    "load_study",
    "read_adam",
    "read_study",
    "write_adam",
]

_PACKAGE = Path(__file__).resolve().parent.parent


def example_study_path(kind: str = "csv") -> Path:
    """The small example study of the source tree: ``kind`` "csv", "adam" or "mapped"."""
    root = _PACKAGE.parent.parent / "examples"
    return root / {"csv": "csv_study", "adam": "adam_study", "mapped": "mapped_study"}[kind]


def demo_study_path() -> Path:
    """Folder of the embedded demo study (CSV), used when a command is given no study.

    The demo study (108 simulated patients matching the founding study's published counts) is
    built by `mrdtrack.simulate.write_demo` and ships in ``mrdtrack/data/demo/csv``.
    """
    return _PACKAGE / "data" / "demo" / "csv"


def load_study(
    path: str | Path | None = None,
    *,
    mapping: str | Path | None = None,
    adam: bool | None = None,
    **kwargs: Any,
) -> Cohort:
    """Read a study folder whatever its kind: the one entry point commands use.

    ``path`` None reads the embedded demo study (`demo_study_path`). ``adam`` None detects
    ADaM: a folder with ``.xpt``/``.sas7bdat`` files and no ``patients`` table, or a single SAS
    file. Otherwise `read_study` with ``mapping``.
    """
    folder = demo_study_path() if path is None else Path(path)
    if adam is None:
        if folder.is_file():
            adam = folder.suffix.lower() in (".xpt", ".sas7bdat")
        elif folder.is_dir():
            names = [p.name.lower() for p in folder.iterdir()]
            has_sas = any(n.endswith((".xpt", ".sas7bdat")) for n in names)
            has_table = any(n.startswith("patients.") for n in names) or "study.toml" in names
            adam = has_sas and not has_table and mapping is None
        else:
            adam = False
    if adam:
        return read_adam(folder, **kwargs)
    if "mrd_dataset" in kwargs:
        raise ValueError("--mrd-dataset (mrd_dataset) applies to ADaM studies only")
    return read_study(folder, mapping, **kwargs)
