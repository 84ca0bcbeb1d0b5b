#!/bin/sh
# Rebuild the constructed study and the R reference outputs (needs R with survival).
set -e
cd "$(dirname "$0")"
python make_study.py
Rscript tmerge_reference.R
Rscript classes_reference.R
