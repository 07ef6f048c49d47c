#!/usr/bin/env bash
# 9th session, call 2 (1×H200, ~9 min, wheel prefix): the encoded wg2 rule: GPU tests, the rule against the plans it
# replaced (tune_mr --grid wg2b), the cold-L2 write-back probe, then the paper preset with every provider.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b3
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st tests 150 python3 -m pytest -q tests/test_gluon_fwd.py -k "wg2 or lookback or long_sequence or dispatch or choose or plan"
st grid 150 python3 tools/tune_mr.py --grid wg2b --out "$W/wg2b"
st probe 60 python3 tools/probe_l2_dirty.py --out "$W/probe"
st paper 400 python3 -m lightning_bench sweep --preset paper --providers la2,fla,la2_reference,flash_attn2,sdpa_cudnn \
  --host-decoupled --out "$W/paper"
st paper-report 25 python3 -m lightning_bench report "$W/paper"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/tests.log"
cut -c1-300 "$L/grid.log"
cat "$L/probe.log"
tail -n 45 "$L/paper.log" | cut -c1-200
