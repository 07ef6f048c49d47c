"""torch.compile: the kernels are reached through torch.library custom ops, so a compiled function has no graph
break at the attention call (fullgraph=True) and gives the eager results and gradients."""

from __future__ import annotations

import pytest
import torch

from lightning_bench.kernels import decay_slopes, lightning_attn, lightning_attn_reference
from lightning_bench.kernels.lightning_attn2 import kernel as K

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _op(name: str):
    """The custom op ``lightning_bench::<name>`` (``kernel.FWD_OP`` / ``BWD_OP``)."""
    return getattr(torch.ops.lightning_bench, name)


def _block(q, k, v, slopes, s0, seq_split="auto"):
    """A small 'model': feature map, attention with a carried state, a reduction."""
    o, ht = lightning_attn(torch.nn.functional.elu(q) + 1, k, v, slopes, initial_state=s0, output_final_state=True,
                           block_n=16, seq_split=seq_split)
    return (o * 2).sum() + ht.square().sum()


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("seq_split", ["auto", 1, 2])
def test_compiled_fullgraph_matches_eager(monkeypatch, backend, decay, seq_split):
    """Also: the custom ops receive the call's seq_split (forward and backward), so a compiled call runs the eager
    call's launches (the Gluon backward where eligible) instead of always the unsplit Triton ones."""
    torch._dynamo.reset()
    seen = []
    for name, pos in (("_fwd", 10), ("_bwd", 12)):  # seq_split's position in each signature
        real = getattr(K, name)
        monkeypatch.setattr(K, name, lambda *a, _real=real, _name=name, _pos=pos, **kw: seen.append(
            (_name, kw.get("seq_split", a[_pos] if len(a) > _pos else 1))) or _real(*a, **kw))
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, 40, 16, generator=g).to(DEVICE).requires_grad_() for _ in range(3))
    s0 = torch.randn(2, 2, 16, 16, generator=g).to(DEVICE).requires_grad_()
    sl = decay_slopes(2).to(DEVICE) if decay else None
    ref = _block(q, k, v, sl, s0, seq_split)
    g_ref = torch.autograd.grad(ref, (q, k, v, s0))
    seen.clear()
    compiled = torch.compile(lambda *a: _block(*a, seq_split), fullgraph=True, backend=backend)  # any break raises
    out = compiled(q, k, v, sl, s0)
    grads = torch.autograd.grad(out, (q, k, v, s0))
    assert {x for x in seen} == {("_fwd", seq_split), ("_bwd", seq_split)}, seen
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
                 (q, k, v, sl, s0, None, "bhnd", 16, True, "tf32", 0),
                 (qt, kt, vt, None, None, None, "bnhd", 16, True, "ieee", 2)):
        torch.library.opcheck(_op(K.FWD_OP).default, args)
    with pytest.raises(ValueError, match="seq_split"):
        _op(K.FWD_OP)(q, k, v, sl, None, None, "bhnd", 16, False, "ieee", -1)
    do = torch.randn_like(q)
    for split in (1, 0, 2):
        torch.library.opcheck(_op(K.BWD_OP).default,
                              (q, k, v, do, sl, s0, None, None, "bhnd", 16, True, "ieee", split))


def test_bwd_op_returns_the_stacked_gradients_as_one_buffer(monkeypatch):
    """The one-launch Gluon backward writes dq, dk, dv as views of one stacked buffer (``gluon_fwd.x3_one_out``), but
    a custom op may not return outputs that alias each other: torch raises at every call (a compiled training step at
    b2 h16 d128 failed so, 2026-12-01). The ``la2_bwd`` op therefore returns one flat gradient buffer, and the views
    are made outside it (``grad_views``). Here a stand-in for the Gluon backward (this machine may have no Hopper GPU)
    writes the float64 reference's gradients into the buffer it is given, stacked as the one launch does; the op must
    return that buffer, and a compiled training step (inductor) must get the reference's gradients through it."""
    from lightning_bench.kernels.lightning_attn2 import gluon_fwd as G

    g = torch.Generator().manual_seed(5)
    q, k, v, do = (torch.randn(1, 2, 24, 16, generator=g, dtype=torch.float64) for _ in range(4))
    sl = decay_slopes(2)
    qr, kr, vr = (x.clone().requires_grad_() for x in (q, k, v))
    want = torch.autograd.grad(lightning_attn_reference(qr, kr, vr, sl), (qr, kr, vr), do)
    given = []

    def fake_backward(q, k, v, do, slopes, layout, plans, grads=None):
        given.append(grads)
        stacked = (grads.view(3, *q.shape) if grads is not None
                   else torch.empty((3, *q.shape), dtype=q.dtype, device=q.device))
        stacked.copy_(torch.stack(want))
        return stacked.unbind(0)

    monkeypatch.setattr(K, "_gluon_bwd_plans", lambda *a, **kw: ["a plan"])
    monkeypatch.setattr(G, "backward", fake_backward)
    want = [w.to(DEVICE) for w in want]
    sl = sl.to(DEVICE)
    qf, kf, vf, dof = (x.float().to(DEVICE) for x in (q, k, v, do))
    grads, _ = _op(K.BWD_OP)(qf, kf, vf, dof, sl, None, None, None, "bhnd", 16, False, "ieee", 0)
    assert len(given) == 1 and given[0] is grads
    assert grads.shape == (3 * q.numel(),) and grads._base is None
    for got, w in zip(K.grad_views(grads, qf, kf, vf), want):
        assert got.shape == w.shape and got.untyped_storage().data_ptr() == grads.untyped_storage().data_ptr()
        torch.testing.assert_close(got.double(), w, rtol=1e-6, atol=1e-6)
    # a compiled step through the op: the gradients, views of the one buffer, reach q, k, v
    torch._dynamo.reset()
    xs = [x.float().to(DEVICE).requires_grad_() for x in (q, k, v)]
    step = torch.compile(lambda q, k, v: (lightning_attn(q, k, v, sl, block_n=16, seq_split=1) * dof).sum(),
                         fullgraph=True, backend="inductor")
    step(*xs).backward()
    assert len(given) == 2 and given[1] is not None
    for x, w in zip(xs, want):
        torch.testing.assert_close(x.grad.double(), w, rtol=1e-6, atol=1e-6)


# What each version of the custom ops' names stands for (kernel.FWD_OP / BWD_OP): their schemas, and a digest of the
# code torch's compile caches would replay from a warm cache under an unchanged name (pytorch/pytorch#144344): the
# fakes, the registered backward (the views it makes) and setup_context, all inside kernel._register_custom_ops,
# and _common.grad_views.
_OPS_RECORD = {
    "la2_fwd_v2": "lightning_bench::la2_fwd_v2(Tensor q, Tensor k, Tensor v, Tensor? slopes, Tensor? s0, Tensor? cu, "
                  "str layout, SymInt block_n, bool want_ht, str fp32_dot, SymInt seq_split=1) -> (Tensor, Tensor)",
    "la2_bwd_v2": "lightning_bench::la2_bwd_v2(Tensor q, Tensor k, Tensor v, Tensor do, Tensor? slopes, Tensor? s0, "
                  "Tensor? dht, Tensor? cu, str layout, SymInt block_n, bool want_ds0, str fp32_dot, "
                  "SymInt seq_split=1) -> (Tensor, Tensor)",
    "source": "a9d58bb513f4a825",
}


def test_custom_op_names_change_with_their_definition():
    """A change to the ops' schema, fakes or registered backward under the same names would let a user's warm
    inductor cache replay the old compiled code (seen 2026-12-01: inductor asserting the old gradient shapes after
    la2_bwd's schema changed). So any edit there must come with a new version in the names, recorded here."""
    import hashlib
    import inspect

    from lightning_bench.kernels import _common

    if not K._HAS_CUSTOM_OPS:
        pytest.skip("this torch has no torch.library.custom_op")
    src = inspect.getsource(K._register_custom_ops) + inspect.getsource(_common.grad_views)
    got = {name: str(_op(name).default._schema) for name in (K.FWD_OP, K.BWD_OP)}
    got["source"] = hashlib.sha256(src.encode()).hexdigest()[:16]
    assert got == _OPS_RECORD, (
        "the custom ops' schema, fakes or backward changed: bump the version in kernel.FWD_OP / BWD_OP (torch's "
        "compile caches key an op by its name only) and record the new schemas and digest in _OPS_RECORD")
