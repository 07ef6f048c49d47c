#!/usr/bin/env bash
# Session 25, call 9 (one H200, no wheels, ≤ 1.5 min): perf-notes v27 lead 1 — the stamp probe with %smid at 2K and 8K
# (v27 defaults): does a program's block time or end follow its SM / TPC (96 programs on 66 TPCs)?
# Unpack into results/h200/tune/2026-12-01i/g26/.
set -u
PACK_NAME=g26
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-80}"
st stamps 60 python3 tools/program_stamps.py --seq-lens 2048,8192 --repeat 3 --out "$W/stamps"
stop_watchdog
cat "$L/steps.txt"
grep -E "^ *(2048|8192)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
