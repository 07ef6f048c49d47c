#!/usr/bin/env bash
# Session 2026-11-30 (sixth), call 6 (2×H200): the kernel tests on the GPU in full (tests/test_kernels.py split over
# both GPUs: 125 tests, ~4.4 s each with compiles), the fp32 rows of the correctness matrix (call 5 got through fp16),
# then sequence parallelism on both GPUs with the v8 kernels (strong scaling at 262144, check at 8192).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=f2
start_watchdog "${WATCHDOG_S:-500}"
python3 -m pytest --collect-only -q tests/test_kernels.py -p no:cacheprovider 2>/dev/null | grep '::' > "$W/ids.txt"
awk 'NR % 5 < 3' "$W/ids.txt" > "$W/ids0.txt"   # 3/5 on GPU 0, 2/5 on GPU 1 (which also runs verify fp32)
awk 'NR % 5 >= 3' "$W/ids.txt" > "$W/ids1.txt"
wc -l "$W"/ids*.txt > "$L/ids.txt"
( export CUDA_VISIBLE_DEVICES=1
  st verify-fp32 160 python3 -m lightning_bench verify --only fp32 --fla none --out "$W/verify-fp32"
  st pytest-gpu1 230 python3 -m pytest -q -rf $(cat "$W/ids1.txt") -p no:cacheprovider --junitxml="$W/pytest-gpu1.xml" ) &
T1=$!
( export CUDA_VISIBLE_DEVICES=0
  st pytest-gpu0 380 python3 -m pytest -q -rf $(cat "$W/ids0.txt") -p no:cacheprovider --junitxml="$W/pytest-gpu0.xml" )
wait $T1
st sp 100 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 262144 --seq-len-local none \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 --out "$W/sp"
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/verify-fp32.log" "$L/pytest-gpu0.log" "$L/pytest-gpu1.log"
cat "$W/sp/sp_summary.md" 2>/dev/null | head -30
