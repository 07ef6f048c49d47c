#!/usr/bin/env bash
# Next session, call 2 (one H200, no wheels, ≤ 4 min; written in the 24th): perf-notes v26 lead 1 — does a code copy
# shared by more programs start sooner (A), or only code that follows the partition's entry (B)? The two-body form
# (BWD_X3_DKDV_BODY: dq's own copy, dk and dv in one reverse copy, 4.7 K SASS instructions) at every length with
# BWD_X3_ONE_BODY=False: the stamp probe at 2K (under A dk and dv reach their first block like the one body, ~3 µs;
# under B like their own copies, 7.9–8.7), then A B B A against a copy per pass and against the one body.
# Unpack into results/h200/tune/<date>/b25/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b25
start_watchdog "${WATCHDOG_S:-230}"
st stamps 40 python3 tools/program_stamps.py --seq-lens 2048,8192 --repeat 3 --set BWD_X3_ONE_BODY=False \
  --set BWD_X3_DKDV_BODY=True --out "$W/stamps"
st k_copies 80 python3 tools/tune_knob.py --knob bwd_x3_dkdv_body --set BWD_X3_ONE_BODY=False --cases x3 --repeat 3 \
  --out "$W/k_copies"
st k_one 70 python3 tools/tune_knob.py --knob bwd_x3_one_body --set BWD_X3_DKDV_BODY=True --cases x3 --repeat 2 \
  --out "$W/k_one"
stop_watchdog
cat "$L/steps.txt"
grep -E "^ *(2048|8192)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
grep -E "^(b[0-9]|  FAIL)" "$L/k_copies.log" "$L/k_one.log" | cut -c1-200
