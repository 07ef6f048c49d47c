#!/usr/bin/env bash
# 29th session, call 6 (one H200, no wheels, ~4 min): what FAST_HOST changes in the README's default sweep (b2 h16
# d128 bf16 1K–16K, end-to-end timing: a call's time includes the host's launch latency where it exceeds the GPU
# work), after the tests of the FAST_HOST code's last edit (_arg_key by type): la2 alone, fwd and fwd_bwd,
# FAST_HOST on · off · off · on (LIGHTNING_BENCH_FAST_HOST).
set -u
PACK_NAME=c30
source "$(dirname "$0")/device_lib.sh"
export PYTHONPATH=$PWD
start_watchdog "${WATCHDOG_S:-450}"
st new_tests 150 python3 -m pytest -q -rf -p no:cacheprovider tests/test_gluon_fwd.py \
  -k "fast_host or fast_launch or fast_descriptors or launch_key"
S="python3 -m lightning_bench.cli sweep --providers la2 --mode fwd,fwd_bwd --energy-window 0 --no-plots --quiet"
for run in on1 off1 off2 on2; do
  case $run in on*) fast=1 ;; *) fast=0 ;; esac
  export LIGHTNING_BENCH_FAST_HOST=$fast
  st "e2e_$run" 90 $S --out "$W/e2e_$run"
done
stop_watchdog
cat "$L/steps.txt"
grep -E "FAILED|ERROR" "$L/new_tests.log" | head; tail -n 1 "$L/new_tests.log"
python3 - "$W" <<'PY'
import sys, pandas as pd
w = sys.argv[1]
df = pd.concat([pd.read_csv(f"{w}/e2e_{r}/rows.csv").assign(run=r) for r in ("on1", "off1", "off2", "on2")])
df["fast"] = df.run.str.startswith("on")
t = df.groupby(["mode", "seq_len", "fast"]).agg(ms=("median_ms", "median"), host_ms=("host_ms", "median")).unstack()
t[("ratio", "off/on")] = t[("ms", False)] / t[("ms", True)]
print(t.round(4).to_string())
PY
