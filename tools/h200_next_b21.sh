#!/usr/bin/env bash
# 21st session, call 2 (one H200, no wheels, ≤ ~7 min): perf-notes v23 — QK_AHEAD's late form (the next Q Kᵀ after
# the ring stage's release). GPU tests (bitwise, the backward with the late form), then late vs off, late vs early.
# Unpack b21.tar.gz into results/h200/tune/2026-12-01e/b21/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b21
start_watchdog "${WATCHDOG_S:-480}"
st tests 200 python3 -m pytest -q -x tests/test_gluon_fwd.py -p no:cacheprovider -k "qk_ahead or QK_LATE"
st late 120 python3 tools/tune_knob.py --knob qk_ahead --set QK_LATE=True --out "$W/late"
st late_vs_early 120 python3 tools/tune_knob.py --knob qk_late --set QK_AHEAD=True --out "$W/late_vs_early"
st late_e64 100 python3 tools/tune_knob.py --knob qk_ahead --set QK_LATE=True --cases e64 --out "$W/late_e64"
stop_watchdog
cat "$L/steps.txt"
tail -n 6 "$L/tests.log"
grep -E "^(b[0-9]|  FAIL)" "$L/late.log" "$L/late_vs_early.log" "$L/late_e64.log" | sed 's@.*logs/@@' | cut -c1-200
