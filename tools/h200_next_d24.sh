#!/usr/bin/env bash
# 24th session, call 4 (one H200, no wheels, ≤ 5 min): BWD_X3_ONE_BODY, the rest of its GPU tests (the one launch
# bitwise equal to the three launches, 7 shapes × grid orders) and where its 5 µs shorter ramp goes in the sweep's
# timer: tools/short_overhead.py (event time, each kernel's duration) with and without it at 1K–8K, la2 fwd_bwd; then
# the A B B A timing again with 4 rounds (noise). Unpack into results/h200/tune/<date>/d24/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d24
start_watchdog "${WATCHDOG_S:-290}"
st tests 110 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "one_launch_backward_equals and one-body"
st so_on 40 python3 tools/short_overhead.py --providers la2 --modes fwd_bwd --seq-lens 1024,2048,4096,8192 --out "$W/so_on"
st so_off 40 python3 tools/short_overhead.py --providers la2 --modes fwd_bwd --seq-lens 1024,2048,4096,8192 \
  --set BWD_X3_ONE_BODY=False --out "$W/so_off"
st knob 80 python3 tools/tune_knob.py --knob bwd_x3_one_body --cases x3 --repeat 4 --out "$W/knob"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/tests.log"
tail -n 12 "$L/so_on.log" | cut -c1-220
tail -n 12 "$L/so_off.log" | cut -c1-220
grep -E "^(b[0-9]|  FAIL)" "$L/knob.log" | cut -c1-200
