#!/usr/bin/env bash
# 7th session (2026-11-30), call 3 (2×H200): GPU 0 the whole perf preset (every provider) with the e64 2-way long
# split (gluon_fwd.choose from 49152 tokens) and its report; GPU 1 the new plan's GPU test, a fresh gate baseline,
# the old baseline against it, an A/A gate, the bf16 correctness matrix, then the fp32 rows of verify.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=l2
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
( export CUDA_VISIBLE_DEVICES=1
  G=$W/gate
  S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
  st pytest-long 60 python3 -m pytest -q -rf tests/test_gluon_fwd.py -k "long_sequence_plan" -p no:cacheprovider
  st gate-base 60 $S --out "$G/base"
  st gate-old-vs-new 20 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$G/base" \
    --json "$G/old-vs-new.gate.json"
  st gate-aa 50 $S --out "$G/aa"
  st gate-aa-rerun 50 python3 -m lightning_bench gate --baseline "$G/base" --candidate "$G/aa" --rerun \
    --rerun-out "$G/aa-rerun" --json "$G/aa-rerun.gate.json"
  st verify-bf16 100 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify-bf16"
  st verify-fp32 190 python3 -m lightning_bench verify --only fp32 --fla none --out "$W/verify-fp32" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st perf 500 python3 -m lightning_bench sweep --preset perf --out "$W/perf"
st perf-report 25 python3 -m lightning_bench report "$W/perf"
wait $T1
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/pytest-long.log"
tail -n 12 "$L/gate-old-vs-new.log"
tail -n 3 "$L/gate-aa-rerun.log" "$L/verify-bf16.log" "$L/verify-fp32.log"
