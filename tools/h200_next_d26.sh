#!/usr/bin/env bash
# Session 25, call 6 (one H200, wheel prefix, carry .whl, ≤ 9.5 min): the v27 defaults (the one launch's one body with
# the stacked output at every length) — the backward GPU tests (the side-by-side passes through autograd at 6 shapes,
# whose row description now names the stacked output; the one launch bitwise against the three launches in the one-body
# and one-out forms), then the perf preset with fla, the OpenNLPLab reference and the byte floor.
# Unpack into results/h200/perf-v26/ (tests into results/h200/tune/2026-12-01i/d26/).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK_NAME:-d26}
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tests 110 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "concurrent_backward_matches_reference or (one_launch_backward_equals and pass-outer and one-)"
st perf 450 python3 -m lightning_bench sweep --preset perf --providers la2,fla,la2_reference,floor --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/tests.log"
tail -n 30 "$L/perf.log" | cut -c1-200
