"""Simulate a panel-observed MRD-/MRD+/progression study with misclassified MRD results.

States: 1 = MRD negative, 2 = MRD positive, 3 = progression (absorbing, exact time known).
MRD is assessed yearly (with visit-time jitter) for up to ``n_visits`` years; each assessment of
a true MRD-positive patient reads negative with probability ``p_false_neg`` and each assessment
of a true MRD-negative patient reads positive with probability ``p_false_pos``.  The baseline
assessment is taken as correct (msm ``obstrue``).  A binary covariate ``highrisk`` multiplies
every intensity by ``hr``.

Run as a script to write ``sim_mrd_hmm.csv`` (seed 20261125) next to this file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

TRUE_Q = {(1, 2): 0.15, (2, 1): 0.10, (1, 3): 0.02, (2, 3): 0.20}


def simulate_mrd_panel(
    n: int,
    seed: int,
    *,
    p_false_neg: float = 0.12,
    p_false_pos: float = 0.03,
    p_start_neg: float = 0.55,
    hr: float = 1.8,
    p_highrisk: float = 0.3,
    n_visits: int = 5,
    jitter: float = 0.1,
) -> pl.DataFrame:
    """One row per assessment: id, years, state (observed), true_state, highrisk, firstobs."""
    rng = np.random.default_rng(seed)
    ids, times, obs, true, cov, first = [], [], [], [], [], []
    for i in range(n):
        x = int(rng.random() < p_highrisk)
        mult = hr if x else 1.0
        state = 1 if rng.random() < p_start_neg else 2
        visits = np.arange(n_visits + 1, dtype=float)
        visits[1:] += rng.uniform(-jitter, jitter, n_visits)
        t = 0.0
        path_t, path_s = [0.0], [state]
        while state != 3 and t < visits[-1]:
            rates = {b: q * mult for (a, b), q in TRUE_Q.items() if a == state}
            total = sum(rates.values())
            t += rng.exponential(1.0 / total)
            if t >= visits[-1]:
                break
            dest = list(rates)
            state = dest[rng.choice(len(dest), p=np.array(list(rates.values())) / total)]
            path_t.append(t)
            path_s.append(state)
        path_t_arr = np.array(path_t)
        prog_time = path_t[-1] if path_s[-1] == 3 else np.inf
        for k, v in enumerate(visits):
            if v >= prog_time:
                break
            s_true = path_s[int(np.searchsorted(path_t_arr, v, side="right")) - 1]
            s_obs = s_true
            if k > 0:
                u = rng.random()
                if s_true == 2 and u < p_false_neg:
                    s_obs = 1
                elif s_true == 1 and u < p_false_pos:
                    s_obs = 2
            ids.append(i + 1)
            times.append(round(float(v), 6))
            obs.append(s_obs)
            true.append(s_true)
            cov.append(x)
            first.append(int(k == 0))
        if np.isfinite(prog_time):
            ids.append(i + 1)
            times.append(round(float(prog_time), 6))
            obs.append(3)
            true.append(3)
            cov.append(x)
            first.append(0)
    return pl.DataFrame(
        {
            "id": ids,
            "years": times,
            "state": obs,
            "true_state": true,
            "highrisk": cov,
            "firstobs": first,
        }
    )


if __name__ == "__main__":
    out = Path(__file__).with_name("sim_mrd_hmm.csv")
    simulate_mrd_panel(500, seed=20261125).write_csv(out)
    print(out)
