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
