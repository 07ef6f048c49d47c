#!/usr/bin/env bash
# 7th session call 2 (1×H200, ~3 min): the 6 GPU tests of test_kernels still not run (the 7th, fp32-4097, passed
# in call 1 in 87 s), then tune grid 'long' (e64 2-way split with the chunked pre-pass vs the package plan, 16K-256K).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=k
start_watchdog "${WATCHDOG_S:-330}"
st pytest-rest6 150 python3 -m pytest -q -rf --durations=0 $(cat tools/rest6-ids.txt) -p no:cacheprovider
st long 150 python3 tools/tune_mr.py --grid long --out "$W/long"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed|s call" "$L/pytest-rest6.log" | tail -n 9
cut -c1-400 "$L/long.log"
