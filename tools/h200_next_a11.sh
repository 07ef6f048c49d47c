#!/usr/bin/env bash
# 14th session, call 2 (1×H200, ≤ 10 min, no wheels): (1) the GPU tests call 1 did not reach (STATE_FIRST backward,
# the compiled training step) and the new fresh-thread launch test (gluon_fwd.bind_context: call 1's tile_major A/B
# died in the autograd thread with "Failed to create tensor map descriptor: invalid device context");
# (2) TILE_MAJOR A/B at the two-tile and four-tile launches, two A B B A rounds.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a11
start_watchdog "${WATCHDOG_S:-580}"
st tests 260 python3 -m pytest -q -p no:cacheprovider tests/test_gluon_fwd.py \
  -k "without_a_cuda or STATE_FIRST or test_compiled_training_step or state_first"
st knob 240 python3 tools/tune_knob.py --knob tile_major --cases bh64 --repeat 2 --out "$W/tile-major"
stop_watchdog
cat "$L/steps.txt"
tail -n 5 "$L/tests.log" | cut -c1-300
grep -v "^ " "$L/knob.log" | cut -c1-250
