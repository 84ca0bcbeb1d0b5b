"""Time mrdtrack at two git revisions in the same run: is a refactor slower?

Usage (from the repository root)::

    python benchmarks/compare_revisions.py --before 92ba2c0 --after HEAD [--rounds 5]
    python benchmarks/compare_revisions.py ... --only cox_counting_1e6 firth_1e4

Each revision is checked out into a temporary git worktree; every workload below runs in a fresh
subprocess with that worktree's ``src`` first on ``PYTHONPATH``, so the two versions never share a
process. Rounds are interleaved (before, after, before, after, ...) so that a change of machine
load hits both sides alike. Inside a subprocess the workload's data are built, the numba kernels
are warmed on the same data (compilation and cache loading are not timed), and then the best of
``--reps`` calls is recorded, in wall-clock and in CPU seconds (``time.process_time``: every
thread of the process, so multi-threaded workloads count their total work). The table gives
wall-clock min / median / max over rounds, the ratio of the wall-clock medians (after / before)
and the ratio of the CPU medians, which load from other work on a shared machine changes far
less than wall time; the load average is printed with it. The workloads are the mrdtrack side
of the benchmarks recorded in ``benchmarks/RESULTS.md`` (the anchors, R and the other tools, do not
change between revisions, so a ratio of mrdtrack times is the ratio of the recorded ratios).

Only public entry points are called, and with default options, so that renamed keyword arguments do
not break the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMON = r"""
import json, sys, time
import numpy as np
import polars as pl

def best(fn, reps):
    fn()  # warm: numba cache load / compilation, first-touch allocations
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)
"""

KM = r"""
from mrdtrack.survival import kaplan_meier, logrank_test
rng = np.random.default_rng(20261125)
n = 1_000_000
g = rng.integers(0, 2, n)
t = rng.exponential(np.where(g == 1, 700.0, 1000.0))
c = rng.uniform(0, 1500, n)
if {tied}:  # whole days: the counting path
    t, c = np.ceil(t), np.ceil(c)
df = pl.DataFrame({{"time": np.minimum(t, c), "event": (t <= c).astype(np.int64), "group": g}})
def run():
    kaplan_meier(df, "time", "event").median()
    logrank_test(df, "time", "event", "group").p_value
"""

FIRTH = r"""
from mrdtrack.survival import cox_ph
rng = np.random.default_rng(1)
n = {n}
group = (rng.random(n) < 0.3).astype(float)
age = rng.normal(0.0, 1.0, n)
t = rng.exponential(np.exp(-(1.5 * group + 0.3 * age)) * 10.0)
c = rng.uniform(0.0, 15.0, n)
df = pl.DataFrame({{"time": np.round(np.minimum(t, c), 3) + 0.001,
                   "event": (t <= c).astype(np.int64), "group": group, "age": age}})
def run():
    cox_ph(df, time="time", event="event", covariates=["group", "age"], ties="breslow",
           firth=True).conf_int()
"""

WORKLOADS: dict[str, str] = {
    "km_logrank_1e6_tied": KM.format(tied=True),
    "km_logrank_1e6_untied": KM.format(tied=False),
    "batched_20k_trials": r"""
from mrdtrack.survival.batch import analyse_trials
rng = np.random.default_rng(7)
k, m = 20_000, 100
trial = np.repeat(np.arange(k), m)
arm = np.tile(np.arange(m) % 2, k)
t = np.ceil(rng.exponential(np.where(arm == 1, 500.0, 800.0)))
c = np.ceil(rng.uniform(200, 1500, k * m))
time_ = np.minimum(t, c).astype(float)
event = (t <= c).astype(float)
def run():
    analyse_trials(time_, event, arm, trial)
""",
    "cox_counting_1e6": r"""
from mrdtrack.survival import cox_ph
rng = np.random.default_rng(20261125)
n = 1_000_000
x = rng.normal(size=(n, 5))
x[:, 1] = rng.integers(0, 2, n)
lp = x @ np.array([0.5, -0.3, 0.2, 0.0, 0.1])
t = rng.exponential(1.0 / np.exp(lp))
c = rng.exponential(2.3, n)
stop = np.minimum(t, c)
ev = (t <= c).astype(np.int64)
cut = stop * rng.uniform(0.2, 0.8, n)
covs = [f"x{j}" for j in range(5)]
cols = {f"x{j}": np.repeat(x[:, j], 2) for j in range(5)}
df = pl.DataFrame({
    "id": np.repeat(np.arange(n), 2),
    "start": np.column_stack([np.zeros(n), cut]).ravel(),
    "stop": np.column_stack([cut, stop]).ravel(),
    "event": np.column_stack([np.zeros(n, np.int64), ev]).ravel(),
    **cols,
})
def run():
    cox_ph(df, time="stop", event="event", covariates=covs, start="start")
""",
    "cox_tied_1e6": r"""
from mrdtrack.survival import cox_ph
rng = np.random.default_rng(20261126)
n = 1_000_000
x = rng.normal(size=(n, 5))
x[:, 1] = rng.integers(0, 2, n)
lp = x @ np.array([0.5, -0.3, 0.2, 0.0, 0.1])
t = rng.exponential(1.0 / np.exp(lp))
c = rng.exponential(2.3, n)
df = pl.DataFrame({"time": np.round(np.minimum(t, c), 2) + 0.01,
                   "event": (t <= c).astype(np.int64),
                   **{f"x{j}": x[:, j] for j in range(5)}})
covs = [f"x{j}" for j in range(5)]
def run():
    cox_ph(df, time="time", event="event", covariates=covs)
""",
    "firth_1e4": FIRTH.format(n=10_000),
    "firth_1e5": FIRTH.format(n=100_000),
    "msm_mrd_1e4": r"""
sys.path.insert(0, ROOT + "/tests/reference/multistate")
from simulate_mrd import simulate_mrd_panel
from mrdtrack.multistate import fit_panel_markov
q = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]], dtype=float)
df = simulate_mrd_panel(10_000, seed=1, p_false_neg=0, p_false_pos=0)
def run():
    fit_panel_markov(df, subject="id", time="years", state="state", qmatrix=q,
                     exact_death_states=(3,), covariates=["highrisk"])
""",
    "mrd_classify_20k": r"""
sys.path.insert(0, ROOT + "/benchmarks")
from bench_mrd import simulate
from mrdtrack.mrd import call_status, classify_trajectories
cohort = simulate(20_000)
def run():
    call_status(cohort)
    classify_trajectories(cohort)
""",
    "simulate_analyse_2000": r"""
from mrdtrack.simulate import analyse_landmark, load_params, simulate_trials
params = load_params()
def run():
    done = 0
    while done < 2000:
        tr = simulate_trials(params, 100, 1, start=done, engine="fast")
        analyse_landmark(tr, landmark_day=730.0)
        done += 100
""",
    "read_demo_study": r"""
import mrdtrack
from mrdtrack.io import demo_study_path
p = demo_study_path()
def run():
    for _ in range(10):
        mrdtrack.read_study(p)
""",
}


def run_one(src: Path, name: str, reps: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds (all threads of the process) of ``reps`` calls."""
    code = (
        COMMON
        + f"ROOT = {str(ROOT)!r}\n"
        + WORKLOADS[name]
        + f"\nprint(json.dumps(best(run, {reps})))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} at {src}: {proc.stderr.strip().splitlines()[-1:]}")
    wall, cpu = json.loads(proc.stdout.strip().splitlines()[-1])
    return wall, cpu


def worktree(rev: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(where), rev], check=True
    )
    return where / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), default=None)
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    a = ap.parse_args()
    names = a.only or list(WORKLOADS)
    revs = {}
    for side in ("before", "after"):
        revs[side] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", getattr(a, side)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="mrdtrack-rev-"))
    srcs = {side: worktree(rev, tmp / side) for side, rev in revs.items()}
    lines = [
        f"Same-run comparison, {revs['before']} (before) vs {revs['after']} (after): "
        f"best of {a.reps} calls per round, {a.rounds} interleaved rounds, "
        f"{os.cpu_count()} cores.",
        "",
        "| workload | before s (min / median / max) | after s (min / median / max) "
        "| after / before (medians) | CPU after / before (medians) | load avg |",
        "|---|---|---|---|---|---|",
    ]
    try:
        for name in names:
            times: dict[str, list[float]] = {"before": [], "after": []}
            cpus: dict[str, list[float]] = {"before": [], "after": []}
            loads = []
            for r in range(a.rounds):
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                for side in order:
                    wall, cpu = run_one(srcs[side], name, a.reps)
                    times[side].append(wall)
                    cpus[side].append(cpu)
                loads.append(os.getloadavg()[0])
            med = {s: statistics.median(v) for s, v in times.items()}
            cpu_ratio = statistics.median(cpus["after"]) / statistics.median(cpus["before"])
            cell = {
                s: " / ".join(f"{x:.3f}" for x in (min(v), med[s], max(v)))
                for s, v in times.items()
            }
            ratio = med["after"] / med["before"]
            row = (
                f"| {name} | {cell['before']} | {cell['after']} | {ratio:.3f} | {cpu_ratio:.3f} "
                f"| {min(loads):.1f}-{max(loads):.1f} |"
            )
            print(row, flush=True)
            lines.append(row)
    finally:
        for side in srcs:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / side)],
                check=False,
            )
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
