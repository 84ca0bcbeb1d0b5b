"""Benchmark: mrdtrack.mrd.time_dependent_data against R survival::tmerge, in the same run.

Builds a simulated study (n patients, yearly marrows for 5 years, NGF + some NGS), writes the
visit-level calls and PFS for R, times R's two tmerge calls inside R (``system.time``, median
of repeats) and our `time_dependent_data` (median of repeats, status calling included), checks
that both give the same (start, stop] rows, and prints the ratio. Also times
`classify_trajectories` and `landmark_data` (no R counterpart).

Usage: python benchmarks/bench_mrd.py [n_patients ...]   (default 2000 20000)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.mrd import call_status, classify_trajectories, landmark_data, time_dependent_data

R_SCRIPT = r"""
suppressMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
base <- read.csv(args[1], colClasses = c(patient_id = "character"))
vis <- read.csv(args[2], colClasses = c(patient_id = "character"))
reps <- as.integer(args[4])
times <- numeric(reps)
for (i in seq_len(reps)) {
  times[i] <- system.time({
    td <- tmerge(base, base, id = patient_id, pfs = event(time, status))
    td <- tmerge(td, vis, id = patient_id, mrd_positive = tdc(day, pos))
  })[["elapsed"]]
}
keep <- c("patient_id", "tstart", "tstop", "pfs", "mrd_positive")
res <- td[order(td$patient_id, td$tstart), keep]
write.csv(res, args[3], row.names = FALSE, na = "")
cat(sprintf("%.6f\n", median(times)))
"""


def simulate(n: int, seed: int = 1) -> Cohort:
    rng = np.random.default_rng(seed)
    ids = np.array([f"{i:06d}" for i in range(n)])
    prog = np.where(rng.random(n) < 0.4, rng.integers(60, 2000, n), -1)
    last = rng.integers(300, 2100, n)
    last = np.where(prog >= 0, prog, last)
    rows_pid, rows_day, rows_method, rows_res, rows_sens = [], [], [], [], []
    for k in range(6):
        day = np.maximum(k * 365 + rng.integers(-20, 21, n), -7) if k else rng.integers(-7, 30, n)
        keep = day <= last
        neg = rng.random(n) < 0.5
        res = np.where(neg, "negative", "positive")
        sens = np.where(rng.random(n) < 0.1, 1e-4, 1e-5)
        rows_pid.append(ids[keep])
        rows_day.append(day[keep])
        rows_method.append(np.full(keep.sum(), "NGF"))
        rows_res.append(res[keep])
        rows_sens.append(sens[keep])
        ngs = keep & (rng.random(n) < 0.3)
        rows_pid.append(ids[ngs])
        rows_day.append(day[ngs])
        rows_method.append(np.full(ngs.sum(), "NGS"))
        rows_res.append(np.where(rng.random(ngs.sum()) < 0.5, "negative", "positive"))
        rows_sens.append(np.full(ngs.sum(), 1e-6))
    mrd = pl.DataFrame(
        {
            "patient_id": np.concatenate(rows_pid),
            "day": np.concatenate(rows_day).astype(np.int64),
            "method": np.concatenate(rows_method),
            "specimen": "bone_marrow",
            "sensitivity": np.concatenate(rows_sens),
            "result": np.concatenate(rows_res),
        }
    )
    patients = pl.DataFrame({"patient_id": ids, "cutoff_day": np.full(n, 2200)})
    outcomes = pl.DataFrame(
        {
            "patient_id": ids,
            "progression_day": pl.Series(prog, dtype=pl.Int64).replace(-1, None),
            "death_day": pl.Series([None] * n, dtype=pl.Int64),
            "last_contact_day": last.astype(np.int64),
        }
    )
    aes = pl.DataFrame(schema={"patient_id": pl.String, "term": pl.String})
    return Cohort(patients=patients, mrd=mrd, outcomes=outcomes, adverse_events=aes)


def median_time(fn, reps: int) -> float:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def run(n: int, reps: int = 5) -> dict:
    cohort = simulate(n)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pfs = cohort.pfs("days").filter(pl.col("time") > 0)
        pfs.select(
            "patient_id", pl.col("time").cast(pl.Int64), pl.col("event").alias("status")
        ).write_csv(tmp / "base.csv")
        visits = call_status(cohort).visits.filter(pl.col("status") != "not_evaluable")
        visits.select(
            "patient_id", "day", (pl.col("status") == "positive").cast(pl.Int64).alias("pos")
        ).write_csv(tmp / "vis.csv")
        (tmp / "b.R").write_text(R_SCRIPT)
        proc = subprocess.run(
            [
                "Rscript",
                str(tmp / "b.R"),
                str(tmp / "base.csv"),
                str(tmp / "vis.csv"),
                str(tmp / "r.csv"),
                str(reps),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        r_time = float(proc.stdout.strip().splitlines()[-1])
        r_rows = pl.read_csv(
            tmp / "r.csv", schema_overrides={"patient_id": pl.String, "mrd_positive": pl.Int64}
        )
    ours = time_dependent_data(cohort).table()
    same = ours.select(
        "patient_id",
        pl.col("start").alias("tstart"),
        pl.col("stop").alias("tstop"),
        pl.col("event").alias("pfs"),
        "mrd_positive",
    ).equals(r_rows.with_columns(pl.col(c).cast(pl.Int64) for c in ("tstart", "tstop", "pfs")))
    py_time = median_time(lambda: time_dependent_data(cohort), reps)
    cls_time = median_time(lambda: classify_trajectories(cohort), reps)
    lm_time = median_time(lambda: landmark_data(cohort, at="24m"), reps)
    return {
        "n": n,
        "assays": cohort.mrd.height,
        "rows": ours.height,
        "identical": same,
        "r_tmerge_s": r_time,
        "ours_s": py_time,
        "ratio": r_time / py_time,
        "classify_s": cls_time,
        "landmark_s": lm_time,
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [2000, 20000]
    lines = [
        "| patients | assays | (start, stop] rows | identical to R | R tmerge (s) | "
        "time_dependent_data (s) | R / ours | classify_trajectories (s) | landmark_data (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        r = run(n)
        lines.append(
            f"| {r['n']} | {r['assays']} | {r['rows']} | {r['identical']} | {r['r_tmerge_s']:.3f} "
            f"| {r['ours_s']:.3f} | {r['ratio']:.1f}x | {r['classify_s']:.3f} | "
            f"{r['landmark_s']:.3f} |"
        )
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
