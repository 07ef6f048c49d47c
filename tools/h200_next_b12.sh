#!/usr/bin/env bash
# 13th session, call 5 (1×H200, ≤ 9.5 min, wheel prefix, carry .whl): the new GPU tests (Gluon backward under CUDA
# graph capture; the side-streams rule) and the tgs preset on the new streams rule (its 64K row is b4 h16: 64
# batch·heads, e64 unsplit, two value tiles per head: no side streams now), then its report.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b12
start_watchdog "${WATCHDOG_S:-565}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tests 130 python3 -m pytest -q -x tests/test_gluon_fwd.py -k "cuda_graph or streams or (backward_matches_reference and 16384-128-bhnd and BWD)" -p no:cacheprovider
st tgs 400 python3 -m lightning_bench sweep --preset tgs --out "$W/tgs"
st tgs-report 30 python3 -m lightning_bench report "$W/tgs" --format png
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log" | cut -c1-300
tail -n 30 "$L/tgs.log" | cut -c1-200
