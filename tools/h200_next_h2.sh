#!/usr/bin/env bash
# Session 2026-11-30 (sixth), call 8 (1×H200): why is the e64 launch slow? Nsight Compute full set of one Gluon WS
# launch with value tile 64 and a 2-way split at b2 h16 d128 32K (tune: 0.72× the e32 launch), against the e32
# launch's profile of call 4 (tools/h200_next_d2.sh).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=h2
start_watchdog "${WATCHDOG_S:-120}"
cat > "$W/drv64.py" <<'PY'
import torch
from lightning_bench.kernels import decay_slopes
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G
n = 32768
q, k, v = (torch.randn(2, 16, n, 128, device="cuda").to(torch.bfloat16) * 0.5 for _ in range(3))
sl = decay_slopes(16).cuda()
o = torch.empty_like(v)
p = G.Plan.make(n, 64, 3, 2, True)
for _ in range(4):
    G.forward(q, k, v, sl, "bhnd", p, o)
torch.cuda.synchronize()
PY
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
st ncu-e64 70 $NCU --clock-control none --kernel-name regex:_la2_fwd_gluon_ws_kernel --launch-skip 3 --launch-count 1 \
  --set full --import-source no -o "$W/prof-e64-32768" python3 "$W/drv64.py"
st ncu-details 20 $NCU -i "$W/prof-e64-32768.ncu-rep" --page details
st ncu-source 20 $NCU -i "$W/prof-e64-32768.ncu-rep" --page source --csv --print-source sass
stop_watchdog
cat "$L/steps.txt"
grep -E "Duration|L2 Cache Throughput|DRAM Throughput|Compute \(SM\) Throughput|Issue Slots Busy|Registers Per|Warp Cycles Per Issued|No Eligible" "$L/ncu-details.log" | head -12
