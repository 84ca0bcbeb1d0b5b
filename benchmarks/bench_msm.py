"""Same-run benchmark: mrdtrack.multistate.fit_panel_markov against R msm.

Data sets: ``cav`` (msm's vignette 4-state model, deathexact = 4) and simulated
MRD-/MRD+/progression panel studies (3 states, progression at exact times, a binary covariate on
all transitions, yearly visits) with 10^3, 10^4 and 10^5 subjects.  Both programs read the same
CSV.  msm is run with ``control = list(fnscale = <number of observations>)``: without it msm's
BFGS overflows at 10^4 subjects (our optimiser scales the objective by the number of intervals
itself).  R at 10^5 subjects takes minutes, so it runs only with ``--r-1e5``.

Usage: python benchmarks/bench_msm.py [--r-1e5] [--repeat 3] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reference" / "multistate"))

from simulate_mrd import simulate_mrd_panel  # noqa: E402

from mrdtrack.multistate import fit_panel_markov  # noqa: E402

Q_CAV = np.array(
    [[0, 0.25, 0, 0.25], [0.166, 0, 0.166, 0.166], [0, 0.25, 0, 0.25], [0, 0, 0, 0]], dtype=float
)
Q_MRD = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]], dtype=float)

R_TEMPLATE = r"""
suppressMessages(library(msm))
d <- read.csv("{csv}")
Q <- {qmat}
el <- system.time(fit <- msm({state} ~ {time}, subject = {subject}, data = d, qmatrix = Q,
                            deathexact = {death}{cov},
                            control = list(fnscale = nrow(d))))["elapsed"]
cat(sprintf('{{"seconds": %.6f, "minus2loglik": %.10f, "version": "%s"}}\n', el,
            fit$minus2loglik, as.character(packageVersion("msm"))))
"""


def r_matrix(q: np.ndarray) -> str:
    rows = ", ".join("c(" + ", ".join(f"{x:g}" for x in row) + ")" for row in q)
    return f"rbind({rows})"


def run_r(csv: Path, q, state, time_col, subject, death, cov) -> dict:
    script = R_TEMPLATE.format(
        csv=csv,
        qmat=r_matrix(q),
        state=state,
        time=time_col,
        subject=subject,
        death=death,
        cov=f", covariates = ~ {cov}" if cov else "",
    )
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_py(df, q, state, time_col, subject, death, cov, repeat) -> dict:
    best = np.inf
    fit = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fit = fit_panel_markov(
            df,
            subject=subject,
            time=time_col,
            state=state,
            qmatrix=q,
            exact_death_states=(death,),
            covariates=[cov] if cov else None,
        )
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "minus2loglik": fit.minus2loglik}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--r-1e5", action="store_true", help="also run R msm at 10^5 subjects")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "multistate.md"))
    args = ap.parse_args()

    # warm the numba cache so that compilation is not timed
    warm = simulate_mrd_panel(500, seed=0, p_false_neg=0, p_false_pos=0)
    run_py(warm, Q_MRD, "state", "years", "id", 3, "highrisk", 1)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cav_csv = ROOT / "tests" / "reference" / "multistate" / "cav.csv"
        cav = pl.read_csv(cav_csv)
        py = run_py(cav, Q_CAV, "state", "years", "PTNUM", 4, None, args.repeat)
        r = run_r(cav_csv, Q_CAV, "state", "years", "PTNUM", 4, None)
        rows.append(("cav (622 subjects, 4 states)", len(cav), py, r))
        for n in (1_000, 10_000, 100_000):
            df = simulate_mrd_panel(n, seed=20261125 + n, p_false_neg=0.0, p_false_pos=0.0)
            df = df.select("id", "years", "state", "highrisk")
            csv = Path(tmp) / f"mrd_{n}.csv"
            df.write_csv(csv)
            py = run_py(df, Q_MRD, "state", "years", "id", 3, "highrisk", args.repeat)
            r = None
            if n < 100_000 or args.r_1e5:
                r = run_r(csv, Q_MRD, "state", "years", "id", 3, "highrisk")
            rows.append((f"MRD 3-state + covariate, {n:,} subjects", df.height, py, r))

    lines = [
        "# Multi-state (panel Markov) benchmark: mrdtrack vs R msm",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}; timings are the best of {args.repeat} runs for "
        "mrdtrack (data preparation + fit + Hessian), one run of `system.time(msm(...))` for R.",
        "msm is given `control = list(fnscale = nrow(data))` (it overflows at 10^4 without it).",
        "",
        "| data | observations | mrdtrack s | msm s | ratio | -2LL mrdtrack | -2LL msm | diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, nobs, py, r in rows:
        if r is None:
            lines.append(
                f"| {name} | {nobs:,} | {py['seconds']:.3f} | not run | | "
                f"{py['minus2loglik']:.4f} | | |"
            )
        else:
            lines.append(
                f"| {name} | {nobs:,} | {py['seconds']:.3f} | {r['seconds']:.3f} | "
                f"{py['seconds'] / r['seconds']:.3f} | {py['minus2loglik']:.4f} | "
                f"{r['minus2loglik']:.4f} | {py['minus2loglik'] - r['minus2loglik']:.2e} |"
            )
    version = next((r["version"] for *_, r in rows if r), "?")
    lines += ["", f"R msm {version}. Negative diff: mrdtrack found a higher likelihood."]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
