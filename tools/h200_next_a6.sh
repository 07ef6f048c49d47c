#!/usr/bin/env bash
# 11th session, call 1 (1×H200, ≤ 9 min, no wheels): row pairs (Plan.pair: two warpgroups on the two halves of
# 128-row steps, half the serial chain) — GPU tests, then against the package plans at b2 h16 / b4 h32 / b8 h16 d64;
# the byte floor per shape under the sweep's timer (tools/probe_floor.py); the 64 batch·heads grid (lead 1 of v13).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a6
start_watchdog "${WATCHDOG_S:-540}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tests 150 python3 -m pytest -q tests/test_gluon_fwd.py -k "pair"
st pair 150 python3 tools/tune_mr.py --grid pair --out "$W/pair"
st floor 60 python3 tools/probe_floor.py --out "$W/floor"
st bh64 170 python3 tools/tune_mr.py --grid bh64 --out "$W/bh64"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed|FAILED|Error|assert" "$L/tests.log" | cut -c1-250 | tail -n 12
cat "$L/pair.log" "$L/floor.log" "$L/bh64.log" | cut -c1-330
