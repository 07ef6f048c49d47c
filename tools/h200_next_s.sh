#!/usr/bin/env bash
# Next session, call 1: the Gluon forward prototype (tools/gluon_la2_fwd.py) on the GPU for the first time:
# correctness against lightning_attn / the float64 reference, then GPU time beside the Triton launch table.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=s
start_watchdog "${WATCHDOG_S:-240}"
st gluon 200 python3 tools/gluon_la2_fwd.py check --out "$W/gluon"
stop_watchdog
cat "$L/steps.txt"
tail -n 40 "$L/gluon.log"
