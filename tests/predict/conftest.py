"""A small known-truth MRD cohort for the prediction tests (independent of the simulator)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mrdtrack.cohort import Cohort


def simulate_cohort(n: int, seed: int) -> Cohort:
    """Monthly-step MRD Markov chain (neg <-> pos) with state-dependent progression hazard.

    Hazards per year: MRD- -> MRD+ 0.10, MRD+ -> MRD- 0.08; progression 0.03 in MRD-,
    0.15 in MRD+ never negative, 0.45 after loss of negativity. Yearly marrow MRD at 1e-5;
    administrative censoring uniform on 3-6 years.
    """
    rng = np.random.default_rng(seed)
    dt = 1 / 12
    months = 72
    pos = rng.random(n) < 0.55
    was_neg = ~pos
    lost = np.zeros(n, bool)
    prog = np.full(n, -1)
    censor = rng.integers(36, 73, n)
    states = np.zeros((n, months + 1), bool)
    states[:, 0] = pos
    for m in range(1, months + 1):
        alive = prog < 0
        h = np.where(pos, np.where(lost, 0.45, 0.15), 0.03)
        event = alive & (rng.random(n) < 1 - np.exp(-h * dt))
        prog[event] = m
        flip_up = ~pos & (rng.random(n) < 1 - np.exp(-0.10 * dt))
        flip_down = pos & (rng.random(n) < 1 - np.exp(-0.08 * dt))
        lost |= flip_up & was_neg
        pos = (pos | flip_up) & ~flip_down
        was_neg |= ~pos
        states[:, m] = pos
    day = lambda m: np.rint(np.asarray(m) * 30.4375).astype(np.int64)  # noqa: E731
    end = np.where((prog > 0) & (prog <= censor), prog, censor)
    ids = [f"P{i:04d}" for i in range(n)]
    patients = pl.DataFrame(
        {
            "patient_id": ids,
            "cutoff_day": day(np.full(n, 80)),
            "age": rng.normal(63, 9, n).round(0),
        }
    )
    outcomes = pl.DataFrame(
        {
            "patient_id": ids,
            "progression_day": [
                int(day(p)) if 0 < p <= c else None for p, c in zip(prog, censor, strict=True)
            ],
            "death_day": [None] * n,
            "last_contact_day": day(end).tolist(),
        },
        schema_overrides={"progression_day": pl.Int64, "death_day": pl.Int64},
    )
    rows = []
    for i in range(n):
        for m in range(0, int(end[i]) + 1, 12):
            if m == end[i] and m > 0:
                break
            rows.append((ids[i], int(day(m)), "positive" if states[i, m] else "negative"))
    mrd = pl.DataFrame(rows, schema=["patient_id", "day", "result"], orient="row").with_columns(
        pl.lit("NGF").alias("method"),
        pl.lit("bone_marrow").alias("specimen"),
        pl.lit(1e-5).alias("sensitivity"),
        pl.lit(None, dtype=pl.Float64).alias("clonal_fraction"),
        pl.lit(True).alias("adequate"),
        pl.lit(None, dtype=pl.String).alias("visit"),
    )
    ae = pl.DataFrame(schema={"patient_id": pl.String, "term": pl.String})
    return Cohort(patients=patients, mrd=mrd, outcomes=outcomes, adverse_events=ae)


@pytest.fixture(scope="session")
def small_cohort() -> Cohort:
    return simulate_cohort(400, seed=7)


@pytest.fixture(scope="session")
def simulate():
    """The known-truth simulator itself, for tests that need other sizes or seeds."""
    return simulate_cohort
