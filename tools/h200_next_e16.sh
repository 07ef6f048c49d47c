#!/usr/bin/env bash
# 17th session (one H200, no wheels): the backward's passes split vs concurrent and unsplit at few batch·heads
# (tools/tune_bwd_split.py, perf-notes v19). Unpack e16.tar.gz into results/h200/tune/2026-12-01a/e16/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-e16}
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$W/gpu.txt" 2>&1
st tune 400 python3 tools/tune_bwd_split.py --out "$W/tune"
stop_watchdog
cat "$L/steps.txt"
cut -c1-300 "$L/tune.log" | tail -n 30
