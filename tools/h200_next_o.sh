#!/usr/bin/env bash
# 2026-11-30, fourth session, call 4 (2×H200): GPU 0 the whole perf preset (GPU time, all providers) and its report;
# GPU 1 the long forward old vs new (after the register fix), the bf16 correctness matrix, a fresh gate baseline
# and an A/A gate against it, then kernel tests on the GPU until the watchdog.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=o
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
( export CUDA_VISIBLE_DEVICES=1
  G=$W/gate
  S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
  st long-old-new 60 python3 tools/variants_fwd.py --out "$W/long-old-new" --variants old,base --passes fwd \
    --configs table --short "" --long 16384,65536,131072
  st verify-bf16 200 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify-bf16"
  st gate-base 60 $S --out "$G/base"
  st gate-aa 60 $S --out "$G/aa"
  st gate-aa-rerun 90 python3 -m lightning_bench gate --baseline "$G/base" --candidate "$G/aa" --rerun \
    --rerun-out "$G/aa-rerun" --json "$G/aa-rerun.gate.json"
  st pytest-gpu 150 python3 -m pytest -q -rf tests/test_kernel_states.py tests/test_kernels.py -p no:cacheprovider \
    --junitxml="$W/pytest-gpu.xml" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st perf 480 python3 -m lightning_bench sweep --preset perf --out "$W/perf"
st perf-report 40 python3 -m lightning_bench report "$W/perf"
wait $T1
stop_watchdog
cat "$L/steps.txt"
grep -h "M tok/s" "$L/long-old-new.log"
tail -n 3 "$L/verify-bf16.log" "$L/gate-aa-rerun.log" "$L/pytest-gpu.log"
