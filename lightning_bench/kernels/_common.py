"""Helpers shared by the Lightning Attention kernels: dot precision (Triton) and launch-side tensor plumbing."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

# PREC: how dots are computed. 0 = bf16 (operands in bf16, fp32 accumulation); 1 = fp32 inputs (exact fp32 dots);
# 3 = fp32 inputs with TF32 dots (opt-in, fp32_dot="tf32");
# 2 = fp16 inputs: products of two input tiles use fp16 operands, but products with an fp32-valued tile (the state
# S or R, or a decayed score tile) keep that tile in fp32 and run as TF32 (fp16's 10-bit mantissa, fp32's range), so
# an intermediate above 65504 cannot overflow where the true output is representable (shared docs §6).
FP32_DOTS = ("ieee", "tf32")


def prec(dtype: torch.dtype, fp32_dot: str = "ieee") -> int:
    """The PREC constexpr for an input dtype and fp32 dot choice."""
    if dtype == torch.float32 and fp32_dot == "tf32":
        return 3
    return {torch.bfloat16: 0, torch.float32: 1, torch.float16: 2}[dtype]


@triton.jit
def dot_in(a, b, PREC: tl.constexpr):
    """a, b in the input dtype."""
    if PREC == 1:
        return tl.dot(a, b, input_precision="ieee")
    elif PREC == 3:
        return tl.dot(a, b, input_precision="tf32")
    else:
        return tl.dot(a, b)


@triton.jit
def dot_wa(a, b, PREC: tl.constexpr):
    """a is fp32-valued (scores, state), b in the input dtype."""
    if PREC == 0:
        return tl.dot(a.to(b.dtype), b)
    elif PREC == 1:
        return tl.dot(a, b, input_precision="ieee")
    elif PREC == 3:
        return tl.dot(a, b, input_precision="tf32")
    else:
        return tl.dot(a, b.to(tl.float32), input_precision="tf32")


@triton.jit
def dot_wb(a, b, PREC: tl.constexpr):
    """a in the input dtype, b is fp32-valued (state)."""
    if PREC == 0:
        return tl.dot(a, b.to(a.dtype))
    elif PREC == 1:
        return tl.dot(a, b, input_precision="ieee")
    elif PREC == 3:
        return tl.dot(a, b, input_precision="tf32")
    else:
        return tl.dot(a.to(tl.float32), b, input_precision="tf32")


@triton.jit
def head_slope(SLOPES, h, HAS_DECAY: tl.constexpr):
    """Head h's decay slope (0 without decay)."""
    slope = 0.0
    if HAS_DECAY:
        slope = tl.load(SLOPES + h)
    return slope


@triton.jit
def load_rows(base, rows, s_n, offs, s_x, mask_n, mask_x):
    """The [rows, offs] tile of a (seq_len, dim) slice with strides (s_n, s_x); zeros outside the masks."""
    return tl.load(base + rows[:, None] * s_n + offs[None, :] * s_x, mask=mask_n[:, None] & mask_x[None, :], other=0.0)


@triton.jit
def store_rows(base, rows, s_n, offs, s_x, mask_n, mask_x, value):
    """Store ``value`` into the [rows, offs] tile of a (seq_len, dim) slice, within the masks."""
    tl.store(base + rows[:, None] * s_n + offs[None, :] * s_x, value, mask=mask_n[:, None] & mask_x[None, :])


def cdiv(a: int, b: int) -> int:
    """Ceiling division on the host (``triton.cdiv`` is a JIT function: ~5 µs per host call through its launcher)."""
    return -(-a // b)


def pow2(x: int) -> int:
    """Tile width for a dim: the next power of two, at least 16 (tl.dot's minimum)."""
    return max(16, 1 << (int(x) - 1).bit_length())  # host arithmetic: triton.next_power_of_2 is a JIT function


def strides(x: torch.Tensor, layout: str) -> tuple[int, int, int, int]:
    """(batch, heads, seq_len, dim) strides of a tensor in either layout."""
    sb, s1, s2, sd = x.stride()
    return (sb, s1, s2, sd) if layout == "bhnd" else (sb, s2, s1, sd)


def dims(q: torch.Tensor, v: torch.Tensor, layout: str) -> tuple[int, int, int, int, int]:
    """(batch, heads, seq_len, head_dim, value_dim) of tensors the public wrappers already validated (no checks: on
    the host path of every call)."""
    if layout == "bhnd":
        b, h, n, d = q.shape
    else:
        b, n, h, d = q.shape
    return b, h, n, d, v.shape[-1]


def grad_views(grads: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """dq, dk, dv as contiguous views of one flat buffer ``grads`` of 2·q.numel() + v.numel() elements (q's dtype),
    shaped like q, k, v: the ``la2_bwd`` custom op returns that one buffer, because a custom op's outputs may not alias
    each other and the one-launch backward writes the three as one stacked [3, *q.shape] buffer."""
    nq, nk = q.numel(), k.numel()
    return grads[:nq].view(q.shape), grads[nq:nq + nk].view(k.shape), grads[nq + nk:].view(v.shape)


def empty(b, h, n, dim, layout, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised [b, h, n, dim] (bhnd) or [b, n, h, dim] (bnhd) tensor like ``like``."""
    shape = (b, h, n, dim) if layout == "bhnd" else (b, n, h, dim)
    return torch.empty(shape, dtype=like.dtype, device=like.device)
