#!/usr/bin/env bash
# 9th session, call 1 (1×H200, ~6 min): two compute warpgroups per program (Plan.wg2) and the one-launch lookback
# split (Plan.lookback): GPU tests first (a wrong flag protocol shows as a wrong o or a hang: each step has a time
# limit), then tools/tune_mr.py --grid wg2 against the package plan.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a3
start_watchdog "${WATCHDOG_S:-540}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tests-new 240 python3 -m pytest -q -x tests/test_gluon_fwd.py -k "wg2 or lookback"
st tests-gluon 240 python3 -m pytest -q tests/test_gluon_fwd.py
st grid 300 python3 tools/tune_mr.py --grid wg2 --out "$W/wg2"
stop_watchdog
cat "$L/steps.txt"
tail -n 5 "$L/tests-new.log" "$L/tests-gluon.log"
cat "$L/grid.log" | cut -c1-400
