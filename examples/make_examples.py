"""Build the example studies of this folder (deterministic; rerun after changing the schema).

- ``csv_study/``: a small synthetic lenalidomide-maintenance study (20 patients) as CSV, with
  its study map ``study.toml`` (study name only).
- ``adam_study/``: the same study as CDISC ADaM SAS transport files, written by
  `mrdtrack.io.adam.write_adam` from the cohort read back from ``csv_study``.
- ``mapped_study/``: the same study as a site might export it — other column names and codes,
  calendar dates (day/month/year), "ND" for not done — with the study map ``study.toml``
  that maps it onto mrdtrack's tables.

All three read into equal cohorts (tests/io/test_examples.py). Run: ``python
examples/make_examples.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

import mrdtrack
from mrdtrack.io.adam import write_adam

HERE = Path(__file__).resolve().parent
STUDY = "MRDTRACK-EX01"
N = 20
CUTOFF = dt.date(2020, 6, 30)
FIRST_ENROLMENT = dt.date(2015, 9, 14)


def build(seed: int = 20150914) -> tuple[dict[str, list[dict]], dict[str, dt.date]]:
    rng = np.random.default_rng(seed)
    patients, mrd, outcomes, aes = [], [], [], []
    origins: dict[str, dt.date] = {}
    for i in range(N):
        pid = f"{i + 1:03d}"  # leading zeros: identifiers are text
        origin = FIRST_ENROLMENT + dt.timedelta(days=int(i * 60 + rng.integers(0, 20)))
        origins[pid] = origin
        cutoff = (CUTOFF - origin).days
        neg0 = rng.random() < 0.45
        # progression hazard higher when MRD-positive at baseline
        prog = int(rng.exponential(4000 if neg0 else 1600))
        death = None
        if i == 6:
            death, prog = 400, None  # death without progression (sepsis)
        elif i == 11 and prog < cutoff:
            death = min(prog + 200, cutoff - 10)
        progressed = prog is not None and prog <= cutoff - 30
        prog_day = prog if progressed else None
        last = min(cutoff - int(rng.integers(0, 40)), (prog_day or 10**6) + 90)
        if death is not None:
            last = min(last, death)
        if prog_day is not None:
            last = max(last, prog_day)
        cycles = min(int(last / 28), 65)
        if i == 3:
            cycles = 3  # stopped early: not evaluable (fewer than 4 cycles)
            prog_day, last = None, 120
        tend = None
        reason = None
        if prog_day is not None:
            tend, reason = prog_day, "progressive disease"
        elif i == 3:
            tend, reason = 84, "adverse event"
        elif death is not None:
            tend, reason = death, "death"
        elif i in (5, 14):
            tend, reason = min(1825, last), "completed 5 years"
        patients.append(
            {
                "patient_id": pid,
                "arm": "lenalidomide",
                "site": "S01",
                "cutoff_day": cutoff,
                "age": round(float(rng.normal(63, 9)), 1),
                "sex": "M" if rng.random() < 0.63 else "F",
                "iss": str(rng.choice(["I", "II", "III"])),
                "riss": str(rng.choice(["I", "II", "III"], p=[0.3, 0.55, 0.15])),
                "cytogenetic_risk": "high" if rng.random() < 0.22 else "standard",
                "prior_transplant": bool(rng.random() < 0.48),
                "induction": str(rng.choice(["KRd", "VRd", "RVd-lite"])),
                "baseline_response": str(rng.choice(["sCR", "CR", "VGPR", "PR"])),
                "cycles_completed": cycles,
            }
        )
        outcomes.append(
            {
                "patient_id": pid,
                "progression_day": prog_day,
                "progression_method": (
                    ("IMWG_laboratory" if i % 3 else "IMWG_imaging") if prog_day else None
                ),
                "death_day": death,
                "death_cause": ("sepsis" if i == 6 else "myeloma") if death else None,
                "last_contact_day": last,
                "treatment_end_day": tend,
                "treatment_end_reason": reason,
            }
        )
        # MRD: baseline (may precede the origin by a few days), then yearly
        status = not neg0
        stop = min(x for x in (prog_day, death, last, cutoff) if x is not None)
        for year in range(0, 6):
            day = (
                int(14 + rng.integers(-20, 10))
                if year == 0
                else 365 * year + int(rng.integers(-21, 22))
            )
            if day > stop:
                break
            if year > 0 and rng.random() < 0.15:
                status = not status
            adequate = not (i == 9 and year == 1)
            result = ("positive" if status else "negative") if adequate else "not_evaluable"
            mrd.append(
                {
                    "patient_id": pid,
                    "day": day,
                    "visit": "BASELINE" if year == 0 else f"YEAR{year}",
                    "method": "NGF",
                    "specimen": "bone_marrow",
                    "sensitivity": 1e-5 if i != 2 else 2e-5,
                    "result": result,
                    "clonal_fraction": (
                        float(f"{10 ** rng.uniform(-5, -2):.3g}") if result == "positive" else None
                    ),
                    "adequate": adequate,
                }
            )
            if year == 0 and i % 4 == 0:
                mrd.append(
                    {
                        "patient_id": pid,
                        "day": day,
                        "visit": "BASELINE",
                        "method": "NGS",
                        "specimen": "bone_marrow",
                        "sensitivity": 1e-6,
                        "result": result,
                        "clonal_fraction": None,
                        "adequate": adequate,
                    }
                )
        for _ in range(int(rng.integers(0, 4))):
            term, soc = [
                ("Neutrophil count decreased", "Investigations"),
                ("Lymphocyte count decreased", "Investigations"),
                ("Fatigue", "General disorders and administration site conditions"),
                ("Diarrhoea", "Gastrointestinal disorders"),
                ("Rash maculo-papular", "Skin and subcutaneous tissue disorders"),
                ("Lung infection", "Infections and infestations"),
            ][int(rng.integers(0, 6))]
            grade = int(rng.choice([1, 2, 3, 4], p=[0.35, 0.3, 0.3, 0.05]))
            aes.append(
                {
                    "patient_id": pid,
                    "term": term,
                    "decod": term,
                    "body_system": soc,
                    "grade": grade if not (i == 8 and term == "Fatigue") else None,
                    "serious": term == "Lung infection" and grade >= 3,
                    "onset_day": int(rng.integers(1, max(2, min(stop, 900)))),
                    "related": term != "Lung infection",
                }
            )
    if patients[6]:
        aes.append(
            {
                "patient_id": "007",
                "term": "Sepsis",
                "decod": "Sepsis",
                "body_system": "Infections and infestations",
                "grade": 5,
                "serious": True,
                "onset_day": 395,
                "related": False,
            }
        )
    return {
        "patients": patients,
        "mrd": mrd,
        "outcomes": outcomes,
        "adverse_events": aes,
    }, origins


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    columns = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(r[c]) for c in columns])


def write_mapped(tables: dict[str, list[dict]], origins: dict[str, dt.date], out: Path) -> None:
    """The same study with a site's own names, codes and calendar dates."""
    out.mkdir(exist_ok=True)

    def d(pid: str, day: int | None) -> str:
        if day is None:
            return "ND"
        return (origins[pid] + dt.timedelta(days=day)).strftime("%d/%m/%Y")

    subj = [
        {
            "SUBJECT": p["patient_id"],
            "TREATMENT": p["arm"],
            "CENTRE": p["site"],
            "MAINT_START": d(p["patient_id"], 0),
            "DATA_CUTOFF": d(p["patient_id"], p["cutoff_day"]),
            "AGE_YRS": p["age"],
            "GENDER": {"M": "Male", "F": "Female"}[p["sex"]],
            "ISS_STAGE": p["iss"],
            "RISS_STAGE": p["riss"],
            "CYTO": {"high": "HR", "standard": "SR"}[p["cytogenetic_risk"]],
            "ASCT": "Y" if p["prior_transplant"] else "N",
            "INDUCTION": p["induction"],
            "RESPONSE_AT_START": p["baseline_response"],
            "CYCLES": p["cycles_completed"],
        }
        for p in tables["patients"]
    ]
    write_csv(out / "subjects.csv", subj)
    res = {
        "negative": "NEG",
        "positive": "POS",
        "not_evaluable": "NE",
        "indeterminate": "IND",
    }
    lab = [
        {
            "SUBJECT": m["patient_id"],
            "SAMPLE_DATE": d(m["patient_id"], m["day"]),
            "VISIT": m["visit"],
            "ASSAY": {"NGF": "EuroFlow NGF", "NGS": "clonoSEQ"}[m["method"]],
            "TISSUE": "BM",
            "LOD": m["sensitivity"],
            "MRD_RESULT": res[m["result"]],
            "MRD_LEVEL": "ND" if m["clonal_fraction"] is None else m["clonal_fraction"],
            "ADEQUATE": "Y" if m["adequate"] else "N",
        }
        for m in tables["mrd"]
    ]
    write_csv(out / "mrd_lab.csv", lab)
    fu = [
        {
            "SUBJECT": o["patient_id"],
            "PD_DATE": d(o["patient_id"], o["progression_day"]),
            "PD_METHOD": o["progression_method"] or "ND",
            "DEATH_DATE": d(o["patient_id"], o["death_day"]),
            "DEATH_CAUSE": o["death_cause"] or "ND",
            "LAST_CONTACT": d(o["patient_id"], o["last_contact_day"]),
            "EOT_DATE": d(o["patient_id"], o["treatment_end_day"]),
            "EOT_REASON": o["treatment_end_reason"] or "ND",
        }
        for o in tables["outcomes"]
    ]
    write_csv(out / "follow_up.csv", fu)
    ae = [
        {
            "SUBJECT": a["patient_id"],
            "AETERM": a["term"],
            "AEDECOD": a["decod"],
            "AEBODSYS": a["body_system"],
            "AETOXGR": "ND" if a["grade"] is None else a["grade"],
            "AESER": "Y" if a["serious"] else "N",
            "AESTDTC": d(a["patient_id"], a["onset_day"]),
            "AEREL": "RELATED" if a["related"] else "NOT RELATED",
        }
        for a in tables["adverse_events"]
    ]
    write_csv(out / "adverse_events.csv", ae)


def main() -> None:
    tables, origins = build()
    csv_dir = HERE / "csv_study"
    csv_dir.mkdir(exist_ok=True)
    for name, rows in tables.items():
        write_csv(csv_dir / f"{name}.csv", rows)
    (csv_dir / "study.toml").write_text(
        f"# study map of the example study: the files already use mrdtrack's names\n"
        f'[study]\nname = "{STUDY}"\n',
        encoding="utf-8",
    )
    cohort = mrdtrack.read_study(csv_dir)
    assert cohort.exclusions.height == 0, cohort.exclusions
    write_adam(
        cohort,
        HERE / "adam_study",
        origin_dates=origins,
        study_id=STUDY,
        timestamp=dt.datetime(2020, 7, 1),  # fixed: reruns give byte-identical files
    )
    write_mapped(tables, origins, HERE / "mapped_study")
    print(cohort.summary())


if __name__ == "__main__":
    main()
