#!/bin/sh
# Regenerate the analyse_trials reference: data (Python, seeded) then R survival outputs.
set -e
here=$(cd "$(dirname "$0")" && pwd)
python "$here/make_data.py"
Rscript "$here/reference.R" "$here"
