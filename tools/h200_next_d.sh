#!/usr/bin/env bash
# Device call D (2026-11-30, second session; one GPU): the gate's calibration with host-decoupled timing (the
# nvbench-style spin before each sample) and the both-sides --rerun; the GPU test of that timing mode first.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d
start_watchdog "${WATCHDOG_S:-400}"
export CUDA_VISIBLE_DEVICES=0
mkdir -p "$W/base-src" && cp -r lightning_bench "$W/base-src/"   # the baseline's code (same commit) for --rerun
st pytest-timing 60 python3 -m pytest -q -p no:cacheprovider tests/test_harness.py -k host_decoupled
G=$W/gate-calibration
S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --host-decoupled"
R="--normalize --rerun --rerun-baseline $W/base-src --rerun-rounds 2"
st gate-base4 50 $S --out "$G/base4"
st gate-aa4 50 $S --out "$G/aa4"
st gate-aa4-rerun 90 python3 -m lightning_bench gate --baseline "$G/base4" --candidate "$G/aa4" $R \
  --rerun-out "$G/aa4-rerun" --json "$G/aa4-rerun.gate.json"
st gate-planted-0.1 50 env LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 $S --out "$G/planted-0.1-hd"
st gate-planted-0.1-rerun 110 env LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 python3 -m lightning_bench gate \
  --baseline "$G/base4" --candidate "$G/planted-0.1-hd" $R --rerun-out "$G/planted-0.1-hd-rerun" \
  --json "$G/planted-0.1-hd-rerun.gate.json"
stop_watchdog
cat "$L/steps.txt"
grep -hE "^(REGRESSION|PASS)|passed|failed" "$L"/*.log | head -20
