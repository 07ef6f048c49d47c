#!/usr/bin/env bash
# 17th session (one H200, no wheels): the sequence-parallel rank's backward with the passes side by side
# (distributed.sp._sp_backward_side_by_side): its GPU tests, then tools/sp_rank_bench.py (split vs side by side, and
# one GPU at 131072 / 262144 both ways). Unpack g16.tar.gz into results/h200/sp-rank-v19/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-g16}
start_watchdog "${WATCHDOG_S:-330}"
st tests 150 python3 -m pytest -q tests/test_gluon_fwd.py -k "sequence_parallel_gluon_backward" -p no:cacheprovider
st rank 150 python3 tools/sp_rank_bench.py --total 262144 --heads 16 --out "$W/sp_rank.csv"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log" | cut -c1-300
cat "$L/rank.log"
