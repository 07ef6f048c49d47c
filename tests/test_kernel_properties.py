"""Property-based tests (hypothesis): random shapes, layouts, block sizes, decays, states and packings, each
checked against the float64 reference with NaN-poisoned outputs (CPU interpreter, fp32, IEEE dots → 1e-5)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_bench.kernels import lightning_attn, lightning_attn_reference

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


pytestmark = pytest.mark.usefixtures("nan_poison")  # fixture in conftest.py


def rel(x, ref):
    x, ref = x.detach().double().cpu(), ref.detach().double().cpu()
    return float((x - ref).norm() / ref.norm().clamp_min(1e-300))


@st.composite
def problems(draw):
    b = draw(st.integers(1, 2))
    h = draw(st.integers(1, 3))
    n = draw(st.integers(1, 80))
    d = draw(st.integers(16, 40))
    e = draw(st.integers(16, 40))
    layout = draw(st.sampled_from(["bhnd", "bnhd"]))
    block_n = draw(st.sampled_from([16, 32]))
    decay = draw(st.one_of(st.none(), st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=h, max_size=h)))
    states = draw(st.booleans())
    seq_split = draw(st.sampled_from([1, 1, 2, 3, "auto"]))
    seed = draw(st.integers(0, 2**31 - 1))
    return b, h, n, d, e, layout, block_n, decay, states, seq_split, seed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_random_problems_match_reference(p):
    b, h, n, d, e, layout, block_n, decay, states, seq_split, seed = p
    g = torch.Generator().manual_seed(seed)
    shp = (lambda x: (b, h, n, x)) if layout == "bhnd" else (lambda x: (b, n, h, x))
    q, k, v = (torch.randn(shp(x), generator=g).to(DEVICE).requires_grad_() for x in (d, d, e))
    sl = None if decay is None else torch.tensor(decay, dtype=torch.float32, device=DEVICE)
    s0 = torch.randn(b, h, d, e, generator=g).to(DEVICE).requires_grad_() if states else None
    out = lightning_attn(q, k, v, sl, layout=layout, initial_state=s0, output_final_state=states, block_n=block_n,
                         seq_split=seq_split)
    o, ht = out if states else (out, None)
    leaves = [q, k, v] + ([s0] if states else [])
    outs = [o] + ([ht] if states else [])
    gouts = [torch.randn(x.shape, generator=g).to(DEVICE, x.dtype) for x in outs]
    grads = torch.autograd.grad(outs, leaves, gouts)
    r = [x.detach().double().requires_grad_() for x in leaves]
    ref = lightning_attn_reference(r[0], r[1], r[2], sl, layout=layout, initial_state=r[3] if states else None,
                                   output_final_state=states)
    refs = list(ref) if states else [ref]
    rgrads = torch.autograd.grad(refs, r, [x.double() for x in gouts])
    for name, x, y in list(zip(("o", "final_state"), outs, refs)) + list(zip(("dq", "dk", "dv", "ds0"), grads,
                                                                              rgrads)):
        assert torch.isfinite(x).all(), f"{name} has unwritten (NaN) or non-finite entries"
        assert x.shape == y.shape, name
        assert rel(x, y) <= 1e-5, (name, rel(x, y))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 40), min_size=1, max_size=5), st.integers(0, 2**31 - 1))
def test_random_packings_equal_separate_runs(lengths, seed):
    total = sum(lengths)
    if total == 0:
        return
    h, d = 2, 16
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, h, total, d, generator=g).to(DEVICE) for _ in range(3))
    cu = torch.tensor([0] + torch.tensor(lengths).cumsum(0).tolist(), dtype=torch.int64, device=DEVICE)
    o = lightning_attn(q, k, v, torch.tensor([0.1, 1.0], device=DEVICE), cu_seqlens=cu, block_n=16)
    start = 0
    for n in lengths:
        if n:
            part = lightning_attn(q[:, :, start:start + n], k[:, :, start:start + n], v[:, :, start:start + n],
                                  torch.tensor([0.1, 1.0], device=DEVICE), block_n=16)
            assert rel(o[:, :, start:start + n], part) <= 1e-6
        start += n
