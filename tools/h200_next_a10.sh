#!/usr/bin/env bash
# 14th session, call 1 (1×H200, ≤ 10 min, no wheels): (1) the GPU tests of the thirteenth session's last changes,
# never run on the GPU: torch.compile's custom ops now take seq_split (the Gluon backward inside a compiled step and
# under CUDA graph trees), the TILE_MAJOR knob's correctness; (2) perf-notes v16 lead 1: TILE_MAJOR (a head's value
# tiles dispatched together) A/B on the forward and fwd_bwd at the two-tile launches, and the side streams with it;
# (3) lead 2: STATE_FIRST (the state copy before the ring stage's release: one barrier per block fewer on Triton 3.6)
# A/B on the default cases (b2 h16 1K first: the ≥ 4× OpenNLPLab target needs 3.3%).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a10
start_watchdog "${WATCHDOG_S:-580}"
st tests 240 python3 -m pytest -q -p no:cacheprovider tests/test_compile.py tests/test_gluon_fwd.py \
  -k "compiled or cuda_graph or TILE_MAJOR or tile_major or STATE_FIRST or state_first or streams"
st sfirst 120 python3 tools/tune_knob.py --knob state_first --repeat 2 --out "$W/state-first"
st knob 100 python3 tools/tune_knob.py --knob tile_major --cases bh64 --out "$W/tile-major"
st streams 80 python3 tools/tune_bwd_streams.py --tile-major --out "$W/streams-tile-major" \
  --shapes "4,16,128,32768/65536;4,16,64,16384"
stop_watchdog
cat "$L/steps.txt"
tail -n 5 "$L/tests.log" | cut -c1-300
grep -v "^ " "$L/sfirst.log" | cut -c1-250
grep -v "^ " "$L/knob.log" | cut -c1-250
grep -v "^ " "$L/streams.log" | cut -c1-250
