#!/usr/bin/env bash
# 2026-11-30, fourth session, call 7: a fresh gate baseline on the final kernels and an A/A gate against it.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=r
start_watchdog "${WATCHDOG_S:-200}"
G=$W/gate
S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
st gate-base 70 $S --out "$G/base"
st gate-aa 60 $S --out "$G/aa"
st gate-aa-rerun 60 python3 -m lightning_bench gate --baseline "$G/base" --candidate "$G/aa" --rerun \
  --rerun-out "$G/aa-rerun" --json "$G/aa-rerun.gate.json"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/gate-aa-rerun.log"
