#!/usr/bin/env bash
# 2026-11-30, third session, call 5 (2×H200): GPU 0 the whole perf preset (GPU time, all providers, with plots and
# the report); GPU 1 the bf16 correctness matrix (verify), a fresh gate baseline and an A/A gate against it
# (host-decoupled, both-sides rerun), then the kernel tests on the GPU until the watchdog.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=i
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
( export CUDA_VISIBLE_DEVICES=1
  G=$W/gate
  S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
  st verify-bf16 200 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify-bf16"
  st gate-base 60 $S --out "$G/base"
  st gate-aa 60 $S --out "$G/aa"
  st gate-aa-rerun 90 python3 -m lightning_bench gate --baseline "$G/base" --candidate "$G/aa" --rerun \
    --rerun-out "$G/aa-rerun" --json "$G/aa-rerun.gate.json"
  st pytest-gpu 150 python3 -m pytest -q tests/test_kernels.py -p no:cacheprovider ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st perf 470 python3 -m lightning_bench sweep --preset perf --out "$W/perf"
st perf-report 40 python3 -m lightning_bench report "$W/perf"
wait $T1
stop_watchdog
cat "$L/steps.txt"
