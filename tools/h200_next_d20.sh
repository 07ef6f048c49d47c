#!/usr/bin/env bash
# 20th session, call 4 (one H200, wheels carried, ≤ ~9 min): the headline runs with the fused dk, dv backward
# (fuse_dkdv from 64 batch·heads): the paper preset with every provider the README table shows and the byte floor,
# the tgs preset for la2 and the floor, and the perf preset's b8 h16 d64 rows (la2, fla, the reference, the floor).
# Unpack d20.tar.gz into results/h200/ (paper-v22/, tgs-v22/, perf-v22-d64/).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d20
start_watchdog "${WATCHDOG_S:-540}"
S="python3 -m lightning_bench.cli sweep --host-decoupled"
st paper 330 $S --preset paper --providers la2,fla,la2_reference,flash_attn2,sdpa_cudnn,floor --out "$W/paper-v22"
st tgs 60 $S --preset tgs --providers la2,floor --out "$W/tgs-v22"
st d64 130 $S --batch 8 --heads 16 --head-dim 64 --seq-len 4096,16384,65536 --mode fwd,fwd_bwd \
  --providers la2,fla,la2_reference,floor --out "$W/perf-v22-d64"
stop_watchdog
cat "$L/steps.txt"
for r in paper tgs d64; do tail -n 30 "$L/$r.log" | grep -E "┃|│" | cut -c1-200; done
