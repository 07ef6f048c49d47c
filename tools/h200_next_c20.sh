#!/usr/bin/env bash
# 20th session, call 3 (one H200, no wheels, ≤ ~6 min): the fused dk, dv kernel's lookback split with a split dq
# pass at once on two streams (gluon_fwd._backward_split) for few batch·heads: GPU tests, then the probe against
# the package's backward (the side-by-side passes in one launch) at b2 h16 (2 segments) and b1 h16 (4).
# Unpack c20.tar.gz into results/h200/tune/2026-12-01d/c20/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c20
start_watchdog "${WATCHDOG_S:-400}"
st tests 200 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "fused_dkdv or split_backward"
st probe2 90 python3 tools/probe_dkdv.py --out "$W/probe2" --split 2 --cases "2x16:1024,2048,8192,32768,131072"
st probe4 60 python3 tools/probe_dkdv.py --out "$W/probe4" --split 4 --cases "1x16:2048,8192,32768"
stop_watchdog
cat "$L/steps.txt"
tail -n 15 "$L/tests.log"
grep -hE "^(b[0-9]|check)" "$L/probe2.log" "$L/probe4.log" | cut -c1-400
tail -n 4 "$L/probe2.log"
