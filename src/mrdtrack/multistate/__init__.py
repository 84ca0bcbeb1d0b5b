"""Multi-state Markov models for panel-observed states (the Python counterpart of R msm)."""

from .bootstrap import (
    BootstrapIntervals,
    bootstrap_fits,
    bootstrap_intervals,
    simulate_from_fit,
)
from .derived import (
    FirstPassageResult,
    IntensityRatioResult,
    first_passage_time,
    intensity_ratio,
)
from .homogeneity import HomogeneityTest, time_homogeneity_test
from .mrd_model import MrdMarkovData, fit_mrd_markov, mrd_markov_data
from .panel_markov import (
    LRTestResult,
    PanelMarkovFit,
    PMatrixResult,
    crude_initial_values,
    fit_panel_markov,
    lr_test,
)
from .pearson import PearsonResult, pearson_test

__all__ = [
    "BootstrapIntervals",
    "FirstPassageResult",
    "HomogeneityTest",
    "IntensityRatioResult",
    "LRTestResult",
    "MrdMarkovData",
    "PMatrixResult",
    "PanelMarkovFit",
    "PearsonResult",
    "bootstrap_fits",
    "bootstrap_intervals",
    "crude_initial_values",
    "first_passage_time",
    "fit_mrd_markov",
    "fit_panel_markov",
    "intensity_ratio",
    "lr_test",
    "mrd_markov_data",
    "pearson_test",
    "simulate_from_fit",
    "time_homogeneity_test",
]
