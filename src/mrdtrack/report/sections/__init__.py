"""The report's sections, in report order. Each module defines ``SECTION`` (see `_base`)."""

from __future__ import annotations

from mrdtrack.report.sections import (
    baseline,
    disposition,
    followup,
    landmark,
    methods,
    mrd_over_time,
    multistate,
    os,
    pfs,
    prediction,
    safety,
    study,
    timedep,
    trajectories,
)
from mrdtrack.report.sections._base import (
    Column,
    Context,
    Figure,
    Section,
    SectionResult,
    SectionSkipped,
    Table,
)
from mrdtrack.report.sections._mrd import config_for_disease

SECTIONS: tuple[Section, ...] = tuple(
    m.SECTION
    for m in (
        study,
        disposition,
        baseline,
        followup,
        pfs,
        os,
        mrd_over_time,
        trajectories,
        landmark,
        timedep,
        multistate,
        prediction,
        safety,
        methods,
    )
)

__all__ = [
    "SECTIONS",
    "Column",
    "Context",
    "Figure",
    "Section",
    "SectionResult",
    "SectionSkipped",
    "Table",
    "config_for_disease",
]
