#!/usr/bin/env bash
# 12th session (1×H200, ~6 min, no wheels): the defaults of this commit (the backward's dk, dv passes on side streams;
# diag(g) V ahead on one-warpgroup e64 launches at head_dim 128) — GPU tests (every backward shape with the defaults,
# with vg_ahead forced on and off, on one stream), vg_ahead A/B where the rule applies (two A B B A rounds), the
# streams A/B with host time per call, then the gate against results/baselines/nvidia-h200.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b10
start_watchdog "${WATCHDOG_S:-500}"
st tests 230 python3 -m pytest -q tests/test_gluon_fwd.py -k "(backward_matches and not knob1) or (knobs and vg)"
st vg 110 python3 tools/tune_knob.py --knob vg_ahead --cases e64 --repeat 2 --out "$W/vg"
st streams 80 python3 tools/tune_bwd_streams.py --out "$W/streams"
st gate 60 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 30 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed|FAILED|Error|assert" "$L/tests.log" | cut -c1-250 | tail -n 8
cut -c1-250 "$L/vg.log" "$L/streams.log"
tail -n 6 "$L/gate-vs-base.log" | cut -c1-200
