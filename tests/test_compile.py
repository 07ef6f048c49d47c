"""torch.compile: the kernels are reached through torch.library custom ops, so a compiled function has no graph
break at the attention call (fullgraph=True) and gives the eager results and gradients."""

from __future__ import annotations

import pytest
import torch

from lightning_bench.kernels import decay_slopes, lightning_attn

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _block(q, k, v, slopes, s0):
    """A small 'model': feature map, attention with a carried state, a reduction."""
    o, ht = lightning_attn(torch.nn.functional.elu(q) + 1, k, v, slopes, initial_state=s0, output_final_state=True,
                           block_n=16)
    return (o * 2).sum() + ht.square().sum()


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
@pytest.mark.parametrize("decay", [False, True])
def test_compiled_fullgraph_matches_eager(backend, decay):
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 40, 16, generator=g).to(DEVICE).requires_grad_() for _ in range(3))
    s0 = torch.randn(2, 2, 16, 16, generator=g).to(DEVICE).requires_grad_()
    sl = decay_slopes(2).to(DEVICE) if decay else None
    ref = _block(q, k, v, sl, s0)
    g_ref = torch.autograd.grad(ref, (q, k, v, s0))
    compiled = torch.compile(_block, fullgraph=True, backend=backend)  # fullgraph: any graph break raises
    out = compiled(q, k, v, sl, s0)
    grads = torch.autograd.grad(out, (q, k, v, s0))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-3)
    for a, b in zip(grads, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_custom_ops_pass_opcheck():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 20, 16, generator=g).to(DEVICE) for _ in range(3))
    sl = decay_slopes(2).to(DEVICE)
    s0 = torch.randn(1, 2, 16, 16, generator=g).to(DEVICE)
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    for args in ((q, k, v, sl, None, None, "bhnd", 16, False, "ieee"),
                 (q, k, v, sl, s0, None, "bhnd", 16, True, "tf32"),
                 (qt, kt, vt, None, None, None, "bnhd", 16, True, "ieee")):
        torch.library.opcheck(torch.ops.lightning_bench.la2_fwd.default, args)
    do = torch.randn_like(q)
    torch.library.opcheck(torch.ops.lightning_bench.la2_bwd.default,
                          (q, k, v, do, sl, s0, None, None, "bhnd", 16, True, "ieee"))
