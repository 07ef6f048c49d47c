#!/usr/bin/env bash
# 23rd session, call 3 (one H200, no wheels, ≤ 9 min): programmatic dependent launch (gluon_fwd.PDL, perf-notes v25).
# First its GPU tests (inputs written by the kernel right before each launch; the backward tests with PDL off and on;
# the CUDA-graph captures), then the fixed-cost split of the short rows with PDL on and off (tools/short_overhead.py),
# then the A/B in the package's plans (tools/tune_knob.py --knob pdl: default cases and the one-launch backward).
# Unpack into results/h200/tune/<date>/b23/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b23
start_watchdog "${WATCHDOG_S:-520}"
st tests 200 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "pdl or (gluon_backward_matches_reference and defaults) or cuda_graph"
st so_on 60 python3 tools/short_overhead.py --out "$W/so_on"
st so_off 60 python3 tools/short_overhead.py --set PDL=False --out "$W/so_off"
st knob 150 python3 tools/tune_knob.py --knob pdl --out "$W/knob"
st x3 60 python3 tools/tune_knob.py --knob pdl --cases x3 --out "$W/x3"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/tests.log"
grep -E "^(la2|floor|fit|timer)" "$L/so_on.log" "$L/so_off.log" | cut -c1-200
grep -E "^(b[0-9]|  FAIL)" "$L/knob.log" "$L/x3.log" | cut -c1-200
