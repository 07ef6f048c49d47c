#!/usr/bin/env bash
# 13th session, call 1 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the paper preset on the twelfth session's
# defaults (side-stream backward from 2^20, diag(g) V ahead at e64), host-decoupled, with fla (its autotune takes ~2 min
# per shape on a cold machine: give the step most of the call), then the report on the device.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a8
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st paper 480 python3 -m lightning_bench sweep --preset paper --providers la2,fla,la2_reference,floor --host-decoupled \
  --out "$W/paper"
st report 60 python3 -m lightning_bench report "$W/paper" --format png
stop_watchdog
cat "$L/steps.txt"
tail -n 30 "$L/paper.log" | cut -c1-200
