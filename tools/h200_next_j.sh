#!/usr/bin/env bash
# 2026-11-30 (7th session) call 1 (1×H200, ~3 min): i2 (knob tests + the 'prepass' grid) plus the 7 GPU tests of
# test_kernels the v8-final run did not reach (ids in tools/rest7-ids.txt).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=j
start_watchdog "${WATCHDOG_S:-290}"
st pytest-knobs 60 python3 -m pytest -q -rf tests/test_gluon_fwd.py tests/test_seg_end.py -k "knobs or initial_state or segment_end" \
  -p no:cacheprovider
st prepass 120 python3 tools/tune_mr.py --grid prepass --out "$W/prepass"
st pytest-rest7 90 python3 -m pytest -q -rf $(cat tools/rest7-ids.txt) -p no:cacheprovider
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/pytest-knobs.log"
tail -n 3 "$L/pytest-rest7.log"
cut -c1-400 "$L/prepass.log"
