#!/usr/bin/env bash
# Device call A (docs/gpu-runbook.md steps 1-2). On 2 GPUs: GPU 1 runs the correctness work as three processes side
# by side (verify bf16, verify fp16/fp32, the GPU pytest of the kernel suites); GPU 0 the issue-#4 work. On 1 GPU:
# one after the other.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a
start_watchdog "${WATCHDOG_S:-540}"
NGPU=$(python3 -c 'import torch; print(torch.cuda.device_count())')
KT="tests/test_kernels.py tests/test_kernel_states.py tests/test_kernel_properties.py tests/test_la1.py tests/test_compile.py tests/test_slopes.py"
correctness() {
  st verify-bf16 "${VERIFY_S:-500}" python3 -m lightning_bench verify --only '^bf16' --out "$W/verify-bf16" &
  st verify-fp "${VERIFY_S:-500}" python3 -m lightning_bench verify --only '^fp' --out "$W/verify-fp" &
  st pytest-gpu "${VERIFY_S:-500}" python3 -m pytest -q -rs -p no:cacheprovider $KT --junitxml "$W/pytest-gpu.xml" &
  wait
}
if [ "$NGPU" -ge 2 ]; then (export CUDA_VISIBLE_DEVICES=1; correctness) & VPID=$!; else VERIFY_S=240 correctness; VPID=; fi
export CUDA_VISIBLE_DEVICES=0
st profile-la2 60 python3 -m lightning_bench profile --provider la2 --mode fwd --batch 2 --heads 16 --seq-len 65536 \
  --out "$W/profile-la2"
st tune 100 python3 tools/tune_la2.py --out "$W/tune" --shapes 2x16x2048x128,2x16x65536x128
st perf "${PERF_S:-330}" python3 -m lightning_bench sweep --preset perf --no-plots --quiet --out "$W/perf"
[ -n "$VPID" ] && wait "$VPID"
stop_watchdog
cat "$L/steps.txt"
grep -hE "FAIL|passed|failed|Interrupted" "$L"/verify-*.log "$L/pytest-gpu.log" | tail -12
