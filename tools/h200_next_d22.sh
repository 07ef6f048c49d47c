#!/usr/bin/env bash
# 22nd session, call 3 (1×H200, ≤ 4 min, no wheels): c22's test step again (its -k expression had a '=' pytest
# rejects): the backward's GPU tests with the defaults and QK_ONE_FENCE forced on and off, the autograd dispatch.
# Unpack d22.tar.gz into results/h200/tune/2026-12-01f/d22/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d22
start_watchdog "${WATCHDOG_S:-280}"
st tests 260 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "(gluon_backward_matches_reference and (defaults or QK_ONE_FENCE)) or dispatches_to_gluon"
stop_watchdog
cat "$L/steps.txt"
tail -n 6 "$L/tests.log"
