#!/usr/bin/env bash
# 19th session, call 7 (one H200, no wheels, ≤ ~4 min): the public API on the final code — `verify --only bf16`
# (every bf16 case against float64, now with the one-launch backward at ≤ 1024 tokens where it applies), then the GPU
# tests of tests/test_kernels.py. Unpack g19.tar.gz into results/h200/tune/2026-12-01c/g19/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=g19
start_watchdog "${WATCHDOG_S:-230}"
st verify 120 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
st tests 90 python3 -m pytest -q -x tests/test_kernels.py -p no:cacheprovider
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/verify.log" | cut -c1-200
tail -n 2 "$L/tests.log"
