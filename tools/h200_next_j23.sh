#!/usr/bin/env bash
# 23rd session, last call (one H200, no wheels, ≤ 4.5 min): the final code's GPU tests (PDL: inputs written right
# before each launch, the backward at 7 shapes with PDL on; the backward's defaults; the CUDA-graph captures), then the
# stamp probe once (tools/program_stamps.py, b2 h16 2K). Unpack into results/h200/tune/<date>/j23/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=j23
start_watchdog "${WATCHDOG_S:-255}"
st tests 215 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "pdl or (gluon_backward_matches_reference and defaults) or cuda_graph"
st stamps 30 python3 tools/program_stamps.py --seq-lens 2048 --repeat 3 --out "$W/stamps"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/tests.log"
tail -n 6 "$L/stamps.log" | cut -c1-250
