#!/usr/bin/env bash
# 14th session, call 5 (1×H200, ≤ 7 min, no wheels): the v17 defaults (TILE_MAJOR on, bind_context) under the whole
# Gluon GPU test file and the bf16 correctness matrix.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a12
start_watchdog "${WATCHDOG_S:-400}"
st verify 110 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
st tests 270 python3 -m pytest -q -p no:cacheprovider -x tests/test_gluon_fwd.py
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/verify.log" | cut -c1-200
tail -n 4 "$L/tests.log" | cut -c1-300
