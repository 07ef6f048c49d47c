#!/usr/bin/env bash
# 10th session, call 1 (ran at commit 838e68d, whose Plan.fixup and tune_mr grids "fixup"/"fixup_bwd" were then reverted; 1×H200, ≤ 9 min, no wheels): the GPU tests of the fix-up split (Plan.fixup) and of the ninth
# session's unverified backward rule; the fix-up split against the package plans (forward, b2 h16 1K–128K, b1 h16,
# b4 h32) and in the backward's three passes; the gate against the v12 baseline.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a4
start_watchdog "${WATCHDOG_S:-530}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tests 170 python3 -m pytest -q tests/test_gluon_fwd.py -k "fixup or backward or stays_triton or reverse or flags"
st fixup 150 python3 tools/tune_mr.py --grid fixup --out "$W/fixup"
st fixup-bwd 60 python3 tools/tune_mr.py --grid fixup_bwd --out "$W/fixup-bwd"
st gate 60 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 40 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed|FAILED|Error" "$L/tests.log" | cut -c1-250 | tail -n 12
cat "$L/fixup.log" "$L/fixup-bwd.log" | cut -c1-330
tail -n 6 "$L/gate-vs-base.log" | cut -c1-200
