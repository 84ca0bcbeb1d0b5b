"""Write the synthetic report-test study (CSV, our schema) and its landmark classes for R.

The landmark classes (MRD trajectory class from assessments up to day 730) come from
mrdtrack.mrd.classify_trajectories: R has no such function, so the R script takes them as input
and checks everything downstream (landmark risk set, time reset, Cox, log-rank).
"""

from __future__ import annotations

import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parents[1] / "report"))

from report_synthetic import make_tables, write_study  # noqa: E402

import mrdtrack  # noqa: E402
from mrdtrack.mrd import classify_trajectories  # noqa: E402

study = write_study(here / "study", make_tables())
cohort = mrdtrack.read_study(study)
classes = classify_trajectories(cohort, window_end=730).table()
classes.select("patient_id", "mrd_class").write_csv(here / "landmark_classes.csv")
# the 36-month landmark of the landmark series (day floor(36 * 30.4375) = 1095)
classes = classify_trajectories(cohort, window_end=1095).table()
classes.select("patient_id", "mrd_class").write_csv(here / "landmark_classes_1095.csv")
