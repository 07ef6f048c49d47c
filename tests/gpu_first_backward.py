"""A process's first backward is an unsplit Gluon backward (b2 h16 2K bf16, ALiBi): run as a script in a fresh process
by ``test_first_backward_of_a_process_runs_the_gluon_passes`` (tests/test_gluon_fwd.py) and by
tools/h200_next_c14.sh. Prints ``ok`` and the gradients' rel-L2 against the float64 reference; fails otherwise.
``--no-bind-context`` replaces ``gluon_fwd.bind_context`` by a no-op (the negative control)."""

import sys

import torch

from lightning_bench.kernels import decay_slopes, lightning_attn, lightning_attn_reference
from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G

if sys.argv[1:] == ["--no-bind-context"]:
    G.bind_context = lambda device: None
g = torch.Generator().manual_seed(5)
q, k, v, do = (torch.randn(2, 16, 2048, 128, generator=g).mul(0.5).cuda().to(torch.bfloat16) for _ in range(4))
sl = decay_slopes(16).cuda()
plans = G.backward_plans(q, k, v, do, sl, 'bhnd')
assert plans is not None and all(p.nseg == 1 for p in plans), plans
G.backward(q, k, v, do, sl, 'bhnd', plans)  # on this thread: the three passes' kernels compiled and loaded
torch.cuda.synchronize()  # (loading binds a context), and dq, dk, dv's blocks cached (no cudaMalloc, which
# binds one too): the backward thread's first CUDA work is then the dq pass's TMA descriptors
qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
grads = torch.autograd.grad(lightning_attn(qg, kg, vg, sl), (qg, kg, vg), do)
q64, k64, v64 = (t.double().requires_grad_() for t in (q, k, v))
ref = torch.autograd.grad(lightning_attn_reference(q64, k64, v64, sl), (q64, k64, v64), do.double())
errs = [float((x.double() - r).norm() / r.norm()) for x, r in zip(grads, ref)]
assert max(errs) <= 1e-2, errs
print('ok', errs)
