#!/usr/bin/env bash
# Session 2026-11-30 (sixth), call 3: Q as the register operand of QKᵀ and Q·S (Plan.q_reg): tools/tune_mr.py.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c2
start_watchdog "${WATCHDOG_S:-250}"
nvidia-smi --query-gpu=index,name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$L/gpus.txt" 2>&1
st mr 200 python3 tools/tune_mr.py --grid qreg --out "$W/mr"
stop_watchdog
cat "$L/steps.txt"
cat "$L/mr.log" | cut -c1-400
