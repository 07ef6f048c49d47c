#!/usr/bin/env bash
# 2026-11-30, fourth session, call 5: split forwards at short lengths now that the segment states are combined in the
# main kernel (e32 two programs per SM, e64, e128 two segments); the backward's dV sweep with the decay on dO.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=p
start_watchdog "${WATCHDOG_S:-300}"
st fwd 150 python3 tools/variants_fwd.py --out "$W/fwd" --variants base --passes fwd \
  --configs table,e32w4s3P2,e64w4s3P2,e64w4s3,e128w8s3P2,e128w8s3P4,e32w4s3P4 --short 1024,2048,4096,8192 \
  --long 16384,32768,65536
st bwd 100 python3 tools/variants_fwd.py --out "$W/bwd" --variants old,base --passes bwd --configs table \
  --short 2048,8192 --long 16384,65536
stop_watchdog
cat "$L/steps.txt"
grep -h "M tok/s\|FAILED" "$L/fwd.log" "$L/bwd.log"
