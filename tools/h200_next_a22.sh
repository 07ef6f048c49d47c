#!/usr/bin/env bash
# Next session, call 1 (one H200, no wheels, ≤ 5 min; the bitwise GPU tests of the QK forms first; written in the 21st, which had no device time left): perf-notes v23 lead 2 —
# QK_ONE_FENCE (o staged with the state copy under one fence) against the adopted QK_AHEAD form, default cases (the
# tool checks o against the Triton forward and the gradients against the first run's). Unpack into
# results/h200/tune/<date>/a22/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a22
start_watchdog "${WATCHDOG_S:-300}"
st tests 150 python3 -m pytest -q -x tests/test_gluon_fwd.py -p no:cacheprovider -k "qk_ahead_is_bitwise"
st knob 120 python3 tools/tune_knob.py --knob qk_one_fence --out "$W/knob"
stop_watchdog
cat "$L/steps.txt"
tail -n 5 "$L/tests.log"
grep -E "^(b[0-9]|  FAIL)" "$L/knob.log" | cut -c1-150
