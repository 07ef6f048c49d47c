#!/usr/bin/env bash
# Next device session, call A (docs/gpu-runbook.md steps 1-2). On 2 GPUs: verify on GPU 1 next to the issue-#4 work
# on GPU 0; on 1 GPU: one after the other (then give verify the first half of the budget).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a
start_watchdog "${WATCHDOG_S:-540}"
NGPU=$(python3 -c 'import torch; print(torch.cuda.device_count())')
VERIFY="st verify ${VERIFY_S:-330} python3 -m lightning_bench verify --out $W/verify"
if [ "$NGPU" -ge 2 ]; then (CUDA_VISIBLE_DEVICES=1 $VERIFY) & VPID=$!; else $VERIFY; VPID=; fi
export CUDA_VISIBLE_DEVICES=0
st profile-la2 60 python3 -m lightning_bench profile --provider la2 --mode fwd --batch 2 --heads 16 --seq-len 65536 \
  --out "$W/profile-la2"
st tune 110 python3 tools/tune_la2.py --out "$W/tune" --shapes 2x16x2048x128,2x16x65536x128
st perf "${PERF_S:-300}" python3 -m lightning_bench sweep --preset perf --no-plots --quiet --out "$W/perf"
[ -n "$VPID" ] && wait "$VPID"
stop_watchdog
cat "$L/steps.txt"
grep -E "FAIL|passed|Interrupted" "$L/verify.log" | tail -4
