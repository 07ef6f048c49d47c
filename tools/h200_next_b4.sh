#!/usr/bin/env bash
# 10th session, call 2 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the gate preset (candidate for a new baseline:
# the Gluon backward is the default since the ninth session) and the perf preset with la2 / fla / the OpenNLPLab
# reference, la2's fwd_bwd now with the Gluon backward.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b4
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st gate 60 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 40 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
st perf 440 python3 -m lightning_bench sweep --preset perf --providers la2,fla,la2_reference --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/gate-vs-base.log" | cut -c1-200
tail -n 40 "$L/perf.log" | cut -c1-200
