#!/usr/bin/env bash
# Next session, call 2 (one H200, no wheels, ≤ 4 min; written in the 25th, CPU-verified only): perf-notes v27 lead 2 —
# WG2_EARLY_STAGE (the first ring stage issued before the partitions start, as WS_EARLY_STAGE does for the ws
# forward, for the wg2 forward without lookback and the one-launch backward). Its GPU tests (bitwise against the
# loader-issued launches: the wg2 forward forms, the one launch's one-out-early form), the 5 side-by-side autograd
# tests j26 did not reach, the stamp probe at 2K (does the one launch's stage 0 land sooner than 3.07 µs?), then
# A B B A at the x3 cases. Unpack into results/h200/tune/<date>/b27/.
set -u
PACK_NAME=b27
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-230}"
st tests 110 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "(early_stage_is_bitwise and wg2) or (one_launch_backward_equals and pass-outer and one-out-early) or concurrent_backward_matches_reference"
st stamps 30 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --set WG2_EARLY_STAGE=True --out "$W/stamps"
st k_early 80 python3 tools/tune_knob.py --knob wg2_early_stage --cases x3 --repeat 2 --out "$W/k_early"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/tests.log"
grep -E "^ *(2048)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
grep -E "^(b[0-9]|  FAIL)" "$L/k_early.log" | cut -c1-170
