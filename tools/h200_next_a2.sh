#!/usr/bin/env bash
# Session 2026-11-30 (sixth), call 1: where the short-n forward's fixed cost goes (tools/probe_short.py) and the
# function-split prototype's first GPU run (tools/gluon_fs_fwd.py check). About 3 minutes.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a2
start_watchdog "${WATCHDOG_S:-250}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
st probe 80 python3 tools/probe_short.py
st fs 150 python3 tools/gluon_fs_fwd.py check --out "$W/gluon-fs"
stop_watchdog
cat "$L/steps.txt"
cat "$L/probe.log" | cut -c1-400
tail -n 20 "$L/fs.log"
