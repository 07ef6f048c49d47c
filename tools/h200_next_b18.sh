#!/usr/bin/env bash
# 18th session, second call (one H200, no wheels): perf-notes v19 lead 2 at short lengths — the backward's three
# passes unsplit side by side against the package's launches (serial below 2^20), now with each variant's host
# enqueue time (host_ms). Unpack b18.tar.gz into results/h200/tune/2026-12-01b/b18/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-b18}
start_watchdog "${WATCHDOG_S:-300}"
st bwd_short 260 python3 tools/tune_bwd_split.py --out "$W/bwd_short" \
  --cases "2x16:1024,2048,4096,8192,16384;1x16:1024,2048,4096,8192,16384,32768"
stop_watchdog
cat "$L/steps.txt"
cut -c1-330 "$L/bwd_short.log" | tail -n 14
