#!/usr/bin/env bash
# 19th session, call 5 (1×H200, wheel prefix, carry .whl): finish results/h200/perf-v21 (d19's perf step ran out of
# its 420 s after 76 of 88 rows: the b8 h16 d64 rows from 16K) with `sweep --resume`, then the report. Unpack e19.tar.gz
# over results/h200/perf-v21/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=e19
start_watchdog "${WATCHDOG_S:-300}"
mkdir -p "$W/perf" && cp -r results/h200/perf-v21/{rows.csv,samples.jsonl,env.json,ceilings.json} "$W/perf/"
st resume 260 python3 -m lightning_bench sweep --resume "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 16 "$L/resume.log" | cut -c1-200
