#!/usr/bin/env bash
# Regenerate the R reference of the report tests (needs R with survival, and mrdtrack).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
python export_study.py
Rscript report_reference.R .
echo "wrote study/, landmark_classes.csv, reference.csv"
