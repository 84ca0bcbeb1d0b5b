#!/bin/sh
# Rebuild the R reference of mrdtrack.simulate summaries (needs R with survival).
set -e
cd "$(dirname "$0")"
python export_data.py
Rscript make_reference.R
