#!/usr/bin/env bash
# The gate preset on the v26 code against the committed baseline (one H200, no wheels, ≤ 2 min): the run CI's
# regression gate would make. Unpack into results/h200/perf-v25/gate/ (gate-vs-base.log, gate.gate.json beside it).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK_NAME:-a25}
start_watchdog "${WATCHDOG_S:-110}"
st gate 75 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 25 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/gate-vs-base.log" | cut -c1-200
