#!/usr/bin/env bash
# 18th session, 2× H200 (≤ ~4 min, no wheels): the ranks' backward forms against each other at strong scaling to
# 262144 tokens (b1 h16 d128 bf16 ALiBi): LIGHTNING_BENCH_SP_BWD = split (the new default), triton (v17's path),
# side_by_side (v19's, 1.05× in a17), then the sp GPU tests. Unpack h18.tar.gz into results/h200x2/sp-v20/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=h18
start_watchdog "${WATCHDOG_S:-230}"
for form in split triton side_by_side; do
  chk=0; [ "$form" = split ] && chk=8192
  export LIGHTNING_BENCH_SP_BWD=$form; st "sp_$form" 60 python3 -m lightning_bench sweep-sp --devices 0,1 \
    --seq-len-total 262144 --seq-len-local none --batch 1 --heads 16 --head-dim 128 --dtype bf16 --decay alibi \
    --check-seq-len $chk --out "$W/sp_$form"
done
unset LIGHTNING_BENCH_SP_BWD; st tests 60 python3 -m pytest -q -x tests/test_gluon_fwd.py -k sequence_parallel_gluon_backward -p no:cacheprovider
stop_watchdog
cat "$L/steps.txt"
for form in split triton side_by_side; do echo "== $form"; grep -E "^\| (single|strong)|Check" "$W/sp_$form/sp_summary.md" | cut -c1-200; done
tail -n 2 "$L/tests.log"
