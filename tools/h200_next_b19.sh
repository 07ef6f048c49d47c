#!/usr/bin/env bash
# 19th session, second call (one H200, no wheels): the backward's three passes in one launch
# (gluon_fwd._la2_bwd_gluon_x3_kernel): GPU tests (bitwise equal to the three launches, float64, capture), the
# launch probe, the short backward (one launch / three launches / fused Triton at ≤ 1024), a host profile, the perf
# preset's la2 fwd_bwd rows. Unpack b19.tar.gz into results/h200/tune/2026-12-01c/b19/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-b19}
start_watchdog "${WATCHDOG_S:-520}"
st tests 170 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider -k "one_launch or test_concurrent_backward_matches_reference or test_gluon_backward_under_cuda_graph or (test_gluon_backward_matches_reference and (defaults or BWD_STREAMS) and (2-16-2048 or 1-16-2048 or 2-16-16384))"
st probe 60 python3 tools/probe_bwd_launches.py --out "$W/probe"
st short 90 python3 tools/tune_short_bwd.py --out "$W/short" --cases "2x16:256,512,1024,2048;1x16:512,1024;4x8:1024;1x32:1024"
st profile 60 python3 tools/host_profile.py --out "$W/profile"
st perf 130 python3 -m lightning_bench sweep --preset perf --providers la2 --mode fwd_bwd --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/tests.log"
grep -E "^b[0-9]" "$L/probe.log" | cut -c1-250
grep -E "^b[0-9]" "$L/short.log" | cut -c1-250
grep -h "host ms per call" "$W"/profile/*.txt
python3 - "$W/perf" <<'PY' 2>/dev/null
import sys, glob, pandas as pd
d = pd.read_csv(glob.glob(sys.argv[1] + "/rows.csv")[0])
print(d[["batch", "heads", "head_dim", "seq_len", "status", "median_ms", "tokens_per_s", "host_ms"]].to_string())
PY
