"""Virtual trials per second: KM medians + log-rank + 1-covariate Cox on many small trials.

Each virtual trial has n = 100 patients in two arms (hazard ratio 0.7, ~30% censoring, times
rounded to whole days so ties occur). Per trial: the Kaplan-Meier median of each arm, the
log-rank test of arm, and a Cox model on arm (Efron). mrdtrack runs all trials at once with
``kaplan_meier_batched``, ``logrank_batched`` and ``cox_ph_batched`` (three calls), and with
``analyse_trials`` (one compiled pass per trial doing all three, serial and with numba threads);
the anchors are an R loop
(survfit + survdiff + coxph per trial) and a lifelines loop (KaplanMeierFitter, logrank_test,
CoxPHFitter), run in the same invocation, each in its own process, timing the loop only.

    python benchmarks/bench_batched.py [--trials 20000] [--rounds 5] [--reps 3]

Writes benchmarks/results/survival_batch.md: min / median / max over interleaved rounds, the
load average before and after, and the compilation time apart from the rates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
N_PER_TRIAL = 100

R_LOOP = r"""
suppressPackageStartupMessages(library(survival))
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1]); nt <- as.integer(a[2])
d <- d[d$trial < nt, ]
sp <- split(d, d$trial)
t0 <- proc.time()[["elapsed"]]
out <- vapply(sp, function(x) {
  km <- survfit(Surv(time, event) ~ arm, data = x)
  med <- summary(km)$table[, "median"]
  lr <- survdiff(Surv(time, event) ~ arm, data = x)$chisq
  cf <- coef(coxph(Surv(time, event) ~ arm, data = x))
  c(med, lr, cf)
}, numeric(4))
el <- proc.time()[["elapsed"]] - t0
cat(sprintf('{"seconds": %.6f, "trials": %d, "coef0": %.12g, "chisq0": %.12g}\n', el, nt,
            out[4, 1], out[3, 1]))
"""


def make_trials(n_trials: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_trials * N_PER_TRIAL
    trial = np.repeat(np.arange(n_trials), N_PER_TRIAL)
    arm = np.tile(np.repeat([0, 1], N_PER_TRIAL // 2), n_trials)
    t = rng.exponential(365.0 / np.exp(np.log(0.7) * arm))
    c = rng.uniform(0, 1600, n)
    return pl.DataFrame(
        {
            "trial": trial,
            "arm": arm,
            "time": np.ceil(np.minimum(t, c)),
            "event": (t <= c).astype(np.int64),
        }
    )


def run_mrdtrack(df: pl.DataFrame, reps: int) -> dict:
    from mrdtrack.survival import cox_ph_batched, kaplan_meier_batched, logrank_batched
    from mrdtrack.survival.batch import analyse_trials

    t = df["time"].to_numpy().astype(float)
    e = df["event"].to_numpy().astype(float)
    arm = df["arm"].to_numpy()
    trial = df["trial"].to_numpy()
    group_rep = trial * 2 + arm  # one KM curve per arm and trial
    m = trial < 5
    # first calls on a slice: numba kernels load from the on-disk cache (or compile)
    t0 = time.perf_counter()
    analyse_trials(t[m], e[m], arm[m], trial[m], parallel=False)
    first_serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyse_trials(t[m], e[m], arm[m], trial[m], parallel=True)
    first_parallel = time.perf_counter() - t0
    t0 = time.perf_counter()
    kaplan_meier_batched(t[m], e[m], group_rep[m])
    logrank_batched(t[m], e[m], arm[m], trial[m])
    cox_ph_batched(t[m], e[m], arm[m].astype(float), trial[m])
    first_separate = time.perf_counter() - t0

    def separate():
        kaplan_meier_batched(t, e, group_rep)
        logrank_batched(t, e, arm, trial)
        return cox_ph_batched(t, e, arm.astype(float), trial)

    variants = {
        "serial": lambda: analyse_trials(t, e, arm, trial, parallel=False),
        "threads": lambda: analyse_trials(t, e, arm, trial, parallel=True),
        "separate": separate,
    }
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for k, f in variants.items():
            w0, c0 = time.perf_counter(), time.process_time()
            f()
            wall[k].append(time.perf_counter() - w0)
            cpu[k].append(time.process_time() - c0)
    at = analyse_trials(t, e, arm, trial, parallel=False)
    return {
        "trials": int(trial.max()) + 1,
        "first": {"serial": first_serial, "threads": first_parallel, "separate": first_separate},
        "seconds": {k: float(np.median(v)) for k, v in wall.items()},
        "cpu_seconds": {k: float(np.median(v)) for k, v in cpu.items()},
        "coef0": float(at.coef[0]),
        "chisq0": float(at.logrank_chisq[0]),
    }


def run_lifelines(df: pl.DataFrame, n_trials: int) -> dict:
    import warnings

    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test

    pdf = df.filter(pl.col("trial") < n_trials).to_pandas()
    groups = [g for _, g in pdf.groupby("trial")]
    t0 = time.perf_counter()
    coef0 = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for g in groups:
            for a in (0, 1):
                s = g[g.arm == a]
                _ = KaplanMeierFitter().fit(s.time, s.event).median_survival_time_
            a0, a1 = g[g.arm == 0], g[g.arm == 1]
            logrank_test(a0.time, a1.time, a0.event, a1.event)
            c = CoxPHFitter().fit(g[["time", "event", "arm"]], "time", "event")
            if coef0 is None:
                coef0 = float(c.params_["arm"])
    return {"seconds": time.perf_counter() - t0, "trials": n_trials, "coef0": coef0}


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} / {b:.2f} / {c:.2f}"


def spread(xs: list[float]) -> str:
    return " / ".join(f"{v:,.0f}" for v in (min(xs), float(np.median(xs)), max(xs)))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        tool, path, nt, reps = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        df = pl.read_csv(path)
        if tool == "mrdtrack":
            print(json.dumps(run_mrdtrack(df.filter(pl.col("trial") < nt), reps)))
        else:
            print(json.dumps(run_lifelines(df, nt)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3, help="timed calls per mrdtrack round")
    ap.add_argument("--r-trials", type=int, default=500)
    ap.add_argument("--ll-trials", type=int, default=100)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "survival_batch.md")
    args = ap.parse_args()
    has_r = shutil.which("Rscript") is not None
    load_before = load()
    df = make_trials(args.trials)
    tmpd = Path(tempfile.mkdtemp(prefix="mrdtrack_bench_"))
    path = tmpd / "trials.csv"
    df.write_csv(path)
    rscript = tmpd / "loop.R"
    rscript.write_text(R_LOOP)
    worker = [sys.executable, __file__, "--worker"]

    def call(cmd: list[str], env: dict | None = None) -> dict:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        return json.loads(out.stdout.strip().splitlines()[-1])

    # compilation, reported apart: one fresh process with an empty numba cache
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmpd / "numba_cache"))
    cold = call([*worker, "mrdtrack", str(path), "200", "1"], env)["first"]
    tools = ["mrdtrack", "lifelines"] + (["R"] if has_r else [])
    results: dict[str, list[dict]] = {t: [] for t in tools}
    for _ in range(args.rounds):
        for tool in tools:
            if tool == "R":
                cmd = ["Rscript", str(rscript), str(path), str(args.r_trials)]
            elif tool == "lifelines":
                cmd = [*worker, "lifelines", str(path), str(args.ll_trials), "1"]
            else:
                cmd = [*worker, "mrdtrack", str(path), str(args.trials), str(args.reps)]
            results[tool].append(call(cmd))
    load_after = load()
    mr = results["mrdtrack"]
    r_rate = [r["trials"] / r["seconds"] for r in results["R"]] if has_r else None
    ll_rate = [r["trials"] / r["seconds"] for r in results["lifelines"]]
    labels = {
        "serial": "`analyse_trials` (one thread)",
        "threads": "`analyse_trials` (numba threads)",
        "separate": "`kaplan_meier_batched` + `logrank_batched` + `cox_ph_batched`",
    }
    lines = [
        "# Batched trials: KM medians + log-rank + Cox, trials per second",
        "",
        f"Produced by `python benchmarks/bench_batched.py --trials {args.trials} --rounds "
        f"{args.rounds} --reps {args.reps}`. Machine: {platform.machine()}, {os.cpu_count()} "
        f"cores shared with other work; load average (1 / 5 / 15 min) {load_before} before, "
        f"{load_after} after. Python {platform.python_version()}.",
        "",
        f"Trials of {N_PER_TRIAL} patients, 2 arms (hazard ratio 0.7, ~30% censored, times in "
        "whole days). Per trial: Kaplan-Meier median (with R's rule) pooled and per arm, "
        "log-rank test, Cox model on arm (Efron). mrdtrack analyses "
        f"{args.trials:,} trials per call; each round is a fresh process that loads the "
        f"compiled kernels, then times {args.reps} calls (the round's figure is their median). "
        f"Anchors in the same rounds: an R loop over {args.r_trials} trials (survfit + survdiff "
        f"+ coxph) and a lifelines loop over {args.ll_trials} trials. {args.rounds} interleaved "
        "rounds; min / median / max over rounds. CPU rate = trials per CPU-second of the "
        "process (all threads), which load from other work changes less than wall time.",
        "",
        "| tool | trials / s (wall) min / median / max | trials per CPU-s (median) "
        "| × R loop (median) |",
        "|---|---:|---:|---:|",
    ]
    for k in ("serial", "threads", "separate"):
        rate = [r["trials"] / r["seconds"][k] for r in mr]
        cpu = [r["trials"] / r["cpu_seconds"][k] for r in mr]
        xr = (
            f"{float(np.median([a / b for a, b in zip(rate, r_rate, strict=True)])):,.0f}"
            if r_rate
            else "n/a"
        )
        lines.append(f"| {labels[k]} | {spread(rate)} | {float(np.median(cpu)):,.0f} | {xr} |")
    if r_rate:
        lines.append(f"| R loop | {spread(r_rate)} | | 1 |")
    lines.append(f"| lifelines loop | {spread(ll_rate)} | | |")
    first = {k: [r["first"][k] for r in mr] for k in ("serial", "threads", "separate")}
    lines += [
        "",
        "Compilation and loading, not in the rates above: first call in a fresh process with an "
        f"empty numba cache (compiling): `analyse_trials` {cold['serial']:.1f} s one thread, "
        f"{cold['threads']:.1f} s threads, the three separate functions {cold['separate']:.1f} "
        "s; with the on-disk cache (every round): "
        + ", ".join(
            f"{k} {min(v):.2f} / {float(np.median(v)):.2f} / {max(v):.2f} s"
            for k, v in first.items()
        )
        + ".",
    ]
    if has_r:
        r0 = results["R"][0]
        d_coef = abs(mr[0]["coef0"] - r0["coef0"])
        d_chisq = abs(mr[0]["chisq0"] - r0["chisq0"])
        lines.append(
            f"Agreement, trial 0: Cox coefficient mrdtrack - R {d_coef:.1e}, "
            f"log-rank chi-square {d_chisq:.1e}."
        )
    med_serial = float(np.median([r["trials"] / r["seconds"]["serial"] for r in mr]))
    med_threads = float(np.median([r["trials"] / r["seconds"]["threads"] for r in mr]))
    best = max(med_serial, med_threads)
    lines.append(
        "Issue 25 target (>= 100,000 trials/s, median of rounds): "
        + ("met" if best >= 100_000 else "NOT met")
        + f" in this run ({best:,.0f}/s, "
        + ("threads" if med_threads >= med_serial else "one thread")
        + ")."
    )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
