"""Timing of mrdtrack.joint.fit_joint_model (ML, adaptive Gauss-Hermite) and of the dynamic
predictions, on simulated MRD studies with 5 levels per patient.

Data: `mrdtrack.joint.simulate_joint` with visits at 0, 0.5, 1, 1.5 and 2 years (5 levels per
patient still event-free and under follow-up; ~10% of the levels below a per-sample LOD of
1e-5 or 1e-6), a treatment effect on level, slope and hazard, current-value association.
The machine is shared: the 1-minute load average is printed beside each timing.
No R: JM / JMbayes2 are not installable here.

Usage: nice python benchmarks/bench_joint.py [--sizes 1000 2000 5000 10000] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from mrdtrack.joint import JointTruth, dynamic_prediction, fit_joint_model, simulate_joint
from mrdtrack.joint.simulate import truth_data

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/joint.md"))
    args = ap.parse_args()
    tr = JointTruth(visits=(0.0, 0.5, 1.0, 1.5, 2.0))
    lines = [
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
        "",
        "| patients | levels | below LOD | events | fit (s) | converged | aGH nodes | "
        "predictions, 200 draws (s) | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in args.sizes:
        long, pat = simulate_joint(n, tr, seed=2026)
        data = truth_data(long, pat)
        t0 = time.perf_counter()
        fit = fit_joint_model(data)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        dynamic_prediction(fit, data, 1.0, [1.0], n_draws=200, seed=1)
        t_pred = time.perf_counter() - t0
        row = (
            f"| {n} | {data.n_obs} | {int(data.censored.sum())} | {int(data.event.sum())} | "
            f"{t_fit:.1f} | {fit.converged} | {fit.n_nodes} | {t_pred:.1f} | "
            f"{os.getloadavg()[0]:.1f} |"
        )
        print(row, flush=True)
        lines.append(row)
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
