"""Export the stacked supermodel design of the test cohort for R (run from the repo root).

python tests/reference/predict/make_reference.py && Rscript tests/reference/predict/supermodel.R
"""

import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parents[1] / "predict"))
from conftest import simulate_cohort  # noqa: E402

from mrdtrack.predict import landmark_stack  # noqa: E402
from mrdtrack.predict.supermodel import Design  # noqa: E402

cohort = simulate_cohort(400, seed=7)
stacked = landmark_stack(cohort, window=730, covariates=("age",))
design = Design(
    base=("mrd_positive", "lost_negativity", "age"),
    interact=("mrd_positive", "lost_negativity"),
    baseline="proportional",
    horizon=float(stacked["landmark"].max()),
)
expanded, names = design.expand(stacked)
out = expanded.select("patient_id", "landmark", "start", "stop", "event", *names)
out.rename({n: n.replace(":", "_x_") for n in names}).write_csv(here / "stacked.csv")
print(names)
