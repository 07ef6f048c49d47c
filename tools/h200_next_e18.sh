#!/usr/bin/env bash
# 18th session, fifth call (one H200, no wheels): after keeping the fused Triton backward at ≤ 1024 tokens, the
# side-by-side reference tests again (the ≤ 1024 cases now call gluon_fwd.backward directly) and the capture tests.
# Unpack e18.tar.gz into results/h200/tune/2026-12-01b/e18/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-e18}
start_watchdog "${WATCHDOG_S:-300}"
st tests 200 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "test_concurrent_backward_matches_reference or test_gluon_backward_under_cuda_graph or (test_gluon_backward_matches_reference and defaults and 4-32-1024)"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/tests.log"
