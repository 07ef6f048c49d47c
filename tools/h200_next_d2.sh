#!/usr/bin/env bash
# Session 2026-11-30 (sixth), call 4: Nsight Compute, full set, of one launch of the warp-specialized Gluon forward
# (b2 h16 d128 bf16 decay) at 2K and 32K: pipe utilisation, warp stalls, and per-SASS-instruction stall samples
# (source page, CSV) to find what bounds the ~0.82 µs per block.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=d2
start_watchdog "${WATCHDOG_S:-280}"
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
for n in 2048 32768; do
  st ncu-$n 110 $NCU --clock-control none --kernel-name regex:_la2_fwd_gluon_ws_kernel --launch-skip 3 --launch-count 1 \
    --set full --import-source no -o "$W/prof-$n" python3 "$W/drv.py" $n
  st ncu-details-$n 30 $NCU -i "$W/prof-$n.ncu-rep" --page details
  st ncu-source-$n 30 $NCU -i "$W/prof-$n.ncu-rep" --page source --csv --print-source sass
  cp "$L/ncu-details-$n.log" "$OUT/details-$n.txt"
done
stop_watchdog
cat "$L/steps.txt"
grep -E "Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput|Registers|Achieved Occupancy|Issue Slots Busy|No Eligible|Warp Cycles Per Issued|L1/TEX Hit|Shared Memory|Executed Ipc" "$L/ncu-details-2048.log" | head -30
