#!/usr/bin/env bash
# 29th session, call 4 (one H200, no wheels, ≤ 9.5 min): gluon_fwd.FAST_HOST (descriptors copied from validated
# templates, launches without Triton's per-launch binding; perf-notes v31): the new tests, the host-time A/B
# (tools/host_parts.py --ab, tools/host_split.py), then the GPU tests of every launch site that goes through _launch
# (one launch, compile and capture paths).
# Unpack into results/h200/tune/<date>/a30/. The working tree's commit is recorded by hand (the device's .git is stale).
set -u
PACK_NAME=a30
source "$(dirname "$0")/device_lib.sh"
export PYTHONPATH=$PWD
start_watchdog "${WATCHDOG_S:-560}"
st new_tests 120 python3 -m pytest -q -rf -p no:cacheprovider tests/test_gluon_fwd.py -k "fast_host or fast_launch or fast_descriptors or launch_key"
st host_parts 90 python3 tools/host_parts.py --out "$W/host_parts" --calls 200 --repeat 3 --ab
st host_split 90 python3 tools/host_split.py --out "$W/host_split" --calls 200 --repeat 3
st tests 280 python3 -m pytest -q -rf -p no:cacheprovider tests/test_compile.py tests/test_gluon_fwd.py \
  -k "test_compile.py or custom_op or compiled_training or under_cuda_graph or one_launch_backward_equals or pdl_launches"
stop_watchdog
cat "$L/steps.txt"
for f in new_tests tests; do grep -E "FAILED|ERROR" "$L/$f.log" | head; tail -n 1 "$L/$f.log"; done
tail -n 30 "$L/host_parts.log"; tail -n 13 "$L/host_split.log"
