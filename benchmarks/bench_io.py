"""Reading and validating a study: mrdtrack against plain readers of the same files.

Same run, same files:
- the demo study as CSV: `mrdtrack.read_study` (read as text + parse + every rule) against
  R `read.csv` of the four files (no validation) and pandas `read_csv` (no validation);
- the demo study as ADaM .xpt: `mrdtrack.read_adam` against R `foreign::read.xport` of the
  four files (no derivation, no validation);
- a large cohort (the demo study replicated 100 times, ~100,000 records) through
  `Cohort.from_frames`.

The ratios show what validation costs on top of reading. Run:
``python benchmarks/bench_io.py [--repeats 20]``; writes benchmarks/results/io.md.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

import pandas as pd
import polars as pl

import mrdtrack
from mrdtrack.cohort import Cohort
from mrdtrack.io import demo_study_path

HERE = Path(__file__).resolve().parent
TABLES = ("patients", "mrd", "outcomes", "adverse_events")


def best_of(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def r_time(code: str, repeats: int) -> float | None:
    script = f"""
    suppressMessages(library(foreign))
    f <- function() {{ {code} }}
    invisible(f())
    best <- Inf
    for (i in seq_len({repeats})) {{
      t <- system.time(f())[["elapsed"]]
      best <- min(best, t)
    }}
    cat(sprintf("%.6f", best))
    """
    try:
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    csv_dir = demo_study_path()
    adam_dir = csv_dir.parent / "adam"
    rows = []

    ours = best_of(lambda: mrdtrack.read_study(csv_dir), args.repeats)
    pdt = best_of(
        lambda: [pd.read_csv(csv_dir / f"{t}.csv", dtype=str) for t in TABLES], args.repeats
    )
    files = ", ".join(f'"{csv_dir / t}.csv"' for t in TABLES)
    rt = r_time(f"for (p in c({files})) read.csv(p, colClasses = 'character')", args.repeats)
    rows.append(("demo CSV (108 patients)", "read_study: read + validate", ours, "R read.csv", rt))
    rows.append(
        ("demo CSV (108 patients)", "read_study: read + validate", ours, "pandas read_csv", pdt)
    )

    if (adam_dir / "adsl.xpt").is_file():
        ours = best_of(lambda: mrdtrack.read_adam(adam_dir), args.repeats)
        xfiles = ", ".join(f'"{adam_dir / d}.xpt"' for d in ("adsl", "adtte", "adae", "admrd"))
        rt = r_time(f"for (p in c({xfiles})) read.xport(p)", args.repeats)
        rows.append(
            (
                "demo ADaM .xpt",
                "read_adam: read + derive + validate",
                ours,
                "R foreign::read.xport",
                rt,
            )
        )

    c = mrdtrack.read_study(csv_dir)
    big = {
        t: pl.concat(
            [getattr(c, t).with_columns(pl.col("patient_id") + f"-{i}") for i in range(100)]
        )
        for t in TABLES
    }
    n = sum(f.height for f in big.values())
    ours = best_of(lambda: Cohort.from_frames(**big), max(3, args.repeats // 5))
    rows.append((f"in memory, {n:,} records", "Cohort.from_frames", ours, "-", None))

    lines = [
        "# Reading and validating a study (benchmarks/bench_io.py)",
        "",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, best of "
        f"{args.repeats} runs (shared 2-core machine: ratios matter more than seconds).",
        "",
        "| data | mrdtrack | seconds | anchor (no validation) | seconds | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for data, what, t_ours, anchor, t_anchor in rows:
        ratio = f"{t_ours / t_anchor:.1f}x" if t_anchor else "-"
        ta = f"{t_anchor:.4f}" if t_anchor else "-"
        lines.append(f"| {data} | {what} | {t_ours:.4f} | {anchor} | {ta} | {ratio} |")
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "io.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
