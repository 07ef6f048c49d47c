#!/usr/bin/env bash
# 12th session (1×H200, ~4 min, no wheels): o stored from registers (Plan.o_direct) — GPU tests of the knob (forward
# plans and the three backward passes), then tools/tune_od.py, since renamed tools/tune_knob.py --knob o_direct (package plans with and without it, A B B A).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b8
start_watchdog "${WATCHDOG_S:-420}"
st tests 200 python3 -m pytest -q -x tests/test_gluon_fwd.py -k "knobs or backward_matches or o_direct"
st od 200 python3 tools/tune_knob.py --knob o_direct --out "$W/od"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed|FAILED|Error|assert" "$L/tests.log" | cut -c1-250 | tail -n 8
cut -c1-250 "$L/od.log"
