#!/usr/bin/env bash
# 11th session, call 3 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the tgs preset (64 batch·heads now unsplit e64
# from 16K; byte floor added) and the paper preset's la2 / fla / OpenNLPLab / floor rows.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c5
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tgs 300 python3 -m lightning_bench sweep --preset tgs --out "$W/tgs"
st paper 240 python3 -m lightning_bench sweep --preset paper --providers la2,fla,la2_reference,floor --out "$W/paper"
stop_watchdog
cat "$L/steps.txt"
tail -n 30 "$L/tgs.log" | cut -c1-200
tail -n 30 "$L/paper.log" | cut -c1-200
