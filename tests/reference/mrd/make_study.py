"""Write the constructed study used for the R tmerge comparison (deterministic, seed 20261125).

Edge cases built in: baseline sampled before day 0, on day 0 and after; NGF + NGS on the same
day; negatives at insufficient sensitivity (1e-4); inadequate and indeterminate samples; an
assessment on the progression day and after it; a patient progressing on day 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).parent


def main() -> None:
    rng = np.random.default_rng(20261125)
    n = 40
    ids = [f"{i:03d}" for i in range(1, n + 1)]
    patients, outcomes, mrd = [], [], []
    cutoff = 1900
    for k, pid in enumerate(ids):
        prog = int(rng.integers(60, 1900)) if rng.random() < 0.5 else None
        death = int(rng.integers(100, 1900)) if rng.random() < 0.1 else None
        last = int(rng.integers(300, 2000))  # may pass the cutoff: PFS is truncated there
        if k == 0:
            prog, death, last = 0, None, 0  # progression on day 0: no time at risk
        if prog is not None:
            last = min(max(last, prog), cutoff)
        if death is not None:
            last = min(last, death)
            if prog is not None and prog >= death:
                prog = None
        fu_end = min(x for x in (prog, death, last, cutoff) if x is not None)
        patients.append({"patient_id": pid, "cutoff_day": cutoff})
        outcomes.append(
            {
                "patient_id": pid,
                "progression_day": prog,
                "death_day": death,
                "last_contact_day": last,
            }
        )
        state = rng.random() < 0.45
        first = int(rng.choice([-7, 0, 14, 21]))
        for year in range(6):
            day = first + 365 * year + int(rng.integers(-20, 21)) * (year > 0)
            if day > fu_end + (120 if k % 4 == 0 else 0):
                break  # every fourth patient keeps a marrow up to 120 days past follow-up
            if rng.random() < 0.25:
                state = not state
            u = rng.random()
            result = "negative" if state else "positive"
            sens = 1e-5 if rng.random() < 0.7 else 1e-6
            adequate = True
            if u < 0.06:
                result = "indeterminate"
            elif u < 0.12:
                sens = 1e-4
            elif u < 0.16:
                adequate = False
            mrd.append(
                {
                    "patient_id": pid,
                    "day": day,
                    "visit": "BASELINE" if year == 0 else f"YEAR{year}",
                    "method": "NGF",
                    "specimen": "bone_marrow",
                    "sensitivity": sens,
                    "result": result,
                    "adequate": adequate,
                }
            )
            if rng.random() < 0.3:
                mrd.append(
                    {
                        "patient_id": pid,
                        "day": day,
                        "visit": "BASELINE" if year == 0 else f"YEAR{year}",
                        "method": "NGS",
                        "specimen": "bone_marrow",
                        "sensitivity": 1e-6,
                        "result": "positive" if rng.random() < 0.5 else "negative",
                        "adequate": True,
                    }
                )
        if prog is not None and k % 3 == 1:
            # a marrow on the progression day itself
            mrd.append(
                {
                    "patient_id": pid,
                    "day": prog,
                    "visit": "PROGRESSION",
                    "method": "NGF",
                    "specimen": "bone_marrow",
                    "sensitivity": 1e-5,
                    "result": "positive",
                    "adequate": True,
                }
            )
    mrd_df = pl.DataFrame(mrd).unique(["patient_id", "day", "method"], keep="first")
    pl.DataFrame(patients).write_csv(HERE / "study_patients.csv")
    pl.DataFrame(outcomes).write_csv(HERE / "study_outcomes.csv")
    mrd_df.sort("patient_id", "day", "method").write_csv(HERE / "study_mrd.csv")


if __name__ == "__main__":
    main()
