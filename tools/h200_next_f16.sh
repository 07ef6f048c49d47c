#!/usr/bin/env bash
# 17th session (one H200, no wheels): the backward's unsplit passes side by side (gluon_fwd.concurrent_plans,
# perf-notes v19): GPU tests (the new rule through autograd against float64, the Gluon backward's own tests, CUDA
# graph capture), then `sweep --preset tgs` (la2, floor) and `sweep --preset perf --mode fwd_bwd` (la2).
# Unpack f16.tar.gz into results/h200/tune/2026-12-01a/f16/ (the sweeps into results/h200/tgs-v19, perf-v19-la2).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=${PACK:-f16}
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv > "$W/gpu.txt" 2>&1
st tests 200 python3 -m pytest -q tests/test_gluon_fwd.py -k "concurrent or gluon_backward or cuda_graph or streams" \
  -p no:cacheprovider
st tgs 200 python3 -m lightning_bench sweep --preset tgs --providers la2,floor --out "$W/tgs"
st perf 120 python3 -m lightning_bench sweep --preset perf --providers la2 --mode fwd_bwd --out "$W/perf"
stop_watchdog
cat "$L/steps.txt"
tail -n 8 "$L/tests.log" | cut -c1-300
python3 - <<'PY'
import pandas as pd, os
W = os.environ["OUT"] + "/work"
for name in ("tgs", "perf"):
    try:
        d = pd.read_csv(f"{W}/{name}/rows.csv")
    except Exception as exc:
        print(name, exc); continue
    d = d[d.status == "ok"]
    cols = [c for c in ("provider", "mode", "batch", "heads", "head_dim", "seq_len", "tokens_per_s", "impl") if c in d]
    d = d[cols].copy()
    d["Mtok_s"] = (d.pop("tokens_per_s") / 1e6).round(1)
    d["side_by_side"] = d.pop("impl").fillna("").str.contains("side by side")
    print(name); print(d.to_string(index=False))
PY
