#!/usr/bin/env bash
# 22nd session, call 4 and 6 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the perf preset (b2 h16 d128, issue #4's table;
# b8 h16 d64) with fla, the OpenNLPLab reference and the byte floor side by side on the v24 code (QK_ONE_FENCE on the one-warpgroup
# head_dim-128 launches with QK_AHEAD). Unpack e22.tar.gz into results/h200/perf-v24/ (second run, WG2_SPLIT_MIN off; finish with --resume if cut).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK_NAME:-e22}
start_watchdog "${WATCHDOG_S:-555}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st perf 530 python3 -m lightning_bench sweep --preset perf --providers la2,fla,la2_reference,floor --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 30 "$L/perf.log" | cut -c1-200
