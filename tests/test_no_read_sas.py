"""SAS files are read with pyreadstat only: pandas.read_sas misreads them (see CONVENTIONS)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
# pyreadstat's read_sas7bdat is the allowed reader
PATTERN = re.compile(r"read_sas(?!7bdat)")


def offenders(root: Path) -> list[str]:
    return [
        str(p.relative_to(root))
        for p in sorted(root.rglob("*.py"))
        if PATTERN.search(p.read_text(encoding="utf-8"))
    ]


def test_read_sas_is_not_used():
    assert offenders(SRC) == []


def test_the_check_can_fail(tmp_path):
    (tmp_path / "bad.py").write_text("import pandas as pd\npd.read_sas('x.xpt')\n")
    (tmp_path / "good.py").write_text("import pyreadstat\npyreadstat.read_sas7bdat('x')\n")
    assert offenders(tmp_path) == ["bad.py"]
