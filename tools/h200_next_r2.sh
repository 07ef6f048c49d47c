#!/usr/bin/env bash
# 8th session, call 4 (1×H200, ~8 min; wheel prefix for fla and the OpenNLPLab reference): the GPU tests of this
# session's package changes (launch_config in the backward, the short entry's batch·heads bound, Plan.prefix), then
# the paper preset on every provider with the bound (b4 h32: the long entry's backward from 512 tokens), and its report.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=r2
start_watchdog "${WATCHDOG_S:-560}"
st pytest 90 python3 -m pytest -q -rf tests/test_tuning.py tests/test_gluon_fwd.py \
  -k "another_thread or batch_heads or packaged or prefix" -p no:cacheprovider
st paper 420 python3 -m lightning_bench sweep --preset paper --providers la2,fla,la2_reference,flash_attn2,sdpa_cudnn \
  --host-decoupled --out "$W/paper"
st paper-report 25 python3 -m lightning_bench report "$W/paper"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/pytest.log"
tail -n 4 "$L/paper.log"
