#!/usr/bin/env bash
# 8th session, call 2 (1×H200, ~4 min; no wheel prefix): the PREFIX split of the Gluon forward (segments whose
# programs sum the blocks before them, one launch) — GPU tests against float64, then its timing grid
# (tools/tune_mr.py --grid prefix); the backward short-entry comparison again now that launch_config reaches the
# backward (autograd's device thread; the o2 call timed the table twice).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=p2
start_watchdog "${WATCHDOG_S:-400}"
st pytest 150 python3 -m pytest -q -rf tests/test_gluon_fwd.py tests/test_tuning.py -k "prefix or another_thread" \
  -p no:cacheprovider
st prefix-grid 150 python3 tools/tune_mr.py --grid prefix --out "$W/prefix"
st bwd-paper 60 python3 tools/tune_bwd_short.py --shape 4,32,128 --out "$W/b4h32"
st bwd-perf 40 python3 tools/tune_bwd_short.py --shape 2,16,128 --seq-len 1024,2048,4096,8192,16384 --out "$W/b2h16"
stop_watchdog
cat "$L/steps.txt"
tail -n 5 "$L/pytest.log"
cut -c1-400 "$L/prefix-grid.log" "$L/bwd-paper.log" "$L/bwd-perf.log"
