#!/usr/bin/env bash
# 9th session, call 6 (1×H200, ~3 min, last of the budget): the Gluon backward's final rule (Triton fused ≤ 1024
# tokens, la2_triton's backward Triton): GPU tests, then la2 alone over the perf and paper presets' shapes.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=f3
start_watchdog "${WATCHDOG_S:-170}"
st tests 75 python3 -m pytest -q tests/test_gluon_fwd.py -k "backward or stays_triton"
st perf 60 python3 -m lightning_bench sweep --preset perf --providers la2 --no-plots --out "$W/perf-la2"
st paper 30 python3 -m lightning_bench sweep --preset paper --providers la2 --host-decoupled --no-plots --out "$W/paper-la2"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log" | cut -c1-250
grep -E "^\s+la2" "$L/perf.log" "$L/paper.log" | cut -c1-160
