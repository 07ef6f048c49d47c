#!/usr/bin/env bash
# 29th session, call 5 (one H200, no wheels, ≤ 9.5 min): FAST_HOST after the grid fix (a 2-D grid reached
# CompiledKernel's runner, which reads three dims): the new tests and a30's failure, whether thread-local state
# survives on autograd's device thread (tools/thread_probe.py), the host A/B again, then the GPU tests of the other
# launch sites (fused dk/dv, wg2 and lookback forwards, reverse, CUDA graphs, split and side-by-side backwards).
set -u
PACK_NAME=b30
source "$(dirname "$0")/device_lib.sh"
export PYTHONPATH=$PWD
start_watchdog "${WATCHDOG_S:-570}"
st new_tests 150 python3 -m pytest -q -rf -p no:cacheprovider tests/test_gluon_fwd.py \
  -k "fast_host or fast_launch or fast_descriptors or launch_key or test_gluon_backward_under_cuda_graph"
st thread_probe 60 python3 tools/thread_probe.py --calls 200
st host_parts 90 python3 tools/host_parts.py --out "$W/host_parts" --calls 200 --repeat 3 --ab
st tests 300 python3 -m pytest -q -rf -p no:cacheprovider tests/test_gluon_fwd.py -k "fused_dkdv or \
wg2_and_lookback or reverse_forward or shifted_initial or split_backward or concurrent_backward or \
dispatches_to_gluon or long_sequence_plan or pair_matches or sequence_parallel_gluon or without_a_cuda_context or \
first_backward or cluster_forward_matches or pdl_launches"
stop_watchdog
cat "$L/steps.txt"
for f in new_tests tests; do grep -E "FAILED|ERROR" "$L/$f.log" | head; tail -n 1 "$L/$f.log"; done
cat "$L/thread_probe.log"; grep -E "total|_bwd|autograd|one_launch|descs|gluon_forward |gluon_backward " "$L/host_parts.log"
