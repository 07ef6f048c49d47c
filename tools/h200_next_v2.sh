#!/usr/bin/env bash
# 8th session, call 8 (1×H200, ~3 min): the gate preset on the final commit against the committed baseline
# (cc670b2): the default forward's kernel now carries the PREFIX constexpr (False) and the backward the recorded
# launch overrides; the gate's rows (b2/b8 h16 d64/d128, 32K/64K) must not move.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=v2
start_watchdog "${WATCHDOG_S:-300}"
st gate 110 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 120 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --rerun --rerun-out "$W/gate-rerun" --json "$W/gate.gate.json"
stop_watchdog
cat "$L/steps.txt"
tail -n 24 "$L/gate-vs-base.log"
