#!/usr/bin/env bash
# Regenerate the R reading of examples/adam_study (run after examples/make_examples.py).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
Rscript "$here/read_xport.R" "$here/../../../examples/adam_study" "$here"
Rscript "$here/write_sas7bdat.R" "$here/../../../examples/adam_study" "$here/sas7bdat"
