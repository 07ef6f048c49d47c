#!/usr/bin/env bash
# Issue #7, the short form of h200_next_a15.sh for a call with little device time left (≤ ~4.5 min, no wheels) on
# nvidia-h200-x2: sweep-sp strong/weak scaling with the 2-GPU check at 8192 (the first 2-GPU run of the ranks'
# Gluon backward, now side by side), then the 10-calls-per-sample view at 262144 if time is left. The GPU tests of
# the rank backward ran on one H200 (results/h200/sp-rank-v19/tests.log). Unpack a17.tar.gz into
# results/h200x2/sp-v19/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a17
start_watchdog "${WATCHDOG_S:-250}"
st sp 150 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 131072,262144 --seq-len-local 131072 \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 --out "$W/sp"
st sp_cps10 80 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 262144 --seq-len-local none \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 0 --calls-per-sample 10 \
  --out "$W/sp_cps10"
stop_watchdog
cat "$L/steps.txt"
cat "$W/sp/sp_summary.md" "$W/sp_cps10/sp_summary.md" 2>/dev/null | cut -c1-220 | head -40
