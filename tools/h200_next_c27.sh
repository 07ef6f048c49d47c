#!/usr/bin/env bash
# 26th session, call 3 (one H200, wheel prefix, carry .whl, ≤ 9.5 min): the 6 side-by-side autograd tests the earlier
# calls did not reach (291ebf9's host-side edits), the tgs preset (la2 and the floor), then the paper preset with every
# provider the README table shows (finish with `sweep --resume` in the next call if the watchdog stops it).
# Unpack into results/h200/tune/<date>/c27/ (tests), results/h200/tgs-v27/, results/h200/paper-v27/.
set -u
PACK_NAME=c27
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-560}"
st tests 170 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider --durations=8 -k concurrent_backward_matches_reference
st tgs 80 python3 -m lightning_bench sweep --preset tgs --providers la2,floor --out "$W/tgs-v27"
st paper 540 python3 -m lightning_bench sweep --host-decoupled --preset paper --providers la2,fla,la2_reference,flash_attn2,sdpa_cudnn,floor --out "$W/paper-v27"
stop_watchdog
cat "$L/steps.txt"
tail -n 14 "$L/tests.log" | cut -c1-160
tail -n 5 "$L/tgs.log" | cut -c1-160
tail -n 5 "$L/paper.log" | cut -c1-160
