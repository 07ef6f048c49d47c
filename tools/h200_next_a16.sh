#!/usr/bin/env bash
# 17th session, calls a16-d16 (one H200, no wheels): the interleaved lookback (Plan.ilv, commit 6df0c4a, reverted
# after these runs; perf-notes v19). GPU tests of the new kernel and of the lookback / prefix kernels, then
# tools/tune_ilv.py (at 6df0c4a) against the package plan. Unpacked into results/h200/tune/2026-12-01a/{a16,b16,c16,d16}/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-a16}
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$W/gpu.txt" 2>&1
st tests 200 python3 -m pytest -q -x tests/test_gluon_fwd.py -k "${TEST_K:-interleaved or lookback or prefix or ablation}" \
  -p no:cacheprovider
st tune 300 python3 tools/tune_ilv.py --out "$W/tune" ${TUNE_ARGS:-}
stop_watchdog
cat "$L/steps.txt"
tail -n 12 "$L/tests.log" | cut -c1-300
cut -c1-250 "$L/tune.log" | tail -n 30
