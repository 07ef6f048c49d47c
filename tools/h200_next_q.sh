#!/usr/bin/env bash
# 2026-11-30, fourth session, call 6 (2×H200): GPU 0 the whole perf preset on the final kernels and its report;
# GPU 1 the bf16 correctness matrix, then the kernel tests on the GPU until the watchdog.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=q
start_watchdog "${WATCHDOG_S:-575}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
( export CUDA_VISIBLE_DEVICES=1
  st verify-bf16 200 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify-bf16"
  st pytest-gpu 280 python3 -m pytest -q -rf tests/test_kernels.py tests/test_tuning.py tests/test_kernel_states.py \
    -p no:cacheprovider --junitxml="$W/pytest-gpu.xml" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st perf 540 python3 -m lightning_bench sweep --preset perf --out "$W/perf"
st perf-report 25 python3 -m lightning_bench report "$W/perf"
wait $T1
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/verify-bf16.log" "$L/pytest-gpu.log"
