"""Tests of the Lightning Attention-1 Triton kernels (``lightning_attn1``) and the ``la1`` provider.

LA1 computes the same function as LA2 (shared docs §1), so the oracle is the same float64 reference
(``lightning_attn_reference``, fp64 autograd for the gradients), and LA1 must agree with LA2 on the same inputs.
On a machine without CUDA the kernels run under Triton's CPU interpreter (``tests/conftest.py``); shapes are small
and only fp32/fp16 are tested there (the interpreter's bf16 ``tl.dot`` is not trustworthy). Metric: rel-L2 per tensor
(per head under strong decay), tolerances from the shared docs §6 table.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from lightning_bench import baselines, flops
from lightning_bench.cli import main
from lightning_bench.kernels import _validate, decay_slopes, lightning_attn, lightning_attn1, lightning_attn_reference

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda") if CUDA else torch.device("cpu")

TOL = {  # (o, grads), shared docs §6
    torch.float32: (1e-5, 1e-5),
    torch.float16: (5e-3, 1e-2),
    torch.bfloat16: (1e-2, 2e-2),
}
DTYPE_IDS = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
CPU_DTYPES = [torch.float32, torch.float16]
BLOCK = 32
MIN_DIM, MAX_DIM = _validate.MIN_HEAD_DIM, _validate.KERNEL_MAX_DIM  # LA1 has no wide-head chunking
NAMES = ("o", "dq", "dk", "dv")


# ----------------------------------------------------------------------------------------------------------------
# helpers


pytestmark = pytest.mark.usefixtures("nan_poison")  # fixture in conftest.py


def rel_l2(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.detach().double().cpu(), ref.detach().double().cpu()
    den = ref.norm().item()
    num = (x - ref).norm().item()
    return num / den if den > 0 else num


def to_bhnd(x: torch.Tensor, layout: str) -> torch.Tensor:
    return x if layout == "bhnd" else x.transpose(1, 2)


def shape_of(b, h, n, dim, layout):
    return (b, h, n, dim) if layout == "bhnd" else (b, n, h, dim)


def make_qkv(b, h, n, d, e, dtype, layout="bhnd", seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape_of(b, h, n, dim, layout), generator=gen).to(dtype=dtype, device=DEVICE)
            .requires_grad_(True) for dim in (d, d, e)]


def make_do(b, h, n, e, dtype, layout="bhnd", seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape_of(b, h, n, e, layout), generator=gen).to(dtype=dtype, device=DEVICE)


def fwd_bwd(fn, q, k, v, slopes, do, layout="bhnd", block_n=BLOCK):
    o = fn(q, k, v, slopes, layout=layout, block_n=block_n)
    return (o, *torch.autograd.grad(o, (q, k, v), do))


def reference_fwd_bwd(q, k, v, slopes, do, layout="bhnd"):
    """fp64 dense formula on the already-rounded inputs, with fp64 autograd."""
    q64, k64, v64 = (x.detach().double().requires_grad_(True) for x in (q, k, v))
    o = lightning_attn_reference(q64, k64, v64, slopes, layout=layout)
    return (o, *torch.autograd.grad(o, (q64, k64, v64), do.double()))


def assert_finite(tensors):
    for name, t in zip(NAMES, tensors):
        assert torch.isfinite(t).all(), f"{name} has {(~torch.isfinite(t)).sum().item()} non-finite entries"


def assert_close(out, ref, tol_o, tol_g, per_head=False, layout="bhnd"):
    for i, (name, x, r) in enumerate(zip(NAMES, out, ref)):
        tol = tol_o if i == 0 else tol_g
        if per_head:
            xb, rb = to_bhnd(x, layout), to_bhnd(r, layout)
            errs = [rel_l2(xb[:, hh], rb[:, hh]) for hh in range(xb.shape[1])]
            bad = [(hh, err) for hh, err in enumerate(errs) if not err <= tol]
            assert not bad, f"{name}: per-head rel-L2 over {tol:g}: {bad}"
        else:
            err = rel_l2(x, r)
            assert err <= tol, f"{name}: rel-L2 {err:.3e} > {tol:g}"


# ----------------------------------------------------------------------------------------------------------------
# 1. forward + gradients vs the fp64 reference


@pytest.mark.parametrize("n", [1, BLOCK - 1, BLOCK + 1, 97])
@pytest.mark.parametrize("layout", ["bhnd", "bnhd"])
@pytest.mark.parametrize("decay", [False, True], ids=["nodecay", "alibi"])
@pytest.mark.parametrize("dtype", CPU_DTYPES, ids=lambda t: DTYPE_IDS[t])
def test_fwd_bwd_matches_reference(dtype, decay, layout, n):
    b, h, d, e = 2, 2, 32, 48  # d ≠ e
    q, k, v = make_qkv(b, h, n, d, e, dtype, layout, seed=n * 7 + decay)
    slopes = decay_slopes(h).to(DEVICE) if decay else None
    do = make_do(b, h, n, e, dtype, layout, seed=1000 + n)
    out = fwd_bwd(lightning_attn1, q, k, v, slopes, do, layout)
    o, dq, dk, dv = out
    assert o.shape == shape_of(b, h, n, e, layout) and o.dtype == dtype and o.device == q.device
    for g, x, name in ((dq, q, "dq"), (dk, k, "dk"), (dv, v, "dv")):
        assert g.shape == x.shape and g.dtype == x.dtype, f"{name}: {tuple(g.shape)} {g.dtype}"
    assert_finite(out)
    assert o.abs().max() > 0
    assert_close(out, reference_fwd_bwd(q, k, v, slopes, do, layout), *TOL[dtype])


@pytest.mark.parametrize(
    "d,e,n,block_n",
    [
        (80, 32, 45, 16),  # non-power-of-two head_dim (masked tile columns), smallest block
        (MAX_DIM, MAX_DIM - 16, 40, 16),  # largest supported dims
        (MIN_DIM, MIN_DIM, 130, 128),  # largest block, partial last block
    ],
)
def test_dims_and_blocks(d, e, n, block_n):
    b, h, dtype = 1, 2, torch.float32
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=d + e + n)
    slopes = decay_slopes(h).to(DEVICE)
    do = make_do(b, h, n, e, dtype, seed=5)
    out = fwd_bwd(lightning_attn1, q, k, v, slopes, do, block_n=block_n)
    assert_finite(out)
    assert_close(out, reference_fwd_bwd(q, k, v, slopes, do), *TOL[dtype])


def test_non_contiguous_inputs_and_stride0_grad():
    """Strides are honoured: transposed / sliced views in, a stride-0 dO (from o.sum()) in the backward."""
    b, h, n, d, e = 1, 2, 70, 32, 48
    dtype = torch.float32
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(b, n, h, d, generator=gen).to(DEVICE).transpose(1, 2).requires_grad_(True)
    k = torch.randn(b, h, n, 2 * d, generator=gen).to(DEVICE)[..., ::2].requires_grad_(True)
    v = torch.randn(b, n, h, e, generator=gen).to(DEVICE).transpose(1, 2).requires_grad_(True)
    assert not (q.is_contiguous() or k.is_contiguous() or v.is_contiguous())
    slopes = decay_slopes(h).to(DEVICE).reshape(h, 1, 1)  # reference-style [h, 1, 1]
    o = lightning_attn1(q, k, v, slopes, block_n=BLOCK)
    out = (o, *torch.autograd.grad(o.sum(), (q, k, v)))
    ref = reference_fwd_bwd(q, k, v, slopes.reshape(h), torch.ones(b, h, n, e, dtype=dtype, device=DEVICE))
    assert_finite(out)
    assert_close(out, ref, *TOL[dtype])


def test_partial_gradients():
    """Only the requested gradients are computed (dq alone runs one kernel, dk/dv the other)."""
    b, h, n, d, e = 1, 2, 50, 32, 16
    q, k, v = make_qkv(b, h, n, d, e, torch.float32, seed=9)
    slopes = decay_slopes(h).to(DEVICE)
    do = make_do(b, h, n, e, torch.float32, seed=10)
    ref = reference_fwd_bwd(q, k, v, slopes, do)
    (dq,) = torch.autograd.grad(lightning_attn1(q, k.detach(), v.detach(), slopes, block_n=BLOCK), (q,), do)
    (dv,) = torch.autograd.grad(lightning_attn1(q.detach(), k.detach(), v, slopes, block_n=BLOCK), (v,), do)
    assert rel_l2(dq, ref[1]) <= 1e-5 and rel_l2(dv, ref[3]) <= 1e-5


# ----------------------------------------------------------------------------------------------------------------
# 2. strong decay (per head), closed form, NaN poisoning

STRONG_SLOPES = [0.0, 0.4, 1.5, 8.0, 30.0, 100.0]


@pytest.mark.parametrize("dtype", CPU_DTYPES, ids=lambda t: DTYPE_IDS[t])
def test_strong_decay_per_head(dtype):
    b, h, n, d, e = 1, len(STRONG_SLOPES), 80, 16, 32
    layout = "bnhd"
    q, k, v = make_qkv(b, h, n, d, e, dtype, layout, seed=41)
    slopes = torch.tensor(STRONG_SLOPES, device=DEVICE)
    do = make_do(b, h, n, e, dtype, layout, seed=42)
    out = fwd_bwd(lightning_attn1, q, k, v, slopes, do, layout)
    assert_finite(out)
    assert_close(out, reference_fwd_bwd(q, k, v, slopes, do, layout), *TOL[dtype], per_head=True, layout=layout)
    if dtype != torch.float32:
        return
    # slope 30 and 100 leave only the diagonal: o_t = (q_t·k_t) v_t, dq_t = (dO_t·v_t) k_t, dk_t = (dO_t·v_t) q_t,
    # dv_t = (q_t·k_t) dO_t (an exact statement in fp32: off-diagonal weights are ≤ e^-30)
    o, dq, dk, dv = (to_bhnd(x, layout) for x in out)
    qb, kb, vb, dob = (to_bhnd(x.detach(), layout).double() for x in (q, k, v, do))
    for hh in (4, 5):
        qk = (qb[:, hh] * kb[:, hh]).sum(-1, keepdim=True)
        dov = (dob[:, hh] * vb[:, hh]).sum(-1, keepdim=True)
        expected = {"o": qk * vb[:, hh], "dq": dov * kb[:, hh], "dk": dov * qb[:, hh], "dv": qk * dob[:, hh]}
        for name, x in zip(NAMES, (o, dq, dk, dv)):
            err = rel_l2(x[:, hh], expected[name])
            assert err <= 1e-5, f"slope {STRONG_SLOPES[hh]}: {name} is not diagonal-only, rel-L2 {err:.2e}"


def test_closed_form_constants():
    """R-closed (shared docs §6): per-head constants q = α, k = β, v = γ, dO = 1 give
    o_t = αβγd·G(t+1), dq_t = βγe·G(t+1), dk_t = αγe·G(n−t), dv_t = αβd·G(n−t), G(m) = (1 − λ^m)/(1 − λ)."""
    b, h, n, d, e = 1, 4, 70, 16, 32
    slopes_list = [0.0, 0.01, 0.3, 2.5]
    idx = torch.arange(h, dtype=torch.float64).reshape(1, h, 1, 1)
    alpha, beta, gamma = 0.5 + 0.1 * idx, 1.25 - 0.05 * idx, 0.75 + 0.03 * idx
    q = (alpha * torch.ones(b, h, n, d)).float().to(DEVICE).requires_grad_(True)
    k = (beta * torch.ones(b, h, n, d)).float().to(DEVICE).requires_grad_(True)
    v = (gamma * torch.ones(b, h, n, e)).float().to(DEVICE).requires_grad_(True)
    slopes = torch.tensor(slopes_list, device=DEVICE)
    o = lightning_attn1(q, k, v, slopes, block_n=BLOCK)
    dq, dk, dv = torch.autograd.grad(o, (q, k, v), torch.ones_like(o))
    t = torch.arange(n, dtype=torch.float64)
    a, bb, g = (x.float().double() for x in (alpha, beta, gamma))
    for hh in range(h):
        s = float(torch.tensor(slopes_list[hh], dtype=torch.float32))

        def G(m):
            return m if s == 0.0 else torch.expm1(-s * m) / math.expm1(-s)

        ah, bh, gh = (x[0, hh, 0, 0].item() for x in (a, bb, g))
        expected = {"o": ah * bh * gh * d * G(t + 1), "dq": bh * gh * e * G(t + 1),
                    "dk": ah * gh * e * G(n - t), "dv": ah * bh * d * G(n - t)}
        for name, x in zip(NAMES, (o, dq, dk, dv)):
            got = x[0, hh].detach().double().cpu()
            torch.testing.assert_close(got, expected[name][:, None].expand_as(got), rtol=1e-5, atol=0,
                                       msg=lambda m: f"head {hh} (slope {s}), {name}: {m}")


def test_nan_poisoning_is_active():
    assert torch.isnan(torch.empty(1000, device=DEVICE)).all()
    assert torch.isnan(torch.empty(7, 5, dtype=torch.float16, device=DEVICE)).all()


@pytest.mark.parametrize("n", [1, 33, 65])
@pytest.mark.parametrize("decay", [False, True], ids=["nodecay", "alibi"])
def test_nan_poisoned_outputs_fully_written(decay, n):
    """Every row and column of o, dq, dk, dv is written: partial last blocks, masked (non-power-of-two) dims."""
    b, h, d, e = 1, 2, 80, 48
    dtype = torch.float32
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=n)
    slopes = decay_slopes(h).to(DEVICE) if decay else None
    do = make_do(b, h, n, e, dtype, seed=n + 1)
    if CUDA:  # also poison the caching allocator's free blocks
        big = torch.full((1 << 24,), float("nan"), device=DEVICE)
        del big
    out = fwd_bwd(lightning_attn1, q, k, v, slopes, do)
    assert_finite(out)
    assert_close(out, reference_fwd_bwd(q, k, v, slopes, do), *TOL[dtype])


# ----------------------------------------------------------------------------------------------------------------
# 3. LA1 == LA2


@pytest.mark.parametrize("slopes_kind", ["none", "alibi", "strong"])
def test_la1_equals_la2(slopes_kind):
    b, h, n, d, e = 1, 6, 97, 32, 16
    layout = "bnhd"
    dtype = torch.float32
    q, k, v = make_qkv(b, h, n, d, e, dtype, layout, seed=51)
    slopes = {"none": None, "alibi": decay_slopes(h).to(DEVICE),
              "strong": torch.tensor(STRONG_SLOPES, device=DEVICE)}[slopes_kind]
    do = make_do(b, h, n, e, dtype, layout, seed=52)
    la1 = fwd_bwd(lightning_attn1, q, k, v, slopes, do, layout)
    la2 = fwd_bwd(lightning_attn, q, k, v, slopes, do, layout)
    assert_finite(la1)
    assert_close(la1, la2, 1e-5, 1e-5, per_head=True, layout=layout)
    again = fwd_bwd(lightning_attn1, q, k, v, slopes, do, layout)
    for name, x, y in zip(NAMES, la1, again):
        assert torch.equal(x, y), f"{name}: two identical calls differ"


def test_no_decay_equals_zero_slopes():
    b, h, n, d, e = 1, 2, 75, 32, 48
    q, k, v = make_qkv(b, h, n, d, e, torch.float32, seed=21)
    do = make_do(b, h, n, e, torch.float32, seed=22)
    out_none = fwd_bwd(lightning_attn1, q, k, v, None, do)
    out_zero = fwd_bwd(lightning_attn1, q, k, v, torch.zeros(h, device=DEVICE), do)
    assert_close(out_zero, out_none, 1e-6, 1e-6)


requires_cuda = pytest.mark.skipif(not CUDA, reason="needs CUDA (bf16 dots are unreliable in the Triton interpreter)")


@requires_cuda
@pytest.mark.parametrize("n", [1000, 4097])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=lambda t: DTYPE_IDS[t])
def test_cuda_long_sequences_default_block(dtype, n):
    """GPU only: the default block (64), 128-wide value tiles, all dtypes incl. bf16, vs fp64 and vs LA2."""
    b, h, d, e = 2, 4, 64, 128
    q, k, v = make_qkv(b, h, n, d, e, dtype, seed=n)
    slopes = decay_slopes(h).to(DEVICE)
    do = make_do(b, h, n, e, dtype, seed=n + 1)
    o = lightning_attn1(q, k, v, slopes)
    out = (o, *torch.autograd.grad(o, (q, k, v), do))
    assert_finite(out)
    assert_close(out, reference_fwd_bwd(q, k, v, slopes, do), *TOL[dtype])
    o2 = lightning_attn(q, k, v, slopes)
    la2 = (o2, *torch.autograd.grad(o2, (q, k, v), do))
    tol = 1e-5 if dtype == torch.float32 else 5e-3  # kernel vs kernel (shared docs §6)
    assert_close(out, la2, tol, 2 * tol)


@requires_cuda
@pytest.mark.parametrize("block_n", [16, 32, 64, 128])
def test_cuda_bf16_every_block_bnhd_strong_decay(block_n):
    b, h, n, d, e = 1, len(STRONG_SLOPES), 777, 128, 128
    layout = "bnhd"
    q, k, v = make_qkv(b, h, n, d, e, torch.bfloat16, layout, seed=block_n)
    slopes = torch.tensor(STRONG_SLOPES, device=DEVICE)
    do = make_do(b, h, n, e, torch.bfloat16, layout, seed=block_n + 1)
    out = fwd_bwd(lightning_attn1, q, k, v, slopes, do, layout, block_n)
    assert_finite(out)
    assert_close(out, reference_fwd_bwd(q, k, v, slopes, do, layout), *TOL[torch.bfloat16], per_head=True,
                 layout=layout)


# ----------------------------------------------------------------------------------------------------------------
# 4. validation


def _qkv(shape_q=(1, 2, 8, 32), shape_k=None, shape_v=None, dtype=torch.float32, device=DEVICE):
    return tuple(torch.randn(s).to(dtype=dtype, device=device) for s in (shape_q, shape_k or shape_q,
                                                                           shape_v or shape_q))


def _call(q, k, v, slopes=None, **kw):
    return lambda: lightning_attn1(q, k, v, slopes, **kw)


def _long_seq():
    """A seq_len needing 65536 blocks of 16 rows (stride-0 views: no memory); rejected before any launch."""
    n = 65535 * 16 + 1
    x = torch.zeros(1, 1, 1, 16, device=DEVICE).expand(1, 1, n, 16)
    return _call(x, x, x, block_n=16)


VALIDATION_CASES = {
    "q_rank3": (lambda: _call(*_qkv(shape_q=(2, 8, 32), shape_k=(1, 2, 8, 32), shape_v=(1, 2, 8, 32))),
                ValueError, r"\bq\b.*4-D"),
    "seq_len_mismatch": (lambda: _call(*_qkv(shape_k=(1, 2, 9, 32))), ValueError, r"\bk\b.*seq_len"),
    "v_heads_mismatch": (lambda: _call(*_qkv(shape_v=(1, 3, 8, 32))), ValueError, r"\bv\b.*heads"),
    "qk_head_dim_mismatch": (lambda: _call(*_qkv(shape_k=(1, 2, 8, 48))), ValueError, r"head_dim"),
    "head_dim_8": (lambda: _call(*_qkv(shape_q=(1, 2, 8, 8))), ValueError, rf"head_dim.*{MIN_DIM}.*{MAX_DIM}"),
    "head_dim_max_plus_16": (lambda: _call(*_qkv(shape_q=(1, 2, 8, MAX_DIM + 16))), ValueError, r"head_dim"),
    "value_dim_8": (lambda: _call(*_qkv(shape_v=(1, 2, 8, 8))), ValueError, r"value_dim"),
    "seq_len_0": (lambda: _call(*_qkv(shape_q=(1, 2, 0, 32))), ValueError, r"seq_len"),
    "seq_len_too_many_blocks": (_long_seq, ValueError, r"seq_len.*block_n.*65535"),
    "dtype_mismatch": (lambda: _call(_qkv()[0], _qkv(dtype=torch.float16)[1], _qkv()[2]), ValueError, r"dtype"),
    "float64": (lambda: _call(*_qkv(dtype=torch.float64)), ValueError, r"\bq\b.*dtype.*float64"),
    "not_a_tensor": (lambda: _call(_qkv()[0].tolist(), *_qkv()[1:]), TypeError, r"\bq\b.*torch.Tensor"),
    "k_other_device": (lambda: _call(_qkv()[0], _qkv(device="meta")[1], _qkv()[2]), ValueError, r"device"),
    "slopes_negative": (lambda: _call(*_qkv(), torch.tensor([0.5, -0.1], device=DEVICE)), ValueError, r"slopes"),
    "slopes_nan": (lambda: _call(*_qkv(), torch.tensor([0.5, float("nan")], device=DEVICE)), ValueError, r"slopes"),
    "slopes_wrong_len": (lambda: _call(*_qkv(), torch.ones(3, device=DEVICE)), ValueError, r"slopes.*shape"),
    "slopes_requires_grad": (lambda: _call(*_qkv(), torch.ones(2, device=DEVICE, requires_grad=True)), ValueError,
                             r"slopes.*grad"),
    "slopes_float64": (lambda: _call(*_qkv(), torch.ones(2, dtype=torch.float64, device=DEVICE)), ValueError,
                       r"slopes.*float32"),
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


def test_cpu_tensor_without_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    q, k, v = _qkv(device="cpu")
    with pytest.raises(ValueError, match=r"CUDA.*TRITON_INTERPRET"):
        lightning_attn1(q, k, v)


# ----------------------------------------------------------------------------------------------------------------
# 5. FLOP model, provider, sweep


def test_flops_la1_causal_known_values():
    b, h, n, d, e = 2, 3, 256, 64, 32
    fwd = flops.flops("la1_causal", "fwd", b, h, n, d, e)
    assert fwd == 2 * b * h * (n * n / 2 + n * 64 / 2) * (d + e)
    # exact block-causal pair count when B divides n: Σ_i (i+1)·B² over n/B query blocks
    m = n // 64
    assert fwd == 2 * b * h * sum((i + 1) * 64 * 64 for i in range(m)) * (d + e)
    assert flops.flops("la1_causal", "bwd", b, h, n, d, e) == 2 * fwd
    assert flops.flops("la1_causal", "fwd_bwd", b, h, n, d, e) == 3 * fwd
    assert flops.flops("la1_causal", "fwd", 1, 1, 32, 16, 16, block=32) == 2 * (32 * 32 / 2 + 32 * 32 / 2) * 32
    assert "la1_causal" in flops.MODELS


def test_provider_registered_and_available():
    names = [p.name for p in baselines.list_providers()]
    assert "la1" in names and names.index("la1") > names.index("la2")  # imported right after the la2 adapter
    p = baselines.get_provider("la1")
    assert p.family == "linear" and p.flop_model == "la1_causal" and not p.tf32
    ok, why = p.available()
    assert ok, why
    if not CUDA:
        assert "interpreter" in why


def test_provider_bf16_on_the_cpu_is_unsupported():
    from lightning_bench.baselines.base import Case, Unsupported
    from lightning_bench.sweep import make_inputs

    if CUDA:
        pytest.skip("CPU-only behaviour")
    case = Case(batch=1, heads=2, seq_len=16, head_dim=16, value_dim=16, dtype="bf16", decay="none")
    with pytest.raises(Unsupported, match="interpreter"):
        baselines.get_provider("la1").prepare(case, make_inputs(case, torch.device("cpu"), 0))


def test_cli_sweep_la1_on_cpu(tmp_path):
    out = tmp_path / "la1_run"
    r = CliRunner().invoke(main, ["sweep", "--seq-len", "32,80", "--heads", "2", "--head-dim", "16",
                                  "--providers", "la1", "--min-samples", "2", "--max-samples", "2",
                                  "--max-time", "0.01", "--warmup", "0", "--no-plots", "--quiet", "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "rows.csv")
    assert set(df["provider"]) == {"la1"}
    assert len(df) == 2 * df["mode"].nunique() and len(df) >= 2
    assert (df["status"] == "ok").all(), df[["status", "reason"]]
    assert (df["check"] == "passed").all(), df[["check"]]
    assert (df["flop_model"] == "la1_causal").all()
    if not CUDA:
        assert df["impl"].str.contains("interpreter").all() and df["impl"].str.contains("lightning_attn1").all()
