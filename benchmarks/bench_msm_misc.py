"""Same-run benchmark of the issue-21 additions against R msm 1.7.

Tasks: ``pearson_test`` on the cav misclassification model (death at visits; msm
``pearson.msm``), the misclassification fit with ``misccovariates = ~ dage`` (msm ``msm``), and
20 bootstrap refits of the simulated study (msm ``boot.msm``).  Each R task runs in its own
Rscript process and is timed around the call only (fits that a task needs are not timed);
ours are timed in this process, best of ``--repeat``.  Random parts use different generators.

Usage: python benchmarks/bench_msm_misc.py [--repeat 2] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from mrdtrack.multistate import bootstrap_fits, fit_panel_markov, pearson_test

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference" / "multistate"
QM = [[0, 0.148, 0, 0.0171], [0, 0, 0.202, 0.081], [0, 0, 0, 0.126], [0, 0, 0, 0]]
EM = [[0, 0.1, 0, 0], [0.1, 0, 0.1, 0], [0, 0.1, 0, 0], [0, 0, 0, 0]]
Q3 = [[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]]
R_COMMON = """suppressMessages(library(msm))
Qm <- rbind(c(0, 0.148, 0, 0.0171), c(0, 0, 0.202, 0.081), c(0, 0, 0, 0.126), c(0, 0, 0, 0))
E <- rbind(c(0, 0.1, 0, 0), c(0.1, 0, 0.1, 0), c(0, 0.1, 0, 0), c(0, 0, 0, 0))
Q3 <- rbind(c(0, 0.1, 0.01), c(0.1, 0, 0.1), c(0, 0, 0))
cav <- read.csv("cav.csv"); sim <- read.csv("sim_homog.csv")
"""
R_TASKS = {
    "pearson": """f <- msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Qm, ematrix = E,
  obstrue = firstobs)
t0 <- proc.time()[["elapsed"]]; v <- pearson.msm(f)$test$stat""",
    "misccov fit": """t0 <- proc.time()[["elapsed"]]
f <- msm(state ~ years, subject = PTNUM, data = cav, qmatrix = Qm, ematrix = E, deathexact = 4,
  obstrue = firstobs, misccovariates = ~ dage); v <- f$minus2loglik""",
    "bootstrap (B=20)": """f <- msm(state ~ years, subject = id, data = sim, qmatrix = Q3)
set.seed(1); t0 <- proc.time()[["elapsed"]]
b <- boot.msm(f, stat = NULL, B = 20); v <- sum(!vapply(b, inherits, TRUE, "try-error"))""",
}


def run_r(task: str) -> tuple[float, float]:
    code = R_COMMON + R_TASKS[task] + '\ncat(sprintf("{\\"s\\": %.6f, \\"v\\": %.10g}\\n", '
    code += 'proc.time()[["elapsed"]] - t0, v))\n'
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(code)
    out = subprocess.run(["Rscript", fh.name], cwd=REF, capture_output=True, text=True, check=True)
    os.unlink(fh.name)
    res = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    return float(res["s"]), float(res["v"])


def run_ours(task: str, repeat: int) -> tuple[float, float]:
    cav = pl.read_csv(REF / "cav.csv")
    best, val = np.inf, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "pearson":
            f = fit_panel_markov(cav, subject="PTNUM", time="years", state="state",
                                 qmatrix=QM, ematrix=EM, obstrue="firstobs")  # fmt: skip
        if task.startswith("bootstrap"):
            sim = pl.read_csv(REF / "sim_homog.csv")
            f = fit_panel_markov(sim, subject="id", time="years", state="state", qmatrix=Q3)
        for _ in range(repeat):
            t0 = time.perf_counter()
            if task == "pearson":
                val = pearson_test(f).statistic
            elif task == "misccov fit":
                val = fit_panel_markov(
                    cav, subject="PTNUM", time="years", state="state", qmatrix=QM, ematrix=EM,
                    exact_death_states=(4,), obstrue="firstobs", misccovariates=["dage"],
                ).minus2loglik  # fmt: skip
            else:
                val = float(len(bootstrap_fits(f, n_boot=20, seed=1)))
            best = min(best, time.perf_counter() - t0)
    return best, float(val)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/multistate_misc.md"))
    args = ap.parse_args()
    rows = []
    for task in R_TASKS:
        rs, rv = run_r(task)
        os_, ov = run_ours(task, args.repeat)
        rows.append(f"| {task} | {os_:.3f} | {rs:.3f} | {os_ / rs:.3f} | {ov:.6g} / {rv:.6g} |")
        print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    text = "\n".join(
        [
            "# msm additions of issue 21: mrdtrack vs R msm, same run",
            "",
            f"`python benchmarks/bench_msm_misc.py --repeat {args.repeat}`; shared 2-core box, "
            f"load average {load:.1f} at the end. R timed around the call in its own Rscript "
            "process; ours best of the repeats.",
            "",
            "| task | mrdtrack (s) | msm (s) | x msm | value mrdtrack / msm |",
            "|---|---:|---:|---:|---|",
            *rows,
            "",
            "Values: Pearson statistic; -2 log-likelihood; successful bootstrap refits.",
            "",
        ]
    )
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
