#!/usr/bin/env bash
# 19th session, one H200 (~3 min, no wheels): the GPU test owed since e0c9f92 (the sp side-by-side backward through
# gluon_fwd.fork / join), then tools/probe_bwd_launches.py: how much one launch of the backward's three passes could
# save (each pass alone vs side by side vs serial). Unpack a19.tar.gz into results/h200/tune/2026-12-01c/a19/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a19
start_watchdog "${WATCHDOG_S:-200}"
st sp_tests 90 python3 -m pytest -q -x tests/test_gluon_fwd.py -k sequence_parallel_gluon_backward -p no:cacheprovider
st probe 100 python3 tools/probe_bwd_launches.py --out "$W/probe"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/sp_tests.log"
grep -E "^b[0-9]" "$L/probe.log"
