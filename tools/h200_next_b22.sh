#!/usr/bin/env bash
# Next session, call 2 (one H200, no wheels, ≤ 4 min; written in the 21st): perf-notes v23 lead 1 — why the backward's
# side-by-side one launch (`_la2_bwd_gluon_x3_kernel`, b2 h16 d128) loses 6–12% with QK_AHEAD while the forward's wg2
# launch gains. Nsight Compute of one x3 launch at 2K with the plain loop and with QK_AHEAD forced (speed of light,
# memory, warp states, scheduler, source counters). Unpack into results/h200/tune/<date>/b22/.
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=b22
start_watchdog "${WATCHDOG_S:-230}"
cat > "$W/drv.py" <<'PY'
import os, sys, torch
sys.path.insert(0, os.getcwd())
from lightning_bench.kernels import decay_slopes, lightning_attn
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G
G.QK_AHEAD = {"on": True, "off": None}[sys.argv[1]]  # off: the package's rule (the plain loop for x3)
n = int(sys.argv[2])
g = torch.Generator(device="cuda").manual_seed(0)
q, k, v, do = (torch.randn(2, 16, n, 128, device="cuda", generator=g).to(torch.bfloat16) for _ in range(4))
q, k, v = (t.requires_grad_() for t in (q, k, v))
sl = decay_slopes(16).cuda()
for _ in range(5):
    torch.autograd.grad(lightning_attn(q, k, v, sl), (q, k, v), do)
torch.cuda.synchronize()
PY
NCU=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for form in off on; do
  st ncu-$form 80 $NCU --clock-control none --kernel-name regex:_la2_bwd_gluon_x3_kernel --launch-skip 3 --launch-count 1 \
    --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats \
    --section SourceCounters --section LaunchStats -o "$W/x3-$form" python3 "$W/drv.py" $form 2048
  st details-$form 20 $NCU -i "$W/x3-$form.ncu-rep" --page details
done
stop_watchdog
cat "$L/steps.txt"
for form in off on; do
  echo "== $form"
  grep -E "Duration|L2 Cache Throughput|DRAM Throughput|Compute \(SM\) Throughput|Issue Slots Busy|Registers Per|Warp Cycles Per Issued|No Eligible|Stall" "$L/details-$form.log" | head -20
done
