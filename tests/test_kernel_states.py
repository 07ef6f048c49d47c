"""initial_state / output_final_state (with gradients), split sequences, and the decode step (CPU interpreter; GPU
when available). Oracles: float64 dense and chunked references (shared docs §6, "carried state across a split")."""

from __future__ import annotations

import pytest
import torch

from lightning_bench.kernels import decay_slopes, lightning_attn, lightning_attn_decode, lightning_attn_reference

pytestmark = pytest.mark.usefixtures("nan_poison")  # fixture in conftest.py: unwritten outputs read as NaN
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == "cuda" else [])
TOL = {torch.float32: (1e-5, 1e-5), torch.float16: (5e-3, 1e-2), torch.bfloat16: (1e-2, 2e-2)}
BLOCK = 32


def rel(x, ref):
    x, ref = x.detach().double().cpu(), ref.detach().double().cpu()
    return float((x - ref).norm() / ref.norm().clamp_min(1e-300))


def _inputs(b, h, n, d, e, dtype, layout="bhnd", seed=0):
    g = torch.Generator().manual_seed(seed)
    shp = (lambda x: (b, h, n, x)) if layout == "bhnd" else (lambda x: (b, n, h, x))
    q, k, v = (torch.randn(shp(x), generator=g).to(DEVICE, dtype).requires_grad_() for x in (d, d, e))
    s0 = torch.randn(b, h, d, e, generator=g).to(DEVICE).requires_grad_()
    return q, k, v, s0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
@pytest.mark.parametrize("n", [1, 33, 70])
def test_states_and_their_gradients_match_reference(dtype, decay, layout, n):
    b, h, d, e = 2, 2, 32, 48
    q, k, v, s0 = _inputs(b, h, n, d, e, dtype, layout, seed=n)
    sl = decay_slopes(h).to(DEVICE) if decay else None
    o, ht = lightning_attn(q, k, v, sl, layout=layout, initial_state=s0, output_final_state=True, block_n=BLOCK)
    assert ht.dtype == torch.float32 and ht.shape == (b, h, d, e)
    do, dht = torch.randn_like(o), torch.randn_like(ht)
    grads = torch.autograd.grad((o, ht), (q, k, v, s0), (do, dht))
    ref_in = [x.detach().double().requires_grad_() for x in (q, k, v, s0)]
    o_r, ht_r = lightning_attn_reference(*ref_in[:3], sl, layout=layout, initial_state=ref_in[3],
                                         output_final_state=True, method="dense")
    grads_r = torch.autograd.grad((o_r, ht_r), ref_in, (do.double(), dht.double()))
    tol_o, tol_g = TOL[dtype]
    assert rel(o, o_r) <= tol_o
    assert rel(ht, ht_r) <= tol_o
    for name, g, gr in zip(("dq", "dk", "dv", "d_initial_state"), grads, grads_r):
        assert torch.isfinite(g).all(), name
        assert rel(g, gr) <= tol_g, (name, rel(g, gr))
    assert grads[3].dtype == torch.float32


@pytest.mark.parametrize("decay", [False, True])
def test_split_sequence_equals_whole(decay):
    """Feeding piece 1's final state into piece 2 (split at a non-block offset) reproduces the whole run."""
    b, h, n, d, e, cut = 1, 3, 150, 32, 32, 37
    q, k, v, _ = _inputs(b, h, n, d, e, torch.float32, seed=7)
    sl = decay_slopes(h).to(DEVICE) if decay else None
    o, ht = lightning_attn(q, k, v, sl, output_final_state=True, block_n=BLOCK)
    o1, h1 = lightning_attn(q[:, :, :cut], k[:, :, :cut], v[:, :, :cut], sl, output_final_state=True, block_n=BLOCK)
    o2, h2 = lightning_attn(q[:, :, cut:], k[:, :, cut:], v[:, :, cut:], sl, initial_state=h1,
                            output_final_state=True, block_n=BLOCK)
    assert rel(torch.cat([o1, o2], dim=2), o) <= 1e-5
    assert rel(h2, ht) <= 1e-5
    # gradients flow through the carried state: the split graph gives the whole run's gradients
    do = torch.randn_like(o)
    g_whole = torch.autograd.grad(o, (q, k, v), do)
    g_split = torch.autograd.grad(torch.cat([o1, o2], dim=2), (q, k, v), do)
    for gw, gs in zip(g_whole, g_split):
        assert rel(gs, gw) <= 1e-5


def test_final_state_matches_chunked_reference_and_reference_methods_agree():
    b, h, n, d, e = 1, 2, 300, 16, 24
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(b, h, n, x, generator=g, dtype=torch.float64) for x in (d, d, e))
    s0 = torch.randn(b, h, d, e, generator=g, dtype=torch.float64)
    sl = torch.tensor([0.05, 0.7])
    od, hd = lightning_attn_reference(q, k, v, sl, initial_state=s0, output_final_state=True, method="dense")
    oc, hc = lightning_attn_reference(q, k, v, sl, initial_state=s0, output_final_state=True, method="chunk",
                                      block=64)
    assert rel(oc, od) <= 1e-12 and rel(hc, hd) <= 1e-12
    # token-by-token recurrence as a third oracle
    lam = torch.exp(-sl.double()).view(1, h, 1, 1)
    state = s0.clone()
    for t in range(n):
        state = lam * state + k[:, :, t, :, None] * v[:, :, t, None, :]
    assert rel(hd, state) <= 1e-12
    out = lightning_attn(q.float().to(DEVICE), k.float().to(DEVICE), v.float().to(DEVICE), sl.to(DEVICE),
                         initial_state=s0.float().to(DEVICE), output_final_state=True, block_n=BLOCK)
    assert rel(out[1], hd) <= 1e-5


@pytest.mark.parametrize("bad,match", [
    (lambda b, h, d, e: torch.zeros(b, h, d, e + 1), "initial_state.*shape"),
    (lambda b, h, d, e: torch.zeros(b, h, d, e, dtype=torch.float16), "initial_state.*float32"),
    (lambda b, h, d, e: torch.zeros(b, h, e, d), "initial_state.*shape"),
    (lambda b, h, d, e: [[0.0]], "initial_state"),
])
def test_initial_state_validation(bad, match):
    q, k, v, _ = _inputs(1, 2, 8, 16, 32, torch.float32)
    with pytest.raises((ValueError, TypeError), match=match):
        lightning_attn(q, k, v, initial_state=bad(1, 2, 16, 32))


# ---------------------------------------------------------------- decode
@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_decode_continues_a_prefill_exactly(decay, dtype):
    b, h, n, d, e, steps = 2, 3, 45, 16, 32, 5
    g = torch.Generator().manual_seed(11)
    q, k, v = (torch.randn(b, h, n + steps, x, generator=g).to(DEVICE, dtype) for x in (d, d, e))
    sl = decay_slopes(h).to(DEVICE) if decay else None
    o_full = lightning_attn_reference(q, k, v, sl)  # float64 over the whole sequence
    _, state = lightning_attn(q[:, :, :n], k[:, :, :n], v[:, :, :n], sl, output_final_state=True, block_n=BLOCK)
    for t in range(n, n + steps):
        o_t, state = lightning_attn_decode(q[:, :, t], k[:, :, t], v[:, :, t], state, sl)
        assert o_t.dtype == dtype and o_t.shape == (b, h, e)
        assert rel(o_t, o_full[:, :, t]) <= TOL[dtype][0]
    # the token-axis form gives the same answer
    o4, s4 = lightning_attn_decode(q[:, :, -1:], k[:, :, -1:], v[:, :, -1:], state, sl)
    assert o4.shape == (b, h, 1, e) and s4.shape == state.shape


def test_decode_validation():
    q = torch.randn(1, 2, 16)
    v = torch.randn(1, 2, 8)
    st = torch.zeros(1, 2, 16, 8)
    with pytest.raises(ValueError, match="state.*shape"):
        lightning_attn_decode(q, q, v, torch.zeros(1, 2, 8, 16))
    with pytest.raises(ValueError, match="state.*float32"):
        lightning_attn_decode(q, q, v, st.double())
    with pytest.raises(ValueError, match="k must have"):
        lightning_attn_decode(q, torch.randn(1, 2, 15), v, st)
    with pytest.raises(ValueError, match=r"\[batch, heads, 1, dim\]"):
        lightning_attn_decode(torch.randn(1, 2, 2, 16), torch.randn(1, 2, 2, 16), torch.randn(1, 2, 2, 8), st)
    with pytest.raises(ValueError, match="slopes"):
        lightning_attn_decode(q, q, v, st, torch.tensor([-1.0, 0.1]))
    with pytest.raises(TypeError, match="state"):
        lightning_attn_decode(q, q, v, None)


# ---------------------------------------------------------------- variable-length packed sequences
def _varlen_reference(r, sl, cu, layout):
    ax = 2 if layout == "bhnd" else 1
    outs, hts = [], []
    for i, (a, b) in enumerate(zip(cu[:-1].tolist(), cu[1:].tolist())):
        s0 = r[3][i:i + 1]
        if b == a:  # an empty sequence: no output rows, final state = initial state
            hts.append(s0)
            continue
        part = [x.narrow(ax, a, b - a) for x in r[:3]]
        o, ht = lightning_attn_reference(*part, sl, layout=layout, initial_state=s0, output_final_state=True)
        outs.append(o)
        hts.append(ht)
    return torch.cat(outs, ax), torch.cat(hts, 0)


@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_varlen_matches_each_sequence_alone(layout, decay, dtype):
    """Packed sequences (lengths not multiples of the block, one empty, one of length 1): outputs, final states and
    all gradients equal running each sequence alone — nothing leaks across a boundary."""
    h, d, e = 2, 16, 24
    lens = [5, 40, 0, 33, 1]
    total = sum(lens)
    cu = torch.tensor([0] + torch.tensor(lens).cumsum(0).tolist(), dtype=torch.int32, device=DEVICE)
    g = torch.Generator().manual_seed(5)
    shp = (lambda x: (1, h, total, x)) if layout == "bhnd" else (lambda x: (1, total, h, x))
    q, k, v = (torch.randn(shp(x), generator=g).to(DEVICE, dtype).requires_grad_() for x in (d, d, e))
    s0 = torch.randn(len(lens), h, d, e, generator=g).to(DEVICE).requires_grad_()
    sl = decay_slopes(h).to(DEVICE) if decay else None
    o, ht = lightning_attn(q, k, v, sl, layout=layout, cu_seqlens=cu, initial_state=s0, output_final_state=True,
                           block_n=16)
    do, dht = torch.randn_like(o), torch.randn_like(ht)
    grads = torch.autograd.grad((o, ht), (q, k, v, s0), (do, dht))
    r = [x.detach().double().requires_grad_() for x in (q, k, v, s0)]
    o_r, ht_r = _varlen_reference(r, sl, cu, layout)
    grads_r = torch.autograd.grad((o_r, ht_r), r, (do.double(), dht.double()))
    tol_o, tol_g = TOL[dtype]
    assert rel(o, o_r) <= tol_o and rel(ht, ht_r) <= tol_o
    for name, x, y in zip(("dq", "dk", "dv", "d_initial_state"), grads, grads_r):
        assert rel(x, y) <= tol_g, name


def test_varlen_no_leakage_from_a_huge_neighbour():
    """A neighbour with enormous values must not change a sequence's output at all."""
    h, d = 1, 16
    cu = torch.tensor([0, 20, 45], dtype=torch.int32, device=DEVICE)
    q, k, v = (torch.randn(1, h, 45, d, device=DEVICE) for _ in range(3))
    o1 = lightning_attn(q, k, v, cu_seqlens=cu, block_n=16)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, :20] *= 1e4
    v2[:, :, :20] *= 1e4
    o2 = lightning_attn(q, k2, v2, cu_seqlens=cu, block_n=16)
    assert torch.equal(o1[:, :, 20:], o2[:, :, 20:])


@pytest.mark.parametrize("cu,match", [
    ([0, 10, 9, 20], "non-decreasing"),
    ([1, 20], "start at 0"),
    ([0, 19], "end at"),
    ([[0, 20]], "1-D"),
])
def test_varlen_validation(cu, match):
    q = torch.randn(1, 1, 20, 16, device=DEVICE)
    with pytest.raises(ValueError, match=match):
        lightning_attn(q, q, q, cu_seqlens=torch.tensor(cu, device=DEVICE))
    with pytest.raises(ValueError, match="batch 1"):
        q2 = torch.randn(2, 1, 20, 16, device=DEVICE)
        lightning_attn(q2, q2, q2, cu_seqlens=torch.tensor([0, 20], device=DEVICE))
    with pytest.raises(ValueError, match="int32 or int64"):
        lightning_attn(q, q, q, cu_seqlens=torch.tensor([0.0, 20.0], device=DEVICE))


def test_fp32_tf32_dots_are_opt_in_and_within_the_tf32_tolerance():
    q, k, v, _ = _inputs(1, 2, 70, 32, 32, torch.float32, seed=9)
    sl = decay_slopes(2).to(DEVICE)
    ref = lightning_attn_reference(q.detach().double(), k.detach().double(), v.detach().double(), sl)
    o_ieee = lightning_attn(q, k, v, sl, block_n=BLOCK)
    o_tf32 = lightning_attn(q, k, v, sl, fp32_dot="tf32", block_n=BLOCK)
    assert rel(o_ieee, ref) <= 1e-5
    assert rel(o_tf32, ref) <= 5e-3  # TF32 on a GPU; exact under the CPU interpreter
    g = torch.autograd.grad(o_tf32, (q, k, v), torch.ones_like(o_tf32))
    assert all(torch.isfinite(x).all() for x in g)
    with pytest.raises(ValueError, match="fp32_dot"):
        lightning_attn(q, k, v, fp32_dot="fast")


# ---------------------------------------------------------------- sequence split of the forward (shared docs §4)
def _assert_split_matches_reference(b, split, decay, layout, seed):
    """o, the final state and all four gradients of a split call (block 16, 150 tokens) against float64."""
    h, n, d, e = 2, 150, 16, 24
    q, k, v, s0 = _inputs(b, h, n, d, e, torch.float32, layout, seed=seed)
    sl = decay_slopes(h).to(DEVICE) if decay else None
    o, ht = lightning_attn(q, k, v, sl, layout=layout, initial_state=s0, output_final_state=True, block_n=16,
                           seq_split=split)
    do, dht = torch.randn_like(o), torch.randn_like(ht)
    grads = torch.autograd.grad((o, ht), (q, k, v, s0), (do, dht))
    r = [x.detach().double().requires_grad_() for x in (q, k, v, s0)]
    o_r, ht_r = lightning_attn_reference(*r[:3], sl, layout=layout, initial_state=r[3], output_final_state=True)
    ref_grads = torch.autograd.grad((o_r, ht_r), r, (do.double(), dht.double()))
    assert rel(o, o_r) <= 1e-5 and rel(ht, ht_r) <= 1e-5
    for name, a, bb in zip(("dq", "dk", "dv", "d_initial_state"), grads, ref_grads):
        assert rel(a, bb) <= 1e-5, name  # the backward runs the same segments (sweep F and the mirrored sweep R)


@pytest.mark.parametrize("split", [2, 3, 7, "auto"])
@pytest.mark.parametrize("decay", [False, True])
@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
def test_seq_split_equals_unsplit(split, decay, layout):
    _assert_split_matches_reference(2, split, decay, layout, seed=21)


@pytest.mark.parametrize("decay", [False, True])
def test_seq_split_through_the_scan_kernel(decay, monkeypatch):
    """More segments than COMBINE_MAX_SEGMENTS: the local states are combined by _la2_state_scan_kernel before the main
    launches (SPLIT mode 1) instead of inside them (mode 2); both give the unsplit answer, states and gradients."""
    from lightning_bench.kernels.lightning_attn2 import kernel as k2

    monkeypatch.setattr(k2, "COMBINE_MAX_SEGMENTS", 2)
    assert k2.split_mode(7) == 1 and k2.split_mode(2) == 2 and k2.split_mode(1) == 0
    _assert_split_matches_reference(1, 7, decay, "bhnd", seed=22)


def test_seq_split_validation():
    q = torch.randn(1, 1, 32, 16, device=DEVICE)
    for bad in (0, -1, "fast", 1.5):
        with pytest.raises(ValueError, match="seq_split"):
            lightning_attn(q, q, q, seq_split=bad)


def test_planted_slowdown_switch_changes_no_result(monkeypatch):
    """The gate-calibration switch (issue #6) only adds work: outputs and gradients stay bit-identical."""
    q, k, v, _ = _inputs(1, 2, 50, 16, 16, torch.float32, seed=4)
    sl = decay_slopes(2).to(DEVICE)
    o_ref = lightning_attn(q, k, v, sl, block_n=16)
    g_ref = torch.autograd.grad(o_ref, (q, k, v), torch.ones_like(o_ref))
    monkeypatch.setenv("LIGHTNING_BENCH_PLANTED_SLOWDOWN", "0.1")
    o = lightning_attn(q, k, v, sl, block_n=16)
    g = torch.autograd.grad(o, (q, k, v), torch.ones_like(o))
    assert torch.equal(o, o_ref) and all(torch.equal(a, b) for a, b in zip(g, g_ref))
    monkeypatch.setenv("LIGHTNING_BENCH_PLANTED_SLOWDOWN", "2")
    with pytest.raises(ValueError, match="PLANTED_SLOWDOWN"):
        lightning_attn(q, k, v, sl, block_n=16)


# ---------------------------------------------------------------- head dims above 128 (≤ 128-wide chunks)
@pytest.mark.parametrize("d,e", [(160, 192), (256, 48), (48, 256), (136, 130)])
@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
def test_wide_heads_match_reference_with_states(d, e, layout):
    n, h = 37, 2
    q, k, v, s0 = _inputs(1, h, n, d, e, torch.float32, layout, seed=d + e)
    sl = decay_slopes(h).to(DEVICE)
    o, ht = lightning_attn(q, k, v, sl, layout=layout, initial_state=s0, output_final_state=True, block_n=16)
    assert o.shape[-1] == e and ht.shape == (1, h, d, e)
    do, dht = torch.randn_like(o), torch.randn_like(ht)
    grads = torch.autograd.grad((o, ht), (q, k, v, s0), (do, dht))
    r = [x.detach().double().requires_grad_() for x in (q, k, v, s0)]
    o_r, ht_r = lightning_attn_reference(*r[:3], sl, layout=layout, initial_state=r[3], output_final_state=True)
    g_r = torch.autograd.grad((o_r, ht_r), r, (do.double(), dht.double()))
    assert rel(o, o_r) <= 1e-5 and rel(ht, ht_r) <= 1e-5
    for name, a, b in zip(("dq", "dk", "dv", "d_initial_state"), grads, g_r):
        assert a.shape == b.shape and rel(a, b) <= 1e-5, name


def test_head_dim_above_256_is_rejected_with_the_rule():
    q = torch.randn(1, 1, 8, 272, device=DEVICE)
    with pytest.raises(ValueError, match=r"head_dim must be between 16 and 256"):
        lightning_attn(q, q, q)
