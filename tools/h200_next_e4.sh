#!/usr/bin/env bash
# 10th session, call 5 (1×H200, ≤ 6.5 min, wheel prefix, carry .whl): `verify` in bf16 with the Gluon backward as the
# default (first the whole bf16 matrix without fla, then the long cases beside fla's chunk_simple_gla).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=e4
start_watchdog "${WATCHDOG_S:-380}"
st verify-bf16 150 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify-bf16"
st verify-long-fla 200 python3 -m lightning_bench verify --only bf16-long --fla long --out "$W/verify-bf16-long-fla"
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/verify-bf16.log" | cut -c1-200
tail -n 14 "$L/verify-long-fla.log" | cut -c1-220
