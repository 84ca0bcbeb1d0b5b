#!/usr/bin/env bash
# Regenerates the constrained best fits of the founding study that tests/simulate/test_gof.py
# checks (issue 19: the goodness-of-fit check must reject the BEST model of a wrong family, not
# a perturbed one). One command, from the repository root:
#
#     bash tests/simulate/data/make_constrained_fits.sh
#
# Each fit is `mrdtrack simulate calibrate --fit` with the shipped calibration's settings (seed
# 20210601, 2,400 evaluations of 200 trials, 2 chains) under a tie; 200 posterior draws kept.
# Writes, per family F: constrained_F.toml (posterior medians), constrained_F_posterior.csv
# (draws) and constrained_F.log (the fit's table and the check's verdict on 200 draws; the
# command exits 4 when the check rejects, which is not an error here). About 2-3 min of CPU each.
set -u
cd "$(dirname "$0")/../../.."
MRDTRACK=${MRDTRACK:-mrdtrack}
OUT=tests/simulate/data
PR=progression
declare -A TIE=(
  # progression unrelated to MRD: one hazard whatever the MRD state
  [unrelated]="$PR""__persistent_positive=$PR""__negative=$PR""__lost_early=$PR""__lost_late"
  # loss of negativity carries the hazard of persistent positivity
  [lost_equals_persistent]="$PR""__persistent_positive=$PR""__lost_early=$PR""__lost_late"
)
for family in "${!TIE[@]}"; do
  nice "$MRDTRACK" simulate calibrate --fit --seed 20210601 --max-evaluations 2400 \
    --n-sim 200 --chains 2 --draws 200 --tie "${TIE[$family]}" \
    --write-params "$OUT/constrained_$family.toml" \
    --write-posterior "$OUT/constrained_${family}_posterior.csv" \
    >"$OUT/constrained_$family.log" 2>&1 &
done
status=0
for job in $(jobs -p); do
  wait "$job"
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 4 ]; then status=$rc; fi
done
exit $status
