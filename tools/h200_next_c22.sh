#!/usr/bin/env bash
# 22nd session, call 2 (1×H200, ≤ 9.5 min, no wheels): QK_ONE_FENCE adopted for one-warpgroup launches (perf-notes
# v24). The form-2 A/B where a22 did not look (e64 cases), QK_AHEAD with form 2 against the plain loop (default cases:
# is head_dim 64 still a loss?), the backward's GPU tests (defaults; QK_ONE_FENCE forced either way), the autograd
# dispatch, `verify --only bf16`, the gate preset against the committed baseline.
# Unpack c22.tar.gz into results/h200/tune/2026-12-01f/c22/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c22
start_watchdog "${WATCHDOG_S:-560}"
st knob_e64 70 python3 tools/tune_knob.py --knob qk_one_fence --cases e64 --out "$W/knob_e64"
st knob_qk1f 70 python3 tools/tune_knob.py --knob qk_ahead --set QK_ONE_FENCE=True --out "$W/knob_qk1f"
st tests 190 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "(gluon_backward_matches_reference and (defaults or QK_ONE_FENCE)) or dispatches_to_gluon"
st verify 100 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
st gate 50 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 40 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --rerun --rerun-out "$W/gate-rerun" --json "$W/gate.gate.json"
stop_watchdog
cat "$L/steps.txt"
grep -E "^(b[0-9]|  FAIL)" "$L/knob_e64.log" "$L/knob_qk1f.log" | cut -c1-200
tail -n 3 "$L/tests.log"
tail -n 4 "$L/verify.log" | cut -c1-200
tail -n 8 "$L/gate-vs-base.log" | cut -c1-200
