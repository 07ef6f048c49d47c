#!/usr/bin/env bash
# 26th session, call 2 (one H200, no wheels, ≤ 6 min): the gate preset on 291ebf9 against the committed baseline
# (perf-v27's gate), then tools/h200_next_b27.sh's steps (WG2_EARLY_STAGE tests/stamps/A-B, the 5 autograd tests).
# Unpack: gate files into results/h200/perf-v27/gate/, the rest into results/h200/tune/<date>/a27/.
set -u
PACK_NAME=a27b
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-340}"
st gate 75 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 25 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
st tests 110 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "(early_stage_is_bitwise and wg2) or (one_launch_backward_equals and pass-outer and one-out-early) or concurrent_backward_matches_reference"
st stamps 30 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --set WG2_EARLY_STAGE=True --out "$W/stamps"
st k_early 80 python3 tools/tune_knob.py --knob wg2_early_stage --cases x3 --repeat 2 --out "$W/k_early"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/gate-vs-base.log" | cut -c1-200
tail -n 2 "$L/tests.log"
grep -E "^ *(2048)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
grep -E "^(b[0-9]|  FAIL)" "$L/k_early.log" | cut -c1-170
