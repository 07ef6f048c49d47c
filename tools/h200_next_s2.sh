#!/usr/bin/env bash
# 8th session, call 5 (1×H200, ~3 min; no wheel prefix): the fused backward's launch configurations at b2 h16 d128
# 1K-8K (tools/tune_bwd_fused.py; fwd_bwd at 2K is 0.89-0.91 of 128K there and the backward is 3/4 of it), and how
# much of the 1K-4K forward's GPU time is the kernel (tools/probe_fixed_cost.py).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=s2
start_watchdog "${WATCHDOG_S:-300}"
st probe 60 python3 tools/probe_fixed_cost.py
st bwd-fused 200 python3 tools/tune_bwd_fused.py --shape 2,16,128 --seq-len 1024,2048,4096,8192 --out "$W/bwd-fused"
stop_watchdog
cat "$L/steps.txt"
cat "$L/probe.log" | grep -v Warn | tail -6
cut -c1-700 "$L/bwd-fused.log"
