"""Sequence-parallel helpers: one kernel and one launch wrapper (``lightning_bench.distributed.lightning_attn_sp``, issue #7).

When a sequence is split into chunks held by different GPUs, the chunk starting at global position s is computed
locally from a zero state, and the state S_in that the earlier chunks imply enters afterwards:

- **state correction** (forward): ``o_t += λ^(t+1) · q_t S_in`` for local positions t, in place on the local output
  (one read of q and o, one write of o; paper arXiv 2401.04658 §3, the inter-block term of Algorithm 1 with the
  chunk's entering state);
- **state gradient** (backward): ``G = Σ_t λ^(t+1) q_tᵀ do_t``, the gradient of S_in (the R update of Algorithm 2
  from zero over the chunk: ``kernel._la2_bwd_seg_r_kernel`` for every segment, P0 = 0, combined as
  Σ_p λ^(start_p) F_p).

Decay factors are exp(−slope·k) with k ≥ 0 only (shared docs §2). Dot precision follows the kernels' PREC policy
(``kernels/_common.py``): bf16 operands with fp32 accumulation (the state cast to bf16, as in the forward kernel),
fp16 against the fp32 state in TF32, fp32 IEEE.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._common import cdiv as _cdiv
from .._common import dot_wb as _dot_wb
from .._common import pow2 as _pow2
from .._common import prec as _prec
from .._common import strides as _strides
from .._validate import canonical_shapes

BLOCK_M = 64  # rows per program of the correction


@triton.jit
def _sp_correct_kernel(
    Q, O, S_IN, SLOPES,
    sqb, sqh, sqn, sqd,
    sob, soh, son, soe,
    H, N, D, E,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """O[t] += λ^(t+1) · Q[t] S_IN for the BLOCK_M rows of program 0 of one (batch, head) (program 1), one value tile
    (program 2). S_IN is fp32 [batch·heads, D, E]."""
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    pid_e = tl.program_id(2)
    b = (pid_bh // H).to(tl.int64)
    h = pid_bh % H
    rows = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)).to(tl.int64)
    offs_d = tl.arange(0, BLOCK_D)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    mask_n = rows < N
    mask_d = offs_d < D
    mask_e = offs_e < E
    q_ptrs = Q + b * sqb + h.to(tl.int64) * sqh + rows[:, None] * sqn + offs_d[None, :] * sqd
    Q_i = tl.load(q_ptrs, mask=mask_n[:, None] & mask_d[None, :], other=0.0)
    s_ptrs = S_IN + pid_bh.to(tl.int64) * D * E + offs_d[:, None] * E + offs_e[None, :]
    S = tl.load(s_ptrs, mask=mask_d[:, None] & mask_e[None, :], other=0.0)
    acc = _dot_wb(Q_i, S, PREC)  # [BLOCK_M, BLOCK_E] fp32
    if HAS_DECAY:
        slope = tl.load(SLOPES + h)
        acc = acc * tl.exp(-slope * (rows + 1).to(tl.float32))[:, None]
    o_ptrs = O + b * sob + h.to(tl.int64) * soh + rows[:, None] * son + offs_e[None, :] * soe
    o_mask = mask_n[:, None] & mask_e[None, :]
    O_i = tl.load(o_ptrs, mask=o_mask, other=0.0).to(tl.float32)
    tl.store(o_ptrs, (O_i + acc).to(O.dtype.element_ty), mask=o_mask)


def _dims(q, v, layout):
    """(batch, heads, seq_len, head_dim, value_dim) of q and a tensor with v's last dim, checked alike."""
    return canonical_shapes(q, q, v, layout)


def state_correction_(o, q, s_in, slopes, layout: str, fp32_dot: str = "ieee"):
    """In place: ``o[t] += λ^(t+1) · q[t] s_in`` for every (batch, head). o, q in ``layout`` (any strides); s_in fp32
    ``[batch, heads, head_dim, value_dim]``; slopes fp32 ``[heads]`` or None. Returns o."""
    b, h, n, d, e = _dims(q, o, layout)
    s_in = s_in.contiguous()
    bd, be = _pow2(d), _pow2(e)
    grid = (_cdiv(n, BLOCK_M), b * h, 1)
    _sp_correct_kernel[grid](
        q, o, s_in, slopes if slopes is not None else s_in, *_strides(q, layout), *_strides(o, layout), h, n, d, e,
        HAS_DECAY=slopes is not None, PREC=_prec(q.dtype, fp32_dot), BLOCK_M=BLOCK_M, BLOCK_D=bd, BLOCK_E=be,
        num_warps=4, num_stages=1,
    )
    return o


def state_grad(q, do, slopes, layout: str, fp32_dot: str = "ieee", block_n: int = 64, nseg: int | None = None):
    """``G = Σ_t λ^(t+1) q_tᵀ do_t`` per (batch, head), fp32 ``[batch, heads, head_dim, value_dim]``: fp32 partial
    sums over ``nseg`` sequence segments (default: ~2 programs per SM of a 132-SM GPU), combined as
    Σ_p λ^(start_p) F_p."""
    from .kernel import _la2_bwd_seg_r_kernel, segments

    b, h, n, d, e = _dims(q, do, layout)
    bd, be = _pow2(d), min(_pow2(e), 64)
    e_tiles = _cdiv(e, be)
    nseg, seg = segments("auto" if nseg is None else nseg, b * h, e_tiles, n, block_n)
    part = torch.empty(b * h, nseg, d, e, dtype=torch.float32, device=q.device)
    _la2_bwd_seg_r_kernel[(b * h, e_tiles, nseg)](  # F_p of every segment (P0 = 0)
        q, do, slopes if slopes is not None else part, part, *_strides(q, layout), *_strides(do, layout),
        h, n, d, e, seg, nseg, 0,
        HAS_DECAY=slopes is not None, PREC=_prec(q.dtype, fp32_dot), BLOCK_N=block_n, BLOCK_D=bd, BLOCK_E=be,
        num_warps=4, num_stages=2,
    )
    part = part.view(b, h, nseg, d, e)
    if nseg == 1:
        return part[:, :, 0]
    starts = torch.arange(nseg, device=q.device, dtype=torch.float64) * seg
    if slopes is None:
        return part.sum(dim=2)
    w = torch.exp(-slopes.to(torch.float64)[:, None] * starts[None, :]).to(torch.float32)  # [h, nseg], λ^(start_p)
    return torch.einsum("hp,bhpde->bhde", w, part)
