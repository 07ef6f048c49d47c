#!/usr/bin/env bash
# Next session, call 1 (1×H200, ~2 min): value tile 64 + a 2/4-way split whose segment-end pre-pass is chunked
# (Plan.chunks; perf-notes v9 item 6: the e64 P2 main kernel is 1.43× faster than the e32 launch at 32K, its
# one-program-per-segment pre-pass ate the gain). GPU tests of the knobs first, then the grid (each row checked
# against the Triton forward before it is timed).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=i2
start_watchdog "${WATCHDOG_S:-200}"
st pytest-knobs 60 python3 -m pytest -q -rf tests/test_gluon_fwd.py tests/test_seg_end.py -k "knobs or initial_state or segment_end" \
  -p no:cacheprovider
st prepass 120 python3 tools/tune_mr.py --grid prepass --out "$W/prepass"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/pytest-knobs.log"
cut -c1-400 "$L/prepass.log"
