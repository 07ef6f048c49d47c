#!/usr/bin/env bash
# 9th session, call 5 (1×H200, ~7 min): the backward as three runs of the Gluon kernel (gluon_fwd.backward: dq causal,
# dk/dv anti-causal): GPU tests first, then la2 (Gluon backward) against la2_triton (Triton backward and forward) in
# bwd and fwd_bwd at the perf shapes and the paper shape.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=e3
start_watchdog "${WATCHDOG_S:-500}"
S="python3 -m lightning_bench sweep --no-plots --energy-window 0 --host-decoupled --providers la2,la2_triton"
st tests 200 python3 -m pytest -q tests/test_gluon_fwd.py -k "reverse or backward or lookback or wg2"
st b2 120 $S --mode bwd,fwd_bwd --batch 2 --heads 16 --head-dim 128 --seq-len 1024,2048,4096,8192,16384,32768,131072 --out "$W/b2h16"
st b4 60 $S --mode bwd,fwd_bwd --batch 4 --heads 32 --head-dim 128 --seq-len 512,2048,8192,32768 --out "$W/b4h32"
st b8 40 $S --mode bwd,fwd_bwd --batch 8 --heads 16 --head-dim 64 --seq-len 4096,65536 --out "$W/b8h16d64"
stop_watchdog
cat "$L/steps.txt"
tail -n 15 "$L/tests.log" | cut -c1-250
for f in b2 b4 b8; do grep -E "^\s+la2" "$L/$f.log" | cut -c1-150; done
