"""Lightning Attention-1 in Triton: the IO-aware masked left product, no inter-block state.

Lightning Attention-1 (TransNormerLLM, arXiv 2307.14995, "Lightning Attention"; the comparison point of
Lightning Attention-2, arXiv 2401.04658 §4, Table 1) computes the same function as Lightning Attention-2,
``O = (Q Kᵀ ⊙ M) V`` with ``M[s, t] = λ_h^(s−t)`` for s ≥ t, else 0, ``λ_h = exp(−slope_h)`` (shared docs
``lightning-attention.md`` §1), but tiled like FlashAttention: for each query block i it walks the key blocks j ≤ i
and accumulates the masked left product ``(Q_i K_jᵀ ⊙ D_ij) V_j`` with

    D_ij[c1, c2] = λ^((iB + c1) − (jB + c2))  where the query row iB + c1 ≥ the key row jB + c2, else 0.

O(n²(d+e)) compute, no d×e state (that is what Lightning Attention-2 adds).

Backward (same decomposition; O is not needed, there is no softmax):

    dQ_i = Σ_{j ≤ i} (dO_i V_jᵀ ⊙ D_ij) K_j                      (one program per query block)
    dK_j = Σ_{i ≥ j} (dO_i V_jᵀ ⊙ D_ij)ᵀ Q_i,  dV_j = Σ_{i ≥ j} (Q_i K_jᵀ ⊙ D_ij)ᵀ dO_i   (one program per key block)

Each gradient is written once by one program, from fp32 accumulators: no atomics, no read-modify-write.

Decay exponents (shared docs §2, "safe decay exponents"): every factor is exp(−slope·k) with k ≥ 0.
- diagonal block (i = j): k = c1 − c2, masked with −inf above the diagonal *before* the exp;
- off-diagonal (j < i): λ^((i−j)B + c1 − c2) = λ^((i−j−1)B) · λ^(B + c1 − c2), a per-pair scalar times a B×B
  matrix built once per program, both exponents ≥ 0 (the matrix's lie in 1 … 2B−1). Far pairs underflow to 0,
  which is the correct limit. λ^(−x) is never formed.

Grids (seq_len is a runtime argument, never a constexpr; offsets are 64-bit):
- forward and dQ: (batch·heads, ⌈n/B⌉, output-dim tiles); query blocks are issued heaviest (last) first;
- dK/dV: (batch·heads, ⌈n/B⌉); key block 0 (the heaviest) first.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._common import cdiv as _cdiv
from .._common import dot_in as _dot
from .._common import dot_wa as _dot_wa
from .._common import empty as _empty
from .._common import head_slope as _slope
from .._common import load_rows as _load_rows
from .._common import pow2 as _pow2
from .._common import prec as _prec
from .._common import store_rows as _store_rows
from .._common import strides as _strides
from .._validate import canonical_shapes, canonical_slopes, check_kernel_device, interpreter_enabled

BLOCK_N = 64  # rows per block B, for query and key blocks alike
MAX_GRID_BLOCKS = 65535  # CUDA's limit on grid axes 1 and 2, which carry the block index


@triton.jit
def _diag_mask(slope, BLOCK_N: tl.constexpr, HAS_DECAY: tl.constexpr, TRANSPOSED: tl.constexpr):
    """D_ii: λ^(c1 − c2) where query row c1 ≥ key row c2, else 0; [c1, c2], or [c2, c1] when TRANSPOSED."""
    r = tl.arange(0, BLOCK_N)
    if TRANSPOSED:  # rows index keys (c2), columns queries (c1)
        diff = r[None, :] - r[:, None]
    else:
        diff = r[:, None] - r[None, :]
    causal = diff >= 0
    if HAS_DECAY:
        return tl.exp(tl.where(causal, -slope * diff.to(tl.float32), float("-inf")))
    else:
        return tl.where(causal, 1.0, 0.0)


@triton.jit
def _offdiag_decay(slope, BLOCK_N: tl.constexpr, TRANSPOSED: tl.constexpr):
    """λ^(B + c1 − c2) (exponent 1 … 2B−1); times λ^((i−j−1)B) it is D_ij for j < i. [c1, c2] or [c2, c1]."""
    r = tl.arange(0, BLOCK_N)
    if TRANSPOSED:
        diff = BLOCK_N + r[None, :] - r[:, None]
    else:
        diff = BLOCK_N + r[:, None] - r[None, :]
    return tl.exp(-slope * diff.to(tl.float32))


@triton.jit
def _causal_left_product(
    A, Bm, C, OUT, SLOPES,
    sab, sah, san, sad,
    sbb, sbh, sbn, sbd,
    scb, sch, scn, scd,
    sob, soh, son, sod,
    H, N, DA, DC,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_DA: tl.constexpr, BLOCK_DC: tl.constexpr,
):
    """OUT_i[:, tile] = Σ_{j ≤ i} (A_i B_jᵀ ⊙ D_ij) C_j[:, tile] for this program's query block i.

    Forward: (A, B, C) = (Q, K, V), OUT = O. Backward dQ: (A, B, C) = (dO, V, K), OUT = dQ.
    A, B: [.., N, DA]; C, OUT: [.., N, DC]; strides given in (batch, heads, seq, dim) order.
    """
    pid_bh = tl.program_id(0)
    num_blocks = tl.cdiv(N, BLOCK_N)
    i = num_blocks - 1 - tl.program_id(1)  # the last query blocks see the most key blocks: issue them first
    pid_c = tl.program_id(2)
    b = (pid_bh // H).to(tl.int64)
    h = pid_bh % H
    a_base = A + b * sab + h.to(tl.int64) * sah
    b_base = Bm + b * sbb + h.to(tl.int64) * sbh
    c_base = C + b * scb + h.to(tl.int64) * sch
    o_base = OUT + b * sob + h.to(tl.int64) * soh
    offs_r = tl.arange(0, BLOCK_N)
    offs_a = tl.arange(0, BLOCK_DA)
    offs_c = pid_c * BLOCK_DC + tl.arange(0, BLOCK_DC)
    mask_a = offs_a < DA
    mask_c = offs_c < DC
    slope = _slope(SLOPES, h, HAS_DECAY)
    rows_i = (i * BLOCK_N + offs_r).to(tl.int64)
    mask_i = rows_i < N
    A_i = _load_rows(a_base, rows_i, san, offs_a, sad, mask_i, mask_a)
    acc = tl.zeros([BLOCK_N, BLOCK_DC], dtype=tl.float32)
    if HAS_DECAY:
        d_off = _offdiag_decay(slope, BLOCK_N, False)
    # off-diagonal key blocks j < i: every row of them is < iB < N, so only the dim masks apply
    for j in range(0, i):
        rows_j = (j * BLOCK_N + offs_r).to(tl.int64)
        B_j = tl.load(b_base + rows_j[:, None] * sbn + offs_a[None, :] * sbd, mask=mask_a[None, :], other=0.0)
        C_j = tl.load(c_base + rows_j[:, None] * scn + offs_c[None, :] * scd, mask=mask_c[None, :], other=0.0)
        s = _dot(A_i, tl.trans(B_j), PREC)
        if HAS_DECAY:
            # D_ij = λ^((i−j−1)B) · λ^(B + c1 − c2): both exponents ≥ 0; far pairs underflow to 0 (correct)
            w = tl.exp(-slope * ((i - 1 - j) * BLOCK_N).to(tl.float32))
            s = s * (d_off * w)
        acc += _dot_wa(s, C_j, PREC)
    # diagonal block j = i (may be the partial last block: rows ≥ N load as 0 and are not stored)
    B_i = _load_rows(b_base, rows_i, sbn, offs_a, sbd, mask_i, mask_a)
    C_i = _load_rows(c_base, rows_i, scn, offs_c, scd, mask_i, mask_c)
    s = _dot(A_i, tl.trans(B_i), PREC) * _diag_mask(slope, BLOCK_N, HAS_DECAY, False)
    acc += _dot_wa(s, C_i, PREC)
    _store_rows(o_base, rows_i, son, offs_c, sod, mask_i, mask_c, acc.to(OUT.dtype.element_ty))


@triton.jit
def _la1_fwd_kernel(
    Q, K, V, O, SLOPES,
    sqb, sqh, sqn, sqd,
    skb, skh, skn, skd,
    svb, svh, svn, sve,
    sob, soh, son, soe,
    H, N, D, E,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """O_i = Σ_{j ≤ i} (Q_i K_jᵀ ⊙ D_ij) V_j; one program per (batch·head, query block, value-dim tile)."""
    _causal_left_product(Q, K, V, O, SLOPES, sqb, sqh, sqn, sqd, skb, skh, skn, skd, svb, svh, svn, sve,
                         sob, soh, son, soe, H, N, D, E, HAS_DECAY, PREC, BLOCK_N, BLOCK_D, BLOCK_E)


@triton.jit
def _la1_bwd_dq_kernel(
    DO, V, K, DQ, SLOPES,
    sdob, sdoh, sdon, sdoe,
    svb, svh, svn, sve,
    skb, skh, skn, skd,
    sdqb, sdqh, sdqn, sdqd,
    H, N, E, D,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """dQ_i = Σ_{j ≤ i} (dO_i V_jᵀ ⊙ D_ij) K_j; one program per (batch·head, query block, head-dim tile)."""
    _causal_left_product(DO, V, K, DQ, SLOPES, sdob, sdoh, sdon, sdoe, svb, svh, svn, sve, skb, skh, skn, skd,
                         sdqb, sdqh, sdqn, sdqd, H, N, E, D, HAS_DECAY, PREC, BLOCK_N, BLOCK_E, BLOCK_D)


@triton.jit
def _la1_bwd_dkdv_kernel(
    Q, K, V, DO, DK, DV, SLOPES,
    sqb, sqh, sqn, sqd,
    skb, skh, skn, skd,
    svb, svh, svn, sve,
    sdob, sdoh, sdon, sdoe,
    sdkb, sdkh, sdkn, sdkd,
    sdvb, sdvh, sdvn, sdve,
    H, N, D, E,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """For key block j: dK_j = Σ_{i ≥ j} (V_j dO_iᵀ ⊙ D_ijᵀ) Q_i and dV_j = Σ_{i ≥ j} (K_j Q_iᵀ ⊙ D_ijᵀ) dO_i.

    One program per (batch·head, key block); Q_i and dO_i are loaded once for both gradients.
    """
    pid_bh = tl.program_id(0)
    j = tl.program_id(1)  # key block 0 sees every query block: the heaviest programs go first
    num_blocks = tl.cdiv(N, BLOCK_N)
    b = (pid_bh // H).to(tl.int64)
    h = pid_bh % H
    q_base = Q + b * sqb + h.to(tl.int64) * sqh
    k_base = K + b * skb + h.to(tl.int64) * skh
    v_base = V + b * svb + h.to(tl.int64) * svh
    do_base = DO + b * sdob + h.to(tl.int64) * sdoh
    dk_base = DK + b * sdkb + h.to(tl.int64) * sdkh
    dv_base = DV + b * sdvb + h.to(tl.int64) * sdvh
    offs_r = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_e = tl.arange(0, BLOCK_E)
    mask_d = offs_d < D
    mask_e = offs_e < E
    slope = _slope(SLOPES, h, HAS_DECAY)
    rows_j = (j * BLOCK_N + offs_r).to(tl.int64)
    mask_j = rows_j < N
    K_j = _load_rows(k_base, rows_j, skn, offs_d, skd, mask_j, mask_d)
    V_j = _load_rows(v_base, rows_j, svn, offs_e, sve, mask_j, mask_e)
    # diagonal block i = j; score tiles are [key row c2, query row c1] (transposed)
    Q_i = _load_rows(q_base, rows_j, sqn, offs_d, sqd, mask_j, mask_d)
    dO_i = _load_rows(do_base, rows_j, sdon, offs_e, sdoe, mask_j, mask_e)
    dmat = _diag_mask(slope, BLOCK_N, HAS_DECAY, True)
    sT = _dot(K_j, tl.trans(Q_i), PREC) * dmat
    dpT = _dot(V_j, tl.trans(dO_i), PREC) * dmat
    dV = _dot_wa(sT, dO_i, PREC)
    dK = _dot_wa(dpT, Q_i, PREC)
    if HAS_DECAY:
        d_off = _offdiag_decay(slope, BLOCK_N, True)
    for i in range(j + 1, num_blocks):
        rows_i = (i * BLOCK_N + offs_r).to(tl.int64)
        mask_i = rows_i < N  # the last query block may be partial
        Q_i = _load_rows(q_base, rows_i, sqn, offs_d, sqd, mask_i, mask_d)
        dO_i = _load_rows(do_base, rows_i, sdon, offs_e, sdoe, mask_i, mask_e)
        sT = _dot(K_j, tl.trans(Q_i), PREC)
        dpT = _dot(V_j, tl.trans(dO_i), PREC)
        if HAS_DECAY:
            w = tl.exp(-slope * ((i - 1 - j) * BLOCK_N).to(tl.float32))
            dw = d_off * w
            sT = sT * dw
            dpT = dpT * dw
        dV += _dot_wa(sT, dO_i, PREC)
        dK += _dot_wa(dpT, Q_i, PREC)
    _store_rows(dk_base, rows_j, sdkn, offs_d, sdkd, mask_j, mask_d, dK.to(DK.dtype.element_ty))
    _store_rows(dv_base, rows_j, sdvn, offs_e, sdve, mask_j, mask_e, dV.to(DV.dtype.element_ty))


class _Config:
    """Launch parameters for one (head_dim, value_dim, dtype, block_n); seq_len is never part of it.

    Untuned first guesses (FlashAttention-2-like): the whole head dim in one tile (no recomputed QKᵀ across tiles,
    the output-tile grid axis has one entry for dims ≤ 128), 8 warps for 128-wide tiles or 128-row blocks, and two
    pipeline stages while the two tiles streamed per step (B × (d + e) elements) fit 64 KiB.
    """

    def __init__(self, d: int, e: int, block_n: int, dtype: torch.dtype):
        self.block_n = block_n
        self.bd = _pow2(d)
        self.be = _pow2(e)
        self.num_warps = 8 if max(self.bd, self.be) >= 128 or block_n >= 128 else 4
        streamed = block_n * (self.bd + self.be) * torch.empty((), dtype=dtype).element_size()
        self.num_stages = 2 if streamed <= 64 * 1024 else 1


def _fwd(q, k, v, slopes, layout, block_n):
    b, h, n, d, e = canonical_shapes(q, k, v, layout)
    cfg = _Config(d, e, block_n, q.dtype)
    o = _empty(b, h, n, e, layout, q)
    grid = (b * h, _cdiv(n, block_n), _cdiv(e, cfg.be))
    _la1_fwd_kernel[grid](
        q, k, v, o, slopes if slopes is not None else q,
        *_strides(q, layout), *_strides(k, layout), *_strides(v, layout), *_strides(o, layout),
        h, n, d, e,
        HAS_DECAY=slopes is not None, PREC=_prec(q.dtype),
        BLOCK_N=block_n, BLOCK_D=cfg.bd, BLOCK_E=cfg.be, num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )
    return o


def _bwd(q, k, v, do, slopes, layout, block_n, want_dq, want_dkdv):
    b, h, n, d, e = canonical_shapes(q, k, v, layout)
    cfg = _Config(d, e, block_n, q.dtype)
    sl = slopes if slopes is not None else q
    common = dict(HAS_DECAY=slopes is not None, PREC=_prec(q.dtype), BLOCK_N=block_n, num_warps=cfg.num_warps,
                  num_stages=cfg.num_stages)
    sq, sk, sv, sdo = _strides(q, layout), _strides(k, layout), _strides(v, layout), _strides(do, layout)
    nblocks = _cdiv(n, block_n)
    dq = dk = dv = None
    if want_dq:
        dq = _empty(b, h, n, d, layout, q)
        _la1_bwd_dq_kernel[(b * h, nblocks, _cdiv(d, cfg.bd))](
            do, v, k, dq, sl, *sdo, *sv, *sk, *_strides(dq, layout), h, n, e, d,
            BLOCK_E=cfg.be, BLOCK_D=cfg.bd, **common,
        )
    if want_dkdv:
        dk = _empty(b, h, n, d, layout, q)
        dv = _empty(b, h, n, e, layout, q)
        _la1_bwd_dkdv_kernel[(b * h, nblocks)](
            q, k, v, do, dk, dv, sl, *sq, *sk, *sv, *sdo, *_strides(dk, layout), *_strides(dv, layout), h, n, d, e,
            BLOCK_D=cfg.bd, BLOCK_E=cfg.be, **common,
        )
    return dq, dk, dv


class _LightningAttn1(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, slopes, layout, block_n):
        o = _fwd(q, k, v, slopes, layout, block_n)
        ctx.save_for_backward(q, k, v, slopes)
        ctx.layout = layout
        ctx.block_n = block_n
        return o

    @staticmethod
    def backward(ctx, do):
        q, k, v, slopes = ctx.saved_tensors
        if do.dtype != q.dtype:
            do = do.to(q.dtype)
        want_dq = ctx.needs_input_grad[0]
        want_dkdv = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        dq, dk, dv = _bwd(q, k, v, do, slopes, ctx.layout, ctx.block_n, want_dq, want_dkdv)
        return dq, dk, dv, None, None, None


def lightning_attn1(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | None = None,
    *,
    layout: str = "bhnd",
    block_n: int = BLOCK_N,
) -> torch.Tensor:
    """Causal Lightning Attention-1 (Triton), differentiable: ``O = (Q Kᵀ ⊙ M) V``, computed block by block.

    The same function as :func:`lightning_bench.kernels.lightning_attn` (``M[s, t] = exp(−slope_h · (s − t))`` for
    s ≥ t, else 0; no softmax, no 1/√d scale, no normaliser; contract in shared docs §1), computed the
    Lightning Attention-1 way (TransNormerLLM, arXiv 2307.14995; compared against in arXiv 2401.04658 §4):
    each query block accumulates the masked left products ``(Q_i K_jᵀ ⊙ D_ij) V_j`` of all key blocks j ≤ i,
    FlashAttention-style, with no inter-block d×e state. O(n²(d+e)) work and O(n) memory; there is no state, so no
    ``initial_state`` / ``output_final_state``.

    Args:
        q, k: ``[batch, heads, seq_len, head_dim]`` for ``layout="bhnd"``, ``[batch, seq_len, heads, head_dim]`` for
            ``"bnhd"``; any strides (no copy is made).
        v: same layout with its own last dim ``value_dim``.
        slopes: None (no decay, dedicated kernel specialisation) or fp32 ``[heads]`` (``[heads, 1, 1]`` accepted),
            finite, ≥ 0; the per-step decay is exp(−slope). Must not require grad (no slope gradient).
        layout: "bhnd" or "bnhd"; o uses the same layout.
        block_n: rows per query and key block B (16, 32, 64 or 128; tests use small blocks).

    Dtypes: bf16 (bf16 dots, fp32 accumulation), fp16 (fp16 dots between inputs; TF32 dots against the fp32 decayed
    score tiles, so nothing overflows where the output is representable) or fp32 (IEEE dots). seq_len ≥ 1 (at most
    65535·block_n: the query-block count is a grid axis); 16 ≤ head_dim, value_dim ≤ 128.

    Returns:
        o with v's dtype, ``[batch, heads, seq_len, value_dim]`` (or the "bnhd" equivalent). Gradients dq, dk, dv
        come back in the input dtype and layout.

    Raises:
        ValueError: wrong rank, mismatched batch/heads/seq_len/head_dim, unsupported dims or dtype, mixed devices,
            a non-CUDA tensor without ``TRITON_INTERPRET=1``, bad slopes, bad block_n, a seq_len needing more than
            65535 blocks.
        TypeError: arguments that are not tensors.
    """
    b, h, n, d, e = canonical_shapes(q, k, v, layout)
    check_kernel_device(q)
    if isinstance(block_n, bool) or block_n not in (16, 32, 64, 128):
        raise ValueError(f"block_n must be one of 16, 32, 64, 128, got {block_n!r}")
    if _cdiv(n, block_n) > MAX_GRID_BLOCKS:
        raise ValueError(f"seq_len {n} is too long for block_n {block_n}: ⌈seq_len/block_n⌉ = "
                         f"{_cdiv(n, block_n)} blocks exceeds the grid limit {MAX_GRID_BLOCKS}; "
                         "use a larger block_n")
    s = canonical_slopes(slopes, h, q.device)
    return _LightningAttn1.apply(q, k, v, s, layout, block_n)


def kernel_impl_name() -> str:
    """Name of what actually runs: the compiled Triton kernels or Triton's CPU interpreter."""
    return "triton-interpreter" if interpreter_enabled() else "triton"
