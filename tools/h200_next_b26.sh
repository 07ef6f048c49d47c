#!/usr/bin/env bash
# Session 25, call 4 (one H200, no wheels, ≤ 5 min): with the stacked output (BWD_X3_ONE_OUT, now the one body's
# default) does the one body beat a copy per pass at every length (8K–128K too, where x3_one_body keeps the copies)?
# A B B A one body against copies at every x3 case (1K–128K, bnhd, b1 h16), then the stacked output against three
# descriptors with the one body forced everywhere. Unpack into results/h200/tune/2026-12-01i/b26/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b26
start_watchdog "${WATCHDOG_S:-280}"
st k_body 130 python3 tools/tune_knob.py --knob bwd_x3_one_body --cases x3 --repeat 3 --out "$W/k_body"
st k_out 110 python3 tools/tune_knob.py --knob bwd_x3_one_out --set BWD_X3_ONE_BODY=True --cases x3 --repeat 2 \
  --out "$W/k_out"
stop_watchdog
cat "$L/steps.txt"
grep -E "^(b[0-9]|  FAIL)" "$L/k_body.log" "$L/k_out.log" | cut -c1-170
