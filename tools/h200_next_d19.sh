#!/usr/bin/env bash
# 19th session, call 4 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the perf preset (b2 h16 d128, issue #4's table)
# with fla, the OpenNLPLab reference and the byte floor side by side on the v21 code, the one-launch backward (unpack into results/h200/perf-v21/), then the gate preset
# against the committed baseline (its rows must not regress).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d19
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st perf 420 python3 -m lightning_bench sweep --preset perf --providers la2,fla,la2_reference,floor --out "$W/perf"
st gate 60 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 70 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --rerun --rerun-out "$W/gate-rerun" --json "$W/gate.gate.json"
stop_watchdog
cat "$L/steps.txt"
tail -n 30 "$L/perf.log" | cut -c1-200
tail -n 12 "$L/gate-vs-base.log" | cut -c1-200
