#!/usr/bin/env bash
# Next session, call 1 (one H200, no wheels, ≤ 9 min; written in the 22nd, which had no device time left):
# the backward GPU tests added after the 22nd's last call (WG2_SPLIT_MIN=16384 with BWD_STREAMS=False: the wg2 lookback
# passes one by one; BWD_X3_TILE=32: the side-by-side passes as one-warpgroup e32 programs; 7 shapes each), then
# perf-notes v24 lead 2: b2 h16 from 16K with the e64 2-way split from LONG_SPLIT_MIN (48K) against the unsplit e32 launch at every length (tools/tune_knob.py --knob long_split_min), and
# lead 1: the side-by-side backward's wg2 programs against one-warpgroup e32 / e64 programs with the one-fence loop
# (--knob bwd_x3_tile; a first call of a new kernel form compiles ~20 s).
# Unpack into results/h200/tune/<date>/a23/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a23
start_watchdog "${WATCHDOG_S:-520}"
st tests 220 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "gluon_backward_matches_reference and (WG2_SPLIT_MIN or BWD_X3_TILE)"
st knob 90 python3 tools/tune_knob.py --knob long_split_min --values 49152,1000000000 --cases long --out "$W/knob"
st x3_e32 80 python3 tools/tune_knob.py --knob bwd_x3_tile --values None,32 --cases x3 --out "$W/x3_e32"
st x3_e64 80 python3 tools/tune_knob.py --knob bwd_x3_tile --values None,64 --cases x3 --out "$W/x3_e64"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
grep -E "^(b[0-9]|  FAIL)" "$L/knob.log" "$L/x3_e32.log" "$L/x3_e64.log" | cut -c1-220
