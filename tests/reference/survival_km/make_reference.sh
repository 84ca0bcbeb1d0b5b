#!/bin/sh
# Regenerate the Kaplan-Meier / log-rank / follow-up reference fixtures (needs Rscript + survival).
set -e
cd "$(dirname "$0")"
Rscript make_reference.R
