#!/usr/bin/env bash
# 2026-11-30, fourth session, call 2: the previous kernel.py (tools/_old_kernel.py, untracked) against the current
# one (decay on the narrower tile, GEMM-form segment states, the state combine inside the main kernels), forward at
# 1K–128K for the launch table and the candidate tiles, backward for the table and the fused short entry's dV tile.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=m
start_watchdog "${WATCHDOG_S:-420}"
st fwd 250 python3 tools/variants_fwd.py --out "$W/fwd" --variants old,base --passes fwd \
  --configs table,e32w4s3,e128w8s3P4,e64w4s3P4 --short 1024,2048,4096,8192 --long 16384,32768,65536,131072
st bwd 150 python3 tools/variants_fwd.py --out "$W/bwd" --variants old,base --passes bwd \
  --configs table,bwd_fused_be64,bwd_fused_be32 --short 2048,4096,8192 --long 16384,65536
stop_watchdog
cat "$L/steps.txt"
grep -h "M tok/s\|FAILED" "$L/fwd.log" "$L/bwd.log"
