#!/usr/bin/env bash
# 28th session, call 2 (one H200, no wheels, ≤ 9.5 min): the la2_bwd op's one flat gradient buffer (perf-notes v30;
# the op returns one buffer, dq, dk, dv are views made outside it, so the one launch writes them stacked under
# torch.compile too): the GPU tests of every compiled and captured path (tests/test_compile.py on CUDA, the op at the
# one launch's shape, the compiled training step under CUDA graph trees, the backward under CUDA graphs), then the
# compiled call against eager and against v29's compiled form (tools/compiled_vs_eager.py, A B B A).
# Unpack into results/h200/tune/<date>/a29/. The working tree's commit is recorded by hand (the device's .git is stale).
set -u
PACK_NAME=a29
source "$(dirname "$0")/device_lib.sh"
export PYTHONPATH=$PWD
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv > "$W/gpu.csv" 2>&1
st tests 200 python3 -m pytest -q -rf -p no:cacheprovider tests/test_compile.py tests/test_gluon_fwd.py \
  -k "test_compile.py or custom_op or compiled_training or under_cuda_graph"
st compiled 280 python3 tools/compiled_vs_eager.py --out "$W/compiled" --seq-lens 1024,2048,8192,32768
st compiled_bnhd 60 python3 tools/compiled_vs_eager.py --out "$W/compiled_bnhd" --seq-lens 2048 --layouts bnhd \
  --modes fwd_bwd
stop_watchdog
cat "$L/steps.txt"
grep -E "FAILED|ERROR" "$L/tests.log" | head; tail -n 1 "$L/tests.log"
grep -E "^b2|FAIL" "$L/compiled.log" "$L/compiled_bnhd.log"
