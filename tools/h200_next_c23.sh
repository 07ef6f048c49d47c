#!/usr/bin/env bash
# 23rd session, call 4 (one H200, no wheels, ≤ 5 min): per-program stamps of the short launches (perf-notes v25 lead 1;
# tools/program_stamps.py), then the default backward and PDL GPU tests on this code. Unpack into
# results/h200/tune/<date>/c23/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c23
start_watchdog "${WATCHDOG_S:-280}"
st stamps 120 python3 tools/program_stamps.py --out "$W/stamps"
st tests 120 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "pdl_launches or (gluon_backward_matches_reference and defaults)"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/tests.log"
tail -n 25 "$L/stamps.log" | cut -c1-220
