"""Provider ``floor``: the byte floor of a shape — the tensors of causal linear attention, no attention.

Forward ``o = q ⊙ k ⊙ v`` reads q, k, v and writes o; its backward (dq = do ⊙ k ⊙ v, dk = do ⊙ q ⊙ v, dv = do ⊙ q ⊙ k)
reads q, k, v, do and writes dq, dk, dv: exactly the minimum I/O of :data:`lightning_bench.flops.BYTES_MODEL`, in one
streaming pass each (Triton elementwise kernels on CUDA, torch ops elsewhere). Timed like every other row (same
timer, L2 policy, launch), its tokens/s is an upper bound for any implementation of that shape and mode under this
timer, so a row's fraction of the floor is its distance to the memory limit, *including* launch and ramp-up costs
that a large-copy roofline leaves out. It caps each length, not a ratio: the floor's own short/long tokens/s ratio is
how "flat" a kernel equally close to the floor at every length would be. On the CPU (Triton interpreter or torch ops)
it is a functional check only, not a bound.
Needs head_dim == value_dim (the product is elementwise). Its FLOP model is ``none`` (no FLOPs are declared); its
correctness check compares o with q ⊙ k ⊙ v in float64.
"""

from __future__ import annotations

import functools
import os

import torch

from .base import Case, Inputs, Prepared, Provider, Unsupported, leaf, register

_BLOCK = 4096


@functools.lru_cache(maxsize=None)
def _kernels():
    """The two Triton kernels, defined on first use: importing triton at module import would fix the JIT mode before
    the CLI sets ``TRITON_INTERPRET`` for a CPU run."""
    import triton
    import triton.language as tl

    @triton.jit
    def _floor_fwd_kernel(Q, K, V, O, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        q = tl.load(Q + offs, mask=m).to(tl.float32)
        k = tl.load(K + offs, mask=m).to(tl.float32)
        v = tl.load(V + offs, mask=m).to(tl.float32)
        tl.store(O + offs, (q * k * v).to(O.dtype.element_ty), mask=m)

    @triton.jit
    def _floor_bwd_kernel(Q, K, V, DO, DQ, DK, DV, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        q = tl.load(Q + offs, mask=m).to(tl.float32)
        k = tl.load(K + offs, mask=m).to(tl.float32)
        v = tl.load(V + offs, mask=m).to(tl.float32)
        do = tl.load(DO + offs, mask=m).to(tl.float32)
        tl.store(DQ + offs, (do * k * v).to(DQ.dtype.element_ty), mask=m)
        tl.store(DK + offs, (do * q * v).to(DK.dtype.element_ty), mask=m)
        tl.store(DV + offs, (do * q * k).to(DV.dtype.element_ty), mask=m)

    return _floor_fwd_kernel, _floor_bwd_kernel


@functools.lru_cache(maxsize=None)
def _have_triton() -> bool:
    import importlib.util

    return importlib.util.find_spec("triton") is not None  # finds it without importing it


def _use_triton(x: torch.Tensor) -> bool:
    return _have_triton() and (x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1")


def _grid(n: int) -> tuple[int]:
    return ((n + _BLOCK - 1) // _BLOCK,)


class _Floor(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v):
        ctx.save_for_backward(q, k, v)
        if not _use_triton(q):
            return q * k * v
        o = torch.empty_like(v)
        n = q.numel()
        _kernels()[0][_grid(n)](q, k, v, o, n, BLOCK=_BLOCK, num_warps=8)
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v = ctx.saved_tensors
        do = do.contiguous()
        if not _use_triton(q):
            return do * k * v, do * q * v, do * q * k
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        n = q.numel()
        _kernels()[1][_grid(n)](q, k, v, do, dq, dk, dv, n, BLOCK=_BLOCK, num_warps=8)
        return dq, dk, dv


def _availability() -> tuple[bool, str]:
    if torch.cuda.is_available():
        return True, ""
    return True, "no CUDA: runs on the CPU (Triton interpreter or torch ops) as a functional check, not a bound"


def floor_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """o = q ⊙ k ⊙ v (differentiable), the byte floor's operation.

    Args:
        q, k, v: tensors of one shape, dtype and device, contiguous (e.g. [batch, heads, seq_len, head_dim]).

    Raises:
        ValueError: shapes, dtypes or devices differ, or an input is not contiguous.
    """
    for name, t in (("k", k), ("v", v)):
        if t.shape != q.shape or t.dtype != q.dtype or t.device != q.device:
            raise ValueError(f"{name} must match q's shape, dtype and device (the floor is elementwise); got "
                             f"{tuple(t.shape)} {t.dtype} {t.device} vs {tuple(q.shape)} {q.dtype} {q.device}")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not t.is_contiguous():
            raise ValueError(f"{name} must be contiguous")
    return _Floor.apply(q, k, v)


def _prepare(case: Case, inputs: Inputs) -> Prepared:
    if case.head_dim != case.value_dim:
        raise Unsupported("the byte floor is elementwise: needs head_dim == value_dim")
    q, k, v = leaf(inputs.q), leaf(inputs.k), leaf(inputs.v)
    impl = ("triton elementwise (o = q⊙k⊙v; bwd reads q, k, v, do, writes dq, dk, dv)" if _use_triton(q)
            else "torch elementwise (o = q⊙k⊙v)")
    if not q.is_cuda:
        impl += ("; Triton interpreter" if _use_triton(q) else "") + " on the CPU: a functional check, not a bound"
    return Prepared(forward=lambda: floor_op(q, k, v), leaves=[q, k, v], grad_out=inputs.do, impl=impl)


PROVIDER = register(
    Provider(
        name="floor",
        family="floor",
        flop_model="none",
        description="byte floor: o = q⊙k⊙v, the minimum I/O of the forward and backward in one pass each, no "
                    "attention (an upper bound on tokens/s per shape under the same timer)",
        availability=_availability,
        prepare=_prepare,
    )
)
