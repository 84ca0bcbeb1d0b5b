"""Calibration of the simulator to a published study: parameters, inference and the check.

The pieces (each its own module):

- `mrdtrack.simulate.targets` — the targets file (schema ``/2``): every published figure with
  its role (``fit`` / ``check`` / ``design``);
- `mrdtrack.simulate.figures` — the same figures computed on simulated trials of the study's
  design (arms, assessments with their LODs, trial size from the targets);
- `mrdtrack.simulate.inference` — Bayesian synthetic likelihood: a distribution over the free
  parameters, with the parameters the figures do not inform detected and kept at their priors;
- `mrdtrack.simulate.gof` — the goodness-of-fit check that can reject a model.

This module finds the parameter file a targets file names and offers the published names.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mrdtrack.errors import MrdtrackError
from mrdtrack.simulate.gof import CheckResult, goodness_of_fit
from mrdtrack.simulate.params import SimulationParams, load_params, loads_params
from mrdtrack.simulate.targets import StudyTargets, load_study_targets

__all__ = [
    "CheckResult",
    "calibration_report",
    "default_params_for",
    "load_params_resource",
    "load_targets",
]

load_targets = load_study_targets
calibration_report = goodness_of_fit


def load_params_resource(name: str) -> SimulationParams:
    """A shipped parameter file by name (``mrdtrack/data/simulation/NAME``)."""
    res = resources.files("mrdtrack.data").joinpath(f"simulation/{name}")
    if not res.is_file():
        raise MrdtrackError(f"parameter file {name!r} is not among the shipped ones")
    return loads_params(res.read_text(encoding="utf-8"), source=name)


def default_params_for(targets: StudyTargets) -> SimulationParams:
    """The parameter file a targets file names: beside it, in a sibling ``simulation/`` folder,
    or shipped in ``mrdtrack/data/simulation``; the founding study's when it names none."""
    if not targets.params:
        return load_params()
    if targets.path:
        here = Path(targets.path).resolve()
        for cand in (
            here.parent / targets.params,
            here.parent.parent / "simulation" / targets.params,
        ):
            if cand.is_file() and cand.resolve() != here:
                return load_params(cand)
    try:
        return load_params_resource(targets.params)
    except MrdtrackError:
        raise MrdtrackError(
            f"{targets.path}: parameter file {targets.params!r} not found beside the targets, "
            "in ../simulation/ or among the shipped ones; pass --params"
        ) from None
