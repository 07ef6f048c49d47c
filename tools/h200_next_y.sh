#!/usr/bin/env bash
# Session 2026-11-30 (fifth), call 7 (2×H200), final kernels (warp-specialized Gluon forward by default):
# GPU 0 the perf preset's shapes for la2, la2_triton, fla and the OpenNLPLab reference (fwd and fwd_bwd; the SDPA
# providers, far behind since v5, left out to fit the device time) and its report;
# GPU 1 the bf16 correctness matrix, the Gluon GPU tests, a fresh gate baseline and an A/A gate against it.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=y
start_watchdog "${WATCHDOG_S:-400}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
( export CUDA_VISIBLE_DEVICES=1
  G=$W/gate
  S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
  st verify-bf16 120 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify-bf16"
  st pytest-gluon 90 python3 -m pytest -q -rf tests/test_gluon_fwd.py tests/test_profile.py -p no:cacheprovider
  st gate-base 60 $S --out "$G/base"
  st gate-aa 50 $S --out "$G/aa"
  st gate-aa-rerun 50 python3 -m lightning_bench gate --baseline "$G/base" --candidate "$G/aa" --rerun \
    --rerun-out "$G/aa-rerun" --json "$G/aa-rerun.gate.json" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st perf 360 python3 -m lightning_bench sweep --preset perf --providers la2,la2_triton,fla,la2_reference \
  --out "$W/perf"
st perf-report 20 python3 -m lightning_bench report "$W/perf"
wait $T1
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/verify-bf16.log" "$L/gate-aa-rerun.log" "$L/pytest-gluon.log"
