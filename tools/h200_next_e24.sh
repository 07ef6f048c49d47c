#!/usr/bin/env bash
# 24th session, call 5 (one H200, no wheels, ≤ 5 min): the one-launch backward's code forms (gluon_fwd.x3_body):
# form 2 (the decay factors once for the three passes, then a copy per pass: 5.3 K SASS instructions, the per-pass
# loops' schedule) — GPU tests (bitwise equal to the three launches), the stamp probe at 2K, and A B B A timing against
# form 0 (a copy per pass, v25) and form 1 (one body). Unpack into results/h200/tune/<date>/e24/.
# Ran at commit e143691; the next commit dropped form 2 and the valued knob bwd_x3_body (now the boolean
# bwd_x3_one_body), so this script no longer runs as written.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=e24
start_watchdog "${WATCHDOG_S:-280}"
st tests 80 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "one_launch_backward_equals and shared-decay"
st stamps 30 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --set BWD_X3_BODY=2 --out "$W/stamps"
st k02 70 python3 tools/tune_knob.py --knob bwd_x3_body --values 0,2 --cases x3 --repeat 3 --out "$W/k02"
st k12 60 python3 tools/tune_knob.py --knob bwd_x3_body --values 1,2 --cases x3 --repeat 2 --out "$W/k12"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/tests.log"
grep -E "^ *(2048)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
grep -E "^(b[0-9]|  FAIL)" "$L/k02.log" "$L/k12.log" | cut -c1-200
