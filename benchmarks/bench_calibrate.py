"""Calibration time of the founding study (one command), written to results/calibrate.md.

    python benchmarks/bench_calibrate.py [--seeds 20210601 7] [--max-evaluations 2400]

Runs `mrdtrack.simulate.inference.calibrate` on the shipped founding-study targets (defaults of
``mrdtrack simulate calibrate --fit``) once per seed, and records wall-clock and CPU (process)
time, the load average, and the posterior medians per seed (the spread across seeds / starting
points). Single process (numba single-threaded): the machine is shared, so the CPU time is the
figure to compare with the 10-minute budget; the wall time shows the load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from mrdtrack.simulate.calibrate import default_params_for
from mrdtrack.simulate.inference import calibrate
from mrdtrack.simulate.targets import load_study_targets

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[20210601, 7])
    ap.add_argument("--max-evaluations", type=int, default=2400)
    ap.add_argument("--out", default=str(HERE / "results" / "calibrate.md"))
    a = ap.parse_args()
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    t = load_study_targets()
    p = default_params_for(t)
    calibrate(p, t, max_evaluations=80, n_chains=1, seed=1)  # compile numba once
    rows, meds = [], []
    for seed in a.seeds:
        load0 = os.getloadavg()[0]
        w0, c0 = time.perf_counter(), time.process_time()
        post = calibrate(p, t, max_evaluations=a.max_evaluations, seed=seed)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rows.append((seed, wall, cpu, post.n_evaluations, load0, os.getloadavg()[0]))
        meds.append(post.quantiles()[0])
        print(post.summary(), flush=True)
    names = post.names
    lines = [
        "# Calibration time: founding study (benchmarks/bench_calibrate.py)",
        "",
        f"`mrdtrack simulate calibrate --fit` defaults ({a.max_evaluations} likelihood "
        f"evaluations of 200 simulated trials, 2 chains) on {platform.machine()}, Python "
        f"{platform.python_version()}, one process on a shared 2-core machine.",
        "",
        "| seed | wall s | CPU s | evaluations | load avg before | load avg after |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s} | {w:.0f} | {c:.0f} | {n} | {l0:.1f} | {l1:.1f} |" for s, w, c, n, l0, l1 in rows
    ]
    lines += [
        "",
        "Posterior medians by seed:",
        "",
        "| parameter | " + " | ".join(str(s) for s in a.seeds) + " |",
    ]
    lines += ["|---|" + "---:|" * len(a.seeds)]
    m = np.array(meds)
    lines += [
        f"| {n} | " + " | ".join(f"{v:.4g}" for v in m[:, j]) + " |" for j, n in enumerate(names)
    ]
    Path(a.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
