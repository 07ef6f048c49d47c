#!/usr/bin/env bash
# 2026-11-30, third session, call 3 (1×H200): narrow forward tiles (value-dim tile 16/32, one warpgroup, no split or
# 2-4 segments) at 16K/64K against the long-sequence forward (e128, 8 warps, one-wave split), e16 at 1K/4K; then
# la2's perf rows 1K..16K with the new short-sequence entry (checked against float64, GPU time).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=g
start_watchdog "${WATCHDOG_S:-280}"
st tune-fwd-long 120 python3 tools/tune_la2.py --out "$W/tune-fwd-long" --workers 8 \
  --shapes 2x16x16384x128,2x16x65536x128 --splits 1,2,4 --fwd-cands 1,3,12,14,15 --bwd-cands none
st tune-fwd-short 60 python3 tools/tune_la2.py --out "$W/tune-fwd-short" --workers 8 \
  --shapes 2x16x1024x128,2x16x4096x128 --splits 1 --fwd-cands 12,14,15 --bwd-cands none
st perf-la2 70 python3 -m lightning_bench sweep --preset perf --seq-len 1024,2048,4096,8192,16384 --providers la2 \
  --energy-window 0 --no-plots --out "$W/perf-la2"
stop_watchdog
cat "$L/steps.txt"
