#!/usr/bin/env bash
# 2026-11-30, third session, call 1 (2×H200): the sp exchange kernels' first GPU run (check row first), their profile
# and the sp sweep; then side by side: GPU 0 the perf preset's b2 h16 rows 1K..16K with GPU time (host-decoupled, the
# preset's new default), GPU 1 the launch-parameter search with the device timer at short n and new forward
# candidates at 64K.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=e
start_watchdog "${WATCHDOG_S:-545}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
SP="python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-local 65536 --batch 1 --heads 16 --head-dim 128 \
  --dtype bf16 --decay alibi"
st sp-k10 110 $SP --timeout 100 --seq-len-total 32768,131072,262144 --check-seq-len 8192 --calls-per-sample 10 \
  --out "$W/sp-k10"
st sp-profile 50 torchrun --nproc-per-node 2 tools/profile_sp.py --seq-len-total 32768 --out "$W/sp-profile"
st sp-k1 80 $SP --timeout 75 --seq-len-total 32768,131072,262144 --check-seq-len 0 --calls-per-sample 1 \
  --out "$W/sp-k1"
( export CUDA_VISIBLE_DEVICES=1
  st tune-short 200 python3 tools/tune_la2.py --out "$W/tune-short" --workers 4 \
    --shapes 2x16x1024x128,2x16x2048x128,2x16x4096x128,2x16x8192x128,8x16x4096x64 --splits 1,2,4,8,16 \
    --fwd-cands 1,3,8,9,10,11 --bwd-cands 0,1,2,5
  st tune-long 90 python3 tools/tune_la2.py --out "$W/tune-long" --workers 4 --shapes 2x16x65536x128 --splits 4,8 \
    --fwd-cands 3,8,9,10,11 --bwd-cands none ) &
TUNE=$!
( export CUDA_VISIBLE_DEVICES=0
  st perf-short 280 python3 -m lightning_bench sweep --preset perf --seq-len 1024,2048,4096,8192,16384 \
    --energy-window 0.2 --no-plots --out "$W/perf-short" )
wait $TUNE
stop_watchdog
cat "$L/steps.txt"
