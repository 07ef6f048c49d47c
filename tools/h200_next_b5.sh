#!/usr/bin/env bash
# 11th session, call 2 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the perf preset's b2 h16 / b8 h16 d64 rows for
# la2, fla, the OpenNLPLab reference and the new byte floor (baselines/floor.py) in one run.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b5
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st perf 550 python3 -m lightning_bench sweep --preset perf --providers la2,fla,la2_reference,floor --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 45 "$L/perf.log" | cut -c1-200
