#!/usr/bin/env bash
# 13th session, call 4 (1×H200, ~3 min, no wheels): the side streams at 64 batch·heads across lengths (c7 found
# 0.85× at b4 h16 / b2 h32 64K), d64 at 64 and 128 batch·heads, and where a la2 call's host time goes (cProfile).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a9
start_watchdog "${WATCHDOG_S:-400}"
st streams 200 python3 tools/tune_bwd_streams.py --out "$W/streams" \
  --shapes "4,16,128,8192/32768/131072;2,32,128,32768;4,16,64,16384/65536;8,16,64,65536;2,16,128,65536"
st host 150 python3 tools/profile_host.py --out "$W/host" --calls 200
stop_watchdog
cat "$L/steps.txt"
cut -c1-250 "$L/streams.log" | grep -v "^ "
cat "$L/host.log"
