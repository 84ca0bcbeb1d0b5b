"""Kaplan-Meier + log-rank: mrdtrack vs statsmodels, lifelines and R survival, same run.

For each n and each kind of times (``tied``: exponential times rounded up to whole days;
``untied``: the same times unrounded), a seeded data set (~30% censored, two groups) is written
once to CSV. Every tool runs in its own fresh process that reads the CSV (not timed), makes one
warm-up call (numba kernels load from the on-disk cache), then times ``--reps`` calls of
(1) the Kaplan-Meier fit with its median and CI and (2) the two-group log-rank test; the round's
figure is the median of those calls. Rounds are interleaved (A, B, C, D, A, B, ...) so that
load on the shared machine hits every tool alike. The table gives min / median / max over
rounds of KM + log-rank, and the ratio to statsmodels as the median (and range) of the
per-round ratios; the machine's load average is printed before and after.

Usage:  python benchmarks/bench_km_logrank.py [--sizes 1000 10000 100000 1000000]
        [--kinds tied untied] [--rounds 5] [--reps 3] [--out benchmarks/results/survival_km.md]
The batched (many trials) benchmark is benchmarks/bench_batched.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

PY_WORKER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import polars as pl
    tool, path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    df = pl.read_csv(path)
    t = df["time"].to_numpy().astype(float)
    e = df["event"].to_numpy().astype(int)
    g = df["group"].to_numpy().astype(int)
    if tool == "mrdtrack":
        from mrdtrack.survival.km import kaplan_meier
        from mrdtrack.survival.logrank import logrank_test
        def km():
            return kaplan_meier(df, "time", "event").median()
        def lr():
            return logrank_test(df, "time", "event", "group").p_value
    elif tool == "statsmodels":
        import statsmodels.api as sm
        from statsmodels.duration.survfunc import survdiff
        def km():
            return sm.SurvfuncRight(t, e).quantile(0.5)
        def lr():
            return survdiff(t, e, g)
    elif tool == "lifelines":
        from lifelines import KaplanMeierFitter
        from lifelines.statistics import logrank_test
        def km():
            return KaplanMeierFitter().fit(t, e).median_survival_time_
        def lr():
            a, b = g == 0, g == 1
            return logrank_test(t[a], t[b], e[a], e[b]).p_value
    km(); lr()
    out = {"km": [], "lr": []}
    for _ in range(reps):
        for name, f in (("km", km), ("lr", lr)):
            t0 = time.perf_counter(); f(); out[name].append(time.perf_counter() - t0)
    print(json.dumps(out))
    """
)

R_WORKER = textwrap.dedent(
    """
    args <- commandArgs(trailingOnly = TRUE)
    suppressPackageStartupMessages(library(survival))
    d <- read.csv(args[1]); reps <- as.integer(args[2])
    km <- function() quantile(survfit(Surv(time, event) ~ 1, data = d), probs = 0.5)
    lr <- function() survdiff(Surv(time, event) ~ group, data = d)
    invisible(km()); invisible(lr())
    tk <- numeric(reps); tl <- numeric(reps)
    for (i in seq_len(reps)) {
      t0 <- Sys.time(); invisible(km()); tk[i] <- as.numeric(Sys.time() - t0, units = "secs")
      t0 <- Sys.time(); invisible(lr()); tl[i] <- as.numeric(Sys.time() - t0, units = "secs")
    }
    cat(sprintf('{"km": [%s], "lr": [%s]}\\n', paste(sprintf("%.9f", tk), collapse = ","),
                paste(sprintf("%.9f", tl), collapse = ",")))
    """
)


def make_data(n: int, seed: int = 20261125, ties: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + n)
    group = rng.integers(0, 2, n)
    t_event = rng.exponential(np.where(group == 1, 500.0, 365.0))
    t_cens = rng.exponential(900.0, n)
    time = np.minimum(t_event, t_cens)
    if ties:
        time = np.ceil(time)
    event = (t_event <= t_cens).astype(np.int64)
    return {"time": time, "event": event, "group": group}


def write_csv(path: Path, cols: dict[str, np.ndarray]) -> None:
    names = list(cols)
    arr = np.column_stack([cols[k] for k in names])
    np.savetxt(path, arr, delimiter=",", header=",".join(names), comments="", fmt="%.17g")


def run(cmd: list[str]) -> dict:
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def load() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} / {b:.2f} / {c:.2f}"


def spread(xs: list[float], fmt: str = "{:.4f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(xs), statistics.median(xs), max(xs)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--kinds", nargs="+", default=["tied", "untied"], choices=["tied", "untied"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-r", action="store_true", help="skip R even when Rscript is found")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "survival_km.md"
    )
    args = ap.parse_args()
    has_r = shutil.which("Rscript") is not None and not args.no_r
    tools = ["mrdtrack", "statsmodels", "lifelines"] + (["R"] if has_r else [])
    load_before = load()
    lines = [
        "| times | n | tool | KM + median (s) | log-rank (s) | KM + log-rank (s) "
        "min / median / max | × statsmodels (range) | × R |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        (tmpd / "worker.py").write_text(PY_WORKER)
        (tmpd / "worker.R").write_text(R_WORKER)
        for kind in args.kinds:
            for n in args.sizes:
                path = tmpd / f"km_{kind}_{n}.csv"
                write_csv(path, make_data(n, ties=kind == "tied"))
                res: dict[str, dict[str, list[float]]] = {
                    t: {"km": [], "lr": [], "tot": []} for t in tools
                }
                for _ in range(args.rounds):
                    for tool in tools:
                        if tool == "R":
                            cmd = ["Rscript", str(tmpd / "worker.R"), str(path), str(args.reps)]
                        else:
                            cmd = [sys.executable, str(tmpd / "worker.py"), tool, str(path)]
                            cmd.append(str(args.reps))
                        out = run(cmd)
                        km, lr = statistics.median(out["km"]), statistics.median(out["lr"])
                        res[tool]["km"].append(km)
                        res[tool]["lr"].append(lr)
                        res[tool]["tot"].append(km + lr)
                print(f"{kind} n={n} done (load {load()})", file=sys.stderr, flush=True)
                sm = res["statsmodels"]["tot"]
                rr = res["R"]["tot"] if has_r else None
                for tool in tools:
                    tot = res[tool]["tot"]
                    ratios = [a / b for a, b in zip(tot, sm, strict=True)]
                    xr = (
                        f"{statistics.median([a / b for a, b in zip(tot, rr, strict=True)]):.3f}"
                        if rr
                        else "n/a"
                    )
                    lines.append(
                        f"| {kind} | {n:,} | {tool} | {statistics.median(res[tool]['km']):.4f} "
                        f"| {statistics.median(res[tool]['lr']):.4f} | {spread(tot)} "
                        f"| {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
                        f" | {xr} |"
                    )
    load_after = load()
    versions = subprocess.run(
        [
            sys.executable,
            "-c",
            "import statsmodels, lifelines, numpy, polars; "
            "print(f'statsmodels {statsmodels.__version__}, lifelines {lifelines.__version__}, "
            "numpy {numpy.__version__}, polars {polars.__version__}')",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    rver = ""
    if has_r:
        rver = subprocess.run(
            [
                "Rscript",
                "-e",
                "cat(R.version.string, '; survival', as.character(packageVersion('survival')))",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
    header = [
        "# Kaplan-Meier + log-rank benchmark",
        "",
        f"Produced by `python benchmarks/bench_km_logrank.py --sizes "
        f"{' '.join(map(str, args.sizes))} --kinds {' '.join(args.kinds)} --rounds "
        f"{args.rounds} --reps {args.reps}`. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work; load average (1 / 5 / 15 min) "
        f"{load_before} before, {load_after} after. Python {platform.python_version()}; "
        f"{versions}; {rver or 'R not run'}.",
        "",
        f"{args.rounds} interleaved rounds; each round a fresh process per tool times "
        f"{args.reps} calls after a warm-up (the round's figure is their median), data read "
        "before timing. `tied`: times rounded up to whole days (mrdtrack counts per day, no "
        "sort); `untied`: continuous times (mrdtrack sorts packed keys). ~30% censored, two "
        "groups. KM + median = the fit with the median and its CI; × statsmodels and × R are "
        "medians of the per-round ratios (same round, same load), range in brackets.",
        "",
    ]
    text = "\n".join(header + lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
