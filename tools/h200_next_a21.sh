#!/usr/bin/env bash
# 21st session, call 1 (one H200, no wheels, ≤ ~9 min): perf-notes v23 — QK_AHEAD (the next block's Q Kᵀ issued
# ahead). Its GPU tests (bitwise against the plain loop, float64, the backward with the knob forced), then the knob
# A/B in the package's own plans (tools/tune_knob.py: default cases, then e64).
# Unpack a21.tar.gz into results/h200/tune/2026-12-01e/a21/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a21
start_watchdog "${WATCHDOG_S:-550}"
st tests 200 python3 -m pytest -q -x tests/test_gluon_fwd.py -p no:cacheprovider -k "qk_ahead or QK_AHEAD"
st knob 200 python3 tools/tune_knob.py --knob qk_ahead --out "$W/knob"
st knob_e64 140 python3 tools/tune_knob.py --knob qk_ahead --cases e64 --out "$W/knob_e64"
stop_watchdog
cat "$L/steps.txt"
tail -n 12 "$L/tests.log"
grep -E "^(b[0-9]|  FAIL)" "$L/knob.log" "$L/knob_e64.log" | cut -c1-250
