"""Export simulated trials (PFS, landmark groups) for the R reference script (run once)."""

import warnings
from pathlib import Path

import numpy as np
import polars as pl

from mrdtrack.simulate.calibrate import load_params_resource
from mrdtrack.simulate.model import simulate_trials
from mrdtrack.simulate.summaries import landmark_groups, pfs_arrays

warnings.simplefilter("ignore")
# version 1 of the founding parameters (frozen), so that a rerun rewrites the same CSV
tr = simulate_trials(load_params_resource("founding_study_v1.toml"), 30, seed=7)
time, event = pfs_arrays(tr)
ev = tr.cycles_completed >= 4
lt, g_per, g_sus = landmark_groups(tr, time, ev, 730.0)
r = np.repeat(np.arange(tr.n_replicates), tr.params.trial.n_patients)
pl.DataFrame(
    {
        "replicate": r,
        "time": time.ravel(),
        "event": event.ravel(),
        "evaluable": ev.ravel().astype(int),
        "lm_time": lt.ravel(),
        "g_per": g_per.ravel(),
        "g_sus": g_sus.ravel(),
    }
).write_csv(Path(__file__).with_name("sim_trials.csv"))
