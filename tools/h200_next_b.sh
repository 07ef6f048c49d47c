#!/usr/bin/env bash
# Next device session, call B (docs/gpu-runbook.md steps 3-4): the gate's remaining calibration on a quiet GPU, then
# (2 GPUs) a torch.profiler trace of lightning_attn_sp and the sp sweep.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b
start_watchdog "${WATCHDOG_S:-540}"
G=$W/gate-calibration
S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
B=results/baselines/nvidia-h200
export CUDA_VISIBLE_DEVICES=0
# the launch table changed after results/baselines/nvidia-h200 was recorded: a fresh base first (commit it with
# `gate --update-baseline --force --candidate <base2>` afterwards), then gate against it
st gate-base2 60 $S --out "$G/base2"
B=$G/base2
st gate-aa2 60 $S --out "$G/aa2"
st gate-aa2-rerun 90 python3 -m lightning_bench gate --baseline $B --candidate "$G/aa2" --normalize --rerun \
  --rerun-out "$G/aa2-rerun" --json "$G/aa2-rerun.gate.json"
st gate-planted-0.1 60 env LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 $S --out "$G/planted-0.1"
st gate-planted-0.1-rerun 90 env LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 python3 -m lightning_bench gate --baseline $B \
  --candidate "$G/planted-0.1" --normalize --rerun --rerun-out "$G/planted-0.1-rerun" --json "$G/planted-0.1-rerun.gate.json"
unset CUDA_VISIBLE_DEVICES
if [ "$(python3 -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  for K in 1 10; do
    st sp-k$K 100 python3 -m lightning_bench sweep-sp --devices 0,1 --timeout 90 --seq-len-total 32768,131072,262144 \
      --seq-len-local 65536 --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 \
      --calls-per-sample $K --out "$W/sp-k$K"
  done
fi
stop_watchdog
cat "$L/steps.txt"
