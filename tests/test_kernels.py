"""Tests of the Lightning Attention-2 Triton kernels against the float64 oracles (shared docs §6).

On a machine without CUDA the kernels run under Triton's CPU interpreter (``tests/conftest.py`` sets
``TRITON_INTERPRET=1``); shapes are kept small there. bf16 is only tested on CUDA (the interpreter's bf16 ``tl.dot``
is not trustworthy).

Metric: rel-L2 = ‖x − ref‖₂ / ‖ref‖₂ per tensor (per head where decay makes head norms very different).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from lightning_bench.kernels import _validate, decay_slopes, lightning_attn, lightning_attn_reference

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda") if CUDA else torch.device("cpu")

# (o, grads) tolerances, shared docs §6 table
TOL = {
    torch.float32: (1e-5, 1e-5),
    torch.float16: (5e-3, 1e-2),
    torch.bfloat16: (1e-2, 2e-2),
}
DTYPE_IDS = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}

MIN_DIM, MAX_DIM = _validate.MIN_HEAD_DIM, _validate.MAX_HEAD_DIM

requires_cuda = pytest.mark.skipif(not CUDA, reason="needs CUDA (bf16 dots are unreliable in the Triton interpreter)")


# ----------------------------------------------------------------------------------------------------------------
# helpers


pytestmark = pytest.mark.usefixtures("nan_poison")  # fixture in conftest.py


def rel_l2(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.detach().double(), ref.detach().double()
    den = ref.norm().item()
    num = (x - ref).norm().item()
    return num / den if den > 0 else num


def to_bhnd(x: torch.Tensor, layout: str) -> torch.Tensor:
    return x if layout == "bhnd" else x.transpose(1, 2)


def per_head_rel_l2(x: torch.Tensor, ref: torch.Tensor, layout: str = "bhnd") -> list[float]:
    x, ref = to_bhnd(x, layout), to_bhnd(ref, layout)
    return [rel_l2(x[:, i], ref[:, i]) for i in range(x.shape[1])]


def shape_of(b, h, n, dim, layout):
    return (b, h, n, dim) if layout == "bhnd" else (b, n, h, dim)


def make_qkv(b, h, n, d, e, dtype, layout="bhnd", seed=0, device=DEVICE, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for dim in (d, d, e):
        t = (torch.randn(shape_of(b, h, n, dim, layout), generator=gen) * scale).to(dtype=dtype, device=device)
        out.append(t.requires_grad_(True))
    return out


def rand_like(x: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(x.shape, generator=gen).to(dtype=x.dtype, device=x.device)


def kernel_fwd_bwd(q, k, v, slopes, do, layout="bhnd", block_n=32):
    o = lightning_attn(q, k, v, slopes, layout=layout, block_n=block_n)
    grads = torch.autograd.grad(o, (q, k, v), do)
    return (o, *grads)


def reference_fwd_bwd(q, k, v, slopes, do, layout="bhnd", method="auto"):
    """fp64 R-dense on the already-rounded inputs, with fp64 autograd (grads are not rounded to the input dtype)."""
    q64, k64, v64 = (x.detach().double().requires_grad_(True) for x in (q, k, v))
    o = lightning_attn_reference(q64, k64, v64, slopes, layout=layout, method=method)
    grads = torch.autograd.grad(o, (q64, k64, v64), do.double())
    return (o, *grads)


def assert_all_finite(tensors, names=("o", "dq", "dk", "dv")):
    for name, t in zip(names, tensors):
        assert torch.isfinite(t).all(), f"{name} has {(~torch.isfinite(t)).sum().item()} non-finite entries"


def assert_close_rel(out, ref, tol_o, tol_g, names=("o", "dq", "dk", "dv"), per_head=False, layout="bhnd"):
    errs = {}
    for i, (name, x, r) in enumerate(zip(names, out, ref)):
        tol = tol_o if i == 0 else tol_g
        if per_head:
            errs[name] = per_head_rel_l2(x, r, layout)
            bad = [(hh, err) for hh, err in enumerate(errs[name]) if not err <= tol]
            assert not bad, f"{name}: per-head rel-L2 over {tol:g}: {bad}"
        else:
            errs[name] = rel_l2(x, r)
            assert errs[name] <= tol, f"{name}: rel-L2 {errs[name]:.3e} > {tol:g} (all: {errs})"
    return errs


def closed_form_G(slope: float, m: torch.Tensor) -> torch.Tensor:
    """G(m) = (1 − λ^m)/(1 − λ), λ = exp(−slope), = m when slope = 0; fp64, via expm1."""
    m = m.double()
    if slope == 0.0:
        return m
    return torch.expm1(-slope * m) / math.expm1(-slope)


# ----------------------------------------------------------------------------------------------------------------
# 1. forward + gradients vs the fp64 reference


BLOCK = 32
SEQ_LENS = [1, BLOCK - 1, BLOCK, BLOCK + 1, 97]
CPU_DTYPES = [torch.float32, torch.float16]


@pytest.mark.parametrize("n", SEQ_LENS)
@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
@pytest.mark.parametrize("decay", [False, True], ids=["nodecay", "alibi"])
@pytest.mark.parametrize("dtype", CPU_DTYPES, ids=lambda t: DTYPE_IDS[t])
def test_fwd_bwd_matches_reference(dtype, decay, layout, n):
    b, h, d, e = 2, 2, 32, 48
    q, k, v = make_qkv(b, h, n, d, e, dtype, layout, seed=n * 7 + decay)
    slopes = decay_slopes(h).to(DEVICE) if decay else None
    do = rand_like(torch.empty(shape_of(b, h, n, e, layout), dtype=dtype, device=DEVICE), seed=1000 + n)
    out = kernel_fwd_bwd(q, k, v, slopes, do, layout, BLOCK)
    ref = reference_fwd_bwd(q, k, v, slopes, do, layout)

    o, dq, dk, dv = out
    assert o.shape == shape_of(b, h, n, e, layout) and o.dtype == dtype and o.device == q.device
    for g, x, name in ((dq, q, "dq"), (dk, k, "dk"), (dv, v, "dv")):
        assert g.shape == x.shape, f"{name} shape {tuple(g.shape)} != {tuple(x.shape)}"
        assert g.dtype == x.dtype, f"{name} dtype {g.dtype} != {x.dtype}"
    assert_all_finite(out)
    assert o.abs().max() > 0
    tol_o, tol_g = TOL[dtype]
    assert_close_rel(out, ref, tol_o, tol_g)


@pytest.mark.parametrize(
    "d,e,n,block_n",
    [
        (80, 32, 97, 32),  # non-power-of-two head_dim: 2 head-dim tiles in the backward
        (32, 80, 97, 32),  # non-power-of-two value_dim: 2 value-dim tiles in the forward
        (48, 16, 45, 16),  # smallest dims and block
        (MAX_DIM, MAX_DIM - 16, 40, 16),  # largest supported head_dim: several d- and e-tiles
        (64, 64, 130, 128),  # largest block, partial last block
    ],
)
@pytest.mark.parametrize("dtype", CPU_DTYPES, ids=lambda t: DTYPE_IDS[t])
def test_fwd_bwd_dims_and_blocks(dtype, d, e, n, block_n):
    b, h = 1, 2
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=d + e + n)
    slopes = decay_slopes(h).to(DEVICE)
    do = rand_like(torch.empty(b, h, n, e, dtype=dtype, device=DEVICE), seed=5)
    out = kernel_fwd_bwd(q, k, v, slopes, do, block_n=block_n)
    ref = reference_fwd_bwd(q, k, v, slopes, do)
    assert out[0].shape == (b, h, n, e)
    assert [g.shape for g in out[1:]] == [q.shape, k.shape, v.shape]
    assert_all_finite(out)
    assert_close_rel(out, ref, *TOL[dtype])


@pytest.mark.parametrize("dtype", CPU_DTYPES, ids=lambda t: DTYPE_IDS[t])
def test_non_contiguous_inputs(dtype):
    """Strides are honoured: q/k/v are transposed / sliced views, dO is a transposed view."""
    b, h, n, d, e = 1, 2, 70, 32, 48
    gen = torch.Generator().manual_seed(3)
    # bhnd views of [b, n, h, *] buffers, k a slice of a wider buffer
    q = torch.randn(b, n, h, d, generator=gen).to(dtype=dtype, device=DEVICE).transpose(1, 2).requires_grad_(True)
    k = torch.randn(b, h, n, 2 * d, generator=gen).to(dtype=dtype, device=DEVICE)[..., ::2].requires_grad_(True)
    v = torch.randn(b, n, h, e, generator=gen).to(dtype=dtype, device=DEVICE).transpose(1, 2).requires_grad_(True)
    assert not (q.is_contiguous() or k.is_contiguous() or v.is_contiguous())
    do = torch.randn(b, n, h, e, generator=gen).to(dtype=dtype, device=DEVICE).transpose(1, 2)
    slopes = decay_slopes(h).to(DEVICE).reshape(h, 1, 1)  # reference-style [h, 1, 1] slopes are accepted
    out = kernel_fwd_bwd(q, k, v, slopes, do)
    ref = reference_fwd_bwd(q, k, v, slopes.reshape(h), do)
    assert_all_finite(out)
    assert_close_rel(out, ref, *TOL[dtype])


def test_padding_invariance_and_determinism():
    """o(n) = o(zero-padded)[:n]; gradients likewise with dO = 0 on the pad; two calls are bit-identical."""
    b, h, n, pad, d, e = 1, 2, 45, 30, 32, 32
    dtype = torch.float32
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=11)
    slopes = decay_slopes(h).to(DEVICE)
    do = rand_like(torch.empty(b, h, n, e, device=DEVICE), seed=12)
    out = kernel_fwd_bwd(q, k, v, slopes, do)
    out2 = kernel_fwd_bwd(q, k, v, slopes, do)
    for x, y in zip(out, out2):
        assert torch.equal(x, y), "two identical calls differ"

    def padded(x):
        z = torch.zeros(b, h, pad, x.shape[-1], dtype=x.dtype, device=x.device)
        return torch.cat([x.detach(), z], dim=2).requires_grad_(True)

    qp, kp, vp = padded(q), padded(k), padded(v)
    dop = torch.cat([do, torch.zeros(b, h, pad, e, dtype=dtype, device=DEVICE)], dim=2)
    outp = kernel_fwd_bwd(qp, kp, vp, slopes, dop)
    for name, x, xp in zip(("o", "dq", "dk", "dv"), out, outp):
        err = rel_l2(xp[:, :, :n], x)
        assert err <= 1e-6, f"{name}: padded run differs on the first n rows, rel-L2 {err:.2e}"


# ----------------------------------------------------------------------------------------------------------------
# 2. NaN poisoning


def test_nan_poisoning_is_active():
    """The autouse fixture really poisons fresh allocations (else the finiteness checks below prove nothing)."""
    assert torch.isnan(torch.empty(1000, device=DEVICE)).all()
    assert torch.isnan(torch.empty(7, 5, dtype=torch.float16, device=DEVICE)).all()


@pytest.mark.parametrize("n", [1, 31, 33, 65])
@pytest.mark.parametrize("decay", [False, True], ids=["nodecay", "alibi"])
def test_nan_poisoned_outputs_fully_written(decay, n):
    """Every row and column of o, dq, dk, dv is written, including the partial last block and padded dims."""
    b, h, d, e = 2, 2, 80, 48  # d and e not powers of two: masked tile columns
    dtype = torch.float32
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=n)
    slopes = decay_slopes(h).to(DEVICE) if decay else None
    do = rand_like(torch.empty(b, h, n, e, device=DEVICE), seed=n + 1)
    if CUDA:
        # also poison the caching allocator's free blocks (shared docs §6, "allocate and free a large NaN tensor")
        big = torch.full((1 << 24,), float("nan"), device=DEVICE)
        del big
    out = kernel_fwd_bwd(q, k, v, slopes, do, block_n=BLOCK)
    assert_all_finite(out)
    ref = reference_fwd_bwd(q, k, v, slopes, do)
    assert_close_rel(out, ref, *TOL[dtype])


# ----------------------------------------------------------------------------------------------------------------
# 3. slopes=None vs zeros; scale property


@pytest.mark.parametrize("dtype", CPU_DTYPES, ids=lambda t: DTYPE_IDS[t])
def test_no_decay_equals_zero_slopes(dtype):
    b, h, n, d, e = 1, 2, 75, 32, 48
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=21)
    do = rand_like(torch.empty(b, h, n, e, dtype=dtype, device=DEVICE), seed=22)
    out_none = kernel_fwd_bwd(q, k, v, None, do)
    out_zero = kernel_fwd_bwd(q, k, v, torch.zeros(h, device=DEVICE), do)
    ref = reference_fwd_bwd(q, k, v, None, do)
    tol_o, tol_g = TOL[dtype]
    assert_close_rel(out_none, ref, tol_o, tol_g)
    assert_close_rel(out_zero, ref, tol_o, tol_g)
    # kernel vs kernel: shared docs ask for ≤ 5e-3; in fp32 both are IEEE and must agree far tighter
    tol = 1e-6 if dtype == torch.float32 else 5e-3
    assert_close_rel(out_zero, out_none, tol, tol)


@pytest.mark.parametrize("decay", [False, True], ids=["nodecay", "alibi"])
def test_scale_property(decay):
    """q → c·q: o, dk, dv scale by c; dq is unchanged (it does not depend on q)."""
    b, h, n, d, e = 1, 2, 70, 32, 48
    c = 3.7
    dtype = torch.float32
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=31)
    qc = (q.detach() * c).requires_grad_(True)
    slopes = decay_slopes(h).to(DEVICE) if decay else None
    do = rand_like(torch.empty(b, h, n, e, device=DEVICE), seed=32)
    o, dq, dk, dv = kernel_fwd_bwd(q, k, v, slopes, do)
    oc, dqc, dkc, dvc = kernel_fwd_bwd(qc, k, v, slopes, do)
    tol = TOL[dtype][0]
    assert rel_l2(oc, c * o.double()) <= tol
    assert rel_l2(dqc, dq) <= tol
    assert rel_l2(dkc, c * dk.double()) <= tol
    assert rel_l2(dvc, c * dv.double()) <= tol


# ----------------------------------------------------------------------------------------------------------------
# 4. strong decay, per head

STRONG_SLOPES = [0.0, 0.4, 1.5, 8.0, 30.0, 100.0]


@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
@pytest.mark.parametrize("block_n", [32, 128])
def test_strong_decay_per_head(block_n, layout):
    b, h, n, d, e = 1, len(STRONG_SLOPES), 150, 32, 48
    dtype = torch.float32
    q, k, v = make_qkv(b, h, n, d, e, dtype, layout, seed=41)
    slopes = torch.tensor(STRONG_SLOPES, device=DEVICE)
    do = rand_like(torch.empty(shape_of(b, h, n, e, layout), device=DEVICE), seed=42)
    out = kernel_fwd_bwd(q, k, v, slopes, do, layout, block_n)
    assert_all_finite(out)
    ref = reference_fwd_bwd(q, k, v, slopes, do, layout)
    assert_close_rel(out, ref, 1e-5, 1e-5, per_head=True, layout=layout)

    # slope 30 and 100 leave only the diagonal: o_t = (q_t·k_t) v_t, dq_t = (dO_t·v_t) k_t,
    # dk_t = (dO_t·v_t) q_t, dv_t = (q_t·k_t) dO_t
    o, dq, dk, dv = (to_bhnd(x, layout) for x in out)
    qb, kb, vb, dob = (to_bhnd(x.detach(), layout).double() for x in (q, k, v, do))
    for hh in (4, 5):
        qk = (qb[:, hh] * kb[:, hh]).sum(-1, keepdim=True)
        dov = (dob[:, hh] * vb[:, hh]).sum(-1, keepdim=True)
        expected = {"o": qk * vb[:, hh], "dq": dov * kb[:, hh], "dk": dov * qb[:, hh], "dv": qk * dob[:, hh]}
        for name, x in zip(("o", "dq", "dk", "dv"), (o, dq, dk, dv)):
            err = rel_l2(x[:, hh], expected[name])
            assert err <= 1e-5, f"slope {STRONG_SLOPES[hh]}: {name} is not diagonal-only, rel-L2 {err:.2e}"


# ----------------------------------------------------------------------------------------------------------------
# 5. R-closed oracle: per-head constants


@pytest.mark.parametrize("do_kind", ["ones", "sum"])  # "sum": o.sum() backward hands the kernel a stride-0 dO
@pytest.mark.parametrize(
    "slopes_list", [None, [0.0, 0.01, 0.3, 2.5]], ids=["nodecay", "decay"]
)
def test_closed_form_constants(slopes_list, do_kind):
    b, h, n, d, e = 2, 4, 150, 32, 48
    dtype = torch.float32
    idx = torch.arange(b * h, dtype=torch.float64).reshape(b, h, 1, 1)
    alpha, beta, gamma = 0.5 + 0.1 * idx, 1.25 - 0.05 * idx, 0.75 + 0.03 * idx
    q = (alpha * torch.ones(b, h, n, d)).to(dtype=dtype, device=DEVICE).requires_grad_(True)
    k = (beta * torch.ones(b, h, n, d)).to(dtype=dtype, device=DEVICE).requires_grad_(True)
    v = (gamma * torch.ones(b, h, n, e)).to(dtype=dtype, device=DEVICE).requires_grad_(True)
    slopes = None if slopes_list is None else torch.tensor(slopes_list, device=DEVICE)

    o = lightning_attn(q, k, v, slopes, block_n=BLOCK)
    if do_kind == "ones":
        dq, dk, dv = torch.autograd.grad(o, (q, k, v), torch.ones_like(o))
    else:
        dq, dk, dv = torch.autograd.grad(o.sum(), (q, k, v))

    t = torch.arange(n, dtype=torch.float64)
    # round α, β, γ like the inputs were
    a, bb, g = (x.to(dtype).double() for x in (alpha, beta, gamma))
    for hh in range(h):
        s = 0.0 if slopes_list is None else float(torch.tensor(slopes_list[hh], dtype=torch.float32))
        g_fwd = closed_form_G(s, t + 1).view(1, n, 1)
        g_bwd = closed_form_G(s, n - t).view(1, n, 1)
        ah, bh, gh = a[:, hh], bb[:, hh], g[:, hh]  # [b, 1, 1]
        expected = {
            "o": (ah * bh * gh * d * g_fwd).expand(b, n, e),
            "dq": (bh * gh * e * g_fwd).expand(b, n, d),
            "dk": (ah * gh * e * g_bwd).expand(b, n, d),
            "dv": (ah * bh * d * g_bwd).expand(b, n, e),
        }
        for name, x in zip(("o", "dq", "dk", "dv"), (o, dq, dk, dv)):
            got = x[:, hh].detach().double().cpu()
            assert torch.isfinite(got).all(), f"head {hh}: {name} not finite"
            torch.testing.assert_close(
                got, expected[name], rtol=1e-5, atol=0, msg=lambda m: f"head {hh} (slope {s}), {name}: {m}"
            )


def test_fp16_state_overflow_closed_form():
    """fp16, no decay, q = 1e-4, k = v = 16, d = e = 16: S_t entries = 256(t+1) pass 65504 at t = 255 while
    o_t = 0.4096(t+1) stays ≈ 123 at t = 299. Expect finite o matching R-closed (fp16 tolerance); the dQ sweep carries
    the same state: with dO = 1e-4, dq_t = 0.4096(t+1) must be finite and exact too (shared docs §6)."""
    b, h, n, d, e = 1, 1, 300, 16, 16
    dtype = torch.float16
    q = torch.full((b, h, n, d), 1e-4, dtype=dtype, device=DEVICE, requires_grad=True)
    k = torch.full((b, h, n, d), 16.0, dtype=dtype, device=DEVICE, requires_grad=True)
    v = torch.full((b, h, n, e), 16.0, dtype=dtype, device=DEVICE, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the interpreter's numpy overflow warnings
        o = lightning_attn(q, k, v, block_n=BLOCK)
        do = torch.full_like(o, 1e-4)
        (dq,) = torch.autograd.grad(o, (q,), do)
    alpha = float(q[0, 0, 0, 0])
    ramp = torch.arange(1, n + 1, dtype=torch.float64).view(1, 1, n, 1)
    expected = (alpha * 16 * 16 * d * ramp).expand(b, h, n, e)
    assert torch.isfinite(o).all(), f"first non-finite row: {(~torch.isfinite(o[0, 0, :, 0])).nonzero()[0].item()}"
    assert rel_l2(o.detach().cpu(), expected) <= TOL[dtype][0]
    expected_dq = (float(do[0, 0, 0, 0]) * 16 * e * 16 * ramp).expand(b, h, n, d)
    assert torch.isfinite(dq).all()
    assert rel_l2(dq.cpu(), expected_dq) <= TOL[dtype][1]


# ----------------------------------------------------------------------------------------------------------------
# 6. validation


def _qkv(shape_q=(1, 2, 8, 32), shape_k=None, shape_v=None, dtype=torch.float32, device=DEVICE):
    shape_k = shape_k or shape_q
    shape_v = shape_v or shape_q
    return (
        torch.randn(shape_q).to(dtype=dtype, device=device),
        torch.randn(shape_k).to(dtype=dtype, device=device),
        torch.randn(shape_v).to(dtype=dtype, device=device),
    )


def _call(q, k, v, slopes=None, **kw):
    return lambda: lightning_attn(q, k, v, slopes, **kw)


VALIDATION_CASES = {
    "q_rank3": (lambda: _call(*_qkv(shape_q=(2, 8, 32), shape_k=(1, 2, 8, 32), shape_v=(1, 2, 8, 32))),
                ValueError, r"\bq\b.*4-D"),
    "v_rank5": (lambda: _call(*_qkv(shape_v=(1, 1, 2, 8, 32))), ValueError, r"\bv\b.*4-D"),
    "seq_len_mismatch": (lambda: _call(*_qkv(shape_k=(1, 2, 9, 32))), ValueError, r"\bk\b.*seq_len"),
    "v_heads_mismatch": (lambda: _call(*_qkv(shape_v=(1, 3, 8, 32))), ValueError, r"\bv\b.*heads"),
    "bnhd_seq_len_mismatch": (lambda: _call(*_qkv(shape_q=(1, 8, 2, 32), shape_k=(1, 9, 2, 32)), layout="bnhd"),
                              ValueError, r"seq_len"),
    "qk_head_dim_mismatch": (lambda: _call(*_qkv(shape_k=(1, 2, 8, 48))), ValueError, r"head_dim"),
    "head_dim_8": (lambda: _call(*_qkv(shape_q=(1, 2, 8, 8))), ValueError, rf"head_dim.*{MIN_DIM}.*{MAX_DIM}"),
    "head_dim_300": (lambda: _call(*_qkv(shape_q=(1, 2, 8, 300))), ValueError, rf"head_dim.*{MIN_DIM}.*{MAX_DIM}"),
    "head_dim_max_plus_16": (lambda: _call(*_qkv(shape_q=(1, 2, 8, MAX_DIM + 16))), ValueError, r"head_dim"),
    "value_dim_8": (lambda: _call(*_qkv(shape_v=(1, 2, 8, 8))), ValueError, r"value_dim"),
    "value_dim_max_plus_1": (lambda: _call(*_qkv(shape_v=(1, 2, 8, MAX_DIM + 1))), ValueError, r"value_dim"),
    "seq_len_0": (lambda: _call(*_qkv(shape_q=(1, 2, 0, 32))), ValueError, r"seq_len"),
    "dtype_mismatch": (
        lambda: _call(_qkv()[0], _qkv(dtype=torch.float16)[1], _qkv()[2]), ValueError, r"dtype"),
    "float64": (lambda: _call(*_qkv(dtype=torch.float64)), ValueError, r"\bq\b.*dtype.*float64"),
    "int_dtype": (lambda: _call(*(torch.ones(1, 2, 8, 32, dtype=torch.int32, device=DEVICE),) * 3), ValueError,
                  r"dtype"),
    "not_a_tensor": (lambda: _call(_qkv()[0].tolist(), *_qkv()[1:]), TypeError, r"\bq\b.*torch.Tensor"),
    "k_other_device": (lambda: _call(_qkv()[0], _qkv(device="meta")[1], _qkv()[2]), ValueError, r"device"),
    "slopes_negative": (lambda: _call(*_qkv(), torch.tensor([0.5, -0.1], device=DEVICE)), ValueError, r"slopes"),
    "slopes_nan": (lambda: _call(*_qkv(), torch.tensor([0.5, float("nan")], device=DEVICE)), ValueError, r"slopes"),
    "slopes_inf": (lambda: _call(*_qkv(), torch.tensor([float("inf"), 0.5], device=DEVICE)), ValueError, r"slopes"),
    "slopes_wrong_len": (lambda: _call(*_qkv(), torch.ones(3, device=DEVICE)), ValueError, r"slopes.*shape"),
    "slopes_wrong_shape": (lambda: _call(*_qkv(), torch.ones(1, 2, device=DEVICE)), ValueError, r"slopes.*shape"),
    "slopes_requires_grad": (lambda: _call(*_qkv(), torch.ones(2, device=DEVICE, requires_grad=True)), ValueError,
                             r"slopes.*grad"),
    "slopes_float64": (lambda: _call(*_qkv(), torch.ones(2, dtype=torch.float64, device=DEVICE)), ValueError,
                       r"slopes.*float32"),
    "slopes_list": (lambda: _call(*_qkv(), [0.5, 0.25]), TypeError, r"slopes"),
    "bad_layout": (lambda: _call(*_qkv(), layout="bhdn"), ValueError, r"layout"),
    "block_n_48": (lambda: _call(*_qkv(), block_n=48), ValueError, r"block_n"),
    "block_n_256": (lambda: _call(*_qkv(), block_n=256), ValueError, r"block_n"),
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
def test_validation_errors(case):
    make, exc, pattern = VALIDATION_CASES[case]
    fn = make()
    with pytest.raises(exc, match=pattern):
        fn()


@pytest.mark.parametrize(
    "make,pattern",
    [
        (lambda: lightning_attn_reference(*_qkv(), method="fast"), r"method"),
        (lambda: lightning_attn_reference(*_qkv(), layout="nhd"), r"layout"),
        # the reference has no kernel head-dim limit (any dim ≥ 1), but q and k must still agree
        (lambda: lightning_attn_reference(*_qkv(shape_q=(1, 2, 8, 8), shape_k=(1, 2, 8, 16))), r"head_dim"),
        (lambda: lightning_attn_reference(*_qkv(), torch.tensor([0.5, -1.0], device=DEVICE)), r"slopes"),
    ],
    ids=["method", "layout", "head_dim", "slopes"],
)
def test_reference_validation_errors(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_cpu_tensor_without_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert not _validate.interpreter_enabled(), "interpreter_enabled() must read the environment at call time"
    q, k, v = _qkv(device="cpu")
    with pytest.raises(ValueError, match=r"CUDA.*TRITON_INTERPRET"):
        lightning_attn(q, k, v)
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(ValueError, match=r"CUDA"):
        lightning_attn(q, k, v)


# ----------------------------------------------------------------------------------------------------------------
# 7. the reference itself


@pytest.mark.parametrize("decay", [False, True], ids=["nodecay", "alibi"])
def test_reference_dense_vs_chunk(decay):
    b, h, n, d, e = 1, 4, 300, 32, 48
    q, k, v = make_qkv(b, h, n, d, e, torch.float64, seed=71)
    slopes = decay_slopes(h).to(DEVICE) if decay else None
    do = rand_like(torch.empty(b, h, n, e, dtype=torch.float64, device=DEVICE), seed=72)
    dense = reference_fwd_bwd(q, k, v, slopes, do, method="dense")
    q64, k64, v64 = (x.detach().requires_grad_(True) for x in (q, k, v))
    o = lightning_attn_reference(q64, k64, v64, slopes, method="chunk", block=64)
    chunk_ = (o, *torch.autograd.grad(o, (q64, k64, v64), do))
    assert dense[0].dtype == torch.float64 and o.dtype == torch.float64
    assert_close_rel(chunk_, dense, 1e-12, 1e-12)


@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
@pytest.mark.parametrize("method", ["dense", "chunk"])
def test_reference_vs_recurrence(method, layout):
    """Independent oracle: the token-by-token recurrence S_t = λ S_{t−1} + k_tᵀ v_t, o_t = q_t S_t (docs §1)."""
    b, h, n, d, e = 2, 3, 50, 16, 24
    gen = torch.Generator().manual_seed(81)
    q, k = (torch.randn(b, h, n, d, generator=gen, dtype=torch.float64) for _ in range(2))
    v = torch.randn(b, h, n, e, generator=gen, dtype=torch.float64)
    slopes = torch.tensor([0.0, 0.2, 3.0])
    lam = torch.exp(-slopes.double()).view(1, h, 1, 1)
    state = torch.zeros(b, h, d, e, dtype=torch.float64)
    expected = []
    for t in range(n):
        state = lam * state + k[:, :, t, :, None] * v[:, :, t, None, :]
        expected.append(torch.einsum("bhd,bhde->bhe", q[:, :, t], state))
    expected = torch.stack(expected, dim=2)
    args = (q, k, v) if layout == "bhnd" else tuple(x.transpose(1, 2) for x in (q, k, v))
    o = lightning_attn_reference(*args, slopes, layout=layout, method=method, block=16)
    assert o.dtype == torch.float64
    assert rel_l2(to_bhnd(o, layout), expected) <= 1e-12


# ----------------------------------------------------------------------------------------------------------------
# 9. CUDA only: bf16 (and fp16/fp32) at longer sequences


@requires_cuda
@pytest.mark.parametrize("n", [1000, 4097])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=lambda t: DTYPE_IDS[t])
def test_cuda_long_sequences(dtype, n):
    b, h, d, e = 2, 4, 64, 128
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=n)
    slopes = decay_slopes(h).to(DEVICE)
    do = rand_like(torch.empty(b, h, n, e, dtype=dtype, device=DEVICE), seed=n + 1)
    out = kernel_fwd_bwd(q, k, v, slopes, do, block_n=64)
    assert_all_finite(out)
    ref = reference_fwd_bwd(q, k, v, slopes, do)
    assert_close_rel(out, ref, *TOL[dtype])


@requires_cuda
@pytest.mark.parametrize("n", [1, 63, 65, 1000])
def test_cuda_bf16_no_decay_and_bnhd(n):
    b, h, d, e = 1, 2, 80, 48
    dtype = torch.bfloat16
    q, k, v = make_qkv(b, h, n, d, e, dtype, "bnhd", seed=n)
    do = rand_like(torch.empty(b, n, h, e, dtype=dtype, device=DEVICE), seed=n + 1)
    out = kernel_fwd_bwd(q, k, v, None, do, "bnhd", 64)
    assert_all_finite(out)
    ref = reference_fwd_bwd(q, k, v, None, do, "bnhd")
    assert_close_rel(out, ref, *TOL[dtype])


def test_no_grad_fast_path_matches_the_autograd_path():
    """Without anything to differentiate, lightning_attn skips autograd.Function: same o and final state, no graph."""
    g = torch.Generator().manual_seed(11)
    b, h, n, d, e = 1, 2, 70, 16, 32
    q, k, v = (torch.randn(b, h, n, x, generator=g).to(DEVICE) for x in (d, d, e))
    s0 = torch.randn(b, h, d, e, generator=g).to(DEVICE)
    sl = decay_slopes(h).to(DEVICE)
    o1, h1 = lightning_attn(q, k, v, sl, initial_state=s0, output_final_state=True)  # fast path (no requires_grad)
    assert o1.grad_fn is None and h1.grad_fn is None
    qg = q.clone().requires_grad_()
    o2, h2 = lightning_attn(qg, k, v, sl, initial_state=s0, output_final_state=True)  # autograd path
    assert o2.grad_fn is not None
    with torch.no_grad():
        o3 = lightning_attn(qg, k, v, sl, initial_state=s0)  # fast path under no_grad
    assert o3.grad_fn is None
    assert torch.equal(o1, o2.detach()) and torch.equal(h1, h2.detach()) and torch.equal(o1, o3)
    o_r, h_r = lightning_attn_reference(q.double(), k.double(), v.double(), sl, initial_state=s0.double(),
                                        output_final_state=True)
    assert rel_l2(o1, o_r) <= 1e-5 and rel_l2(h1, h_r) <= 1e-5
