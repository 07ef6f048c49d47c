#!/usr/bin/env bash
# For the 15th session (1×H200, ≤ 9.8 min, wheel prefix, carry .whl): `--preset tgs` on the v17 defaults (the tile
# order changed the 64K row's launch: b4 h16, two e64 tiles per head) → results/h200/tgs-v17/ and the README figure.
# la1's 128K fwd_bwd row takes ~30 s and fla autotunes ~2 min per shape on a cold machine: the step gets 520 s.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c13
start_watchdog "${WATCHDOG_S:-575}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tgs 520 python3 -m lightning_bench sweep --preset tgs --out "$W/tgs"
stop_watchdog
cat "$L/steps.txt"
tail -n 30 "$L/tgs.log" | cut -c1-200
