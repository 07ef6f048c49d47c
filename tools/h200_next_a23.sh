#!/usr/bin/env bash
# Next session, call 1 (one H200, no wheels, ≤ 4 min; written in the 22nd, which had no device time left):
# the backward GPU tests added after the 22nd's last call (WG2_SPLIT_MIN=16384 with BWD_STREAMS=False: the wg2 lookback
# passes one by one, 7 shapes), then perf-notes v24 lead 2: b2 h16 from 16K with the e64 2-way split from
# LONG_SPLIT_MIN (48K) against the unsplit e32 launch at every length (tools/tune_knob.py --knob long_split_min).
# Unpack into results/h200/tune/<date>/a23/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a23
start_watchdog "${WATCHDOG_S:-230}"
st tests 130 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "gluon_backward_matches_reference and WG2_SPLIT_MIN"
st knob 90 python3 tools/tune_knob.py --knob long_split_min --values 49152,1000000000 --cases long --out "$W/knob"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
grep -E "^(b[0-9]|  FAIL)" "$L/knob.log" | cut -c1-200
