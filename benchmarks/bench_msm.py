"""Same-run benchmark: mrdtrack.multistate.fit_panel_markov against R msm.

Data sets: ``cav`` (msm's vignette 4-state model, deathexact = 4) and simulated
MRD-/MRD+/progression panel studies (3 states, progression at exact times, a binary covariate on
all transitions, yearly visits) with 10^3, 10^4 and 10^5 subjects.  Both programs read the same
CSV.  msm is run with ``control = list(fnscale = <number of observations>)``: without it msm's
BFGS overflows at 10^4 subjects (our optimiser scales the objective by the number of intervals
itself).  R at 10^5 subjects takes minutes, so it runs only with ``--r-1e5``.

Usage: python benchmarks/bench_msm.py [--r-1e5] [--repeat 3] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reference" / "multistate"))

from simulate_mrd import simulate_mrd_panel  # noqa: E402

from mrdtrack.multistate import fit_panel_markov  # noqa: E402

Q_CAV = np.array(
    [[0, 0.25, 0, 0.25], [0.166, 0, 0.166, 0.166], [0, 0.25, 0, 0.25], [0, 0, 0, 0]], dtype=float
)
Q_MRD = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]], dtype=float)

R_TEMPLATE = r"""
suppressMessages(library(msm))
d <- read.csv("{csv}")
Q <- {qmat}
el <- system.time(fit <- msm({state} ~ {time}, subject = {subject}, data = d, qmatrix = Q,
                            deathexact = {death}{cov},
                            control = list(fnscale = nrow(d))))["elapsed"]
cat(sprintf('{{"seconds": %.6f, "minus2loglik": %.10f, "version": "%s"}}\n', el,
            fit$minus2loglik, as.character(packageVersion("msm"))))
"""


def r_matrix(q: np.ndarray) -> str:
    rows = ", ".join("c(" + ", ".join(f"{x:g}" for x in row) + ")" for row in q)
    return f"rbind({rows})"


def run_r(csv: Path, q, state, time_col, subject, death, cov) -> dict:
    script = R_TEMPLATE.format(
        csv=csv,
        qmat=r_matrix(q),
        state=state,
        time=time_col,
        subject=subject,
        death=death,
        cov=f", covariates = ~ {cov}" if cov else "",
    )
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_py(df, q, state, time_col, subject, death, cov, repeat) -> dict:
    best = np.inf
    fit = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fit = fit_panel_markov(
            df,
            subject=subject,
            time=time_col,
            state=state,
            qmatrix=q,
            exact_death_states=(death,),
            covariates=[cov] if cov else None,
        )
        best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "minus2loglik": fit.minus2loglik}


def side_by_side() -> str:
    """Estimates next to msm's (committed reference outputs; no R needed)."""
    ref_dir = ROOT / "tests" / "reference" / "multistate"
    lines = [
        "",
        "## Estimates side by side with msm 1.7",
        "",
        "msm default = `msm(...)` as users run it; msm tight = the same call with "
        "`control = list(reltol = 1e-14)` (see tests/reference/multistate/make_reference.R).",
    ]
    cav = pl.read_csv(ref_dir / "cav.csv")
    sim = pl.read_csv(ref_dir / "sim_mrd_hmm.csv")
    q_misc = np.array([[0, 0.148, 0, 0.0171], [0, 0, 0.202, 0.081], [0, 0, 0, 0.126], [0, 0, 0, 0]])
    e_cav = np.array([[0, 0.1, 0, 0], [0.1, 0, 0.1, 0], [0, 0.1, 0, 0], [0, 0, 0, 0]])
    e_mrd = np.array([[0, 0.05, 0], [0.05, 0, 0], [0, 0, 0]])
    models = {
        "cav": dict(data=cav, subject="PTNUM", state="state", qmatrix=Q_CAV, death=4),
        "cav_misc": dict(
            data=cav,
            subject="PTNUM",
            state="state",
            qmatrix=q_misc,
            death=4,
            ematrix=e_cav,
            obstrue="firstobs",
        ),
        "sim_hmm_cov": dict(
            data=sim,
            subject="id",
            state="state",
            qmatrix=Q_MRD,
            death=3,
            ematrix=e_mrd,
            obstrue="firstobs",
            initprobs=(0.55, 0.45, 0),
            covariates=["highrisk"],
        ),
    }
    for name, m in models.items():
        ref = json.loads((ref_dir / f"msm_{name}.json").read_text())
        fit = fit_panel_markov(
            m["data"],
            subject=m["subject"],
            time="years",
            state=m["state"],
            qmatrix=m["qmatrix"],
            exact_death_states=(m["death"],),
            ematrix=m.get("ematrix"),
            obstrue=m.get("obstrue"),
            initprobs=m.get("initprobs"),
            covariates=m.get("covariates"),
        )
        nq = len(fit.transitions)
        q_ref = np.array(ref["qmatrix"]["estimate"])
        lo_ref, hi_ref = np.array(ref["qmatrix"]["lower"]), np.array(ref["qmatrix"]["upper"])
        q_def = np.exp(np.array(ref["default_estimates"])[:nq])
        ours = fit.intensities()
        lines += [
            "",
            f"### {name}: -2LL mrdtrack {fit.minus2loglik:.6f}, msm default "
            f"{ref['default_minus2loglik'][0]:.6f}, msm tight {ref['minus2loglik'][0]:.6f}",
            "",
            "| transition | mrdtrack (95% CI) | msm tight (95% CI) | msm default |",
            "|---|---|---|---|",
        ]
        for i, (a, b) in enumerate(fit.transitions):
            lines.append(
                f"| {a}->{b} | {ours['estimate'][i]:.6f} ({ours['lower'][i]:.6f}, "
                f"{ours['upper'][i]:.6f}) | {q_ref[a - 1, b - 1]:.6f} "
                f"({lo_ref[a - 1, b - 1]:.6f}, {hi_ref[a - 1, b - 1]:.6f}) | {q_def[i]:.6f} |"
            )
        if fit.hidden:
            e_ref = np.array(ref["ematrix"]["estimate"])
            for row in fit.misclassification().iter_rows(named=True):
                a, b = row["true"], row["observed"]
                lines.append(
                    f"| e{a}{b} | {row['estimate']:.6f} ({row['lower']:.6f}, "
                    f"{row['upper']:.6f}) | {e_ref[a - 1, b - 1]:.6f} | |"
                )
        if fit.covariate_names:
            for row in fit.hazard_ratios().iter_rows(named=True):
                i = fit.transitions.index((row["from"], row["to"]))
                hr = ref["hr_highrisk"]
                lines.append(
                    f"| HR {row['covariate']} {row['from']}->{row['to']} | "
                    f"{row['hazard_ratio']:.6f} ({row['lower']:.6f}, {row['upper']:.6f}) | "
                    f"{hr['estimate'][i]:.6f} ({hr['lower'][i]:.6f}, {hr['upper'][i]:.6f}) | |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--side-by-side-only", action="store_true", help="append the estimate tables only"
    )
    ap.add_argument("--r-1e5", action="store_true", help="also run R msm at 10^5 subjects")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "multistate.md"))
    args = ap.parse_args()
    if args.side_by_side_only:
        with open(args.out, "a") as fh:
            fh.write(side_by_side())
        return

    # warm the numba cache so that compilation is not timed
    warm = simulate_mrd_panel(500, seed=0, p_false_neg=0, p_false_pos=0)
    run_py(warm, Q_MRD, "state", "years", "id", 3, "highrisk", 1)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cav_csv = ROOT / "tests" / "reference" / "multistate" / "cav.csv"
        cav = pl.read_csv(cav_csv)
        py = run_py(cav, Q_CAV, "state", "years", "PTNUM", 4, None, args.repeat)
        r = run_r(cav_csv, Q_CAV, "state", "years", "PTNUM", 4, None)
        rows.append(("cav (622 subjects, 4 states)", len(cav), py, r))
        for n in (1_000, 10_000, 100_000):
            df = simulate_mrd_panel(n, seed=20261125 + n, p_false_neg=0.0, p_false_pos=0.0)
            df = df.select("id", "years", "state", "highrisk")
            csv = Path(tmp) / f"mrd_{n}.csv"
            df.write_csv(csv)
            py = run_py(df, Q_MRD, "state", "years", "id", 3, "highrisk", args.repeat)
            r = None
            if n < 100_000 or args.r_1e5:
                r = run_r(csv, Q_MRD, "state", "years", "id", 3, "highrisk")
            rows.append((f"MRD 3-state + covariate, {n:,} subjects", df.height, py, r))

    lines = [
        "# Multi-state (panel Markov) benchmark: mrdtrack vs R msm",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}; timings are the best of {args.repeat} runs for "
        "mrdtrack (data preparation + fit + Hessian), one run of `system.time(msm(...))` for R.",
        "msm is given `control = list(fnscale = nrow(data))` (it overflows at 10^4 without it).",
        "",
        "| data | observations | mrdtrack s | msm s | ratio | -2LL mrdtrack | -2LL msm | diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, nobs, py, r in rows:
        if r is None:
            lines.append(
                f"| {name} | {nobs:,} | {py['seconds']:.3f} | not run | | "
                f"{py['minus2loglik']:.4f} | | |"
            )
        else:
            lines.append(
                f"| {name} | {nobs:,} | {py['seconds']:.3f} | {r['seconds']:.3f} | "
                f"{py['seconds'] / r['seconds']:.3f} | {py['minus2loglik']:.4f} | "
                f"{r['minus2loglik']:.4f} | {py['minus2loglik'] - r['minus2loglik']:.2e} |"
            )
    version = next((r["version"] for *_, r in rows if r), "?")
    lines += ["", f"R msm {version}. Negative diff: mrdtrack found a higher likelihood."]
    text = "\n".join(lines) + "\n" + side_by_side()
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
