#!/usr/bin/env bash
# 24th session, call 3 (one H200, no wheels, ≤ 6 min): the one-launch backward with one compute body for its three
# passes (BWD_X3_ONE_BODY, the new default; 3.0 K SASS instructions instead of 6.7 K): GPU tests (bitwise equal to
# the three launches, float64 reference, with and without it, CUDA graphs), A B B A timing against the per-pass copies
# (tools/tune_knob.py --knob bwd_x3_one_body --cases x3), and the stamp probe at 2K / 8K with it.
# Unpack into results/h200/tune/<date>/c24/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c24
start_watchdog "${WATCHDOG_S:-340}"
st tests 150 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "one_launch_backward_equals or (gluon_backward_matches_reference and (defaults or ONE_BODY)) or under_cuda_graph"
st knob 110 python3 tools/tune_knob.py --knob bwd_x3_one_body --cases x3 --repeat 2 --out "$W/knob"
st stamps 50 python3 tools/program_stamps.py --seq-lens 2048,8192 --repeat 3 --out "$W/stamps"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
grep -E "^(b[0-9]|  FAIL|    backward)" "$L/knob.log" | cut -c1-220
grep -E "^ *(2048|8192)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
