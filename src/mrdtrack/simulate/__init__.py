"""Trial simulation: the calibrated generative model, the demo study and design sweeps.

Public names (imported lazily, so ``import mrdtrack`` stays light):

- `simulate_trials`, `Trials` — replicate trials as arrays (``engine="reference"`` numpy or
  ``"fast"`` numba); ``Trials.to_cohort(i)``;
- `virtual_trials`, `analyse_landmark` — simulate-and-analyse without keeping the trials, and
  the fused classes + PFS + landmark Cox/log-rank pass;
- `load_params`, `loads_params`, `SimulationParams` — the versioned parameter TOML;
- `trial_summaries` — the founding study's fixed summary set on every replicate;
- `load_study_targets`, `StudyTargets` — a study's published figures with their roles (schema /2);
- `calibrate`, `Posterior` — Bayesian synthetic likelihood calibration (a distribution);
- `goodness_of_fit`, `CheckResult` — the check that can reject a model;
- `build_demo`, `write_demo`, `DEMO_SEED`, `demo_params`, `pfs_band_check` — the embedded demo
  study (selected on counts only) and the check that its PFS is a plausible model draw;
- `load_scenario`, `run_design`, `run_sweep` — design studies and resumable sweeps.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "simulate_trials": "model",
    "Trials": "trials",
    "virtual_trials": "model",
    "analyse_landmark": "_kernels",
    "load_params": "params",
    "loads_params": "params",
    "SimulationParams": "params",
    "trial_summaries": "summaries",
    "load_study_targets": "targets",
    "StudyTargets": "targets",
    "load_targets": "calibrate",
    "calibrate": "inference",
    "Posterior": "inference",
    "goodness_of_fit": "gof",
    "CheckResult": "gof",
    "calibration_report": "calibrate",
    "build_demo": "demo",
    "write_demo": "demo",
    "DEMO_SEED": "demo",
    "demo_params": "demo",
    "pfs_band_check": "demo",
    "load_scenario": "design",
    "run_design": "design",
    "DesignResult": "design",
    "run_design_uncertain": "design",
    "run_sweep": "sweep",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"mrdtrack.simulate.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'mrdtrack.simulate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
