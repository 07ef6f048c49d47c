#!/usr/bin/env bash
# 16th session, call 1 (1×H200: the 2-GPU kind was not lent and 465 s of device time were left, ≤ 6 min): the GPU
# tests of the sequence-parallel Gluon backward's kernel variants and of its two-chunk backward, then a one-GPU
# estimate of a rank's forward and backward at 262144 total (tools/sp_rank_bench.py; the exchange not included).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b15
start_watchdog "${WATCHDOG_S:-330}"
st tests 200 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "shifted or sequence_parallel_gluon or reverse_forward"
st rank 100 python3 tools/sp_rank_bench.py --total 262144 --heads 16 --out "$W/sp_rank.csv"
stop_watchdog
cat "$L/steps.txt"
tail -n 25 "$L/tests.log" | cut -c1-400
cat "$L/rank.log" | cut -c1-200 | tail -20
