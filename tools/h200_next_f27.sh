#!/usr/bin/env bash
# 26th session, call 6 (one H200, no wheels, ≤ 4 min): on the session's final commit, `verify --only bf16` (the
# correctness matrix of our kernels against float64) and the GPU tests of the early-stage flags and ablation knobs.
# Unpack into results/h200/tune/<date>/f27/.
set -u
PACK_NAME=f27
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-230}"
st verify 100 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
st tests 110 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "early_stage or knob or ablation"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/verify.log" | cut -c1-200
tail -n 2 "$L/tests.log"
