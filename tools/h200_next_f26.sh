#!/usr/bin/env bash
# Session 25, call 8 (one H200, no wheels, ≤ 2.5 min): the descriptor-prefetch probe (TMA_PREFETCH: thread 0 issues
# prefetch.param.tensormap for the program's TMA descriptors at its start) — the stamp probe at 2K (does stage 0 land
# sooner than a26's 2.30 / 3.07 µs?), then A B B A fwd_bwd at the x3 cases. Unpack into results/h200/tune/2026-12-01i/f26/.
set -u
PACK_NAME=f26
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=f26
start_watchdog "${WATCHDOG_S:-140}"
st stamps 30 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --set TMA_PREFETCH=True --out "$W/stamps"
st k_pf 95 python3 tools/tune_knob.py --knob tma_prefetch --cases x3 --repeat 2 --out "$W/k_pf"
stop_watchdog
cat "$L/steps.txt"
grep -E "^ *(2048)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
grep -E "^(b[0-9]|  FAIL)" "$L/k_pf.log" | cut -c1-170
