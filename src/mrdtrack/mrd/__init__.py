"""MRD dynamics: status calling, trajectory classes, transitions, bias-safe analysis data.

Disease presets (`get_preset`: myeloma IMWG 2016 by default, CLL iwCLL 2018, AML ELN 2021,
ALL European ALL groups) fix the rules; see ``docs/methods/mrd.md`` section 7.

Figures (`swimmer_plot`, `alluvial_plot`, `prevalence_plot`, `save_figure`) load matplotlib
only when first used.
"""

from typing import Any

from mrdtrack.mrd._days import as_study_day
from mrdtrack.mrd.landmark import LandmarkData, landmark_data, pfs_by_class
from mrdtrack.mrd.presets import DISEASES, Preset, get_preset, preset_for
from mrdtrack.mrd.status import StatusCalls, call_status
from mrdtrack.mrd.timedep import TimeDependentData, time_dependent_data
from mrdtrack.mrd.trajectories import (
    CLASSES,
    TrajectoryClasses,
    baseline_status,
    classify_trajectories,
)
from mrdtrack.mrd.transitions import Transitions, patient_timeline, transitions, visit_states

_FIGURES = ("alluvial_plot", "prevalence_plot", "save_figure", "swimmer_plot")


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        from mrdtrack.mrd import figures

        return getattr(figures, name)
    raise AttributeError(f"module 'mrdtrack.mrd' has no attribute {name!r}")


__all__ = [
    "CLASSES",
    "DISEASES",
    "LandmarkData",
    "Preset",
    "StatusCalls",
    "TimeDependentData",
    "TrajectoryClasses",
    "Transitions",
    "alluvial_plot",
    "as_study_day",
    "baseline_status",
    "call_status",
    "classify_trajectories",
    "get_preset",
    "landmark_data",
    "patient_timeline",
    "pfs_by_class",
    "preset_for",
    "prevalence_plot",
    "save_figure",
    "swimmer_plot",
    "time_dependent_data",
    "transitions",
    "visit_states",
]
