#!/usr/bin/env bash
# Next session, call 1 (1×H200, ~2 min; no wheel prefix needed): perf-notes v10 lead 1, the launch table's short
# entry (fused backward) against the long entry (split sweeps) at the paper shape b4 h32 d128 and at b2 h16 d128
# (where the short entry was tuned: it should keep winning there), 1K-16K, bwd and fwd_bwd.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=o2
start_watchdog "${WATCHDOG_S:-240}"
st paper-shape 120 python3 tools/tune_bwd_short.py --shape 4,32,128 --out "$W/b4h32"
st perf-shape 90 python3 tools/tune_bwd_short.py --shape 2,16,128 --seq-len 2048,4096,8192 --out "$W/b2h16"
stop_watchdog
cat "$L/steps.txt"
cut -c1-300 "$L/paper-shape.log" "$L/perf-shape.log"
