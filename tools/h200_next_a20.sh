#!/usr/bin/env bash
# 20th session, call 1 (one H200, no wheels, ≤ ~6 min): perf-notes v22 — the fused dk, dv kernel. Its GPU tests
# against float64 and the two passes (NaN-poisoned), then the probe against the passes at 32–256 batch·heads.
# Unpack a20.tar.gz into results/h200/tune/2026-12-01d/a20/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a20
start_watchdog "${WATCHDOG_S:-420}"
st tests 180 python3 -m pytest -q -x tests/test_gluon_fwd.py -p no:cacheprovider -k "fused_dkdv"
st probe 200 python3 tools/probe_dkdv.py --out "$W/probe"
stop_watchdog
cat "$L/steps.txt"
tail -n 25 "$L/tests.log"
grep -E "^(b[0-9]|check)" "$L/probe.log" | cut -c1-300
tail -n 5 "$L/probe.log"
