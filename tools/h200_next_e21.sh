#!/usr/bin/env bash
# 21st session, call 5 (1×H200, ≤ 5 min, no wheels): on the final v23 code, `verify --only bf16`, the GPU tests of the
# backward's defaults and the autograd dispatch, the gate preset against the committed baseline.
# Unpack e21.tar.gz into results/h200/tune/2026-12-01e/e21/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=e21
start_watchdog "${WATCHDOG_S:-290}"
st verify 100 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
st gate 50 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 40 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --rerun --rerun-out "$W/gate-rerun" --json "$W/gate.gate.json"
st tests 80 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "(gluon_backward_matches_reference and defaults) or dispatches_to_gluon"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/verify.log" | cut -c1-200
tail -n 8 "$L/gate-vs-base.log" | cut -c1-200
tail -n 3 "$L/tests.log"
