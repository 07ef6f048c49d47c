#!/usr/bin/env bash
# 12th session, call 1 (1×H200, ≤ 9 min, no wheels): confirm the eleventh session's code on the GPU and profile the
# 1K forward before building anything. (1) the gate against results/baselines/nvidia-h200 (the 64 batch·heads rule
# does not touch the gate's shapes: expect pass); (2) `verify --only bf16` (90 checks); (3) Nsight Compute of the ws
# e32 launch at b2 h16 1K and 2K with the pipe and memory sections (which unit binds a block: tensor pipe, shared
# memory, L2, issue; docs/perf-notes.md v14 lead 2; the 2K full set of 2026-11-30f/d-ncu read L2 80%, L1/shared 58%,
# tensor 34%, issue 24%).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a7
start_watchdog "${WATCHDOG_S:-520}"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
st gate 60 python3 -m lightning_bench sweep --preset gate --no-plots --energy-window 0 --quiet --out "$W/gate"
st gate-vs-base 40 python3 -m lightning_bench gate --baseline results/baselines/nvidia-h200 --candidate "$W/gate" \
  --metrics time,peak_mem --json "$W/gate.gate.json"
st verify 150 python3 -m lightning_bench verify --only bf16 --fla none --out "$W/verify"
cat > "$W/drv.py" <<'PY'
import sys, torch
from lightning_bench.kernels import lightning_attn, decay_slopes
n = int(sys.argv[1])
q, k, v = (torch.randn(2, 16, n, 128, device="cuda").to(torch.bfloat16) * 0.5 for _ in range(3))
sl = decay_slopes(16).cuda()
for _ in range(4):
    lightning_attn(q, k, v, sl)
torch.cuda.synchronize()
PY
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for n in 1024 2048; do
  st ncu-$n 90 $NCU --clock-control none --kernel-name regex:_la2_fwd_gluon_ws_kernel --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
    --section MemoryWorkloadAnalysis_Tables --section WarpStateStats --section SchedulerStats \
    -o "$W/prof-$n" python3 "$W/drv.py" $n
  st ncu-details-$n 30 $NCU -i "$W/prof-$n.ncu-rep" --page details
done
stop_watchdog
cat "$L/steps.txt"
tail -n 4 "$L/gate-vs-base.log" | cut -c1-200
tail -n 3 "$L/verify.log" | cut -c1-200
grep -E "Duration|SM Frequency|Throughput|Pipe|pipe|Shared|Issue Slots|Eligible|Bank|Wavefronts" "$L/ncu-details-1024.log" | head -40
