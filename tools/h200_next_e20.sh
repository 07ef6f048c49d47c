#!/usr/bin/env bash
# 20th session, call 5 (one H200, wheels carried, ≤ ~9.5 min): finish the d20 runs (`sweep --resume`: the paper
# run's floor rows at 32K, the d64 rows at 64K), then on the final code: verify bf16, the GPU tests of the fused
# dk, dv backward (float64, the passes, autograd, CUDA graphs, the split) and the gate preset against the baseline.
# Unpack e20.tar.gz: paper-v22/ and perf-v22-d64/ over results/h200/, the rest into results/h200/tune/2026-12-01d/e20/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=e20
start_watchdog "${WATCHDOG_S:-560}"
S="python3 -m lightning_bench.cli sweep"
st paper-resume 45 $S --resume results/h200/paper-v22
st d64-resume 100 $S --resume results/h200/perf-v22-d64
cp -r results/h200/paper-v22 results/h200/perf-v22-d64 "$W/"
st verify 110 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
st tests 180 python3 -m pytest -q tests/test_gluon_fwd.py -p no:cacheprovider \
  -k "fused_dkdv or split_backward or (gluon_backward_matches_reference and defaults) or under_cuda_graph"
st gate 60 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 60 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
stop_watchdog
cat "$L/steps.txt"
tail -n 3 "$L/verify.log" | cut -c1-200
tail -n 3 "$L/tests.log"
tail -n 14 "$L/gate-vs-base.log" | cut -c1-200
grep -E " (la2|fla|floor|la2_reference) " "$L/d64-resume.log" "$L/paper-resume.log" | cut -c1-160
