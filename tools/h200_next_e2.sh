#!/usr/bin/env bash
# Session 2026-11-30 (sixth), call 5 (2×H200): GPU 0 the whole perf preset (every provider) on the final kernels and
# its report; GPU 1 a fresh gate baseline + A/A gate (the d64 split → Triton rule never ran in a gate sweep), the
# fp16/fp32 correctness matrix (not re-run since v6), then the kernel tests on the GPU until the watchdog.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=e2
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
( export CUDA_VISIBLE_DEVICES=1
  G=$W/gate
  S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
  st gate-base 60 $S --out "$G/base"
  st gate-aa 50 $S --out "$G/aa"
  st gate-aa-rerun 50 python3 -m lightning_bench gate --baseline "$G/base" --candidate "$G/aa" --rerun \
    --rerun-out "$G/aa-rerun" --json "$G/aa-rerun.gate.json"
  st verify-fp16-fp32 170 python3 -m lightning_bench verify --only 'fp16|fp32' --fla none --out "$W/verify-fp16-fp32"
  st pytest-gpu 200 python3 -m pytest -q -rf tests/test_kernels.py tests/test_gluon_fwd.py \
    -p no:cacheprovider --junitxml="$W/pytest-gpu.xml" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st perf 530 python3 -m lightning_bench sweep --preset perf --out "$W/perf"
st perf-report 25 python3 -m lightning_bench report "$W/perf"
wait $T1
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/gate-aa-rerun.log" "$L/verify-fp16-fp32.log" "$L/pytest-gpu.log"
