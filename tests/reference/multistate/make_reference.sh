#!/bin/sh
# Regenerate the R msm reference outputs (needs R with msm >= 1.7).
set -e
cd "$(dirname "$0")"
python simulate_mrd.py
Rscript make_reference.R
python simulate_inhomog.py
Rscript make_reference_diagnostics.R
Rscript make_reference_options.R
