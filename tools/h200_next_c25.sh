#!/usr/bin/env bash
# Next session, call 3 (one H200, no wheels, ≤ 2 min; written in the 24th): perf-notes v26 lead 2 — is the forward's
# 4.5 µs ramp (ws e32, 3.0 K SASS instructions; stage 0 lands 1.5 µs after issue) instruction fetch too? Nsight Compute
# of one forward launch at 1K with the source page (stall reasons per instruction; sum them per code region as
# results/h200/tune/2026-12-01h/a24/source_regions.csv does), and the stamp probe at 1K for comparison.
# Unpack into results/h200/tune/<date>/c25/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=c25
start_watchdog "${WATCHDOG_S:-110}"
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
st ncu 60 $NCU --clock-control none --cache-control all --profile-from-start off \
  --kernel-name regex:_la2_fwd_gluon_ws_kernel --launch-count 1 \
  --section SpeedOfLight --section WarpStateStats --section SourceCounters --section LaunchStats \
  --import-source yes -o "$W/fwd-1k" \
  python3 -m lightning_bench.profile --child --provider la2 --mode fwd --batch 2 --heads 16 --seq-len 1024 \
  --head-dim 128 --value-dim 128 --dtype bf16 --decay alibi --warmup 3 --iters 1
st source 20 $NCU -i "$W/fwd-1k.ncu-rep" --page source --csv --print-source sass
gzip -9 "$L/source.log"
st stamps 25 python3 tools/program_stamps.py --seq-lens 1024 --repeat 3 --out "$W/stamps"
stop_watchdog
cat "$L/steps.txt"
grep -E "^ *(1024)? +(fwd|bwd) " "$L/stamps.log" | cut -c1-200
