#!/usr/bin/env bash
# 26th session, call 5 (one H200, no wheels, ≤ 3 min): WG2_EARLY_STAGE split from the one launch's (X3_EARLY_STAGE,
# measured slower in a27): the wg2 forward's early stage alone — its bitwise GPU tests, the one-out-early form under
# the renamed flag, stamps of the paper shape's wg2 forward, A B B A where the unsplit wg2 forward runs (--cases wg2).
# Unpack into results/h200/tune/<date>/e27/.
set -u
PACK_NAME=e27
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-200}"
st tests 80 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "(early_stage_is_bitwise and wg2) or (one_launch_backward_equals and pass-outer and one-out-early)"
st k_wg2 100 python3 tools/tune_knob.py --knob wg2_early_stage --cases wg2 --repeat 2 --out "$W/k_wg2"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/tests.log"
grep -E "^(b[0-9]|  FAIL)" "$L/k_wg2.log" | cut -c1-170
