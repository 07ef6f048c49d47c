#!/usr/bin/env bash
# 13th session, call 3 (1×H200, ~4 min, no wheels): the side streams at 64 and 128 batch·heads (perf-notes v15 lead 2:
# the tgs 64K fwd_bwd row spread widely) and `verify --only bf16 --fla none` on the new defaults.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c7
start_watchdog "${WATCHDOG_S:-300}"
st streams 150 python3 tools/tune_bwd_streams.py --out "$W/streams" \
  --shapes "4,16,128,16384/65536;2,32,128,65536;8,16,128,32768;4,32,128,32768"
st verify 120 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
stop_watchdog
cat "$L/steps.txt"
cut -c1-250 "$L/streams.log"
tail -n 3 "$L/verify.log" | cut -c1-200
