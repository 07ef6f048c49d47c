#!/usr/bin/env bash
# 7th session, call 5 (2×H200): GPU 0 the paper preset (b4 h32 d128, 512-32K, fwd/bwd/fwd_bwd) on the current kernels
# with the competing providers, GPU time (host-decoupled, as the perf preset); GPU 1 the GPU tests of the chunked
# pre-pass's smaller partial buffer, la2's forward rows at 64K/128K (peak memory), and a gate against the baseline.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=n2
start_watchdog "${WATCHDOG_S:-440}"
( export CUDA_VISIBLE_DEVICES=1
  st pytest 90 python3 -m pytest -q -rf tests/test_seg_end.py tests/test_gluon_fwd.py \
    -k "segment_end or long_sequence or knobs or initial_state or matches_reference" -p no:cacheprovider
  st la2-long 60 python3 -m lightning_bench sweep --preset perf --providers la2 --seq-len 65536,131072 --modes fwd \
    --no-plots --quiet --out "$W/la2-long"
  st gate 90 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate-c"
  st gate-vs-base 60 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate-c" \
    --metrics time,peak_mem --rerun --rerun-out "$W/gate-c-rerun" --json "$W/gate-c.gate.json" ) &
T1=$!
export CUDA_VISIBLE_DEVICES=0
st paper 400 python3 -m lightning_bench sweep --preset paper --providers la2,fla,la2_reference,flash_attn2,sdpa_cudnn \
  --host-decoupled --out "$W/paper"
st paper-report 25 python3 -m lightning_bench report "$W/paper"
wait $T1
stop_watchdog
cat "$L/steps.txt"
tail -n 2 "$L/pytest.log"
grep -E "la2 .*fwd" "$L/la2-long.log" | tail -n 2
tail -n 3 "$L/gate-vs-base.log"
tail -n 3 "$L/paper.log"
