#!/usr/bin/env bash
# 10th session, call 4 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the tgs preset (the paper's Table 1 setting:
# 262144 tokens per call, seq_len 1K..128K) with la2, la1, fla and SDPA flash (FA2), then its report.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d4
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tgs 480 python3 -m lightning_bench sweep --preset tgs --out "$W/tgs"
st tgs-report 40 python3 -m lightning_bench report "$W/tgs"
stop_watchdog
cat "$L/steps.txt"
tail -n 40 "$L/tgs.log" | cut -c1-200
