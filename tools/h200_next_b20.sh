#!/usr/bin/env bash
# 20th session, call 2 (one H200, no wheels, ≤ ~7 min): the fused dk, dv kernel by the rule (fuse_dkdv, from 64
# batch·heads, head_dim 64 and 128): GPU tests through autograd and CUDA graphs, the probe at more shapes (d64,
# 96 batch·heads, long n), and the paper preset for la2 alone (b4 h32 d128: 128 batch·heads, fused).
# Unpack b20.tar.gz into results/h200/tune/2026-12-01d/b20/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b20
start_watchdog "${WATCHDOG_S:-440}"
st tests 220 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "fused_dkdv or (gluon_backward_matches_reference and defaults) or under_cuda_graph or backward_stays"
st probe 120 python3 tools/probe_dkdv.py --out "$W/probe" --rounds 2 \
  --cases "4x16:16384;6x16:2048,8192;2x32:32768;8x16x64:2048,8192,32768;4x16x64:4096,16384;16x16x64:8192"
st paper 90 python3 -m lightning_bench.cli sweep --preset paper --providers la2 --host-decoupled --out "$W/paper-la2"
stop_watchdog
cat "$L/steps.txt"
tail -n 15 "$L/tests.log"
grep -E "^(b[0-9]|check)" "$L/probe.log" | cut -c1-300
grep -E " la2 " "$L/paper.log" | cut -c1-150 | tail -n 21
