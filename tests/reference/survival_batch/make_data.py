"""Write trials.csv: 200 small two-arm trials with ties and edge cases (seeded)."""

from pathlib import Path

import numpy as np
import polars as pl

rng = np.random.default_rng(20261125)
parts = []
for r in range(200):
    n = int(rng.integers(4, 61))
    arm = rng.integers(0, 2, n)
    arm[0], arm[1] = 0, 1
    t = np.ceil(rng.exponential(10.0 / np.where(arm == 1, 0.6, 1.0)))
    c = np.ceil(rng.uniform(0, 30, n))
    time = np.minimum(t, c)
    ev = (t <= c).astype(np.int64)
    if r == 1:
        ev[arm == 1] = 0  # an arm without events: monotone likelihood
    if r == 2:
        time[:] = 5.0  # every time tied
    if r == 3:
        ev[:] = 1  # no censoring
    parts.append(pl.DataFrame({"trial": r, "time": time, "event": ev, "arm": arm}))
df = pl.concat(parts).sample(fraction=1.0, shuffle=True, seed=5)  # rows in no order
df.write_csv(Path(__file__).parent / "trials.csv")
