#!/usr/bin/env bash
# Issue #7 with the Gluon backward on the sequence-parallel ranks (written in the 16th session, NOT yet run: the
# 2-GPU kind was not lent then; run it on nvidia-h200-x2, ≤ 9.5 min, no wheels). GPU tests of the new kernel variants
# (reverse pass from a shifted initial state, final state) and of the two-chunk backward on GPU 0, then strong/weak
# scaling with the check at 8192 tokens, the training-loop view at 262144 (10 calls per sample) and the length that
# does not fit one GPU, on both GPUs. Unpack a15.tar.gz into results/h200x2/sp-v18/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a15
start_watchdog "${WATCHDOG_S:-560}"
st tests 240 env CUDA_VISIBLE_DEVICES=0 python3 -m pytest -q -x tests/test_gluon_fwd.py \
  -k "shifted or sequence_parallel_gluon or reverse_forward or gluon_backward_matches or initial_state_and_with" -p no:cacheprovider
st sp 200 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 32768,131072,262144 --seq-len-local 65536 \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 8192 --out "$W/sp"
st sp_cps10 120 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 262144 --seq-len-local none \
  --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 0 --calls-per-sample 10 \
  --out "$W/sp_cps10"
st sp_fit 120 python3 -m lightning_bench sweep-sp --devices 0,1 --seq-len-total 1310720 --seq-len-local none \
  --batch 1 --heads 64 --head-dim 128 --dtype bf16 --decay alibi --check-seq-len 0 --min-samples 5 --max-samples 10 \
  --out "$W/sp_fit"
stop_watchdog
cat "$L/steps.txt"
tail -n 15 "$L/tests.log" | cut -c1-300
cat "$W/sp/sp_summary.md" "$W/sp_cps10/sp_summary.md" "$W/sp_fit/sp_summary.md" 2>/dev/null | cut -c1-220 | head -40
