#!/usr/bin/env bash
# 27th session, call 2 (one H200, ≤ 9.5 min): the Gluon test file's tests a28 did not reach (its step limit), and the
# long-sequence plan test a28 found stale, fixed. IDS: a file of pytest node ids (default tools/.b28_ids.txt).
set -u
PACK_NAME=b28
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-560}"
git rev-parse HEAD > "$W/commit.txt" 2>/dev/null
st tests 540 python3 -m pytest -v -rf -p no:cacheprovider $(cat "${IDS:-tools/.b28_ids.txt}")
stop_watchdog
cat "$L/steps.txt"
grep -c PASSED "$L/tests.log"; grep -E "FAILED|ERROR" "$L/tests.log" | head; tail -n 2 "$L/tests.log"
