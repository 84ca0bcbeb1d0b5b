"""The PDF report, typeset by typst (the `typst` PyPI package: no system libraries needed).

The typst template reads the same display model as the HTML from a JSON file and sets every
string as text (never as markup), so user-provided labels are inert. Figures are the SVG files.
The document date is fixed to the run's start time, so identical runs differ only there.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from mrdtrack.errors import MrdtrackError

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def render_pdf(model: dict[str, Any], folder: Path, out: Path) -> int:
    """Write ``out`` from the display ``model``; figures are read from ``folder/figures``.

    Returns the number of pages.
    """
    try:  # optional dependency: the pdf extra
        import typst
    except ModuleNotFoundError as e:
        raise MrdtrackError(
            "the PDF report needs the typst package: pip install 'mrdtrack[pdf]' "
            "(or run the report with --no-pdf)"
        ) from e
    data = folder / "report-data.json"
    source = folder / "report.typ"
    data.write_text(json.dumps(model, ensure_ascii=False), encoding="utf-8")
    with resources.as_file(resources.files("mrdtrack.report") / "templates" / "report.typ") as t:
        shutil.copyfile(t, source)
    try:
        started = datetime.fromisoformat(model["run"]["started"].replace("Z", "+00:00"))
        pdf = typst.compile(
            str(source),
            root=str(folder),
            timestamp=int(started.timestamp()),
            pdf_tags=False,
        )
    finally:
        data.unlink(missing_ok=True)
        source.unlink(missing_ok=True)
    out.write_bytes(pdf)
    return len(_PAGE.findall(pdf))
