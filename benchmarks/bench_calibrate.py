"""Calibration time of the founding study (one command), written to results/calibrate.md.

    python benchmarks/bench_calibrate.py [--seeds 20210601 7] [--max-evaluations 2400]
    python benchmarks/bench_calibrate.py --scaling [--workers 0 1 2] [--rounds 2]
        [--max-evaluations 600]

Default: runs `mrdtrack.simulate.inference.calibrate` on the shipped founding-study targets
(defaults of ``mrdtrack simulate calibrate --fit``) once per seed, and records wall-clock and
CPU (process) time, the load average, and the posterior medians per seed (the spread across
seeds / starting points). Single process (numba single-threaded): the machine is shared, so
the CPU time is the figure to compare with the 10-minute budget; the wall time shows the load.
It rewrites the file up to its "## Scaling" section.

``--scaling``: the same calibration at a reduced budget with the simulations serial in this
process (``workers=0``) and on 1 and 2 local Dask worker processes (``workers=N``: a
LocalCluster of N single-threaded processes started and closed inside each call, so the
start-up is included), interleaved over ``--rounds`` rounds; wall time min / median / max,
the load average, and a check that every configuration returns the serial posterior draw for
draw. It rewrites only the "## Scaling" section.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings
from pathlib import Path

import numpy as np

from mrdtrack.simulate.calibrate import default_params_for
from mrdtrack.simulate.cluster import local_cluster
from mrdtrack.simulate.inference import calibrate
from mrdtrack.simulate.targets import load_study_targets

HERE = Path(__file__).resolve().parent
SCALING = "## Scaling to Dask workers"


def seeds_section(a, t, p) -> str:
    rows, meds = [], []
    for seed in a.seeds:
        load0 = os.getloadavg()[0]
        w0, c0 = time.perf_counter(), time.process_time()
        post = calibrate(p, t, max_evaluations=a.max_evaluations, seed=seed)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rows.append((seed, wall, cpu, post.n_evaluations, load0, os.getloadavg()[0]))
        meds.append(post.quantiles()[0])
        print(post.summary(), flush=True)
    lines = [
        "# Calibration time: founding study (benchmarks/bench_calibrate.py)",
        "",
        f"`mrdtrack simulate calibrate --fit` defaults ({a.max_evaluations} likelihood "
        f"evaluations of 200 simulated trials, 2 chains) on {platform.machine()}, Python "
        f"{platform.python_version()}, one process on a shared 2-core machine.",
        "",
        "| seed | wall s | CPU s | evaluations | load avg before | load avg after |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s} | {w:.0f} | {c:.0f} | {n} | {l0:.1f} | {l1:.1f} |" for s, w, c, n, l0, l1 in rows
    ]
    lines += ["", "Posterior medians by seed:", ""]
    lines += ["| parameter | " + " | ".join(str(s) for s in a.seeds) + " |"]
    lines += ["|---|" + "---:|" * len(a.seeds)]
    m = np.array(meds)
    lines += [
        f"| {n} | " + " | ".join(f"{v:.4g}" for v in m[:, j]) + " |"
        for j, n in enumerate(post.model.labels)
    ]
    return "\n".join(lines) + "\n"


def scaling_section(a, t, p) -> str:
    # optional heavy dependency (the `distributed` extra), needed only here
    from distributed import Client

    warm = {}  # workers -> a running client (warmed: mrdtrack imported, kernels loaded)
    for w in a.workers:
        if w > 0:
            warm[w] = Client(local_cluster(w))
            calibrate(p, t, max_evaluations=80, n_chains=1, seed=1, client=warm[w])
    configs = [(w, False) for w in a.workers] + [(w, True) for w in a.workers if w > 0]
    times: dict[tuple[int, bool], list[float]] = {c: [] for c in configs}
    cpus: dict[tuple[int, bool], list[float]] = {c: [] for c in configs}
    loads, reference, same = [], None, True
    for r in range(a.rounds):
        for w, is_warm in configs:
            loads.append(os.getloadavg()[0])
            kw = {"client": warm[w]} if is_warm else {"workers": w}
            cpu0 = _cpu(warm.get(w) if is_warm else None)
            w0 = time.perf_counter()
            post = calibrate(p, t, max_evaluations=a.max_evaluations, seed=a.seed, **kw)
            times[(w, is_warm)].append(time.perf_counter() - w0)
            cpus[(w, is_warm)].append(_cpu(warm.get(w) if is_warm else None) - cpu0)
            reference = post.draws if reference is None else reference
            same &= bool(np.array_equal(reference, post.draws))
            print(
                f"round {r + 1}, workers {w} warm {is_warm}: {times[(w, is_warm)][-1]:.1f} s, "
                f"CPU {cpus[(w, is_warm)][-1]:.1f} s",
                flush=True,
            )
    loads.append(os.getloadavg()[0])
    for c in warm.values():
        cluster = c.cluster
        c.close()
        cluster.close()
    base = float(np.median(times[configs[0]]))
    lines = [
        SCALING,
        "",
        f"`python benchmarks/bench_calibrate.py --scaling --workers "
        f"{' '.join(map(str, a.workers))} --rounds {a.rounds} --max-evaluations "
        f"{a.max_evaluations}`: the founding study at a reduced budget ({post.n_evaluations} "
        f"evaluations of 200 trials, 2 chains, seed {a.seed}). `workers = 0`: simulations in "
        "this process; `workers = N`: `calibrate(workers=N)` (`--workers N`), a Dask "
        "LocalCluster of N single-threaded processes (`cluster.local_cluster`) started "
        "and closed inside the call "
        "(start-up included: each worker imports mrdtrack and loads the numba kernels); "
        '"running": `calibrate(client=...)` on a LocalCluster of N workers already started '
        "and warmed (as on a standing cluster: `--scheduler`). Configurations interleaved over "
        f"{a.rounds} rounds on {os.cpu_count()} cores shared with other jobs; 1-minute load "
        f"average {min(loads):.1f}-{max(loads):.1f} during the runs.",
        "",
        "CPU = CPU seconds of every process of the run (this one, plus the workers: their "
        "process time for a running cluster, the reaped children's for a started one).",
        "",
        "| workers | wall s min | median | max | median / serial | CPU s median |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for w, is_warm in configs:
        x = np.array(times[(w, is_warm)])
        label = "0 (serial)" if w == 0 else f"{w}, {'running cluster' if is_warm else 'started'}"
        lines.append(
            f"| {label} | {x.min():.1f} | {np.median(x):.1f} | {x.max():.1f} | "
            f"{np.median(x) / base:.2f} | {np.median(cpus[(w, is_warm)]):.1f} |"
        )
    lines += [
        "",
        "Same posterior, draw for draw, in every configuration: "
        + ("yes." if same else "**NO** (a bug: report it)."),
    ]
    return "\n".join(lines) + "\n"


def _cpu(client) -> float:
    """CPU seconds so far of this process and its reaped children, plus the workers of
    ``client`` (a running cluster)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.process_time() + ch.ru_utime + ch.ru_stime
    if client is not None:
        total += sum(client.run(time.process_time).values())
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[20210601, 7])
    ap.add_argument("--max-evaluations", type=int, default=None)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20210601)
    ap.add_argument("--out", default=str(HERE / "results" / "calibrate.md"))
    a = ap.parse_args()
    a.max_evaluations = a.max_evaluations or (600 if a.scaling else 2400)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    t = load_study_targets()
    p = default_params_for(t)
    calibrate(p, t, max_evaluations=80, n_chains=1, seed=1)  # compile numba once
    out = Path(a.out)
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    head, _, tail = old.partition(SCALING)
    if a.scaling:
        text = head.rstrip() + "\n\n" + scaling_section(a, t, p)
    else:
        text = seeds_section(a, t, p) + ("\n" + SCALING + tail if tail else "")
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
