"""Same-run benchmark: msm's diagnostics in mrdtrack against R msm 1.7.

Timed, for one fitted model each (the fit itself is not timed):

* ``pearson``: the Pearson-type goodness-of-fit test (R ``pearson.msm``); on cav with death at
  exact times it imputes 100 visit times per death (msm's default ``N = 100``);
* ``pearson boot``: the same with the parametric-bootstrap p-value over B refits
  (R ``pearson.msm(boot = TRUE, B = B)``);
* ``boot CIs``: B nonparametric bootstrap refits and percentile limits of the intensities
  (R ``boot.msm`` + ``qmatrix.msm(ci = "bootstrap")`` percentiles: we time ``boot.msm`` with a
  ``qmatrix.msm`` statistic).

Data: ``cav`` with death as a panel observation (deterministic test, accurate p-value), ``cav``
with death at exact times (msm vignette), and the simulated homogeneous MRD study
(tests/reference/multistate/sim_homog.csv).  Both programs read the same CSV and fit with their
default settings; R runs through ``Rscript`` in a separate process and times with
``proc.time()`` around the call only.  Median over ``--rounds`` interleaved rounds.

Usage: python benchmarks/bench_msm_diagnostics.py [--boot 50] [--rounds 3] [--out FILE.md]
(results go to benchmarks/results/multistate_diagnostics.md and, with --append, to the end of
benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from mrdtrack.multistate import bootstrap_intervals, fit_panel_markov, pearson_test

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference" / "multistate"
Q_CAV = [[0, 0.25, 0, 0.25], [0.166, 0, 0.166, 0.166], [0, 0.25, 0, 0.25], [0, 0, 0, 0]]
Q3 = [[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]]

CASES = {
    "cav (death at visits)": dict(
        csv="cav.csv", subject="PTNUM", time="years", state="state", Q=Q_CAV, death=None
    ),
    "cav (death exact)": dict(
        csv="cav.csv", subject="PTNUM", time="years", state="state", Q=Q_CAV, death=4
    ),
    "simulated MRD study": dict(
        csv="sim_homog.csv", subject="id", time="years", state="state", Q=Q3, death=None
    ),
}

R_SCRIPT = r"""
suppressMessages(library(msm))
args <- commandArgs(TRUE)
d <- read.csv(args[1]); subj <- args[2]; tm <- args[3]; st <- args[4]
Q <- matrix(as.numeric(strsplit(args[5], ",")[[1]]), nrow = as.integer(args[6]), byrow = TRUE)
death <- as.integer(args[7]); B <- as.integer(args[8]); what <- args[9]
d$subject__ <- d[[subj]]; d$time__ <- d[[tm]]; d$state__ <- d[[st]]
fit <- if (death > 0) msm(state__ ~ time__, subject = subject__, data = d, qmatrix = Q,
                          deathexact = death) else
       msm(state__ ~ time__, subject = subject__, data = d, qmatrix = Q)
set.seed(1)
t0 <- proc.time()[["elapsed"]]
out <- NA
if (what == "pearson") {
  p <- suppressWarnings(pearson.msm(fit)); out <- p$test$stat
} else if (what == "pearson_boot") {
  p <- suppressWarnings(pearson.msm(fit, boot = TRUE, B = B)); out <- p$test$p.boot
} else if (what == "boot_ci") {
  b <- boot.msm(fit, stat = function(x) qmatrix.msm(x, ci = "none"), B = B)
  out <- length(b)
}
el <- proc.time()[["elapsed"]] - t0
cat(sprintf("{\"seconds\": %.6f, \"value\": %.10g}\n", el, out))
"""


def run_r(script: Path, case: dict, what: str, b: int) -> tuple[float, float]:
    q = np.asarray(case["Q"], dtype=float)
    res = subprocess.run(
        [
            "Rscript",
            str(script),
            str(REF / case["csv"]),
            case["subject"],
            case["time"],
            case["state"],
            ",".join(f"{v:g}" for v in q.ravel()),
            str(q.shape[0]),
            str(case["death"] or 0),
            str(b),
            what,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    return float(out["seconds"]), float(out["value"])


def run_ours(case: dict, what: str, b: int) -> tuple[float, float]:
    d = pl.read_csv(REF / case["csv"])
    kw = dict(subject=case["subject"], time=case["time"], state=case["state"])
    if case["death"]:
        kw["exact_death_states"] = (case["death"],)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_panel_markov(d, qmatrix=np.asarray(case["Q"], dtype=float), **kw)
        t0 = time.perf_counter()
        if what == "pearson":
            val = pearson_test(fit, seed=1).statistic
        elif what == "pearson_boot":
            val = pearson_test(fit, boot=True, n_boot=b, seed=1).p_boot
        else:
            val = float(bootstrap_intervals(fit, n_boot=b, seed=1).n_boot)
        return time.perf_counter() - t0, float(val)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boot", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/multistate_diagnostics.md"))
    ap.add_argument("--append", action="store_true", help="also append to RESULTS.md")
    a = ap.parse_args()
    script = Path(tempfile.mkdtemp()) / "bench.R"
    script.write_text(R_SCRIPT)
    whats = {
        "pearson": "pearson",
        "pearson_boot": f"pearson + bootstrap p (B={a.boot})",
        "boot_ci": f"bootstrap CIs (B={a.boot})",
    }
    rows = []
    for name, case in CASES.items():
        for what, label in whats.items():
            ours, theirs, vals = [], [], None
            for _ in range(a.rounds):
                t, v = run_ours(case, what, a.boot)
                ours.append(t)
                tr, vr = run_r(script, case, what, a.boot)
                theirs.append(tr)
                vals = (v, vr)
            mo, mr = float(np.median(ours)), float(np.median(theirs))
            rows.append((name, label, mo, mr, mo / mr, vals))
            print(
                f"{name:24s} {label:34s} ours {mo:8.3f}s  msm {mr:8.3f}s  ratio {mo / mr:.3f}"
                f"  values {vals}",
                flush=True,
            )
    md = [
        "# Multi-state diagnostics benchmark: mrdtrack vs R msm (Pearson test, bootstrap CIs)",
        "",
        f"Machine: {platform.machine()}, shared 2-core box (load average "
        f"{os.getloadavg()[0]:.1f} at the end). Python {platform.python_version()}; "
        f"{_r_version()}. Script: `benchmarks/bench_msm_diagnostics.py --boot {a.boot} "
        f"--rounds {a.rounds}`; median over {a.rounds} interleaved rounds, each R call in its "
        "own Rscript process timed around the call only (the fit is not timed). Random parts "
        "(imputed visit times after exact deaths, bootstrap) use different generators, so "
        "values agree in distribution only.",
        "",
        "| data | task | mrdtrack (s) | msm (s) | × msm | value mrdtrack / msm |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, label, mo, mr, ratio, (v, vr) in rows:
        md.append(f"| {name} | {label} | {mo:.3f} | {mr:.3f} | {ratio:.3f} | {v:.6g} / {vr:.6g} |")
    md += [
        "",
        "Values: Pearson statistic; bootstrap p-value; number of successful bootstrap refits.",
        "",
    ]
    text = "\n".join(md)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    if a.append:
        res = ROOT / "benchmarks" / "RESULTS.md"
        body = res.read_text().rstrip("\n")
        tag = "<!-- from benchmarks/results/multistate_diagnostics.md -->"
        if tag in body:
            body = body[: body.index(tag)].rstrip("\n")
        res.write_text(body + "\n\n" + tag + "\n" + text.strip() + "\n")
    print(text)


def _r_version() -> str:
    out = subprocess.run(
        ["Rscript", "-e", 'cat(R.version.string, "; msm", format(packageVersion("msm")))'],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


if __name__ == "__main__":
    main()
