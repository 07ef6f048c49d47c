#!/usr/bin/env bash
# 12th session (1×H200, ~5 min, no wheels): the next block's diag(g) V ahead (Plan.vg_ahead) — GPU tests of the
# knobs (forward plans and the three backward passes), tools/tune_knob.py --knob vg_ahead (package plans with and
# without, A B B A), then the backward's dk, dv passes on side streams (tools/tune_bwd_streams.py).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b9
start_watchdog "${WATCHDOG_S:-480}"
st tests 220 python3 -m pytest -q tests/test_gluon_fwd.py -k "knobs or backward_matches"
st vg 100 python3 tools/tune_knob.py --knob vg_ahead --out "$W/vg"
st streams 120 python3 tools/tune_bwd_streams.py --out "$W/streams"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed|FAILED|Error|assert" "$L/tests.log" | cut -c1-250 | tail -n 8
cut -c1-250 "$L/vg.log" "$L/streams.log"
