#!/usr/bin/env bash
# 13th session, call 2 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the perf preset (b2 h16 d128, issue #4's table)
# with fla, the OpenNLPLab reference and the byte floor on the twelfth session's defaults.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b11
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st perf 540 python3 -m lightning_bench sweep --preset perf --providers la2,fla,la2_reference,floor --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 30 "$L/perf.log" | cut -c1-200
