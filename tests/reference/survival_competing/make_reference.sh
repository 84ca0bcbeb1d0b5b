#!/bin/sh
# Regenerate the committed reference files (needs R with survival and cmprsk).
cd "$(dirname "$0")" && Rscript make_reference.R
