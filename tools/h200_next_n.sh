#!/usr/bin/env bash
# 2026-11-30, fourth session, call 3: why the long forward lost ~1% (64K/128K): the GEMM-form segment states vs the
# rescaled ones, the in-kernel combine vs the scan kernel; per-kernel times.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=n
start_watchdog "${WATCHDOG_S:-300}"
st fwd 200 python3 tools/variants_fwd.py --out "$W/fwd" --variants old,base,seg_rescaled,always_scan --passes fwd \
  --configs e128w8s3P4 --short "" --long 16384,65536,131072
st prof 80 python3 tools/prof_fwd_kernels.py --out "$W/prof" --variants old,base,seg_rescaled \
  --cases 65536:e128w8s3P4,131072:e128w8s3P4
stop_watchdog
cat "$L/steps.txt"
grep -h "M tok/s\|FAILED\|span" "$L/fwd.log" "$L/prof.log"
