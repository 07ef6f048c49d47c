#!/usr/bin/env bash
# 15th session, call 3 (1 GPU, ≤ 3 min, no wheels): the first-backward test with the three passes run on the main
# thread first (so no kernel load binds the backward thread's context), then its negative control: the same script
# with gluon_fwd.bind_context made a no-op must fail ("invalid device context"). It passed on the H200 (2026-12-01):
# see the test's docstring. (Ran with the script's text cut out of the test; now tests/gpu_first_backward.py.)
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c14
start_watchdog "${WATCHDOG_S:-170}"
export CUDA_VISIBLE_DEVICES=0
st test 90 python3 -m pytest -q -p no:cacheprovider tests/test_gluon_fwd.py -k "first_backward_of_a_process"
st probe-noop 60 python3 tests/gpu_first_backward.py --no-bind-context
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed" "$L/test.log" | cut -c1-300
grep -E "^ok|Error" "$L/probe-noop.log" | tail -n 3 | cut -c1-300
