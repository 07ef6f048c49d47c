#!/usr/bin/env bash
# 10th session, call 3 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the paper preset with every provider (la2's
# backward now the Gluon one), then its report.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c4
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st paper 480 python3 -m lightning_bench sweep --preset paper --providers la2,fla,la2_reference,flash_attn2,sdpa_cudnn \
  --host-decoupled --out "$W/paper"
st paper-report 40 python3 -m lightning_bench report "$W/paper"
stop_watchdog
cat "$L/steps.txt"
tail -n 45 "$L/paper.log" | cut -c1-200
