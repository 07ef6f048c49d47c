#!/usr/bin/env bash
# 9th session, call 4 (1×H200, ~3 min): the gate preset on the wg2 kernels, twice (A/A), against the committed
# baseline (cc670b2): the b2 h16 d128 32K/64K forwards now run two-warpgroup programs with the lookback split (faster,
# not a regression); the first run becomes the new baseline after an A/A pass.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d3
start_watchdog "${WATCHDOG_S:-330}"
st gate-a 110 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate-a"
st gate-b 110 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate-b"
st a-vs-base 40 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate-a" \
  --metrics time,peak_mem --json "$W/a-vs-base.gate.json"
st b-vs-a 60 python3 -m lightning_bench gate --baseline "$W/gate-a" --candidate "$W/gate-b" --metrics time,peak_mem \
  --normalize --json "$W/b-vs-a.gate.json"
stop_watchdog
cat "$L/steps.txt"
tail -n 40 "$L/a-vs-base.log" | cut -c1-200
tail -n 12 "$L/b-vs-a.log" | cut -c1-200
