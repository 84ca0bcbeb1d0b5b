"""Known-truth coverage of mrdtrack.joint: 95% Wald CIs of the parameters and Monte Carlo
intervals of the dynamic predictions, over simulated replicates.

Each replicate simulates ``--patients`` patients from `mrdtrack.joint.JointTruth` (log10 MRD
level, linear time, treatment effect and its time interaction, random intercept and slope,
per-sample LOD 1e-5 or 1e-6, constant baseline hazard, current-value association), fits the
joint model (ML, aGH) and records, per parameter, the estimate and whether its 95% CI covers
the truth. Dynamic predictions at landmark 2 years for horizon 1 year: the fraction of patients
at risk whose true patient-specific probability exp(-int_2^3 h(s | b_i true, theta true) ds)
lies in the 95% Monte Carlo interval. One JSON line per replicate goes to ``--out`` as it
finishes (a partial run is usable); the summary is printed and written beside it (``.md``).

Usage: nice python benchmarks/joint_coverage.py [--replicates 200] [--patients 300]
       [--out benchmarks/results/joint_coverage.jsonl] [--summarise-only]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

from mrdtrack.joint import JointTruth, dynamic_prediction, fit_joint_model, simulate_joint
from mrdtrack.joint.simulate import truth_data

ROOT = Path(__file__).resolve().parents[1]


def true_values(tr: JointTruth) -> dict[str, float]:
    b = tr.beta
    return {
        "(Intercept)": b[0],
        "time": b[1],
        "trt": b[2],
        "time:trt": b[3],
        "sigma": tr.sigma,
        "D[1,1]": tr.D[0][0],
        "D[2,1]": tr.D[1][0],
        "D[2,2]": tr.D[1][1],
        "survival trt": tr.gamma,
        "value": tr.alpha,
    }


def one(rep: int, n: int, tr: JointTruth, n_draws: int) -> dict:
    long, pat = simulate_joint(n, tr, seed=10_000 + rep)
    data = truth_data(long, pat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = fit_joint_model(data)
    t = fit.table()
    t = t.with_columns(
        pl.when((pl.col("part") == "survival") & (pl.col("term") == "trt"))
        .then(pl.lit("survival trt"))
        .otherwise(pl.col("term"))
        .alias("term")
    )
    out = {"replicate": rep, "converged": fit.converged, "seconds": fit.seconds}
    for name, truth in true_values(tr).items():
        row = t.filter(pl.col("term") == name).row(0, named=True)
        out[name] = {
            "estimate": row["estimate"],
            "covered": bool(row["lower"] <= truth <= row["upper"]),
        }
    dp = dynamic_prediction(fit, data, 2.0, [1.0], n_draws=n_draws, seed=rep).table()
    p = pat.filter(pl.col("event_time") > 2.0)
    b = p.select("b0", "b1").to_numpy()
    H = tr.cumulative_hazard(np.full(len(b), 2.0), np.full(len(b), 3.0), p["trt"].to_numpy(), b)
    true_p = np.exp(-H)
    inside = (dp["lower"].to_numpy() <= true_p) & (true_p <= dp["upper"].to_numpy())
    out["prediction"] = {
        "coverage": float(inside.mean()),
        "mean_abs_error_median": float(np.mean(np.abs(dp["median"].to_numpy() - true_p))),
        "n_at_risk": len(true_p),
    }
    return out


def summarise(rows: list[dict], tr: JointTruth) -> str:
    lines = [
        f"replicates: {len(rows)}, converged: {sum(r['converged'] for r in rows)}, "
        f"median fit time {np.median([r['seconds'] for r in rows]):.1f} s",
        "",
        "| parameter | truth | mean estimate | bias | 95% CI coverage |",
        "|---|---|---|---|---|",
    ]
    for name, truth in true_values(tr).items():
        est = np.array([r[name]["estimate"] for r in rows])
        cov = np.mean([r[name]["covered"] for r in rows])
        lines.append(
            f"| {name} | {truth:g} | {est.mean():.4f} | {est.mean() - truth:+.4f} | {cov:.3f} |"
        )
    pc = np.array([r["prediction"]["coverage"] for r in rows])
    pe = np.array([r["prediction"]["mean_abs_error_median"] for r in rows])
    lines += [
        "",
        f"dynamic prediction P(T > 3 | T > 2, levels up to 2): mean coverage of the 95% Monte "
        f"Carlo interval {pc.mean():.3f} (replicate range {pc.min():.3f}-{pc.max():.3f}); "
        f"mean |median - true| {pe.mean():.4f}",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/joint_coverage.jsonl"))
    ap.add_argument(
        "--summarise-only", action="store_true", help="summarise the replicates in --out so far"
    )
    args = ap.parse_args()
    tr = JointTruth()
    out = Path(args.out)
    if args.summarise_only:
        rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        text = summarise(rows, tr) + f"\n\npatients per replicate {args.patients}"
        out.with_suffix(".md").write_text(text + "\n")
        print(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.time()
    with out.open("w") as fh:
        for rep in range(args.replicates):
            row = one(rep, args.patients, tr, args.samples)
            rows.append(row)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
    text = summarise(rows, tr)
    text += f"\n\npatients per replicate {args.patients}; total {time.time() - t0:.0f} s"
    out.with_suffix(".md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
