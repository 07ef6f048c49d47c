#!/usr/bin/env bash
# 18th session, sixth call (one H200, no wheels): host time with the per-shape plan cache (tools/host_profile.py at
# b2 h16 2K and 16K; before: c18/profile), and a few GPU tests on the cached plans. Unpack f18.tar.gz into
# results/h200/tune/2026-12-01b/f18/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-f18}
start_watchdog "${WATCHDOG_S:-200}"
st profile 40 python3 tools/host_profile.py --out "$W/profile"
st profile16k 40 python3 tools/host_profile.py --out "$W/profile16k" --shape 2,16,16384
st tests 100 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "test_concurrent_backward_matches_reference and (2-16-1024 or 1-16-4096) or (test_gluon_backward_matches_reference and defaults and 2-16-2048)"
stop_watchdog
cat "$L/steps.txt"
grep -h "host ms per call" "$W"/profile*/*.txt
tail -n 2 "$L/tests.log"
