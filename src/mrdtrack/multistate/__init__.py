"""Multi-state Markov models for panel-observed states (the Python counterpart of R msm)."""

from .mrd_model import MrdMarkovData, fit_mrd_markov, mrd_markov_data
from .panel_markov import (
    LRTestResult,
    PanelMarkovFit,
    PMatrixResult,
    crude_initial_values,
    fit_panel_markov,
    lr_test,
)

__all__ = [
    "LRTestResult",
    "MrdMarkovData",
    "PMatrixResult",
    "PanelMarkovFit",
    "crude_initial_values",
    "fit_mrd_markov",
    "fit_panel_markov",
    "lr_test",
    "mrd_markov_data",
]
