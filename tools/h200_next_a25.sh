#!/usr/bin/env bash
# Next session, call 1 (one H200, no wheels, ≤ 5 min; written in the 24th after its device time was spent): the
# backward GPU tests on the final v26 code (the side-by-side passes through autograd at 6 shapes, whose row
# description now names the one launch's code form; the one launch bitwise against the three launches, one body and
# the dk, dv body of BWD_X3_DKDV_BODY), then the gate
# preset against the committed baseline. Unpack into results/h200/perf-v25/gate/ (gate-vs-base.log, gate.gate.json
# beside it).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK_NAME:-a25}
start_watchdog "${WATCHDOG_S:-270}"
st tests 150 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "concurrent_backward_matches_reference or (one_launch_backward_equals and pass-outer and not per-pass)"
st gate 75 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 25 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/tests.log"
tail -n 4 "$L/gate-vs-base.log" | cut -c1-200
