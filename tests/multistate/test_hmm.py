"""Viterbi decoding is the exact argmax of the joint path probability (brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import scipy.linalg

from mrdtrack.multistate import fit_panel_markov

Q = np.array([[0, 0.1, 0.01], [0.1, 0, 0.1], [0, 0, 0]])
E = np.array([[0, 0.05, 0], [0.05, 0, 0], [0, 0, 0]])


def test_viterbi_is_argmax(sim):
    sub = sim.filter(pl.col("id") <= 120)
    fit = fit_panel_markov(
        sub,
        subject="id",
        time="years",
        state="state",
        qmatrix=Q,
        ematrix=E,
        exact_death_states=(3,),
        obstrue="firstobs",
        initprobs=(0.55, 0.45, 0),
    )
    q, em = fit.qmatrix(), fit.ematrix()
    vit = fit.viterbi().with_columns(pl.Series("id", fit._panel.subject_index))
    for i in range(25):
        rows = vit.filter(pl.col("id") == i)
        t = rows["time"].to_numpy()
        obs = rows["observed"].to_numpy() - 1
        best, best_path = -np.inf, None
        np.seterr(divide="ignore")
        for path in itertools.product(range(3), repeat=len(t)):
            if path[0] != obs[0]:  # obstrue at the first observation
                continue
            lp = np.log(fit.initprobs[path[0]])
            for j in range(1, len(t)):
                p = scipy.linalg.expm(q * (t[j] - t[j - 1]))
                if obs[j] == 2:  # exact death: observed without error
                    lp += np.log(p[path[j - 1], path[j]]) if path[j] == 2 else -np.inf
                else:
                    lp += np.log(p[path[j - 1], path[j]]) + np.log(em[path[j], obs[j]])
            if lp > best:
                best, best_path = lp, path
        np.seterr(divide="warn")
        np.testing.assert_array_equal(rows["fitted"].to_numpy() - 1, best_path)
