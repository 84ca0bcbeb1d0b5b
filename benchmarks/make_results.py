"""Regenerate benchmarks/RESULTS.md: rerun the benchmarks, then assemble their result files.

One command::

    python benchmarks/make_results.py --run survival   # KM/log-rank, batched, Firth (~30 min)
    python benchmarks/make_results.py --run all        # every benchmark script (hours: msm)
    python benchmarks/make_results.py                  # only reassemble results/*.md

Each benchmark script writes its own ``results/<area>.md`` (same-run timings against R, lifelines,
msm, statsmodels or firthmodels, with ratios, min / median / max over interleaved rounds and the
load average); this script runs them in sequence (one at a time: the machine has 2 cores) and
joins the files in a fixed order. Run from the repository root with mrdtrack importable.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "survival_km_1e6",
    "survival_km",
    "survival_batch",
    "survival_firth",
    "survival_cox",
    "survival_cox_counting",
    "multistate",
    "mrd",
    "simulate",
    "calibrate",
    "io",
]

# (results file, command line after ``python``); "survival" runs the first group
SURVIVAL = [
    ("survival_km", ["bench_km_logrank.py", "--sizes", "1000", "10000", "100000"]),
    (
        "survival_km_1e6",
        [
            "bench_km_logrank.py",
            "--sizes",
            "1000000",
            "--rounds",
            "7",
            "--out",
            str(HERE / "results" / "survival_km_1e6.md"),
        ],
    ),
    ("survival_batch", ["bench_batched.py"]),
    (
        "survival_firth",
        ["bench_firth.py", "--out", str(HERE / "results" / "survival_firth.md")],
    ),
]
OTHERS = [
    ("survival_cox", ["bench_cox.py"]),
    ("survival_cox_counting", ["bench_cox.py", "--counting"]),
    ("multistate", ["bench_msm.py"]),
    ("mrd", ["bench_mrd.py", "2000", "20000"]),
    ("simulate", ["bench_simulate.py"]),
    ("calibrate", ["bench_calibrate.py"]),
    ("io", ["bench_io.py"]),
]

HEADER = """# Benchmark results

Regenerate with one command from the repository root: `python benchmarks/make_results.py --run
survival` reruns the survival benchmarks (Kaplan-Meier + log-rank, batched trials, Firth; about
half an hour) and rebuilds this file; `--run all` reruns every benchmark script (hours: the msm
comparison); without `--run` the file is only reassembled from `benchmarks/results/*.md`.

Same-run comparisons: every table below was produced by one run of the named script, which
times mrdtrack and its anchor (R `survival`/`msm` through `Rscript` on the same files,
lifelines, statsmodels, firthmodels) in separate processes or interleaved calls, and gives
ratios (ours / anchor: below 1 means faster). The machine has 2 cores shared with other work;
the survival sections report min / median / max over interleaved rounds and the load average
before and after, so that a figure can be checked against its conditions: absolute times move
with the load, ratios measured in the same round much less.
"""


def run_benchmarks(which: str) -> None:
    jobs = SURVIVAL + (OTHERS if which == "all" else [])
    for name, cmd in jobs:
        print(f"== {name}: python benchmarks/{' '.join(cmd)}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]], check=True, env=os.environ)


def assemble() -> None:
    files = {p.stem: p for p in (HERE / "results").glob("*.md")}
    names = [n for n in ORDER if n in files] + sorted(set(files) - set(ORDER))
    parts = [HEADER]
    for name in names:
        text = files[name].read_text().strip()
        parts.append(f"<!-- from benchmarks/results/{name}.md -->\n{text}\n")
    (HERE / "RESULTS.md").write_text("\n".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", choices=["survival", "all"], default=None)
    args = ap.parse_args()
    if args.run:
        run_benchmarks(args.run)
    assemble()


if __name__ == "__main__":
    main()
