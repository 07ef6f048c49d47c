#!/usr/bin/env bash
# 18th session, fourth call (one H200, no wheels): the side-by-side backward also at ≤ 1024 tokens (in place of the
# fused Triton backward): GPU tests, the A/B at 256–2048 tokens through autograd (tools/tune_short_bwd.py), the
# backward variants again with the rule off for them (tune_bwd_split), then the perf preset's la2 fwd_bwd rows.
# Unpack d18.tar.gz into results/h200/tune/2026-12-01b/d18/ (the sweep into results/h200/perf-v20-fwd-bwd/).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-d18}
start_watchdog "${WATCHDOG_S:-420}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$W/gpu.txt" 2>&1
st tests 150 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "test_concurrent_backward_matches_reference and (2-16-64 or 2-16-1024 or 1-16-192 or 1-16-4096)"
st short 90 python3 tools/tune_short_bwd.py --out "$W/short"
st bwd 60 python3 tools/tune_bwd_split.py --out "$W/bwd" --cases "2x16:2048;1x16:2048"
st perf 100 python3 -m lightning_bench sweep --preset perf --providers la2 --mode fwd_bwd --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
cut -c1-250 "$L/short.log" | tail -n 10
cut -c1-330 "$L/bwd.log" | tail -n 2
python3 - "$W/perf" <<'PY' 2>/dev/null
import sys, pandas as pd
d = pd.read_csv(sys.argv[1] + "/rows.csv")
print(d[["batch", "heads", "head_dim", "seq_len", "status", "median_ms", "tokens_per_s", "host_ms", "peak_mem_mib", "check"]].to_string())
PY
