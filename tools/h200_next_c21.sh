#!/usr/bin/env bash
# 21st session, call 3 (one H200, no wheels, ≤ ~6 min): perf-notes v23 — QK_AHEAD without the peeled last block
# (a spare Q Kᵀ on the last block's own stage; the loop's code no longer doubles). GPU tests (bitwise against the
# plain loop, the backward with the knob forced), then the knob A/B: default, e64 and bh64 cases.
# Unpack c21.tar.gz into results/h200/tune/2026-12-01e/c21/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c21
start_watchdog "${WATCHDOG_S:-440}"
st tests 170 python3 -m pytest -q -x tests/test_gluon_fwd.py -p no:cacheprovider -k "qk_ahead or QK_AHEAD"
st knob 90 python3 tools/tune_knob.py --knob qk_ahead --out "$W/knob"
st knob_e64 80 python3 tools/tune_knob.py --knob qk_ahead --cases e64 --out "$W/knob_e64"
st knob_bh64 80 python3 tools/tune_knob.py --knob qk_ahead --cases bh64 --out "$W/knob_bh64"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
grep -E "^(b[0-9]|  FAIL)" "$L/knob.log" "$L/knob_e64.log" "$L/knob_bh64.log" | sed 's@.*logs/@@' | cut -c1-150
