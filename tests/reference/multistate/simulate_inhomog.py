"""Simulate two panel MRD-/MRD+/progression studies for the goodness-of-fit references.

States: 1 = MRD negative, 2 = MRD positive, 3 = progression (absorbing, seen at the next visit).
Visits every half year (jittered) for up to 5 years.  ``sim_homog.csv``: constant intensities
(the homogeneous model is true).  ``sim_inhomog.csv``: the MRD- -> MRD+ intensity is 1.2 per
year in the first year and 0.05 afterwards (8 of 9 such transitions early, as in the demo), so
a homogeneous model is clearly wrong there.  Run as a script (seed 20261204).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
import scipy.linalg

Q_HOMOG = {(1, 2): 0.30, (2, 1): 0.25, (1, 3): 0.03, (2, 3): 0.30}
Q_EARLY = {(1, 2): 1.20, (2, 1): 0.25, (1, 3): 0.03, (2, 3): 0.30}
Q_LATE = {(1, 2): 0.05, (2, 1): 0.25, (1, 3): 0.03, (2, 3): 0.30}
CUT = 1.0


def generator(q: dict) -> np.ndarray:
    g = np.zeros((3, 3))
    for (a, b), v in q.items():
        g[a - 1, b - 1] = v
    np.fill_diagonal(g, -g.sum(axis=1))
    return g


def p_between(t0: float, t1: float, early: np.ndarray, late: np.ndarray) -> np.ndarray:
    """P(t0, t1) of a piecewise-constant generator with one change at CUT."""
    if t1 <= CUT:
        return scipy.linalg.expm(early * (t1 - t0))
    if t0 >= CUT:
        return scipy.linalg.expm(late * (t1 - t0))
    return scipy.linalg.expm(early * (CUT - t0)) @ scipy.linalg.expm(late * (t1 - CUT))


def simulate(n: int, seed: int, early: dict, late: dict) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ge, gl = generator(early), generator(late)
    rows = []
    for i in range(1, n + 1):
        n_vis = rng.integers(4, 11)
        times = np.r_[0.0, 0.5 * np.arange(1, n_vis) + rng.uniform(-0.1, 0.1, n_vis - 1)]
        s = 1 if rng.random() < 0.6 else 2
        rows.append((i, 0.0, s))
        for t0, t1 in itertools.pairwise(times):
            p = p_between(t0, t1, ge, gl)[s - 1]
            s = int(rng.choice(3, p=p / p.sum())) + 1
            rows.append((i, round(float(t1), 6), s))
            if s == 3:
                break
    return pl.DataFrame(rows, schema=["id", "years", "state"], orient="row")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    simulate(400, 20261204, Q_HOMOG, Q_HOMOG).write_csv(here / "sim_homog.csv")
    simulate(400, 20261205, Q_EARLY, Q_LATE).write_csv(here / "sim_inhomog.csv")
