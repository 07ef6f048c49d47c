#!/usr/bin/env bash
# 27th session, call 1 (one H200, no wheels, ≤ 9.5 min): on the session's commit (1ceba02's `_early` helper and the
# TMA_PREFETCH probe's removal), `verify --only bf16`, the GPU tests of the early-stage flags and ablation knobs
# (f27's selection, owed by the 26th session's review edit), then the rest of the Gluon test file.
# Unpack into results/h200/tune/<date>/a28/.
set -u
PACK_NAME=a28
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv > "$W/gpu.csv" 2>&1
git rev-parse HEAD > "$W/commit.txt" 2>/dev/null
st verify 100 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
st tests_flags 110 python3 -m pytest -q -rf tests/test_gluon_fwd.py -p no:cacheprovider -k "early_stage or knob or ablation"
st tests_rest 320 python3 -m pytest -v -rf tests/test_gluon_fwd.py -p no:cacheprovider -k "not (early_stage or knob or ablation)"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/verify.log" | cut -c1-200
tail -n 2 "$L/tests_flags.log"
grep -c PASSED "$L/tests_rest.log"; grep -E "FAILED|ERROR" "$L/tests_rest.log" | head; tail -n 2 "$L/tests_rest.log"
