#!/usr/bin/env bash
# Next session, call 1 (one H200, no wheels, ≤ 5 min; written in the 23rd after its device time was spent):
# perf-notes v25 lead 1 — why the one-launch backward's wg2 programs see their first ring stage 5–7.5 µs after issuing
# it (the forward's ws programs: 1.5 µs; the same launch with one-warpgroup programs: 2–2.4 µs).
#  1. the stamp probe with the passes adjacent in dispatch order (BWD_PASS_INNER: grid (3, batch·heads, 1)), and at
#     1K and 8K again (the ramp does not grow with seq_len: a fixed cost);
#  2. Nsight Compute of one x3 launch at 1K (where the ramp is the largest share): warp states, source counters (the
#     first block's mbarrier wait: long-scoreboard / barrier vs no-instruction), memory workload, L2 / DRAM sectors,
#     and the source page (SASS with stall samples) for the loader's and the first wait's lines.
# Unpack into results/h200/tune/<date>/a24/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a24
start_watchdog "${WATCHDOG_S:-280}"
st stamps_inner 40 python3 tools/program_stamps.py --seq-lens 2048 --set BWD_PASS_INNER=True --out "$W/inner"
st stamps 50 python3 tools/program_stamps.py --seq-lens 1024,8192 --repeat 3 --out "$W/base"
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
# the profiled call is the sweep's own (lightning_bench.profile's child: warm-up, then the call between
# cudaProfilerStart/Stop, the profile command's ncu path)
st ncu 90 $NCU --clock-control none --cache-control all --profile-from-start off \
  --kernel-name regex:_la2_bwd_gluon_x3_kernel --launch-count 1 \
  --section SpeedOfLight --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables \
  --section WarpStateStats --section SourceCounters --section LaunchStats --import-source yes -o "$W/x3-1k" \
  python3 -m lightning_bench.profile --child --provider la2 --mode fwd_bwd --batch 2 --heads 16 --seq-len 1024 \
  --head-dim 128 --value-dim 128 --dtype bf16 --decay alibi --warmup 3 --iters 1
st details 20 $NCU -i "$W/x3-1k.ncu-rep" --page details
st source 30 $NCU -i "$W/x3-1k.ncu-rep" --page source --csv --print-source sass
stop_watchdog
cat "$L/steps.txt"
tail -n 6 "$L/stamps_inner.log" | cut -c1-250
tail -n 12 "$L/stamps.log" | cut -c1-250
