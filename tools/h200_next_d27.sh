#!/usr/bin/env bash
# 26th session, call 4 (one H200, no wheels, ≤ 3 min): how many bytes do la2's kernels move through DRAM? Nsight
# Compute metrics (L2 flushed before each kernel, as the sweep's timer) of the forward (ws e32) and the backward's one
# launch (96 programs) at b2 h16 d128 2K / 8K / 32K, and of the byte floor's copy kernels at 2K: DRAM bytes read and
# written, L2 hit rate, L2 sectors read by the SMs, duration. The question (perf-notes v28): is the one launch at the
# DRAM bound for the 12 gradient-pass units it would read/write with no sharing, or do its passes already share q, do
# (dk and dv sweep the same blocks in the same order) through L2? Unpack into results/h200/tune/<date>/d27/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d27
start_watchdog "${WATCHDOG_S:-170}"
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
MET=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sector_hit_rate.pct,lts__t_sectors_srcunit_tex_op_read.sum,lts__t_sectors_srcunit_tex_op_write.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed
for n in 2048 8192 32768; do
  st ncu-$n 40 $NCU --clock-control none --cache-control all --profile-from-start off --metrics $MET --csv \
    --kernel-name regex:"_la2_(bwd_gluon_x3|fwd_gluon_ws)_kernel" --launch-count 2 \
    python3 -m lightning_bench.profile --child --provider la2 --mode fwd_bwd --batch 2 --heads 16 --seq-len $n \
    --head-dim 128 --value-dim 128 --dtype bf16 --decay alibi --warmup 3 --iters 1
done
st ncu-floor 40 $NCU --clock-control none --cache-control all --profile-from-start off --metrics $MET --csv \
  --launch-count 6 python3 -m lightning_bench.profile --child --provider floor --mode fwd_bwd --batch 2 --heads 16 \
  --seq-len 2048 --head-dim 128 --value-dim 128 --dtype bf16 --decay alibi --warmup 3 --iters 1
stop_watchdog
cat "$L/steps.txt"
for f in "$L"/ncu-*.log; do echo "== $f"; grep -E '^"[0-9]' "$f" | awk -F'","' '{print substr($5,1,28)" | "$(NF-2)" | "$NF}'; done
