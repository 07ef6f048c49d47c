#!/usr/bin/env bash
# 2026-11-30, third session, call 2 (2×H200): GPU 0 the launch-parameter search with the device timer (short-sequence
# forward tiles, the fused backward launch); GPU 1 the kernels' tests on the GPU (fused backward, short-sequence
# configuration) and la2's perf rows at 1K-4K with the provisional short-sequence entry (each row checked against
# float64 before it is timed).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=f
start_watchdog "${WATCHDOG_S:-400}"
( export CUDA_VISIBLE_DEVICES=1
  st pytest-gpu 150 python3 -m pytest -q -x tests/test_tuning.py tests/test_kernel_states.py -p no:cacheprovider
  st perf-la2-short 90 python3 -m lightning_bench sweep --preset perf --seq-len 1024,2048,4096,8192 --providers la2 \
    --energy-window 0 --no-plots --out "$W/perf-la2-short"
  st perf-la2-d64 60 python3 -m lightning_bench sweep --preset perf --batch 8 --head-dim 64 --seq-len 4096,16384 \
    --providers la2 --energy-window 0 --no-plots --out "$W/perf-la2-d64" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st tune-short 230 python3 tools/tune_la2.py --out "$W/tune-short" --workers 8 \
  --shapes 2x16x1024x128,2x16x2048x128,2x16x4096x128,2x16x8192x128,2x16x16384x128,8x16x4096x64,8x16x16384x64 \
  --splits 1,2,4,8 --fwd-cands 0,1,3,12,13 --bwd-cands 0,1,8,9,10,11
st tune-long 80 python3 tools/tune_la2.py --out "$W/tune-long" --workers 8 --shapes 2x16x65536x128,2x16x65536x64 \
  --splits 1,2,4,8 --fwd-cands none --bwd-cands 0,1,8,9
wait $T1
stop_watchdog
cat "$L/steps.txt"
