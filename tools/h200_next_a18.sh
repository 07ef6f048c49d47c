#!/usr/bin/env bash
# 18th session, first call (one H200, no wheels): (1) the eight two-chunk sp backward GPU tests after 6747ecc's
# refactor; (2) perf-notes v19 lead 4, `tune_mr.py --grid e64lb` (the one-warpgroup e64 lookback with tile-major
# order and diag(g) V ahead against the package plan, b2 h16 16K-128K, b1 h16); (3) lead 2, the backward's passes
# side by side below the 2^20 rule (b2 h16 8K/16K, b1 h16 16K/32K). Unpack a18.tar.gz into
# results/h200/tune/2026-12-01b/a18/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-a18}
start_watchdog "${WATCHDOG_S:-560}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$W/gpu.txt" 2>&1
st sp_tests 150 python3 -m pytest -q -x tests/test_gluon_fwd.py -k sequence_parallel_gluon_backward -p no:cacheprovider
st e64lb 220 python3 tools/tune_mr.py --grid e64lb --out "$W/e64lb"
st bwd_small 150 python3 tools/tune_bwd_split.py --out "$W/bwd_small" --cases "2x16:8192,16384;1x16:16384,32768"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/sp_tests.log"
cut -c1-250 "$L/e64lb.log" | tail -n 14
cut -c1-250 "$L/bwd_small.log" | tail -n 8
