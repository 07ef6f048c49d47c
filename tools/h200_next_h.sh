#!/usr/bin/env bash
# 2026-11-30, third session, call 4 (1×H200): where the forward kernel's time goes. Ablation variants
# (tools/ablate_fwd.py) at 64K (one-wave split and one segment) and 2K, then Nsight Compute's speed-of-light,
# warp-state and memory sections for one forward kernel launch at 64K and at 2K (if ncu can read the counters here).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=h
start_watchdog "${WATCHDOG_S:-250}"
st ablate 120 python3 tools/ablate_fwd.py --out "$W/ablate" --shapes 2x16x65536x128:4,2x16x65536x128:1,2x16x2048x128:1
cat > "$W/ncu_drv.py" <<'PY'
import sys, torch
from lightning_bench.kernels import lightning_attn, decay_slopes
n = int(sys.argv[1])
q, k, v = (torch.randn(2, 16, n, 128, device="cuda").to(torch.bfloat16) * 0.5 for _ in range(3))
sl = decay_slopes(16).cuda()
for _ in range(4):
    lightning_attn(q, k, v, sl, seq_split="auto")
torch.cuda.synchronize()
PY
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for n in 65536 2048; do
  st ncu-fwd-$n 50 $NCU --clock-control none --kernel-name regex:_la2_fwd_kernel --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis --section Occupancy \
    --section LaunchStats --section SchedulerStats python3 "$W/ncu_drv.py" $n
done
stop_watchdog
cat "$L/steps.txt"
