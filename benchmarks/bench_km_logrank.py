"""Kaplan-Meier + log-rank: mrdtrack vs statsmodels, lifelines and R survival, same run.

For n = 10^3 ... 10^6 a seeded data set (exponential times rounded to days, so with ties;
~30% censored; two groups) is written once to CSV. Every tool runs in its own fresh process
that reads the CSV (not timed), makes one warm-up call, then times ``--reps`` calls of
(1) the Kaplan-Meier fit with its median and (2) the two-group log-rank test, and prints the
median time. Rounds are interleaved (tool A, B, C, D, A, B, ...) so that load on the shared
machine hits every tool alike; the table reports the median over rounds and ratios to
statsmodels (the fastest anchor) and R.

A second part times the batched entry points (KM median + log-rank for many trials of 100
patients) against an R loop and a lifelines loop, in trials per second.

Usage:  python benchmarks/bench_km_logrank.py [--sizes 1000 10000 100000 1000000]
        [--rounds 3] [--reps 3] [--out benchmarks/results/survival_km.md]
"""

from __future__ import annotations

import argparse
import json
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

BATCH_PY = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    tool, path, ntrial = sys.argv[1], sys.argv[2], int(sys.argv[3])
    d = np.load(path)
    t, e, g, r = d["time"], d["event"], d["group"], d["replicate"]
    keep = r < ntrial
    t, e, g, r = t[keep], e[keep], g[keep], r[keep]
    if tool == "mrdtrack":
        from mrdtrack.survival.km import kaplan_meier_batched
        from mrdtrack.survival.logrank import logrank_batched
        def run():
            kaplan_meier_batched(t, e, r).median
            logrank_batched(t, e, g, r).p_value
        run()
    else:
        from lifelines import KaplanMeierFitter
        from lifelines.statistics import logrank_test
        def run():
            for i in range(ntrial):
                m = r == i
                ti, ei, gi = t[m], e[m], g[m]
                KaplanMeierFitter().fit(ti, ei).median_survival_time_
                a, b = gi == 0, gi == 1
                logrank_test(ti[a], ti[b], ei[a], ei[b]).p_value
    t0 = time.perf_counter(); run(); el = time.perf_counter() - t0
    print(json.dumps({"seconds": el, "trials": ntrial}))
    """
)

BATCH_R = textwrap.dedent(
    """
    args <- commandArgs(trailingOnly = TRUE)
    suppressPackageStartupMessages(library(survival))
    d <- read.csv(args[1]); ntrial <- as.integer(args[2])
    d <- d[d$replicate < ntrial, ]
    parts <- split(d, d$replicate)
    t0 <- Sys.time()
    for (x in parts) {
      quantile(survfit(Surv(time, event) ~ 1, data = x), probs = 0.5)
      survdiff(Surv(time, event) ~ group, data = x)
    }
    el <- as.numeric(Sys.time() - t0, units = "secs")
    cat(sprintf('{"seconds": %.9f, "trials": %d}\\n', el, ntrial))
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


def batched_section(tmpd: Path, nt: int, rounds: int, has_r: bool) -> list[str]:
    """Trials per second: mrdtrack batched vs an R loop and a lifelines loop."""
    lines: list[str] = []
    # many small trials of 100 patients each
    per = 100
    b = make_data(nt * per, seed=7)
    b["replicate"] = np.repeat(np.arange(nt), per)
    np.savez(tmpd / "batch.npz", **b)
    write_csv(tmpd / "batch.csv", b)
    (tmpd / "batch.py").write_text(BATCH_PY)
    (tmpd / "batch.R").write_text(BATCH_R)
    loops = {"mrdtrack": nt, "lifelines": min(nt, 300), "R": min(nt, 1000)}
    btools = ["mrdtrack", "lifelines"] + (["R"] if has_r else [])
    rates: dict[str, list[float]] = {k: [] for k in btools}
    for _ in range(rounds):
        for tool in btools:
            if tool == "R":
                cmd = [
                    "Rscript",
                    str(tmpd / "batch.R"),
                    str(tmpd / "batch.csv"),
                    str(loops[tool]),
                ]
            else:
                cmd = [
                    sys.executable,
                    str(tmpd / "batch.py"),
                    tool,
                    str(tmpd / "batch.npz"),
                    str(loops[tool]),
                ]
            out = run(cmd)
            rates[tool].append(out["trials"] / out["seconds"])
    lines.append("")
    lines.append(
        f"Batched KM median + log-rank, trials of {per} patients "
        f"(mrdtrack: {nt} trials in one call):"
    )
    lines.append("")
    lines.append("| tool | trials per second | × R loop |")
    lines.append("|---|---:|---:|")
    for tool in btools:
        rate = statistics.median(rates[tool])
        xr = f"{rate / statistics.median(rates['R']):.1f}" if has_r else "n/a"
        label = {"mrdtrack": "mrdtrack batched", "lifelines": "lifelines loop", "R": "R loop"}[tool]
        lines.append(f"| {label} | {rate:,.0f} | {xr} |")

    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000, 1_000_000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch-trials", type=int, default=20_000, help="0 skips the batched part")
    ap.add_argument("--untied", action="store_true", help="continuous times (no ties)")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "survival_km.md"
    )
    args = ap.parse_args()
    has_r = shutil.which("Rscript") is not None
    tools = ["mrdtrack", "statsmodels", "lifelines"] + (["R"] if has_r else [])
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        (tmpd / "worker.py").write_text(PY_WORKER)
        (tmpd / "worker.R").write_text(R_WORKER)
        results: dict[tuple[int, str], dict[str, list[float]]] = {}
        for n in args.sizes:
            path = tmpd / f"km_{n}.csv"
            write_csv(path, make_data(n, ties=not args.untied))
            for _ in range(args.rounds):
                for tool in tools:
                    if tool == "R":
                        cmd = ["Rscript", str(tmpd / "worker.R"), str(path), str(args.reps)]
                    else:
                        cmd = [
                            sys.executable,
                            str(tmpd / "worker.py"),
                            tool,
                            str(path),
                            str(args.reps),
                        ]
                    out = run(cmd)
                    acc = results.setdefault((n, tool), {"km": [], "lr": []})
                    acc["km"].append(statistics.median(out["km"]))
                    acc["lr"].append(statistics.median(out["lr"]))
            print(f"n={n} done", file=sys.stderr, flush=True)

        lines.append(
            "| n | tool | KM + median (s) | log-rank (s) | total (s) | × statsmodels | × R |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for n in args.sizes:
            tot = {
                tool: statistics.median(results[(n, tool)]["km"])
                + statistics.median(results[(n, tool)]["lr"])
                for tool in tools
            }
            for tool in tools:
                km = statistics.median(results[(n, tool)]["km"])
                lr = statistics.median(results[(n, tool)]["lr"])
                xr = f"{tot[tool] / tot['R']:.2f}" if has_r else "n/a"
                lines.append(
                    f"| {n:,} | {tool} | {km:.4f} | {lr:.4f} | {tot[tool]:.4f} | "
                    f"{tot[tool] / tot['statsmodels']:.2f} | {xr} |"
                )

        if args.batch_trials > 0:
            lines += batched_section(tmpd, args.batch_trials, args.rounds, has_r)

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
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; shared 2-core box. "
        f"Python {platform.python_version()}; {versions}; {rver}.",
        f"Median over {args.rounds} interleaved rounds; each round a fresh process per tool timing "
        f"{args.reps} calls after a warm-up (median), data read before timing. "
        f"Times: {'continuous (no ties)' if args.untied else 'rounded up to whole days (ties)'}; "
        "~30% censored; two groups.",
        "",
    ]
    text = "\n".join(header + lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
