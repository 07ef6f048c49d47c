#!/usr/bin/env bash
# Session 25, call 5 (one H200, no wheels, ≤ 2 min): the one body against a copy per pass for the one launch's
# one-warpgroup programs at long lengths (b1 h16 32K, 128K; x3_one_body kept the copies beyond 8K there, unmeasured).
# Unpack into results/h200/tune/2026-12-01i/c26/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c26
start_watchdog "${WATCHDOG_S:-100}"
st k_b1 80 python3 tools/tune_knob.py --knob bwd_x3_one_body --cases x3b1 --repeat 3 --out "$W/k_b1"
stop_watchdog
cat "$L/steps.txt"
grep -E "^(b[0-9]|  FAIL)" "$L/k_b1.log" | cut -c1-170
