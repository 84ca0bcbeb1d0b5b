"""A small synthetic maintenance study for report tests (independent of the simulator).

Built directly as schema tables; `make_cohort` validates through `Cohort.from_frames` when the
readers are installed and otherwise builds the frozen Cohort as is. `write_study` writes the
tables as a CSV folder for CLI tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from mrdtrack.cohort import Cohort
from mrdtrack.schema import TABLES

ARTIFACTS = Path(__file__).resolve().parents[2] / "ci-artifacts"
# The synthetic study as committed CSV files, with R's numbers beside them
# (tests/reference/report; test_reference_r checks that they equal make_tables()).
REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "report"
# user strings that would run script if the report did not escape them
XSS = "<script>window.__mrdtrack_xss=1</script>\"'><img src=x onerror=alert(1)>"

TERMS = (
    ("Neutrophil count decreased", "Investigations"),
    ("Lymphocyte count decreased", "Investigations"),
    ("Fatigue", "General disorders"),
    ("Diarrhoea", "Gastrointestinal disorders"),
    ("Rash maculo-papular", "Skin and subcutaneous tissue disorders"),
    ("Upper respiratory infection", "Infections and infestations"),
)


def make_tables(n: int = 60, seed: int = 7) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"{i + 1:03d}" for i in range(n)]
    cutoff = 1800
    entry = rng.integers(0, 900, n)
    follow = cutoff - entry  # administrative follow-up per patient
    base_neg = rng.random(n) < 0.45
    patients = pl.DataFrame(
        {
            "patient_id": ids,
            "arm": ["all"] * n,
            "site": rng.choice(["Site A", "Site B"], n).tolist(),
            "cutoff_day": follow.astype(np.int64),
            "age": np.round(rng.normal(63, 9, n), 0),
            "sex": rng.choice(["F", "M"], n, p=[0.37, 0.63]).tolist(),
            "iss": rng.choice(["I", "II", "III"], n).tolist(),
            "riss": rng.choice(["I", "II", "III"], n).tolist(),
            "cytogenetic_risk": rng.choice(["standard", "high"], n, p=[0.78, 0.22]).tolist(),
            "prior_transplant": (rng.random(n) < 0.48).tolist(),
            "induction": rng.choice(["KRd", "VRd", "other"], n).tolist(),
            "baseline_response": rng.choice(["sCR", "CR", "VGPR", "PR"], n).tolist(),
            "cycles_completed": np.where(rng.random(n) < 0.07, 2, 20).astype(np.int64),
        },
        schema_overrides={"cutoff_day": pl.Int64, "cycles_completed": pl.Int64},
    )
    # progression hazard higher when baseline MRD positive
    rate = np.where(base_neg, 1 / 6000, 1 / 1800)
    prog = rng.exponential(1 / rate)
    prog_day = np.where(prog < follow, prog, np.nan)
    lost = rng.random(n) < 0.05
    last_contact = np.minimum(follow, np.where(lost, follow * rng.random(n), follow))
    prog_day = np.where(prog_day <= last_contact, prog_day, np.nan)
    death_day = np.full(n, np.nan)
    death_day[0] = min(last_contact[0], 400.0)
    prog_day[0] = np.nan
    end = np.where(~np.isnan(prog_day), prog_day, np.where(rng.random(n) < 0.3, 500.0, np.nan))
    end = np.where(end <= last_contact, end, np.nan)
    end_reason = np.where(
        np.isnan(end), None, np.where(~np.isnan(prog_day), "progression", "toxicity")
    )

    def ints(a: np.ndarray) -> list[int | None]:
        return [None if np.isnan(v) else int(v) for v in a]

    outcomes = pl.DataFrame(
        {
            "patient_id": ids,
            "progression_day": ints(prog_day),
            "progression_method": [None if np.isnan(v) else "IMWG_laboratory" for v in prog_day],
            "death_day": ints(death_day),
            "death_cause": ["sepsis and heart failure" if i == 0 else None for i in range(n)],
            "last_contact_day": ints(np.where(np.isnan(death_day), last_contact, death_day)),
            "treatment_end_day": ints(end),
            "treatment_end_reason": end_reason.tolist(),
        },
        schema=TABLES["outcomes"].polars_schema,
    )
    rows = []
    for i, pid in enumerate(ids):
        neg = bool(base_neg[i])
        stop = last_contact[i] if np.isnan(prog_day[i]) else prog_day[i]
        for k in range(6):
            day = 14 if k == 0 else 365 * k + int(rng.integers(-20, 20))
            if day > stop:
                break
            if k > 0 and rng.random() < 0.12:
                neg = not neg
            rows.append(
                {
                    "patient_id": pid,
                    "day": day,
                    "visit": "BASELINE" if k == 0 else f"YEAR{k}",
                    "method": "NGF",
                    "specimen": "bone_marrow",
                    "sensitivity": 1e-5,
                    "result": "negative" if neg else "positive",
                    "clonal_fraction": None if neg else float(10 ** rng.uniform(-5, -2)),
                    "adequate": True,
                }
            )
    mrd = pl.DataFrame(rows, schema=TABLES["mrd"].polars_schema)
    ae = []
    for i, pid in enumerate(ids):
        for term, soc in TERMS:
            if rng.random() < 0.35:
                for _ in range(int(rng.integers(1, 3))):
                    g = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.25, 0.05]))
                    ae.append(
                        {
                            "patient_id": pid,
                            "term": term,
                            "decod": term,
                            "body_system": soc,
                            "grade": g,
                            "serious": bool(rng.random() < 0.1),
                            "onset_day": int(rng.integers(1, 700)),
                            "related": bool(rng.random() < 0.5),
                        }
                    )
        if i == 3:
            ae.append(
                {
                    "patient_id": pid,
                    "term": "Nausea",
                    "decod": "Nausea",
                    "body_system": "Gastrointestinal disorders",
                    "grade": None,
                    "serious": False,
                    "onset_day": 30,
                    "related": False,
                }
            )
    adverse_events = pl.DataFrame(ae, schema=TABLES["adverse_events"].polars_schema)
    return {
        "patients": patients,
        "mrd": mrd,
        "outcomes": outcomes,
        "adverse_events": adverse_events,
    }


def make_cohort(tables: dict[str, pl.DataFrame] | None = None, name: str = "synthetic") -> Cohort:
    tables = make_tables() if tables is None else tables
    return Cohort.from_frames(**tables, name=name)


def write_study(folder: Path, tables: dict[str, pl.DataFrame] | None = None) -> Path:
    tables = make_tables() if tables is None else tables
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_csv(folder / f"{name}.csv")
    return folder
