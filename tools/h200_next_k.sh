#!/usr/bin/env bash
# 2026-11-30, third session, call 7 (2×H200): the fp16/fp32 correctness matrix with the short-sequence entry and the
# fused backward (GPU 1), the kernel tests on the GPU (GPU 0) until the watchdog.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=k
start_watchdog "${WATCHDOG_S:-230}"
( export CUDA_VISIBLE_DEVICES=1
  st verify-fp 200 python3 -m lightning_bench verify --only 'fp16|fp32' --fla none --out "$W/verify-fp-v6" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st pytest-gpu 210 python3 -m pytest -q -rf tests/test_kernels.py -p no:cacheprovider --junitxml="$W/pytest-gpu.xml"
wait $T1
stop_watchdog
cat "$L/steps.txt"
