"""`mrdtrack validate` on a large study full of problems: time and peak memory.

Writes a synthetic study (CSV) of N patients whose tables carry many problems, then runs
``mrdtrack validate`` in a fresh process for the human-readable and the JSON output (default
--max-per-rule, and --max-per-rule 0 listing every problem), and prints wall time and peak
resident memory of each run (the child's ``ru_maxrss``).

    python benchmarks/bench_validate.py                      # 100k patients, ~550k problems
    python benchmarks/bench_validate.py --patients 200000    # ~1.1 million problems

Problems per 100k patients: 50k ``unknown_code`` (patients.sex: errors, so validation fails),
200k ``unknown_code`` (mrd.method), 200k ``unparsable_value`` (mrd.sensitivity), 100k
``after_cutoff`` (mrd.day): 550k, plus 100k valid MRD records.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_study(folder: Path, n: int, seed: int = 1) -> int:
    """Write patients/outcomes/mrd CSVs for ``n`` patients; return the number of problems."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"P{i:07d}" for i in range(n)])
    sex = np.where(np.arange(n) % 2 == 0, "X", rng.choice(["F", "M"], n))  # half unknown
    cutoff = rng.integers(1000, 2000, n)
    with open(folder / "patients.csv", "w") as f:
        f.write("patient_id,cutoff_day,sex\n")
        f.writelines(f"{i},{c},{s}\n" for i, c, s in zip(ids, cutoff, sex, strict=True))
    with open(folder / "outcomes.csv", "w") as f:
        f.write("patient_id,last_contact_day\n")
        f.writelines(f"{i},{c - 10}\n" for i, c in zip(ids, cutoff, strict=True))
    # 6 MRD rows per patient: 2 bad method, 2 bad sensitivity, 1 after cutoff, 1 valid
    k = 6
    pid = np.repeat(ids, k)
    slot = np.tile(np.arange(k), n)
    day = np.tile(np.arange(k) * 100 + 10, n)
    day = np.where(slot == 4, np.repeat(cutoff, k) + 50, day)
    method = np.where(slot < 2, "FLOW?", "NGF")
    sens = np.where((slot == 2) | (slot == 3), "n/a", "1e-5")
    result = np.where(slot % 2 == 0, "negative", "positive")
    with open(folder / "mrd.csv", "w") as f:
        f.write("patient_id,day,method,sensitivity,result\n")
        f.writelines(
            f"{a},{b},{c},{d},{e}\n"
            for a, b, c, d, e in zip(pid, day, method, sens, result, strict=True)
        )
    return int((sex == "X").sum()) + 5 * n


def run(args: list[str]) -> tuple[float, float, int, int]:
    """Run ``mrdtrack validate ARGS`` in a fresh process: seconds, peak MiB, exit code, bytes."""
    src = Path(__file__).resolve().parent.parent / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        "p = subprocess.run([sys.executable, '-m', 'mrdtrack.cli', 'validate', *sys.argv[1:]],"
        " stdout=subprocess.PIPE, stderr=subprocess.DEVNULL);"
        "dt = time.perf_counter() - t;"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "print(dt, rss, p.returncode, len(p.stdout))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    dt, rss, rc, nbytes = out.stdout.split()
    return float(dt), int(rss) / 1024, int(rc), int(nbytes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, default=None, help="write the study here and keep it")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        n_problems = write_study(folder, a.patients)
        print(
            f"study: {a.patients:,} patients, {n_problems:,} problems "
            f"(written in {time.perf_counter() - t:.1f} s); load {os.getloadavg()[0]:.1f}"
        )
        print("| output | seconds | peak MiB | exit | stdout bytes |")
        print("|---|---:|---:|---:|---:|")
        for label, extra in (
            ("human, --max-per-rule 20 (default)", []),
            ("JSON, --max-per-rule 20 (default)", ["--json"]),
            ("human, every problem (--max-per-rule 0)", ["--max-per-rule", "0"]),
            ("JSON, every problem (--max-per-rule 0)", ["--json", "--max-per-rule", "0"]),
        ):
            dt, mib, rc, nbytes = run([str(folder), *extra])
            print(f"| {label} | {dt:.1f} | {mib:.0f} | {rc} | {nbytes:,} |", flush=True)


if __name__ == "__main__":
    main()
