#!/usr/bin/env bash
# 18th session, third call (one H200, no wheels): the side-by-side backward at any length for d128 (the rule without
# the split and 2^20 conditions) and the fork/join with reused events: GPU tests, the short backward's GPU and host
# time again, the perf preset's la2 fwd_bwd rows, a host profile. Unpack c18.tar.gz into
# results/h200/tune/2026-12-01b/c18/ (the sweep into results/h200/perf-v20-fwd-bwd/).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-c18}
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$W/gpu.txt" 2>&1
st tests 230 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "test_concurrent_backward_matches_reference or test_gluon_backward_under_cuda_graph or (test_gluon_backward_matches_reference and (defaults or BWD_STREAMS) and (2-16-2048 or 1-16-2048 or 2-16-16384))"
st bwd_short 120 python3 tools/tune_bwd_split.py --out "$W/bwd_short" --cases "2x16:1024,2048,8192,16384;1x16:1024,4096,16384"
st profile 60 python3 tools/host_profile.py --out "$W/profile"
st perf 130 python3 -m lightning_bench sweep --preset perf --providers la2 --mode fwd_bwd --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
cut -c1-330 "$L/bwd_short.log" | tail -n 7
grep -h "host ms per call" "$W"/profile/*.txt
python3 - "$W/perf" <<'PY' 2>/dev/null
import sys, glob, pandas as pd
d = pd.read_csv(glob.glob(sys.argv[1] + "/rows.csv")[0])
print(d[["batch", "heads", "head_dim", "seq_len", "status", "median_ms", "tokens_per_s", "host_ms", "peak_mem_mib"]].to_string())
PY
