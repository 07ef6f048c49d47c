#!/usr/bin/env bash
# 2026-11-30, third session, call 6 (2×H200): GPU 0 the three softmax rows the perf run's time limit cut
# (b8 h16 d64 n65536: FA2 fwd_bwd, cuDNN fwd and fwd_bwd), resumed into the committed run; GPU 1 more fused-backward
# tiles at short sequences (the fwd_bwd rows at 2K-8K).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=j
start_watchdog "${WATCHDOG_S:-200}"
( export CUDA_VISIBLE_DEVICES=1
  st tune-bwd-short 150 python3 tools/tune_la2.py --out "$W/tune-bwd-short" --workers 8 \
    --shapes 2x16x2048x128,2x16x4096x128,2x16x8192x128 --splits 1 --fwd-cands none --bwd-cands 8,12,13,14,15,16 ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st perf-resume 150 python3 -m lightning_bench sweep --resume results/h200/perf-v6 --providers flash_attn2,sdpa_cudnn \
  --batch 8 --head-dim 64 --seq-len 65536 --no-plots
mkdir -p "$W/perf-v6" && cp results/h200/perf-v6/rows.csv results/h200/perf-v6/samples.jsonl "$W/perf-v6/"
wait $T1
stop_watchdog
cat "$L/steps.txt"
