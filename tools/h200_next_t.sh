#!/usr/bin/env bash
# Session 2026-11-30 (fifth), call 2: the Gluon forward inside the package: correctness over layouts/dims/splits
# (tools/gluon_la2_fwd.py check), then the (value tile, stages, segments) grid per shape (tune).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=t
start_watchdog "${WATCHDOG_S:-300}"
st check 120 python3 tools/gluon_la2_fwd.py check --out "$W/gluon"
st tune 240 python3 tools/gluon_la2_fwd.py tune --out "$W/gluon"
stop_watchdog
cat "$L/steps.txt"
tail -n 20 "$L/check.log"
cat "$W/gluon/gluon_tune_best.txt" 2>/dev/null || tail -n 30 "$L/tune.log"
