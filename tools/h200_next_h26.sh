#!/usr/bin/env bash
# Session 25, call 10 (one H200, no wheels, ≤ 2 min): perf-notes v27 lead 1 — the ws kernel's first stage issued by the
# default partition before the partitions start (WS_EARLY_STAGE): the stamp probe at 2K (does stage 0 get issued /
# land sooner than 0.77 / 2.30 µs?), then A B B A (correctness first) on the short ws rows.
# Unpack into results/h200/tune/2026-12-01i/h26/.
set -u
PACK_NAME=h26
source "$(dirname "$0")/device_lib.sh"
start_watchdog "${WATCHDOG_S:-110}"
st stamps 30 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --set WS_EARLY_STAGE=True --out "$W/stamps"
st k_early 70 python3 tools/tune_knob.py --knob ws_early_stage --cases short --repeat 2 --out "$W/k_early"
stop_watchdog
cat "$L/steps.txt"
grep -E "^ *(2048)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
grep -E "^(b[0-9]|  FAIL)" "$L/k_early.log" | cut -c1-170
