#!/usr/bin/env bash
# Next session, first call (1×H200, ≤ 9.5 min, wheel prefix, carry .whl; export LIGHTNING_BENCH_GIT_COMMIT=<hash> as a
# literal): what the ninth session could not run after its last changes — the GPU tests of the final backward rule
# (≤ 1024 tokens fused Triton, la2_triton's backward Triton, the d64 case), one perf-preset run whose la2 fwd_bwd
# column is the Gluon backward next to fla and the OpenNLPLab reference, and the gate against the v12 baseline.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=g3
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tests 120 python3 -m pytest -q tests/test_gluon_fwd.py -k "backward or stays_triton or reverse"
st gate 60 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 40 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
st perf 320 python3 -m lightning_bench sweep --preset perf --providers la2,fla,la2_reference --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log" | cut -c1-250
tail -n 6 "$L/gate-vs-base.log" | cut -c1-200
tail -n 40 "$L/perf.log" | cut -c1-200
