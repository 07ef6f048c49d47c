#!/usr/bin/env bash
# Device call C (2026-11-30, second session): on 2 GPUs, first the sp work on both GPUs (profile of one
# lightning_attn_sp call per rank, sweep-sp with K = 1 and 10 calls per sample), then side by side: the gate's
# calibration with the both-sides --rerun on GPU 0 and the perf preset on GPU 1.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c
start_watchdog "${WATCHDOG_S:-545}"
(ls -d .git; git rev-parse HEAD) > "$L/git.txt" 2>&1
mkdir -p "$W/base-src" && cp -r lightning_bench "$W/base-src/"   # the baseline's code (same commit) for --rerun
if [ "$(python3 -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  st sp-profile 70 torchrun --nproc-per-node 2 tools/profile_sp.py --seq-len-total 32768 --out "$W/sp-profile"
  for K in 1 10; do
    st sp-k$K 60 python3 -m lightning_bench sweep-sp --devices 0,1 --timeout 55 --seq-len-total 32768,131072,262144 \
      --seq-len-local 65536 --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 \
      --calls-per-sample $K --out "$W/sp-k$K"
  done
  (export CUDA_VISIBLE_DEVICES=1; st perf "${PERF_S:-420}" python3 -m lightning_bench sweep --preset perf --no-plots \
    --quiet --out "$W/perf") & PPID_=$!
else
  PPID_=
fi
export CUDA_VISIBLE_DEVICES=0
G=$W/gate-calibration
S="python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet"
R="--normalize --rerun --rerun-baseline $W/base-src --rerun-rounds 2"
st gate-base3 60 $S --out "$G/base3"
st gate-aa3 60 $S --out "$G/aa3"
st gate-aa3-rerun 130 python3 -m lightning_bench gate --baseline "$G/base3" --candidate "$G/aa3" $R \
  --rerun-out "$G/aa3-rerun" --json "$G/aa3-rerun.gate.json"
st gate-planted-0.1 60 env LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 $S --out "$G/planted-0.1"
st gate-planted-0.1-rerun 130 env LIGHTNING_BENCH_PLANTED_SLOWDOWN=0.1 python3 -m lightning_bench gate \
  --baseline "$G/base3" --candidate "$G/planted-0.1" $R --rerun-out "$G/planted-0.1-rerun" \
  --json "$G/planted-0.1-rerun.gate.json"
[ -n "$PPID_" ] && wait "$PPID_"
stop_watchdog
cat "$L/steps.txt"
grep -hE "^(REGRESSION|PASS)|rank . (fwd|fwd_bwd):" "$L"/*.log | head -20
