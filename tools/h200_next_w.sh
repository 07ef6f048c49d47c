#!/usr/bin/env bash
# Session 2026-11-30 (fifth), call 5 (2×H200): GPU 0 the whole perf preset with the Gluon forward and its report;
# GPU 1 the bf16 correctness matrix, a fresh gate baseline + an A/A gate against it, the Gluon-vs-Triton forward
# ablation (providers la2, la2_triton) on the perf shapes, then the GPU tests until the watchdog.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=w
start_watchdog "${WATCHDOG_S:-575}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
( export CUDA_VISIBLE_DEVICES=1
  G=$W/gate
  S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
  st verify-bf16 200 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify-bf16"
  st gate-base 80 $S --out "$G/base"
  st gate-aa 70 $S --out "$G/aa"
  st gate-aa-rerun 70 python3 -m lightning_bench gate --baseline "$G/base" --candidate "$G/aa" --rerun \
    --rerun-out "$G/aa-rerun" --json "$G/aa-rerun.gate.json"
  st ablation 110 python3 -m lightning_bench sweep --preset perf --providers la2,la2_triton --mode fwd --no-plots \
    --quiet --out "$W/ablation"
  st pytest-gpu 200 python3 -m pytest -q -rf tests/test_gluon_fwd.py tests/test_kernels.py tests/test_kernel_states.py \
    -p no:cacheprovider --junitxml="$W/pytest-gpu.xml" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st perf 540 python3 -m lightning_bench sweep --preset perf --out "$W/perf"
st perf-report 25 python3 -m lightning_bench report "$W/perf"
wait $T1
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/verify-bf16.log" "$L/gate-aa-rerun.log" "$L/pytest-gpu.log"
