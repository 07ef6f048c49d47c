#!/usr/bin/env bash
# 14th session, call 6 (1×H200, ≤ 4 min, no wheels): the GPU tests of tests/test_gluon_fwd.py after the one call 5
# stopped at (its stale "the backward is the Triton one either way" assertion, now against the float64 reference).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a13
start_watchdog "${WATCHDOG_S:-200}"
st tests 190 python3 -m pytest -q -p no:cacheprovider tests/test_gluon_fwd.py -k "dispatches_to_gluon or \
pair_matches or wg2_and_lookback_match or lookback_flags or reverse_forward or under_cuda_graph or \
(backward_matches_reference and defaults) or stays_triton or cluster_forward_matches or without_a_cuda"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed|FAILED" "$L/tests.log" | cut -c1-300
