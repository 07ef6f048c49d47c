#!/usr/bin/env bash
# 12th session, last call (1×H200, ≤ 9 min, wheel prefix, carry .whl): the paper preset (host-decoupled) and the tgs
# preset on this commit's defaults (backward dk, dv passes on side streams from 2^20 batch·heads·tokens; diag(g) V
# ahead on one-warpgroup e64 launches at head_dim 128).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c6
start_watchdog "${WATCHDOG_S:-500}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st paper 150 python3 -m lightning_bench sweep --preset paper --providers la2,fla,la2_reference,floor --host-decoupled \
  --out "$W/paper"
st tgs 320 python3 -m lightning_bench sweep --preset tgs --out "$W/tgs"
stop_watchdog
cat "$L/steps.txt"
tail -n 22 "$L/paper.log" | cut -c1-200
tail -n 26 "$L/tgs.log" | cut -c1-200
