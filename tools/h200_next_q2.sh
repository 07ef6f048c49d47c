#!/usr/bin/env bash
# 8th session, call 3 (1×H200, ~5 min; no wheel prefix): the pipelined compute loop of the Gluon forward (Plan.pipe:
# block j+1's QKᵀ issued behind block j's P·V and state update) — GPU tests against float64, then timed on every
# plan (tools/tune_mr.py --grid pipe); where the backward's short entry (fused) stops winning as batch·heads grows
# (tools/tune_bwd_short.py at 48, 64, 96 batch·heads d128 and 32/128 at d64).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=q2
start_watchdog "${WATCHDOG_S:-430}"
st pytest 150 python3 -m pytest -q -rf tests/test_gluon_fwd.py -k "pipe" -p no:cacheprovider
st pipe-grid 150 python3 tools/tune_mr.py --grid pipe --out "$W/pipe"
for s in 3,16,128 4,16,128 6,16,128 2,16,64 8,16,64; do
  st "bwd-$s" 40 python3 tools/tune_bwd_short.py --shape $s --seq-len 1024,2048,4096,8192 --out "$W/bwd-${s//,/x}"
done
stop_watchdog
cat "$L/steps.txt"
tail -n 5 "$L/pytest.log"
cut -c1-300 "$L/pipe-grid.log"; grep -h "n=" "$L"/bwd-*.log
