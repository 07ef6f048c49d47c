#!/usr/bin/env bash
# 7th session, call 4 (2×H200): GPU 0 continues the perf run of call 3 (carried in .carry/perf-l2; its b8 h16 d64
# rows were cut by the step limit) and writes its report; GPU 1 the fp32 rows of verify, one process per case side
# by side (each fp32 IEEE case compiles ~6 kernels at 15-26 s of ptxas each: one process ran out of time at case 2).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=m2
start_watchdog "${WATCHDOG_S:-420}"
( export CUDA_VISIBLE_DEVICES=1
  for c in $(python3 -c "
import torch
from lightning_bench.verify import default_cases
print(' '.join(c.name for c in default_cases(torch.device('cuda')) if c.dtype == 'fp32'))"); do
    st "verify-$c" 380 python3 -m lightning_bench verify --only "^$c\$" --fla none --out "$W/verify-fp32/$c" &
  done
  wait ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
cp -r .carry/perf-l2 "$W/perf"
st perf-resume 330 python3 -m lightning_bench sweep --resume "$W/perf"
st perf-report 40 python3 -m lightning_bench report "$W/perf"
wait $T1
stop_watchdog
cat "$L/steps.txt"
tail -n 1 "$L"/verify-*.log
tail -n 4 "$L/perf-resume.log"
