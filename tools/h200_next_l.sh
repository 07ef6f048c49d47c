#!/usr/bin/env bash
# 2026-11-30, fourth session, call 1: forward variants (decay on V; GEMM-form segment-end pass) × launch configs,
# and a per-kernel breakdown of split forwards.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=l
start_watchdog "${WATCHDOG_S:-420}"
st variants 330 python3 tools/variants_fwd.py --out "$W/variants"
st prof 80 python3 tools/prof_fwd_kernels.py --out "$W/prof"
stop_watchdog
cat "$L/steps.txt"
tail -n 100 "$L/variants.log" "$L/prof.log"
