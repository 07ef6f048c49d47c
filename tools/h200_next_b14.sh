#!/usr/bin/env bash
# 15th session, call 2 (2×H200, ≤ 9.5 min, no wheels): the negative control of the first-backward GPU test (bind_context
# made a no-op must fail; call 1's probe step could not run a shell function under `timeout`), issue #7's sequence
# parallelism on the current kernels (strong/weak scaling, the length that does not fit one GPU), then issue #6's
# gate calibration on the current kernels (base, A/A, planted 10 % and 3 %, both-sides --rerun gates) on GPU 0.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b14
start_watchdog "${WATCHDOG_S:-560}"
sed -n '/^import sys, torch/,/^print/p' tools/h200_next_a14.sh > "$W/first_bwd.py"
st probe-bound 60 env CUDA_VISIBLE_DEVICES=0 python3 "$W/first_bwd.py"
st probe-noop 60 env CUDA_VISIBLE_DEVICES=0 python3 "$W/first_bwd.py" noop
st sp 200 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 32768,131072,262144 --seq-len-local 65536 \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 --out "$W/sp"
st sp_fit 120 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 1310720 --seq-len-local none \
  --batch 1 --heads 64 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 0 --min-samples 5 --max-samples 10 \
  --out "$W/sp_fit"
export CUDA_VISIBLE_DEVICES=0
st gate 260 env O="$W/gate" bash tools/h200_gate_calibration.sh
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/probe-bound.log" | cut -c1-300
tail -n 3 "$L/probe-noop.log" | cut -c1-300
cat "$W/sp/sp_summary.md" "$W/sp_fit/sp_summary.md" 2>/dev/null | cut -c1-220 | head -40
cat "$W/gate/gate-exits.txt" 2>/dev/null
