#!/usr/bin/env bash
# Session 25, call 3 (one H200, no wheels, ≤ 4 min): perf-notes v27 — the one body's stacked output
# (BWD_X3_ONE_OUT: dq, dk, dv views of one [3, …] buffer behind one TMA descriptor, the pass offsetting its rows instead
# of choosing one of three descriptors at run time). Bitwise test against the three launches (7 shapes), the stamp
# probe at 2K with and without it, A B B A against the one body with three descriptors.
# Unpack into results/h200/tune/2026-12-01i/a26/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a26
start_watchdog "${WATCHDOG_S:-230}"
st tests 110 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "one_launch_backward_equals and pass-outer and one-out"
st stamps 40 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --set BWD_X3_ONE_OUT=True --out "$W/stamps"
st k_out 70 python3 tools/tune_knob.py --knob bwd_x3_one_out --cases x3 --repeat 3 --out "$W/k_out"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/tests.log"
grep -E "^ *(2048)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
grep -E "^(b[0-9]|  FAIL)" "$L/k_out.log" | cut -c1-200
