#!/usr/bin/env bash
# 19th session, call 6 (one H200, no wheels, ≤ ~4 min): perf-notes v21 lead 2 — the one launch with a head's three
# passes adjacent in the grid (BWD_PASS_INNER) against the default order: the bitwise tests in both orders, then the
# launch probe. Unpack f19.tar.gz into results/h200/tune/2026-12-01c/f19/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=f19
start_watchdog "${WATCHDOG_S:-250}"
st tests 150 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "test_one_launch_backward_equals"
st probe 60 python3 tools/probe_bwd_launches.py --out "$W/probe" --cases "2x16:1024,2048,8192,32768;1x16:2048,8192"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/tests.log"
grep -E "^b[0-9]" "$L/probe.log" | cut -c1-300
