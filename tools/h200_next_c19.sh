#!/usr/bin/env bash
# 19th session, third call (one H200, no wheels): the one-launch backward now also at ≤ 1024 tokens (where it applies)
# and the TMA descriptors copied from per-shape templates: GPU tests (forward and backward paths), the short backward
# (GPU and host time), a host profile, the perf preset's la2 rows (fwd and fwd_bwd). Unpack c19.tar.gz into
# results/h200/tune/2026-12-01c/c19/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-c19}
start_watchdog "${WATCHDOG_S:-480}"
st tests 240 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "test_one_launch_backward_equals or test_concurrent_backward_matches_reference or test_backward_stays_triton or (test_gluon_backward_matches_reference and defaults) or test_gluon_forward_matches_reference or test_lightning_attn_dispatches or descriptor"
st short 60 python3 tools/tune_short_bwd.py --out "$W/short" --cases "2x16:256,512,1024,2048;1x16:1024;4x8:1024"
st profile 40 python3 tools/host_profile.py --out "$W/profile"
st perf 120 python3 -m lightning_bench sweep --preset perf --providers la2 --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
grep -E "^b[0-9]" "$L/short.log" | cut -c1-250
grep -h "host ms per call" "$W"/profile/*.txt
python3 - "$W/perf" <<'PY' 2>/dev/null
import sys, glob, pandas as pd
d = pd.read_csv(glob.glob(sys.argv[1] + "/rows.csv")[0])
print(d[["mode", "batch", "heads", "head_dim", "seq_len", "status", "median_ms", "tokens_per_s", "host_ms"]].to_string())
PY
