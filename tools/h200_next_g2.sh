#!/usr/bin/env bash
# Session 2026-11-30 (sixth), call 7 (2×H200): the Gluon forward from an initial state / with the sp segment hook
# (GPU tests), then sequence parallelism at 262144 (the ranks now run the Gluon forward) with its check at 8192.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=g2
start_watchdog "${WATCHDOG_S:-200}"
st pytest-s0 90 python3 -m pytest -q -rf tests/test_gluon_fwd.py -k "initial_state or ablation or dispatches or matches_reference" \
  -p no:cacheprovider
st sp 100 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 262144 --seq-len-local none \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 --out "$W/sp"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/pytest-s0.log"
grep -E "^Check|^\| (single|strong)" "$W/sp/sp_summary.md" 2>/dev/null
