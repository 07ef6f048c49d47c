#!/usr/bin/env bash
# 9th session, call 3 (1×H200, ≤ 9.5 min, wheel prefix): the cold-L2 write-back probe (host-decoupled), then the perf
# preset for la2, fla and the OpenNLPLab reference (the SDPA rows of ../perf-v9 stand: those providers did not change).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c3
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st probe 90 python3 tools/probe_l2_dirty.py --out "$W/probe"
st perf 450 python3 -m lightning_bench sweep --preset perf --providers la2,fla,la2_reference --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
cat "$L/probe.log"
tail -n 50 "$L/perf.log" | cut -c1-200
