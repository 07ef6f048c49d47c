#!/usr/bin/env bash
# 22nd session, call 5 (1×H200, ≤ 2 min, no wheels): with QK_ONE_FENCE the unsplit e32 launch reached 165.7 M tokens/s
# at 8K in perf-v24 while the wg2 lookback split (from WG2_SPLIT_MIN = 16K) gave 162.6 at 16K: b2 h16 from 16K with the
# split against the unsplit e32 launch (tools/tune_knob.py --knob wg2_split_min --cases long).
# Unpack f22.tar.gz into results/h200/tune/2026-12-01f/f22/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=f22
start_watchdog "${WATCHDOG_S:-150}"
st knob 140 python3 tools/tune_knob.py --knob wg2_split_min --values 16384,1000000000 --cases long --out "$W/knob"
stop_watchdog
cat "$L/steps.txt"
grep -E "^(b[0-9]|  FAIL)" "$L/knob.log" | cut -c1-200
