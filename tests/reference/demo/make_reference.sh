#!/bin/sh
# Rebuild the R reference of the demo study's figures (needs R with survival).
set -e
cd "$(dirname "$0")"
Rscript demo_reference.R
