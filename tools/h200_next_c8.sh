#!/usr/bin/env bash
# 13th session, last call (1×H200, ≤ 5 min, no wheels): torch.compile(mode="reduce-overhead") over the attention
# (the Gluon backward inside CUDA graph trees), then the whole Gluon GPU test file until the step limit.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c8
start_watchdog "${WATCHDOG_S:-290}"
st compile 110 python3 -m pytest -q -x tests/test_gluon_fwd.py -k "compiled_training or cuda_graph" -p no:cacheprovider
st gluon 160 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider --durations=15
stop_watchdog
cat "$L/steps.txt"
tail -n 6 "$L/compile.log" | cut -c1-300
tail -n 25 "$L/gluon.log" | cut -c1-250
