"""Sequence-parallel kernels (``lightning_bench.distributed.lightning_attn_sp``, issue #7): the state correction, the
state gradient and the state exchange's packing, combining and gradient contributions.

When a sequence is split into chunks held by different GPUs, the chunk starting at global position s is computed
locally from a zero state, and the state S_in that the earlier chunks imply enters afterwards:

- **state correction** (forward): ``o_t += λ^(t+1) · q_t S_in`` for local positions t, in place on the local output
  (one read of q and o, one write of o; paper arXiv 2401.04658 §3, the inter-block term of Algorithm 1 with the
  chunk's entering state);
- **state gradient** (backward): ``G = Σ_t λ^(t+1) q_tᵀ do_t``, the gradient of S_in (the R update of Algorithm 2
  from zero over the chunk: ``kernel._la2_bwd_seg_r_kernel`` for every segment, P0 = 0, combined as
  Σ_p λ^(start_p) F_p);
- **state exchange** (LASP's all-gather form, arXiv 2404.02882): ``pack_end_state`` writes this chunk's end state
  (from the segments' local end states) and its length into one buffer, ``combine_gathered`` forms S_in, the whole
  sequence's final state and the weights from the all-gathered buffers, ``grad_contributions`` maps the backward's
  dS_in and final-state gradient to every chunk's end state (all-reduced afterwards). One launch each instead of
  ~30 small torch ops, no host sync.

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
from .._common import head_slope as _slope
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


# ------------------------------------------------------------------------------------------------ the state exchange
# The forward's one collective all-gathers, per rank, [E_local (fp32, batch·heads·D·E words) | pad | n_local (int64)].
# Two small kernels replace the ~30 torch ops that packed that buffer and combined what came back (issue #7: the sp
# forward was host-bound, ~1.2 ms of host time per call against ~0.35 ms of GPU work at 16K tokens per rank).
EX_BLOCK = 1024  # state words per program


@triton.jit
def _state_tile(H, DE, BLOCK: tl.constexpr):
    """This program's (batch·head, head, word offsets, mask, first word) in fp32 states of DE = D·E words per
    (batch, head): program 0 is the batch·head, program 1 a tile of BLOCK words."""
    pid_bh = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    return pid_bh, pid_bh % H, offs, offs < DE, pid_bh.to(tl.int64) * DE


@triton.jit
def _segment_sum(SRC, pid_bh, offs, mask, slope, N, SEG, NSEG, DE, HAS_DECAY: tl.constexpr, TO_END: tl.constexpr,
                 BLOCK: tl.constexpr):
    """Σ_p w_p · SRC[bh, p, offs] over the NSEG segments of SEG rows: w_p = λ^(N − end_p) (TO_END: a segment's local
    end state carried to the chunk's end) or λ^(p·SEG) (a local R carried from the segment's start back to the
    chunk's start); 1 without decay. Exponents ≥ 0 only."""
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for p in range(0, NSEG):
        x = tl.load(SRC + (pid_bh.to(tl.int64) * NSEG + p) * DE + offs, mask=mask, other=0.0)
        if HAS_DECAY:
            if TO_END:
                steps = N - tl.minimum((p + 1) * SEG, N)
            else:
                steps = p * SEG
            x = x * tl.exp(-slope * steps.to(tl.float32))
        acc += x
    return acc


@triton.jit
def _sp_pack_kernel(
    SRC, S0, SLOPES, BUF, BUF64,
    H, N, SEG, NSEG, DE, LEN_COL,
    HAS_DECAY: tl.constexpr, HAS_S0: tl.constexpr, BLOCK: tl.constexpr,
):
    """BUF[bh·DE + i] = Σ_p λ^(N − end_p) · SRC[bh, p, i] (+ λ^N · S0[bh, i]), end_p = min((p+1)·SEG, N): this chunk's
    end state from the segments' local end states (program 0: batch·head, program 1: a tile of D·E words); program
    (0, 0) also writes N as int64 at BUF64[LEN_COL]. Exponents ≥ 0 only."""
    pid_bh, h, offs, mask, base = _state_tile(H, DE, BLOCK)
    n_t = pid_bh * 0 + N  # a tensor even when N == 1 (Triton passes 1 as a constant)
    slope = _slope(SLOPES, h, HAS_DECAY)
    acc = _segment_sum(SRC, pid_bh, offs, mask, slope, n_t, SEG, NSEG, DE, HAS_DECAY, True, BLOCK)
    if HAS_S0:
        s = tl.load(S0 + base + offs, mask=mask, other=0.0)
        if HAS_DECAY:
            s = s * tl.exp(-slope * n_t.to(tl.float32))
        acc += s
    tl.store(BUF + base + offs, acc, mask=mask)
    if (pid_bh == 0) & (tl.program_id(1) == 0):
        tl.store(BUF64 + LEN_COL, n_t.to(tl.int64))


@triton.jit
def _sp_exchange_kernel(
    G, G64, SLOPES, S_IN, FINAL, W_IN, W_FIN,
    WORLD, RANK, H, DE, ROW, ROW64, LEN_COL,
    HAS_DECAY: tl.constexpr, WANT_IN: tl.constexpr, WANT_FINAL: tl.constexpr, BLOCK: tl.constexpr,
):
    """From the gathered rows G[j] = [E_j | n_j]: S_IN = Σ_{j<RANK} λ^(start − end_j) E_j and FINAL = Σ_j λ^(total −
    end_j) E_j for one (batch·head, tile), end_j = n_0 + … + n_j, start = end_{RANK−1}; programs of batch 0, tile 0
    write the weights W_IN[j, h], W_FIN[j, h] (fp32, for the backward). Exponents ≥ 0 only."""
    pid_bh, h, offs, mask, base = _state_tile(H, DE, BLOCK)
    zero = tl.load(G64 + LEN_COL) * 0
    total = zero
    start = zero
    for j in range(0, WORLD):
        ln = tl.load(G64 + j * ROW64 + LEN_COL)
        total += ln
        start += tl.where(j < RANK, ln, 0)
    slope = _slope(SLOPES, h, HAS_DECAY)
    acc_in = tl.zeros([BLOCK], dtype=tl.float32)
    acc_fin = tl.zeros([BLOCK], dtype=tl.float32)
    end = zero
    for j in range(0, WORLD):
        end += tl.load(G64 + j * ROW64 + LEN_COL)
        gap_in = tl.maximum(start - end, 0).to(tl.float32)
        gap_fin = (total - end).to(tl.float32)
        if HAS_DECAY:
            w_in = tl.exp(-slope * gap_in)
            w_fin = tl.exp(-slope * gap_fin)
        else:
            w_in = gap_in * 0.0 + 1.0
            w_fin = gap_fin * 0.0 + 1.0
        w_in = tl.where(j < RANK, w_in, 0.0)
        x = tl.load(G + (zero + j) * ROW + base + offs, mask=mask, other=0.0)  # 64-bit row offset
        if WANT_IN:
            acc_in += w_in * x
        if WANT_FINAL:
            acc_fin += w_fin * x
        if (pid_bh < H) & (tl.program_id(1) == 0):
            tl.store(W_IN + j * H + h, w_in)
            tl.store(W_FIN + j * H + h, w_fin)
    if WANT_IN:
        tl.store(S_IN + base + offs, acc_in, mask=mask)
    if WANT_FINAL:
        tl.store(FINAL + base + offs, acc_fin, mask=mask)


def exchange_layout(b: int, h: int, d: int, e: int) -> tuple[int, int]:
    """(state words, words per gathered row) of the exchange buffer: fp32 state, padded to 8 bytes, then one int64."""
    numel = b * h * d * e
    at = numel + numel % 2
    return at, at + 2


def pack_end_state(src: torch.Tensor, nseg: int, seg: int, n: int, s0, slopes, b: int, h: int, d: int,
                   e: int) -> torch.Tensor:
    """The exchange buffer of this rank (fp32, ``exchange_layout``'s row): the chunk's end state Σ_p λ^(n − end_p)
    src[bh, p] (+ λ^n s0) and n as int64. ``src``: fp32 contiguous ``[batch·heads, nseg, d, e]`` (segments' local end
    states; nseg = 1 with seg = n: the chunk's final state as it is); s0 fp32 ``[batch, heads, d, e]`` or None."""
    at, row = exchange_layout(b, h, d, e)
    buf = torch.empty(row, dtype=torch.float32, device=src.device)
    de = d * e
    _sp_pack_kernel[(b * h, _cdiv(de, EX_BLOCK))](
        src, s0 if s0 is not None else src, slopes if slopes is not None else src, buf, buf.view(torch.int64),
        h, n, seg, nseg, de, at // 2,
        HAS_DECAY=slopes is not None, HAS_S0=s0 is not None, BLOCK=EX_BLOCK, num_warps=4,
    )
    return buf


def combine_gathered(gathered: torch.Tensor, slopes, rank: int, b: int, h: int, d: int, e: int, want_final: bool):
    """From the all-gathered exchange rows ``[world, row]``: (w_in, w_fin, s_in, final) as
    ``lightning_bench.distributed.sp._exchange`` defines them (weights fp32 ``[world, heads]``; s_in None on rank 0,
    final None unless ``want_final``)."""
    world = gathered.shape[0]
    at, row = exchange_layout(b, h, d, e)
    dev = gathered.device
    w_in = torch.empty(world, h, dtype=torch.float32, device=dev)
    w_fin = torch.empty(world, h, dtype=torch.float32, device=dev)
    s_in = torch.empty(b, h, d, e, dtype=torch.float32, device=dev) if rank > 0 else None
    final = torch.empty(b, h, d, e, dtype=torch.float32, device=dev) if want_final else None
    de = d * e
    _sp_exchange_kernel[(b * h, _cdiv(de, EX_BLOCK))](
        gathered, gathered.view(torch.int64), slopes if slopes is not None else w_in,
        s_in if s_in is not None else w_in, final if final is not None else w_in, w_in, w_fin,
        world, rank, h, de, row, row // 2, at // 2,
        HAS_DECAY=slopes is not None, WANT_IN=s_in is not None, WANT_FINAL=final is not None, BLOCK=EX_BLOCK,
        num_warps=4,
    )
    return w_in, w_fin, s_in, final


@triton.jit
def _sp_grad_contrib_kernel(
    SRC, DFIN, W_IN, W_FIN, SLOPES, OUT,
    H, SEG, NSEG, DE, WORLD, BHDE,
    HAS_G: tl.constexpr, HAS_DFIN: tl.constexpr, HAS_DECAY: tl.constexpr, BLOCK: tl.constexpr,
):
    """The backward's contributions to every chunk's end-state gradient, one (batch·head, tile) per program:
    g = Σ_p λ^(p·SEG) · SRC[bh, p] (this chunk's dS_in from the segments' local R, each measured from its segment's
    start), then OUT[j, bh] = W_IN[j, h] · g + W_FIN[j, h] · DFIN[bh] for every chunk j (summed over the ranks by one
    all-reduce afterwards). Exponents ≥ 0 only."""
    pid_bh, h, offs, mask, base = _state_tile(H, DE, BLOCK)
    g = tl.zeros([BLOCK], dtype=tl.float32)
    if HAS_G:
        slope = _slope(SLOPES, h, HAS_DECAY)
        g = _segment_sum(SRC, pid_bh, offs, mask, slope, SEG, SEG, NSEG, DE, HAS_DECAY, False, BLOCK)
    dfin = tl.zeros([BLOCK], dtype=tl.float32)
    if HAS_DFIN:
        dfin = tl.load(DFIN + base + offs, mask=mask, other=0.0)
    for j in range(0, WORLD):
        w_in = tl.load(W_IN + j * H + h)
        w_fin = tl.load(W_FIN + j * H + h)
        tl.store(OUT + (base * 0 + j) * BHDE + base + offs, w_in * g + w_fin * dfin, mask=mask)  # 64-bit offset


def grad_contributions(src, nseg: int, seg: int, d_final, w_in, w_fin, slopes, b: int, h: int, d: int,
                       e: int) -> torch.Tensor:
    """fp32 ``[world, batch, heads, d, e]``: row j = w_in[j]·dS_in + w_fin[j]·d_final, with dS_in = Σ_p λ^(p·seg)
    src[bh, p] (``src`` fp32 contiguous ``[batch·heads, nseg, d, e]`` or None: no dS_in on this rank) and d_final
    the final state's gradient ``[batch, heads, d, e]`` or None. One launch; the caller all-reduces it."""
    world = w_in.shape[0]
    dev = w_in.device
    out = torch.empty(world, b, h, d, e, dtype=torch.float32, device=dev)
    dfin = None if d_final is None or not d_final.numel() else d_final.to(torch.float32).contiguous()
    de = d * e
    _sp_grad_contrib_kernel[(b * h, _cdiv(de, EX_BLOCK))](
        src if src is not None else out, dfin if dfin is not None else out, w_in, w_fin,
        slopes if slopes is not None else w_in, out,
        h, seg, nseg, de, world, b * h * de,
        HAS_G=src is not None, HAS_DFIN=dfin is not None, HAS_DECAY=slopes is not None, BLOCK=EX_BLOCK, num_warps=4,
    )
    return out
