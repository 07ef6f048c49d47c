#!/usr/bin/env bash
# 15th session, call 1 (2×H200, ≤ 9.7 min, wheel prefix, carry .whl): issue #3's whole correctness matrix on the
# current kernels (the last whole run was dd0aef8, before the Gluon forward and backward), side by side:
#   GPU 0: `verify --only '^bf16'` with fla on the long cases (fla autotunes ~1.5 min per new shape), and next to it
#          the two GPU tests never run on a GPU (a process's first backward, a thread without a CUDA context), then
#          the negative control: the same first-backward script with bind_context made a no-op must fail.
#   GPU 1: `verify --only '^fp'` (fp16, fp32 IEEE, fp32 tf32).
set -u
source "$(dirname "$0")/device_lib.sh"
PACK_NAME=a14
start_watchdog "${WATCHDOG_S:-570}"
nvidia-smi --query-gpu=index,name,clocks.sm,power.draw,temperature.gpu --format=csv > "$W/gpu.txt" 2>&1
probe() {  # the first-backward script of tests/test_gluon_fwd.py, bind_context replaced by a no-op if $1 = noop
  cat > "$W/first_bwd.py" <<'PY'
import sys, torch
from lightning_bench.kernels import decay_slopes, lightning_attn, lightning_attn_reference
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G
if sys.argv[1:] == ["noop"]:
    G.bind_context = lambda device: None
g = torch.Generator().manual_seed(5)
q, k, v, do = (torch.randn(2, 16, 2048, 128, generator=g).mul(0.5).cuda().to(torch.bfloat16) for _ in range(4))
sl = decay_slopes(16).cuda()
plans = G.backward_plans(q, k, v, do, sl, 'bhnd')
assert plans is not None and all(p.nseg == 1 for p in plans), plans
spare = [torch.empty_like(q) for _ in range(6)]
del spare
qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
grads = torch.autograd.grad(lightning_attn(qg, kg, vg, sl), (qg, kg, vg), do)
q64, k64, v64 = (t.double().requires_grad_() for t in (q, k, v))
ref = torch.autograd.grad(lightning_attn_reference(q64, k64, v64, sl), (q64, k64, v64), do.double())
errs = [float((x.double() - r).norm() / r.norm()) for x, r in zip(grads, ref)]
assert max(errs) <= 1e-2, errs
print('ok', errs)
PY
  python3 "$W/first_bwd.py" "$@"
}
(
  export CUDA_VISIBLE_DEVICES=1
  st verify-fp 540 python3 -m lightning_bench verify --only '^fp' --out "$W/verify-fp"
) & FP=$!
export CUDA_VISIBLE_DEVICES=0
(
  st tests 150 python3 -m pytest -q -p no:cacheprovider tests/test_gluon_fwd.py -k \
    "first_backward_of_a_process or without_a_cuda"
  st probe-bound 60 probe
  st probe-noop 60 probe noop
) & TP=$!
st verify-bf16 540 python3 -m lightning_bench verify --only '^bf16' --fla long --out "$W/verify-bf16"
wait "$TP" "$FP"
stop_watchdog
cat "$L/steps.txt"
grep -E "passed|failed" "$L/tests.log" | cut -c1-300
tail -n 2 "$L/probe-bound.log" | cut -c1-300
grep -E "ok|Error|error" "$L/probe-noop.log" | tail -n 3 | cut -c1-300
tail -n 2 "$L/verify-bf16.log" "$L/verify-fp.log" | cut -c1-200
