"""Lightning Attention-2 in Triton: forward (paper Algorithm 1) and backward (Algorithm 2).

Causal linear attention with optional per-head decay λ_h = exp(−slope_h) (arXiv 2401.04658 §3.2):
within a block of B rows the left product ``(Q_i K_iᵀ ⊙ D) V_i`` (intra), across blocks the right product against a
running d×e state ``S`` kept on chip in fp32 (inter). The conventions (state entering block i is S_{iB−1}, the
partial last block uses its true length L, decay exponents only in the safe form exp(−slope·k), k ≥ 0) are those of
the shared docs ``lightning-attention.md`` §2–§3.

Programs:
- forward: one program per (batch·head, value-dim tile); blocks walked in order.
- backward: three independent kernels (sweep F → dQ per head-dim tile; sweep R → dK per head-dim tile and dV per
  value-dim tile), none reading another's output, so no read-modify-write and no double rounding.

seq_len is a runtime argument (no recompilation per length); offsets into q/k/v/o are 64-bit.
"""

from __future__ import annotations

import contextlib
import copy
import contextvars
import math
import os
from typing import Optional, Tuple  # explicit forms for torch.library's schema inference (torch 2.4+)

import torch
import triton
import triton.language as tl

from .._common import FP32_DOTS
from .._common import cdiv as _cdiv
from .._common import dims as _dims
from .._common import dot_in as _dot
from .._common import dot_wa as _dot_wa
from .._common import dot_wb as _dot_wb
from .._common import empty as _empty
from .._common import grad_views
from .._common import head_slope as _slope
from .._common import load_rows as _load_rows
from .._common import pow2 as _pow2
from .._common import prec as _prec
from .._common import store_rows as _store_rows
from .._common import strides as _strides
from .._validate import (
    KERNEL_MAX_DIM,
    MAX_HEAD_DIM,
    MIN_HEAD_DIM,
    canonical_shapes,
    canonical_slopes,
    check_kernel_device,
    interpreter_enabled,
)
from .._launch import launch as _launch
from . import gluon_fwd as _gluon
from . import tuning as _tuning

BLOCK_N = 64  # rows per block B (shared docs §2: B = 64 balances intra FLOPs against sequential steps)


@triton.jit
def _decay_factors(slope, L, BLOCK_N: tl.constexpr, HAS_DECAY: tl.constexpr):
    """a[c] = λ^(c+1), g[c] = λ^(L−1−c) (0 for c ≥ L), D[c1,c2] = λ^(c1−c2) (0 above the diagonal), λ^L."""
    c = tl.arange(0, BLOCK_N)
    causal = c[:, None] >= c[None, :]
    if HAS_DECAY:
        diff = (c[:, None] - c[None, :]).to(tl.float32)
        dmat = tl.exp(tl.where(causal, -slope * diff, float("-inf")))
        a = tl.exp(-slope * (c + 1).to(tl.float32))
        g = tl.exp(tl.where(c < L, -slope * (L - 1 - c).to(tl.float32), float("-inf")))
        lam_l = tl.exp(-slope * L)
    else:
        dmat = tl.where(causal, 1.0, 0.0)
        a = tl.full([BLOCK_N], 1.0, tl.float32)
        g = tl.where(c < L, 1.0, 0.0)
        lam_l = 1.0
    return a, g, dmat, lam_l


@triton.jit
def _sequence(pid_bh, H, N_ARG, CU, IS_VARLEN: tl.constexpr):
    """(batch index, head, first row, length) of program ``pid_bh``; packed sequences (cu_seqlens) are sequence
    pid_bh // H of batch 0, starting at row CU[seq]."""
    h = pid_bh % H
    if IS_VARLEN:
        seq = pid_bh // H
        bos = tl.load(CU + seq).to(tl.int64)
        n = (tl.load(CU + seq + 1).to(tl.int64) - bos).to(tl.int32)
        b = bos * 0
    else:
        b = (pid_bh // H).to(tl.int64)
        bos = b * 0
        n = N_ARG
    return b, h, bos, n


@triton.jit
def _segment_blocks(p, N, SEG, BLOCK_N: tl.constexpr):
    """[first, end) blocks of segment p (SEG rows each, a multiple of BLOCK_N; the last one ends at N)."""
    first = p * (SEG // BLOCK_N)
    return first, tl.minimum(tl.cdiv(N, BLOCK_N), (p + 1) * (SEG // BLOCK_N))


@triton.jit
def _block_decays(slope, N, i, a, g, dmat, lam_b, BLOCK_N: tl.constexpr, HAS_DECAY: tl.constexpr):
    """Decay factors of block i: the full block's (a, g, dmat, λ^B), or those of the partial last block, recomputed
    with its true length L (shared docs §2)."""
    L = tl.minimum(N - i * BLOCK_N, BLOCK_N)
    if L < BLOCK_N:
        a, g, dmat, lam = _decay_factors(slope, L, BLOCK_N, HAS_DECAY)
    else:
        lam = lam_b
    return a, g, dmat, lam


@triton.jit
def _prefix_state(run, BUF, pid_bh, p, NSEG, SEG, slope, ptrs, mask, D, E, HAS_DECAY: tl.constexpr,
                  SPLIT: tl.constexpr):
    """State entering segment p (sweep F: the forward and dQ). SPLIT = 2: from the segments' local end states E_j
    (fp32 [batch·heads, NSEG, D, E], slot j), combined in the program that needs it (Horner, O(p) tile loads; no
    separate scan launch): S_in[p] = λ^(pSEG)·run + Σ_{j<p} λ^((p−1−j)SEG)·E_j, ``run`` the state entering segment 0
    (S0 or zeros); all decay exponents ≥ 0 (shared docs §3). SPLIT = 1: slot p already holds S_in[p]
    (``_la2_state_scan_kernel``)."""
    base = BUF + pid_bh.to(tl.int64) * NSEG * D * E
    if SPLIT == 1:
        run = tl.load(base + p * D * E + ptrs, mask=mask, other=0.0)
    else:
        lam_seg = 1.0
        if HAS_DECAY:
            lam_seg = tl.exp(-slope * (SEG * 1.0))
        for j in range(0, p):
            run = lam_seg * run + tl.load(base + j * D * E + ptrs, mask=mask, other=0.0)
    return run


@triton.jit
def _suffix_state(run, BUF, pid_bh, p, N, NSEG, SEG, slope, ptrs, mask, D, E, HAS_DECAY: tl.constexpr,
                  SPLIT: tl.constexpr):
    """Sweep R's R entering segment p (walking down: dK, dV). SPLIT = 2: from the later segments' local F_j (slot
    j ≥ 1 of BUF): R_in[p] = λ^(N−end_p)·run + Σ_{j>p} λ^((j−p−1)SEG)·F_j, end_p = min((p+1)SEG, N), ``run`` the
    gradient of the final state (dHT or zeros); Horner from the last segment, whose length sets its decay.
    SPLIT = 1: slot p already holds R_in[p] (``_la2_state_scan_kernel``, REVERSE)."""
    base = BUF + pid_bh.to(tl.int64) * NSEG * D * E
    if SPLIT == 1:
        run = tl.load(base + p * D * E + ptrs, mask=mask, other=0.0)
    else:
        lam_seg = 1.0
        lam_last = 1.0
        if HAS_DECAY:
            lam_seg = tl.exp(-slope * (SEG * 1.0))
            lam_last = tl.exp(-slope * ((N - (NSEG - 1) * SEG) * 1.0))
        for jj in range(0, NSEG - 1 - p):
            j = NSEG - 1 - jj
            run = tl.where(jj == 0, lam_last, lam_seg) * run + tl.load(base + j * D * E + ptrs, mask=mask, other=0.0)
    return run


@triton.jit
def _la2_fwd_kernel(
    Q, K, V, O, SLOPES, S0, HT, SEG_END,
    sqb, sqh, sqn, sqd,
    skb, skh, skn, skd,
    svb, svh, svn, sve,
    sob, soh, son, soe,
    H, N_ARG, D, E, CU, SEG, NSEG,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr, IS_VARLEN: tl.constexpr, HAS_S0: tl.constexpr, STORE_HT: tl.constexpr,
    SPLIT: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Algorithm 1. With SPLIT, program axis 2 is a segment p of SEG rows (a multiple of BLOCK_N) that starts from
    S_in[p] = λ^(pSEG)·S0 + Σ_{j<p} λ^((p−1−j)SEG)·E_j, E_j segment j's local end state in SEG_END slot j
    (``_la2_fwd_seg_end_kernel``): SPLIT = 2 combines them here (``_prefix_state``), SPLIT = 1 reads slot p after
    ``_la2_state_scan_kernel`` combined them in place (``split_mode``; sequence split inside one GPU, shared docs §4)."""
    pid_bh = tl.program_id(0)
    pid_e = tl.program_id(1)
    state_off = pid_bh.to(tl.int64) * D * E  # states are contiguous fp32 [batch (or sequence), heads, D, E]
    b, h, bos, N = _sequence(pid_bh, H, N_ARG, CU, IS_VARLEN)
    q_base = Q + b * sqb + h.to(tl.int64) * sqh + bos * sqn
    k_base = K + b * skb + h.to(tl.int64) * skh + bos * skn
    v_base = V + b * svb + h.to(tl.int64) * svh + bos * svn
    o_base = O + b * sob + h.to(tl.int64) * soh + bos * son
    offs_c = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    mask_d = offs_d < D
    mask_e = offs_e < E
    slope = _slope(SLOPES, h, HAS_DECAY)
    # S: the d × e_tile state S_{iB-1} (fp32, on chip), starting from the initial state S_{-1} = S0
    s_ptrs = offs_d[:, None] * E + offs_e[None, :]
    s_mask = mask_d[:, None] & mask_e[None, :]
    if HAS_S0:
        S = tl.load(S0 + state_off + s_ptrs, mask=s_mask, other=0.0)
    else:
        S = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    if SPLIT:
        p = tl.program_id(2)
        first_block, end_block = _segment_blocks(p, N, SEG, BLOCK_N)
        # S_in[p] (S0 included) from the local end states E_j, j < p (_la2_fwd_seg_end_kernel)
        S = _prefix_state(S, SEG_END, pid_bh, p, NSEG, SEG, slope, s_ptrs, s_mask, D, E, HAS_DECAY, SPLIT)
    else:
        first_block = 0
        end_block = tl.cdiv(N, BLOCK_N)
    a, g, dmat, lam_b = _decay_factors(slope, BLOCK_N, BLOCK_N, HAS_DECAY)
    for i in range(first_block, end_block):
        rows = (i * BLOCK_N + offs_c).to(tl.int64)
        mask_n = rows < N
        Q_i = _load_rows(q_base, rows, sqn, offs_d, sqd, mask_n, mask_d)
        K_i = _load_rows(k_base, rows, skn, offs_d, skd, mask_n, mask_d)
        V_i = _load_rows(v_base, rows, svn, offs_e, sve, mask_n, mask_e)
        a, g, dmat, lam_l = _block_decays(slope, N, i, a, g, dmat, lam_b, BLOCK_N, HAS_DECAY)
        # intra: (Q_i K_iᵀ ⊙ D) V_i  (Algorithm 1, left product)
        scores = _dot(Q_i, tl.trans(K_i), PREC) * dmat
        O_i = _dot_wa(scores, V_i, PREC)
        # inter: diag(a) Q_i S  (Algorithm 1, right product against the state)
        O_i += a[:, None] * _dot_wb(Q_i, S, PREC)
        _store_rows(o_base, rows, son, offs_e, soe, mask_n, mask_e, O_i.to(O.dtype.element_ty))
        # S ← λ^L S + (diag(g) K_i)ᵀ V_i = λ^L S + K_iᵀ (diag(g) V_i): the decay goes on the narrower tile (fewer
        # registers and a smaller shared-memory copy for the MMA operand; 222 → 174 registers at e32, 4 warps)
        if BLOCK_E < BLOCK_D:
            Vg = (V_i * g[:, None]).to(V_i.dtype)
            S = lam_l * S + _dot(tl.trans(K_i), Vg, PREC)
        else:
            Kg = (K_i * g[:, None]).to(K_i.dtype)
            S = lam_l * S + _dot(tl.trans(Kg), V_i, PREC)
    if STORE_HT:  # the state after the last token, S_{n-1} (with SPLIT: written by the last segment only)
        if SPLIT:
            if tl.program_id(2) == NSEG - 1:
                tl.store(HT + state_off + s_ptrs, S, mask=s_mask)
        else:
            tl.store(HT + state_off + s_ptrs, S, mask=s_mask)


@triton.jit
def _la2_fwd_seg_end_kernel(
    K, V, SLOPES, SEG_END,
    skb, skh, skn, skd,
    svb, svh, svn, sve,
    H, N, D, E, SEG, NSEG, CHUNKS,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Local end state of segment p: E_p = Σ_{t in p} λ^(last_p − t) k_tᵀ v_t, last_p its last row (the §2 state
    update from zero), as one GEMM-like reduction: the weights go on V and the fp32 accumulator is never rescaled, so
    the MMAs chain without a wait per block. The sum has no recurrence, so it splits: program axis 2 is
    (segment p, chunk c) and chunk c of CHUNKS sums its share of the segment's blocks into its own slot
    [batch·heads, NSEG, CHUNKS, D, E] (the caller adds the chunks; CHUNKS = 1 is the unsplit sum)."""
    pid_bh = tl.program_id(0)
    pid_e = tl.program_id(1)
    p = tl.program_id(2) // CHUNKS
    c = tl.program_id(2) % CHUNKS
    b = (pid_bh // H).to(tl.int64)
    h = pid_bh % H
    k_base = K + b * skb + h.to(tl.int64) * skh
    v_base = V + b * svb + h.to(tl.int64) * svh
    offs_c = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    mask_d = offs_d < D
    mask_e = offs_e < E
    slope = _slope(SLOPES, h, HAS_DECAY)
    S = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    first_block, end_block = _segment_blocks(p, N, SEG, BLOCK_N)
    per = tl.cdiv(end_block - first_block, CHUNKS)
    lo = first_block + c * per
    last = tl.minimum(N, (p + 1) * SEG) - 1
    for i in range(lo, tl.minimum(end_block, lo + per)):
        rows = i * BLOCK_N + offs_c
        mask_n = rows < N
        K_i = _load_rows(k_base, rows.to(tl.int64), skn, offs_d, skd, mask_n, mask_d)
        V_i = _load_rows(v_base, rows.to(tl.int64), svn, offs_e, sve, mask_n, mask_e)
        if HAS_DECAY:  # λ^(last − t), exponent ≥ 0 on the rows that exist (rows past N are zeros, weight 0)
            w = tl.where(mask_n, tl.exp(-slope * (last - rows).to(tl.float32)), 0.0)
            V_i = (V_i * w[:, None]).to(V_i.dtype)
        S += _dot(tl.trans(K_i), V_i, PREC)
    tl.store(SEG_END + ((pid_bh.to(tl.int64) * NSEG + p) * CHUNKS + c) * D * E + offs_d[:, None] * E
             + offs_e[None, :], S, mask=mask_d[:, None] & mask_e[None, :])


@triton.jit
def _bwd_dq_body(
    pid_bh, pid_d, p,
    K, V, DO, DQ, SLOPES, S0, SEG_END,
    skb, skh, skn, skd,
    svb, svh, svn, sve,
    sdob, sdoh, sdon, sdoe,
    sdqb, sdqh, sdqn, sdqd,
    H, N_ARG, D, E, CU, SEG, NSEG,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr, IS_VARLEN: tl.constexpr, HAS_S0: tl.constexpr,
    SPLIT: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Sweep F (blocks ascending): dQ_i = ((dO_i V_iᵀ) ⊙ D) K_i + diag(a) dO_i Sᵀ for (batch·head pid_bh, head-dim
    tile pid_d, segment p)."""
    b, h, bos, N = _sequence(pid_bh, H, N_ARG, CU, IS_VARLEN)
    k_base = K + b * skb + h.to(tl.int64) * skh + bos * skn
    v_base = V + b * svb + h.to(tl.int64) * svh + bos * svn
    do_base = DO + b * sdob + h.to(tl.int64) * sdoh + bos * sdon
    dq_base = DQ + b * sdqb + h.to(tl.int64) * sdqh + bos * sdqn
    offs_c = tl.arange(0, BLOCK_N)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_e = tl.arange(0, BLOCK_E)
    mask_d = offs_d < D
    mask_e = offs_e < E
    slope = _slope(SLOPES, h, HAS_DECAY)
    if HAS_S0:  # S[d_tile, :], starting from S0
        S = tl.load(S0 + pid_bh.to(tl.int64) * D * E + offs_d[:, None] * E + offs_e[None, :],
                    mask=mask_d[:, None] & mask_e[None, :], other=0.0)
    else:
        S = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    a, g, dmat, lam_b = _decay_factors(slope, BLOCK_N, BLOCK_N, HAS_DECAY)
    if SPLIT:  # segment p: S_in[p] (S0 included) from the local end states, as in the forward
        first_block, end_block = _segment_blocks(p, N, SEG, BLOCK_N)
        S = _prefix_state(S, SEG_END, pid_bh, p, NSEG, SEG, slope, offs_d[:, None] * E + offs_e[None, :],
                          mask_d[:, None] & mask_e[None, :], D, E, HAS_DECAY, SPLIT)
    else:
        first_block = 0
        end_block = tl.cdiv(N, BLOCK_N)
    for i in range(first_block, end_block):
        rows = (i * BLOCK_N + offs_c).to(tl.int64)
        mask_n = rows < N
        K_i = _load_rows(k_base, rows, skn, offs_d, skd, mask_n, mask_d)
        V_i = _load_rows(v_base, rows, svn, offs_e, sve, mask_n, mask_e)
        dO_i = _load_rows(do_base, rows, sdon, offs_e, sdoe, mask_n, mask_e)
        a, g, dmat, lam_l = _block_decays(slope, N, i, a, g, dmat, lam_b, BLOCK_N, HAS_DECAY)
        dov = _dot(dO_i, tl.trans(V_i), PREC) * dmat
        dQ_i = _dot_wa(dov, K_i, PREC)
        dQ_i += a[:, None] * _dot_wb(dO_i, tl.trans(S), PREC)
        _store_rows(dq_base, rows, sdqn, offs_d, sdqd, mask_n, mask_d, dQ_i.to(DQ.dtype.element_ty))
        Kg = (K_i * g[:, None]).to(K_i.dtype)
        S = lam_l * S + _dot(tl.trans(Kg), V_i, PREC)


@triton.jit
def _bwd_dk_body(
    pid_bh, pid_d, p,
    Q, V, DO, DK, SLOPES, DHT, SEG_R,
    sqb, sqh, sqn, sqd,
    svb, svh, svn, sve,
    sdob, sdoh, sdon, sdoe,
    sdkb, sdkh, sdkn, sdkd,
    H, N_ARG, D, E, CU, SEG, NSEG,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr, IS_VARLEN: tl.constexpr, HAS_DHT: tl.constexpr,
    SPLIT: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Sweep R (blocks descending): dK_i = ((dO_i V_iᵀ) ⊙ D)ᵀ Q_i + diag(g) V_i Rᵀ for (pid_bh, head-dim tile pid_d,
    segment p)."""
    b, h, bos, N = _sequence(pid_bh, H, N_ARG, CU, IS_VARLEN)
    q_base = Q + b * sqb + h.to(tl.int64) * sqh + bos * sqn
    v_base = V + b * svb + h.to(tl.int64) * svh + bos * svn
    do_base = DO + b * sdob + h.to(tl.int64) * sdoh + bos * sdon
    dk_base = DK + b * sdkb + h.to(tl.int64) * sdkh + bos * sdkn
    offs_c = tl.arange(0, BLOCK_N)
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_e = tl.arange(0, BLOCK_E)
    mask_d = offs_d < D
    mask_e = offs_e < E
    slope = _slope(SLOPES, h, HAS_DECAY)
    if HAS_DHT:  # R[d_tile, :], starting from the gradient of the returned final state
        R = tl.load(DHT + pid_bh.to(tl.int64) * D * E + offs_d[:, None] * E + offs_e[None, :],
                    mask=mask_d[:, None] & mask_e[None, :], other=0.0)
    else:
        R = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    a, g, dmat, lam_b = _decay_factors(slope, BLOCK_N, BLOCK_N, HAS_DECAY)
    if SPLIT:  # segment p: R_in[p] = decayed final-state gradient + later segments' local R
        first_block, end_block = _segment_blocks(p, N, SEG, BLOCK_N)
        R = _suffix_state(R, SEG_R, pid_bh, p, N, NSEG, SEG, slope, offs_d[:, None] * E + offs_e[None, :],
                          mask_d[:, None] & mask_e[None, :], D, E, HAS_DECAY, SPLIT)
    else:
        first_block = 0
        end_block = tl.cdiv(N, BLOCK_N)
    for j in range(0, end_block - first_block):
        i = end_block - 1 - j
        rows = (i * BLOCK_N + offs_c).to(tl.int64)
        mask_n = rows < N
        Q_i = _load_rows(q_base, rows, sqn, offs_d, sqd, mask_n, mask_d)
        V_i = _load_rows(v_base, rows, svn, offs_e, sve, mask_n, mask_e)
        dO_i = _load_rows(do_base, rows, sdon, offs_e, sdoe, mask_n, mask_e)
        a2, g2, dmat2, lam_l = _block_decays(slope, N, i, a, g, dmat, lam_b, BLOCK_N, HAS_DECAY)
        dov = _dot(dO_i, tl.trans(V_i), PREC) * dmat2
        dK_i = _dot_wa(tl.trans(dov), Q_i, PREC)
        dK_i += g2[:, None] * _dot_wb(V_i, tl.trans(R), PREC)
        _store_rows(dk_base, rows, sdkn, offs_d, sdkd, mask_n, mask_d, dK_i.to(DK.dtype.element_ty))
        # R ← λ^L R + (diag(a) Q_i)ᵀ dO_i
        Qa = (Q_i * a2[:, None]).to(Q_i.dtype)
        R = lam_l * R + _dot(tl.trans(Qa), dO_i, PREC)


@triton.jit
def _bwd_dv_body(
    pid_bh, pid_e, p,
    Q, K, DO, DV, SLOPES, DHT, DS0, SEG_R,
    sqb, sqh, sqn, sqd,
    skb, skh, skn, skd,
    sdob, sdoh, sdon, sdoe,
    sdvb, sdvh, sdvn, sdve,
    H, N_ARG, D, E, CU, SEG, NSEG,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr, IS_VARLEN: tl.constexpr, HAS_DHT: tl.constexpr, STORE_DS0: tl.constexpr,
    SPLIT: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Sweep R (blocks descending): dV_i = ((Q_i K_iᵀ) ⊙ D)ᵀ dO_i + diag(g) K_i R for (pid_bh, value-dim tile pid_e,
    segment p)."""
    b, h, bos, N = _sequence(pid_bh, H, N_ARG, CU, IS_VARLEN)
    q_base = Q + b * sqb + h.to(tl.int64) * sqh + bos * sqn
    k_base = K + b * skb + h.to(tl.int64) * skh + bos * skn
    do_base = DO + b * sdob + h.to(tl.int64) * sdoh + bos * sdon
    dv_base = DV + b * sdvb + h.to(tl.int64) * sdvh + bos * sdvn
    offs_c = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    mask_d = offs_d < D
    mask_e = offs_e < E
    slope = _slope(SLOPES, h, HAS_DECAY)
    r_ptrs = pid_bh.to(tl.int64) * D * E + offs_d[:, None] * E + offs_e[None, :]
    r_mask = mask_d[:, None] & mask_e[None, :]
    if HAS_DHT:  # R[:, e_tile], starting from the gradient of the returned final state
        R = tl.load(DHT + r_ptrs, mask=r_mask, other=0.0)
    else:
        R = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    a, g, dmat, lam_b = _decay_factors(slope, BLOCK_N, BLOCK_N, HAS_DECAY)
    if SPLIT:  # segment p: R_in[p] = decayed final-state gradient + later segments' local R
        first_block, end_block = _segment_blocks(p, N, SEG, BLOCK_N)
        R = _suffix_state(R, SEG_R, pid_bh, p, N, NSEG, SEG, slope, offs_d[:, None] * E + offs_e[None, :],
                          mask_d[:, None] & mask_e[None, :], D, E, HAS_DECAY, SPLIT)
    else:
        first_block = 0
        end_block = tl.cdiv(N, BLOCK_N)
    for j in range(0, end_block - first_block):
        i = end_block - 1 - j
        rows = (i * BLOCK_N + offs_c).to(tl.int64)
        mask_n = rows < N
        Q_i = _load_rows(q_base, rows, sqn, offs_d, sqd, mask_n, mask_d)
        K_i = _load_rows(k_base, rows, skn, offs_d, skd, mask_n, mask_d)
        dO_i = _load_rows(do_base, rows, sdon, offs_e, sdoe, mask_n, mask_e)
        a2, g2, dmat2, lam_l = _block_decays(slope, N, i, a, g, dmat, lam_b, BLOCK_N, HAS_DECAY)
        scores = _dot(Q_i, tl.trans(K_i), PREC) * dmat2
        dV_i = _dot_wa(tl.trans(scores), dO_i, PREC)
        dV_i += g2[:, None] * _dot_wb(K_i, R, PREC)
        _store_rows(dv_base, rows, sdvn, offs_e, sdve, mask_n, mask_e, dV_i.to(DV.dtype.element_ty))
        # R ← λ^L R + (diag(a) Q_i)ᵀ dO_i, the decay on the narrower tile (as the forward's state update)
        if BLOCK_E < BLOCK_D:
            dOa = (dO_i * a2[:, None]).to(dO_i.dtype)
            R = lam_l * R + _dot(tl.trans(Q_i), dOa, PREC)
        else:
            Qa = (Q_i * a2[:, None]).to(Q_i.dtype)
            R = lam_l * R + _dot(tl.trans(Qa), dO_i, PREC)
    if STORE_DS0:  # gradient of the initial state: R measured from row −1 (with SPLIT: segment 0's)
        if SPLIT:
            if p == 0:
                tl.store(DS0 + r_ptrs, R, mask=r_mask)
        else:
            tl.store(DS0 + r_ptrs, R, mask=r_mask)


@triton.jit
def _la2_bwd_dq_kernel(
    K, V, DO, DQ, SLOPES, S0, SEG_END,
    skb, skh, skn, skd,
    svb, svh, svn, sve,
    sdob, sdoh, sdon, sdoe,
    sdqb, sdqh, sdqn, sdqd,
    H, N_ARG, D, E, CU, SEG, NSEG,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr, IS_VARLEN: tl.constexpr, HAS_S0: tl.constexpr,
    SPLIT: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Sweep F alone: program (batch·head, head-dim tile, segment)."""
    _bwd_dq_body(tl.program_id(0), tl.program_id(1), tl.program_id(2), K, V, DO, DQ, SLOPES, S0, SEG_END,
                 skb, skh, skn, skd, svb, svh, svn, sve, sdob, sdoh, sdon, sdoe, sdqb, sdqh, sdqn, sdqd,
                 H, N_ARG, D, E, CU, SEG, NSEG, HAS_DECAY, PREC, IS_VARLEN, HAS_S0, SPLIT, BLOCK_N, BLOCK_D, BLOCK_E)


@triton.jit
def _la2_bwd_dk_kernel(
    Q, V, DO, DK, SLOPES, DHT, SEG_R,
    sqb, sqh, sqn, sqd,
    svb, svh, svn, sve,
    sdob, sdoh, sdon, sdoe,
    sdkb, sdkh, sdkn, sdkd,
    H, N_ARG, D, E, CU, SEG, NSEG,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr, IS_VARLEN: tl.constexpr, HAS_DHT: tl.constexpr,
    SPLIT: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Sweep R's dK alone: program (batch·head, head-dim tile, segment)."""
    _bwd_dk_body(tl.program_id(0), tl.program_id(1), tl.program_id(2), Q, V, DO, DK, SLOPES, DHT, SEG_R,
                 sqb, sqh, sqn, sqd, svb, svh, svn, sve, sdob, sdoh, sdon, sdoe, sdkb, sdkh, sdkn, sdkd,
                 H, N_ARG, D, E, CU, SEG, NSEG, HAS_DECAY, PREC, IS_VARLEN, HAS_DHT, SPLIT, BLOCK_N, BLOCK_D, BLOCK_E)


@triton.jit
def _la2_bwd_dv_kernel(
    Q, K, DO, DV, SLOPES, DHT, DS0, SEG_R,
    sqb, sqh, sqn, sqd,
    skb, skh, skn, skd,
    sdob, sdoh, sdon, sdoe,
    sdvb, sdvh, sdvn, sdve,
    H, N_ARG, D, E, CU, SEG, NSEG,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr, IS_VARLEN: tl.constexpr, HAS_DHT: tl.constexpr, STORE_DS0: tl.constexpr,
    SPLIT: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Sweep R's dV alone: program (batch·head, value-dim tile, segment)."""
    _bwd_dv_body(tl.program_id(0), tl.program_id(1), tl.program_id(2), Q, K, DO, DV, SLOPES, DHT, DS0, SEG_R,
                 sqb, sqh, sqn, sqd, skb, skh, skn, skd, sdob, sdoh, sdon, sdoe, sdvb, sdvh, sdvn, sdve,
                 H, N_ARG, D, E, CU, SEG, NSEG, HAS_DECAY, PREC, IS_VARLEN, HAS_DHT, STORE_DS0, SPLIT, BLOCK_N, BLOCK_D,
                 BLOCK_E)


@triton.jit
def _la2_bwd_fused_kernel(
    Q, K, V, DO, DQ, DK, DV, SLOPES, S0, DHT, DS0, SEG_END, SEG_R,
    sqb, sqh, sqn, sqd,
    skb, skh, skn, skd,
    svb, svh, svn, sve,
    sdob, sdoh, sdon, sdoe,
    sdqb, sdqh, sdqn, sdqd,
    sdkb, sdkh, sdkn, sdkd,
    sdvb, sdvh, sdvn, sdve,
    H, N_ARG, D, E, CU, SEG, NSEG, ND,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr, IS_VARLEN: tl.constexpr, HAS_S0: tl.constexpr, HAS_DHT: tl.constexpr,
    STORE_DS0: tl.constexpr, SPLIT: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_DV: tl.constexpr,
    BLOCK_EV: tl.constexpr,
):
    """The three backward sweeps in one launch: program axis 1 is [0, ND) dQ (head-dim tile), [ND, 2·ND) dK,
    [2·ND, 2·ND + value-dim tiles) dV. The sweeps are independent given the segments' local states, so one grid keeps
    every SM busy where each alone has fewer programs than the GPU has SMs (short sequences, small batch·heads):
    same arithmetic and bytes as the three launches. dQ/dK tiles are BLOCK_D × BLOCK_E, dV tiles BLOCK_DV × BLOCK_EV."""
    pid_bh = tl.program_id(0)
    t = tl.program_id(1)
    p = tl.program_id(2)
    if t < ND:
        _bwd_dq_body(pid_bh, t, p, K, V, DO, DQ, SLOPES, S0, SEG_END,
                     skb, skh, skn, skd, svb, svh, svn, sve, sdob, sdoh, sdon, sdoe, sdqb, sdqh, sdqn, sdqd,
                     H, N_ARG, D, E, CU, SEG, NSEG, HAS_DECAY, PREC, IS_VARLEN, HAS_S0, SPLIT, BLOCK_N, BLOCK_D,
                     BLOCK_E)
    elif t < 2 * ND:
        _bwd_dk_body(pid_bh, t - ND, p, Q, V, DO, DK, SLOPES, DHT, SEG_R,
                     sqb, sqh, sqn, sqd, svb, svh, svn, sve, sdob, sdoh, sdon, sdoe, sdkb, sdkh, sdkn, sdkd,
                     H, N_ARG, D, E, CU, SEG, NSEG, HAS_DECAY, PREC, IS_VARLEN, HAS_DHT, SPLIT, BLOCK_N, BLOCK_D,
                     BLOCK_E)
    else:
        _bwd_dv_body(pid_bh, t - 2 * ND, p, Q, K, DO, DV, SLOPES, DHT, DS0, SEG_R,
                     sqb, sqh, sqn, sqd, skb, skh, skn, skd, sdob, sdoh, sdon, sdoe, sdvb, sdvh, sdvn, sdve,
                     H, N_ARG, D, E, CU, SEG, NSEG, HAS_DECAY, PREC, IS_VARLEN, HAS_DHT, STORE_DS0, SPLIT, BLOCK_N,
                     BLOCK_DV, BLOCK_EV)


@triton.jit
def _la2_bwd_seg_r_kernel(
    Q, DO, SLOPES, SEG_R,
    sqb, sqh, sqn, sqd,
    sdob, sdoh, sdon, sdoe,
    H, N, D, E, SEG, NSEG, P0,
    HAS_DECAY: tl.constexpr, PREC: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Local R of segment p = P0 + program axis 2: F_p = Σ_{t in p} λ^(t − start_p + 1) q_tᵀ do_t, the §3 R update
    run from zero over the segment's blocks, as one GEMM-like reduction (weights on dO). One GPU needs p ≥ 1 (P0 = 1); sequence parallelism across
    GPUs also needs segment 0 (P0 = 0): Σ_p λ^(start_p) F_p is the gradient of the state entering the chunk."""
    pid_bh = tl.program_id(0)
    pid_e = tl.program_id(1)
    p = tl.program_id(2) + P0
    b = (pid_bh // H).to(tl.int64)
    h = pid_bh % H
    q_base = Q + b * sqb + h.to(tl.int64) * sqh
    do_base = DO + b * sdob + h.to(tl.int64) * sdoh
    offs_c = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    offs_e = pid_e * BLOCK_E + tl.arange(0, BLOCK_E)
    mask_d = offs_d < D
    mask_e = offs_e < E
    slope = _slope(SLOPES, h, HAS_DECAY)
    R = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    first_block, end_block = _segment_blocks(p, N, SEG, BLOCK_N)
    start = first_block * BLOCK_N
    for i in range(first_block, end_block):  # a plain reduction: the order of the blocks does not matter
        rows = i * BLOCK_N + offs_c
        mask_n = rows < N
        Q_i = _load_rows(q_base, rows.to(tl.int64), sqn, offs_d, sqd, mask_n, mask_d)
        dO_i = _load_rows(do_base, rows.to(tl.int64), sdon, offs_e, sdoe, mask_n, mask_e)
        if HAS_DECAY:  # λ^(t − start_p + 1), exponent ≥ 1 on the rows that exist (rows past N are zeros, weight 0)
            w = tl.where(mask_n, tl.exp(-slope * (rows - start + 1).to(tl.float32)), 0.0)
            dO_i = (dO_i * w[:, None]).to(dO_i.dtype)
        R += _dot(tl.trans(Q_i), dO_i, PREC)
    tl.store(SEG_R + (pid_bh.to(tl.int64) * NSEG + p) * D * E + offs_d[:, None] * E + offs_e[None, :], R,
             mask=mask_d[:, None] & mask_e[None, :])


@triton.jit
def _la2_state_scan_kernel(
    BUF, INIT, SLOPES,
    H, N, D, E, SEG, NSEG,
    HAS_DECAY: tl.constexpr, HAS_INIT: tl.constexpr, REVERSE: tl.constexpr,
    BLOCK_D: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """In-place combine of per-segment local states (fp32 [batch·heads, NSEG, D, E]), O(NSEG) per (b, h, tile).

    Forward (prefix): slot p holds E_p for p < NSEG−1; on exit slot p holds the state entering segment p,
    S_in[p] = λ^(pSEG)·S0 + Σ_{j<p} λ^((p−1−j)SEG)·E_j.
    REVERSE (suffix, sweep R): slot p holds F_p for p ≥ 1; on exit slot p holds
    R_in[p] = λ^(N−end_p)·dHT + Σ_{j>p} λ^((j−p−1)SEG)·F_j, end_p = min((p+1)SEG, N).
    All decay exponents are ≥ 0 (shared docs §3)."""
    pid_bh = tl.program_id(0)
    offs_d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_e = tl.program_id(2) * BLOCK_E + tl.arange(0, BLOCK_E)
    mask = (offs_d < D)[:, None] & (offs_e < E)[None, :]
    ptrs = offs_d[:, None] * E + offs_e[None, :]
    if HAS_INIT:
        run = tl.load(INIT + pid_bh.to(tl.int64) * D * E + ptrs, mask=mask, other=0.0)
    else:
        run = tl.zeros([BLOCK_D, BLOCK_E], dtype=tl.float32)
    lam_seg = 1.0
    lam_last = 1.0
    if HAS_DECAY:
        slope = tl.load(SLOPES + pid_bh % H)
        lam_seg = tl.exp(-slope * (SEG * 1.0))
        lam_last = tl.exp(-slope * ((N - (NSEG - 1) * SEG) * 1.0))
    base = BUF + pid_bh.to(tl.int64) * NSEG * D * E
    for j in range(0, NSEG):
        if REVERSE:
            p = NSEG - 1 - j
            has = p >= 1
            dec = tl.where(p == NSEG - 1, lam_last, lam_seg)
        else:
            p = j
            has = p < NSEG - 1
            dec = lam_seg
        tmp = tl.load(base + p * D * E + ptrs, mask=mask, other=0.0)
        tmp = tl.where(has, tmp, 0.0)  # the slot without a local state holds garbage: never add it
        tl.store(base + p * D * E + ptrs, run, mask=mask)
        run = dec * run + tmp


# Launch-parameter overrides for tuning (tools/tune_la2.py, `launch_config`); empty in normal use.
_OVERRIDES: contextvars.ContextVar[dict] = contextvars.ContextVar("la2_launch_overrides", default={})
TUNABLE = ("block_n", "fwd_be", "fwd_warps", "fwd_stages", "bwd_block_n", "bwd_bd", "bwd_be", "bwd_warps",
           "bwd_stages", "split_programs", "bwd_split_programs", "split_min_blocks", "bwd_fused")
# a tuned entry may also hold "short": {"max_seq_len": N, <TUNABLE fields>}: the fields used for seq_len ≤ N (a second
# compiled variant chosen on the host by a threshold; seq_len stays a runtime argument of every kernel)


@contextlib.contextmanager
def launch_config(**overrides):
    """Override launch parameters inside a ``with`` block (for tuning; see ``_Config`` for the fields). A backward
    uses the overrides that were in effect when its forward ran (autograd runs it later, on another thread).

    Raises:
        ValueError: an unknown field name.
    """
    bad = set(overrides) - set(TUNABLE)
    if bad:
        raise ValueError(f"launch_config: unknown field(s) {sorted(bad)}; allowed: {TUNABLE}")
    token = _OVERRIDES.set({**_OVERRIDES.get(), **overrides})
    try:
        yield
    finally:
        _OVERRIDES.reset(token)


class _Config:
    """Launch parameters for one (head_dim, value_dim, dtype); seq_len is never part of it.

    block_n: rows per block; fwd_be: value-dim tile of the forward (and the segment-end kernel); bwd_bd: head-dim
    tile of the dQ/dK sweeps (which carry S/R[d_tile, :]); bwd_be: value-dim tile of the dV sweep (R[:, e_tile]);
    *_warps/*_stages: Triton launch options; split_programs / split_min_blocks: what seq_split="auto" aims for.
    """

    def __init__(self, d: int, e: int, block_n: int, like: torch.Tensor | None = None):
        self.d, self.e = d, e
        self.bd = _pow2(d)
        self.be = _pow2(e)
        self.block_n = block_n
        # forward: value-dim tiles of ≤ 64 columns, keeping the fp32 state at ≤ 8192 elements per program
        self.fwd_be = min(self.be, 64, max(16, 8192 // self.bd))
        # backward: dQ/dK carry S/R[d_tile, :] (full e), dV carries R[:, e_tile] (full d)
        self.bwd_bd = min(self.bd, max(16, 8192 // self.be), 64)
        self.bwd_be = min(self.be, max(16, 8192 // self.bd), 64)
        self.fwd_warps = self.bwd_warps = 4 if max(self.bd, self.be) <= 128 else 8
        # head dims above 128: one pipeline stage keeps the 64 × 256 tiles within 227 KiB of shared memory
        self.fwd_stages = self.bwd_stages = 2 if max(self.bd, self.be) <= 128 else 1
        self.split_programs = 264  # ~2 programs per SM of a 132-SM GPU
        self.bwd_split_programs = None  # None: as the forward
        self.split_min_blocks = 8
        self.bwd_block_n = None  # None: as the forward
        self.bwd_fused = False  # one launch for the three backward sweeps (_la2_bwd_fused_kernel)
        self.tuned = False
        self.short = None  # {"max_seq_len": N, fields}: fields used for seq_len ≤ N (see at())
        self._short_cfg = None
        if like is not None and block_n == BLOCK_N:  # an explicit block_n (tests) keeps the built-in defaults
            for name, value in _tuning.lookup(like.device, like.dtype, self.bd, self.be).items():
                if name in TUNABLE:
                    setattr(self, name, value)
                    self.tuned = True
                elif name == "short" and isinstance(value, dict):
                    self.short = dict(value)
        overrides = _OVERRIDES.get()
        if overrides:  # an explicit configuration (tuning) is used at every seq_len
            self.short = None
        for name, value in overrides.items():
            setattr(self, name, value)
        if self.bwd_block_n is None:
            self.bwd_block_n = self.block_n
        if self.bwd_split_programs is None:
            self.bwd_split_programs = self.split_programs
        self._clamp()

    def _clamp(self) -> None:
        """Tiles no wider than the (power-of-two) dims; the forward's warps/stages under the AOT check's names.

        Raises:
            ValueError: the fused backward with fewer than 2 pipeline stages (``bwd_fused`` and ``bwd_stages`` < 2).
        """
        if self.bwd_fused and self.bwd_stages < 2:
            raise ValueError(
                f"bwd_stages must be ≥ 2 with bwd_fused=True, got {self.bwd_stages}: the fused backward compiled with "
                "one pipeline stage made an illegal memory access on an H200 (Triton 3.6, bwd_be 32; "
                "results/h200/tune/2026-11-30h/d-bwd-fused), which leaves the CUDA context unusable; refused for "
                "every tile since the cause is not known")
        self.fwd_be = min(self.fwd_be, self.be)
        self.bwd_bd = min(self.bwd_bd, self.bd)
        self.bwd_be = min(self.bwd_be, self.be)
        self.num_warps, self.num_stages = self.fwd_warps, self.fwd_stages

    def at(self, seq_len: int, batch_heads: int | None = None) -> "_Config":
        """The configuration for this seq_len (and batch·heads, the number of independent sequences × heads): this
        one, or for seq_len ≤ ``short["max_seq_len"]`` and batch_heads ≤ ``short["max_batch_heads"]`` (where the
        entry has that bound; None = not known, the bound is ignored) a copy with the short-sequence fields (built
        once). Short sequences are latency-bound (few blocks per program), long ones bandwidth-bound, and their best
        tiles differ (results/h200/tune/2026-11-30c); with many batch·heads the long entry's programs fill the GPU
        already and its backward wins (results/h200/tune/2026-11-30h)."""
        s = self.short
        if not s or seq_len > s.get("max_seq_len", 0):
            return self
        if batch_heads is not None and batch_heads > s.get("max_batch_heads", batch_heads):
            return self
        if self._short_cfg is None:
            c = copy.copy(self)
            for name, value in s.items():
                if name in TUNABLE:
                    setattr(c, name, value)
            c.short = None
            c._clamp()
            self._short_cfg = c
        return self._short_cfg

    def fwd_segments(self, seq_split, batch_heads: int, seq_len: int) -> tuple[int, int]:
        """(nseg, seg) of the forward (and of sweep F's segment-end states)."""
        return segments(seq_split, batch_heads, _cdiv(self.e, self.fwd_be), seq_len, self.block_n,
                        self.split_programs, self.split_min_blocks)

    def bwd_segments(self, seq_split, batch_heads: int, seq_len: int) -> tuple[int, int]:
        """(nseg, seg) of the backward sweeps."""
        tiles = min(_cdiv(self.d, self.bwd_bd), _cdiv(self.e, self.bwd_be))
        return segments(seq_split, batch_heads, tiles, seq_len, self.bwd_block_n, self.bwd_split_programs,
                        self.split_min_blocks)

    def describe(self) -> str:
        """A compact record of the choice, e.g. ``B64 fwd e64 w4 s2 | bwd d64 e64 w4 s2``."""
        text = (f"B{self.block_n} fwd e{self.fwd_be} w{self.fwd_warps} s{self.fwd_stages} | "
                f"bwd B{self.bwd_block_n} d{self.bwd_bd} e{self.bwd_be} w{self.bwd_warps} s{self.bwd_stages}"
                + (" fused" if self.bwd_fused else "") + " | "
                f"split {self.split_programs}/{self.bwd_split_programs} programs, ≥{self.split_min_blocks} blocks")
        if self.short:
            bound = self.short.get("max_batch_heads")
            text += (f"; seq_len ≤ {self.short.get('max_seq_len')}"
                     + (f" and batch·heads ≤ {bound}" if bound is not None else "") + ": "
                     + self.at(self.short.get("max_seq_len", 0)).describe())
        return text + (" (tuned)" if self.tuned else "")


_CONFIGS: dict[tuple, "_Config"] = {}


def _config(d: int, e: int, block_n: int, like: torch.Tensor, seq_len: int | None = None,
            batch_heads: int | None = None) -> "_Config":
    """``_Config(d, e, block_n, like)``, built once per (dims, block, device, dtype, tuned table, overrides): the
    wrappers ask for it on every call. With ``seq_len`` (and ``batch_heads``): the configuration for that call
    (``_Config.at``)."""
    key = (d, e, block_n, like.device, like.dtype, os.environ.get(_tuning.TUNE_ENV),
           tuple(sorted(_OVERRIDES.get().items())))
    cfg = _CONFIGS.get(key)
    if cfg is None:
        if len(_CONFIGS) > 256:
            _CONFIGS.clear()
        cfg = _CONFIGS[key] = _Config(d, e, block_n, like)
    return cfg if seq_len is None else cfg.at(seq_len, batch_heads)


def describe_launch(head_dim: int, value_dim: int, dtype: torch.dtype, device) -> str:
    """The launch parameters ``lightning_attn`` uses for these dims on this device (recorded per benchmark row)."""
    like = torch.empty(0, dtype=dtype, device=device)
    return _config(head_dim, value_dim, BLOCK_N, like).describe()


def describe_backward(batch: int, heads: int, seq_len: int, head_dim: int, value_dim: int, dtype: torch.dtype,
                      device, seq_split="auto") -> str:
    """Which backward ``lightning_attn`` runs for such a call without initial/final state or cu_seqlens (recorded
    per benchmark row): the Gluon kernel three times (``gluon_fwd.backward``), or its dq pass and the fused dk, dv
    kernel (``gluon_fwd.fuse_dkdv``), or the Triton kernels, and why."""
    device = torch.device(device)
    like = torch.empty(0, dtype=dtype, device=device)
    skip = _gluon_bwd_skip(_config(head_dim, value_dim, BLOCK_N, like, seq_len, batch * heads), seq_len, seq_split,
                           lambda: _one_launch_shape(batch * heads, seq_len, head_dim, value_dim, dtype, device))
    if skip is not None:
        return f"triton bwd ({skip})"
    if device.type != "cuda":
        return "triton bwd (not CUDA)"
    plans = _gluon._backward_shape_plans(batch * heads, seq_len, head_dim, value_dim, dtype, device)
    if isinstance(plans, str):
        return f"triton bwd ({plans})"
    short = lambda p: p.describe().replace("gluon sm_90a fwd ", "")  # noqa: E731
    both = _gluon.concurrent_plans(batch * heads, seq_len, head_dim, value_dim, plans, _gluon.sm_count(device))
    if both is not None:
        how = ("on side streams" if not _gluon.one_launch(head_dim, value_dim, both) else
               "one launch, one body, stacked output" if _gluon.x3_one_out() else
               "one launch, one body" if _gluon.x3_one_body() else "one launch, a copy per pass")
        return f"gluon bwd ×3: dq {short(both[0])}; dk, dv reverse {short(both[1])}; unsplit, side by side, {how}"
    if _gluon.fuse_dkdv(batch * heads, head_dim, value_dim):
        return (f"gluon bwd: dq {short(plans[0])}; dk, dv fused (one program per head, "
                f"s{_gluon.DKDV_STAGES[head_dim]})")
    side = _gluon.use_streams(batch * heads, seq_len, head_dim, value_dim, plans)
    return (f"gluon bwd ×3: dq {short(plans[0])}; dk, dv reverse {short(plans[1])}"
            + ("; dk, dv on side streams" if side else ""))


def seq_split_segments(seq_split, batch_heads: int, e_tiles: int, seq_len: int, block_n: int,
                       programs: int = 264, min_blocks: int = 8) -> int:
    """Number of sequence segments: an int ≥ 1, or "auto": the most segments whose programs
    (segments × batch_heads × e_tiles) still fit in ``programs`` (one wave: ``programs`` is what the GPU runs at once,
    e.g. 132 SMs × 1 program for the d128 forward), at least 1, keeping ≥ ``min_blocks`` blocks per segment (shared
    docs §4). Rounding up instead would start a second, mostly idle wave: b2 h16 d128 forward at n 65536 on an H200
    took 1.61 ms with 5 segments (160 programs) against 1.16 ms with 4 (128), tools/tune_la2.py and
    results/h200/perf (2026-11-30).

    Raises:
        ValueError: seq_split neither "auto" nor an integer ≥ 1.
    """
    n_blocks = _cdiv(seq_len, block_n)
    if seq_split == "auto":
        want = programs // max(1, batch_heads * e_tiles)
        return max(1, min(want, n_blocks // min_blocks, 1024))
    if isinstance(seq_split, bool) or not isinstance(seq_split, int) or seq_split < 1:
        raise ValueError(f"seq_split must be an integer ≥ 1 or 'auto', got {seq_split!r}")
    return max(1, min(seq_split, n_blocks))


def segments(seq_split, batch_heads: int, tiles: int, seq_len: int, block_n: int, programs: int = 264,
             min_blocks: int = 8) -> tuple[int, int]:
    """(nseg, seg): the segments a split launch uses, seg rows each (a multiple of block_n), the last one partial."""
    nseg = seq_split_segments(seq_split, batch_heads, tiles, seq_len, block_n, programs, min_blocks)
    seg = _cdiv(_cdiv(seq_len, nseg), block_n) * block_n
    return _cdiv(seq_len, seg), seg


COMBINE_MAX_SEGMENTS = 16  # up to here each program combines the ≤ 15 local states before it; beyond, O(P²) reads


def split_mode(nseg: int) -> int:
    """The kernels' ``SPLIT`` constexpr: 0 one segment; 2 each program combines the segments' local states itself
    (``_prefix_state`` / ``_suffix_state``, no extra launch); 1 (more than ``COMBINE_MAX_SEGMENTS`` segments) the
    buffer was combined in place by ``_la2_state_scan_kernel`` first, so every program reads one tile."""
    return 0 if nseg <= 1 else (2 if nseg <= COMBINE_MAX_SEGMENTS else 1)


def _scan_states(buf, init, slopes, h, n, d, e, seg, nseg, reverse, q):
    """Launch the in-place prefix/suffix state combine over the segment buffer (see ``_la2_state_scan_kernel``)."""
    sb_d, sb_e = min(32, _pow2(d)), min(32, _pow2(e))
    _la2_state_scan_kernel[(buf.shape[0], _cdiv(d, sb_d), _cdiv(e, sb_e))](
        buf, init if init is not None else q, slopes if slopes is not None else q, h, n, d, e, seg, nseg,
        HAS_DECAY=slopes is not None, HAS_INIT=init is not None, REVERSE=reverse, BLOCK_D=sb_d, BLOCK_E=sb_e,
        num_warps=2,
    )


def _seg_end_states(k, v, slopes, like, layout, h, n, d, e, seg, nseg, count, prec, block_n, block_d, block_e,
                    warps, stages, chunks=1):
    """fp32 ``[batch·heads, nseg, head_dim, value_dim]``: the local end states E_p of segments 0..count−1
    (``_la2_fwd_seg_end_kernel``; the rest of the buffer unwritten). Used by the forwards (Triton and Gluon) and by
    the backward's sweep F. ``chunks`` > 1 splits each segment's sum over that many programs (partial sums in
    ``[batch·heads, nseg, chunks, d, e]``, then added): the pass is a reduction, and one program per segment walks as
    many blocks as the main kernel does, which makes a 2-way split's pre-pass as long as its main pass. The partial
    buffer holds only the ``count`` segments computed (fp32, count·chunks·d·e per batch·head: 34 MiB at b2 h16 d128
    with 17 chunks)."""
    bh = like.shape[0] * h
    slots = nseg if chunks == 1 else count  # the kernel's NSEG argument is only the slot stride
    buf = torch.empty(bh, slots, chunks, d, e, dtype=torch.float32, device=like.device)
    _la2_fwd_seg_end_kernel[(bh, _cdiv(e, block_e), count * chunks)](
        k, v, slopes if slopes is not None else like, buf, *_strides(k, layout), *_strides(v, layout),
        h, n, d, e, seg, slots, chunks, HAS_DECAY=slopes is not None, PREC=prec, BLOCK_N=block_n, BLOCK_D=block_d,
        BLOCK_E=block_e, num_warps=warps, num_stages=stages,
    )
    if chunks == 1:
        return buf.view(bh, nseg, d, e)
    out = torch.empty(bh, nseg, d, e, dtype=torch.float32, device=like.device)
    torch.sum(buf, 2, out=out[:, :count])
    return out


def _fwd(q, k, v, slopes, s0, want_ht, layout, block_n, cu=None, fp32_dot="ieee", seq_split=1, segment_hook=None):
    """Forward launches on validated inputs. ``segment_hook(seg_buf, nseg, seg)`` (sequence parallelism, split path
    only): called after the local end states of *all* nseg segments are in ``seg_buf`` and before the main launch combines them;
    returns the state entering segment 0 (replacing s0; None for zero)."""
    b, h, n, d, e = _dims(q, v, layout)
    nseq = b if cu is None else cu.numel() - 1
    cfg = _config(d, e, block_n, q, n, nseq * h)
    o = _empty(b, h, n, e, layout, q)
    gp = _gluon.plan(q, k, v, slopes, layout, s0=s0, want_ht=want_ht, cu=cu, block_n=block_n, seq_split=seq_split,
                     segment_hook=segment_hook)
    if gp is not None:  # Hopper, bf16, eligible shape: the Gluon forward with overlapped MMAs (gluon_fwd.py)
        _gluon.forward(q, k, v, slopes, layout, gp, o, s0=s0, segment_hook=segment_hook)
        _planted_slowdown(q, k, v, slopes, layout, cfg, b, h, n, d, e)
        return o, None
    ht = torch.empty(nseq, h, d, e, dtype=torch.float32, device=q.device) if want_ht else None
    e_tiles = _cdiv(e, cfg.fwd_be)
    nseg, seg = cfg.fwd_segments(1 if cu is not None else seq_split, b * h, n)  # no split for packed input
    mode = split_mode(nseg)
    seg_buf = q
    if nseg > 1:
        # local end states E_p of segments 0..P−2; each main program combines those before it (_prefix_state)
        seg_buf = _seg_end_states(k, v, slopes, q, layout, h, n, d, e, seg, nseg, nseg if segment_hook else nseg - 1,
                                  _prec(q.dtype, fp32_dot), cfg.block_n, cfg.bd, cfg.fwd_be, cfg.fwd_warps,
                                  cfg.fwd_stages)
        if segment_hook is not None:
            s0 = segment_hook(seg_buf, nseg, seg)
        if mode == 1:
            _scan_states(seg_buf, s0, slopes, h, n, d, e, seg, nseg, False, q)
    grid = (nseq * h, e_tiles, nseg)
    _launch(
        _la2_fwd_kernel, grid, q, k, v, o, slopes if slopes is not None else q, s0 if s0 is not None else q,
        ht if ht is not None else q, seg_buf,
        *_strides(q, layout), *_strides(k, layout), *_strides(v, layout), *_strides(o, layout),
        h, n, d, e, cu if cu is not None else q, seg, nseg,
        HAS_DECAY=slopes is not None, PREC=_prec(q.dtype, fp32_dot), IS_VARLEN=cu is not None, HAS_S0=s0 is not None,
        STORE_HT=want_ht, SPLIT=mode,
        BLOCK_N=cfg.block_n, BLOCK_D=cfg.bd, BLOCK_E=cfg.fwd_be, num_warps=cfg.fwd_warps, num_stages=cfg.fwd_stages,
    )
    if cu is None:
        _planted_slowdown(q, k, v, slopes, layout, cfg, b, h, n, d, e)
    return o, ht


PLANTED_SLOWDOWN_ENV = "LIGHTNING_BENCH_PLANTED_SLOWDOWN"


def _planted_slowdown(q, k, v, slopes, layout, cfg, b, h, n, d, e):
    """Test-only switch for calibrating regression gates (issue #6): with ``LIGHTNING_BENCH_PLANTED_SLOWDOWN=f``
    (0 < f ≤ 1) the forward kernel runs a second time, on the first ⌈f·seq_len⌉ rows of every (batch, head), into a
    scratch buffer. The extra launch has the same grid as the real one and its time is linear in the rows it walks,
    so the forward becomes about (1 + f)× slower at any batch·heads, without changing any result. Unset in normal use.
    """
    frac = os.environ.get(PLANTED_SLOWDOWN_ENV)
    if not frac:
        return
    try:
        f = float(frac)
    except ValueError:
        raise ValueError(f"{PLANTED_SLOWDOWN_ENV} must be a number in (0, 1], got {frac!r}") from None
    if not 0 < f <= 1:
        raise ValueError(f"{PLANTED_SLOWDOWN_ENV} must be in (0, 1], got {f}")
    rows = max(1, math.ceil(f * n))
    scratch = _empty(b, h, n, e, layout, q)
    _la2_fwd_kernel[(b * h, _cdiv(e, cfg.fwd_be), 1)](
        q, k, v, scratch, slopes if slopes is not None else q, q, q, q,
        *_strides(q, layout), *_strides(k, layout), *_strides(v, layout), *_strides(scratch, layout),
        h, rows, d, e, q, rows, 1,
        HAS_DECAY=slopes is not None, PREC=_prec(q.dtype), IS_VARLEN=False, HAS_S0=False, STORE_HT=False, SPLIT=False,
        BLOCK_N=cfg.block_n, BLOCK_D=cfg.bd, BLOCK_E=cfg.fwd_be, num_warps=cfg.fwd_warps, num_stages=cfg.fwd_stages,
    )


# Up to this many tokens the Triton fused backward (the launch table's short entry, where it applies) beats the Gluon
# backward's three launches: b2 h16 d128 bf16 on the H200 40.3 vs 36.5 M tokens/s at 1024, equal at 2048, Gluon +8% at
# 4096 and +37% at 131072 (results/h200/tune/2026-11-30i/d-bwd) — except where the three passes run side by side in
# one launch (gluon_fwd.one_launch: head_dim = value_dim = 128): fwd_bwd through autograd 1.12× at 256 tokens, 1.15×
# at 512, 1.25–1.33× at 1024 (b2 h16, b1 h16, b4 h8, b1 h32) in GPU time, for +0.1–0.4 ms of host time per call
# (ten TMA descriptors and one Gluon launch against one Triton launch; results/h200/tune/2026-12-01c/b19,
# perf-notes v21). As three launches on side streams the host cost had been +0.3–0.6 ms for 1.13–1.20×, and the fused
# kernel had stayed (2026-12-01b/d18).
GLUON_BWD_MIN_FUSED = 1024


def _gluon_bwd_skip(cfg: "_Config", seq_len: int, seq_split, one_launch=None) -> str | None:
    """Why a backward with this launch configuration does not try the Gluon backward (None: it does, if
    ``gluon_fwd.backward_plans`` accepts the tensors): an explicit seq_split or ``launch_config`` (both select
    Triton launches), or the fused Triton backward at ≤ ``GLUON_BWD_MIN_FUSED`` tokens unless ``one_launch()`` (called
    only then) says the Gluon passes run side by side in one launch."""
    if seq_split != "auto" or _OVERRIDES.get():
        return "explicit seq_split or launch_config"
    if cfg.bwd_fused and seq_len <= GLUON_BWD_MIN_FUSED and not (one_launch is not None and one_launch()):
        return f"fused, ≤ {GLUON_BWD_MIN_FUSED} tokens"
    return None


def _one_launch_shape(batch_heads: int, seq_len: int, head_dim: int, value_dim: int, dtype, device) -> bool:
    """Whether the Gluon backward of this shape runs its three passes side by side in one launch."""
    device = torch.device(device)
    if device.type != "cuda":
        return False
    plans = _gluon._backward_shape_plans(batch_heads, seq_len, head_dim, value_dim, dtype, device)
    if not isinstance(plans, list):
        return False
    both = _gluon.concurrent_plans(batch_heads, seq_len, head_dim, value_dim, plans, _gluon.sm_count(device))
    return both is not None and _gluon.one_launch(head_dim, value_dim, both)


def _gluon_bwd_plans(q, k, v, do_c, slopes, layout, block_n, seq_split, cfg: "_Config", seq_len: int):
    """The Gluon backward's three plans for these validated tensors (``do_c`` contiguous), or None where the Triton
    backward runs: another block size, the launch rule of :func:`_gluon_bwd_skip`, or what
    ``gluon_fwd.backward_plans`` declines. Shared by the one-GPU backward and the sequence-parallel ranks."""
    if block_n != _gluon.BLOCK_N:
        return None
    b, h, n, d, e = _dims(q, v, layout)
    if _gluon_bwd_skip(cfg, seq_len, seq_split,
                       lambda: _one_launch_shape(b * h, n, d, e, q.dtype, q.device)) is not None:
        return None
    return _gluon.backward_plans(q, k, v, do_c, slopes, layout)


def _bwd(q, k, v, do, slopes, s0, dht, want_ds0, layout, block_n, cu=None, fp32_dot="ieee", seq_split=1,
         segment_hook=None, grads=None):
    """Backward launches. ``segment_hook(seg_r, nseg, seg)`` (sequence parallelism, split path only): called after
    the local R of *all* nseg segments are in ``seg_r`` and before the sweeps combine them; returns the gradient of the state
    after the last token (replacing dht; None for zero). ``grads``: a flat buffer of 2·q.numel() + v.numel() elements
    that dq, dk, dv are written into as views (:func:`grad_views`; the ``la2_bwd`` custom op's output,
    :data:`BWD_OP`). Inputs validated by the caller."""
    b, h, n, d, e = _dims(q, v, layout)
    nseq = b if cu is None else cu.numel() - 1
    cfg = _config(d, e, block_n, q, n, nseq * h)
    if segment_hook is None and cu is None and s0 is None and dht is None and not want_ds0:
        do_c = do if do.is_contiguous() else do.contiguous()
        plans = _gluon_bwd_plans(q, k, v, do_c, slopes, layout, block_n, seq_split, cfg, n)
        if plans is not None:  # Hopper, bf16, eligible shape: the Gluon backward (gluon_fwd.backward)
            dq, dk, dv = _gluon.backward(q, k, v, do_c, slopes, layout, plans, grads=grads)
            return dq, dk, dv, None
    if grads is not None:
        dq, dk, dv = grad_views(grads, q, k, v)
    else:
        dq = _empty(b, h, n, d, layout, q)
        dk = _empty(b, h, n, d, layout, q)
        dv = _empty(b, h, n, e, layout, q)
    ds0 = torch.empty(nseq, h, d, e, dtype=torch.float32, device=q.device) if want_ds0 else None
    sl = slopes if slopes is not None else q
    common = dict(HAS_DECAY=slopes is not None, PREC=_prec(q.dtype, fp32_dot), IS_VARLEN=cu is not None, BLOCK_N=cfg.bwd_block_n,
                  num_warps=cfg.bwd_warps, num_stages=cfg.bwd_stages)
    cu_arg = cu if cu is not None else q
    sq, sk, sv, sdo = _strides(q, layout), _strides(k, layout), _strides(v, layout), _strides(do, layout)
    nd = _cdiv(d, cfg.bwd_bd)
    ne = _cdiv(e, cfg.bwd_be)
    # sequence split: local end states E_p → S_in[p] for sweep F, local R F_p → R_in[p] for sweep R (split_mode)
    nseg, seg = cfg.bwd_segments(1 if cu is not None else seq_split, b * h, n)
    mode = split_mode(nseg)
    seg_end = seg_r = q
    if nseg > 1:
        seg_end = _seg_end_states(k, v, slopes, q, layout, h, n, d, e, seg, nseg, nseg - 1, common["PREC"],
                                  cfg.bwd_block_n, cfg.bd, cfg.fwd_be, cfg.bwd_warps, cfg.bwd_stages)
        if mode == 1:
            _scan_states(seg_end, s0, slopes, h, n, d, e, seg, nseg, False, q)
        seg_r = torch.empty(b * h, nseg, d, e, dtype=torch.float32, device=q.device)
        p0 = 0 if segment_hook is not None else 1
        _la2_bwd_seg_r_kernel[(b * h, ne, nseg - p0)](
            q, do, sl, seg_r, *sq, *sdo, h, n, d, e, seg, nseg, p0,
            HAS_DECAY=slopes is not None, PREC=common["PREC"], BLOCK_N=cfg.bwd_block_n, BLOCK_D=cfg.bd,
            BLOCK_E=cfg.bwd_be, num_warps=cfg.bwd_warps, num_stages=cfg.bwd_stages,
        )
        if segment_hook is not None:
            dht = segment_hook(seg_r, nseg, seg)
        if mode == 1:
            _scan_states(seg_r, dht, slopes, h, n, d, e, seg, nseg, True, q)
    common["SPLIT"] = mode
    if cfg.bwd_fused:
        _launch(
            _la2_bwd_fused_kernel, (nseq * h, 2 * nd + ne, nseg), q, k, v, do, dq, dk, dv, sl,
            s0 if s0 is not None else q, dht if dht is not None else q, ds0 if ds0 is not None else q, seg_end, seg_r,
            *sq, *sk, *sv, *sdo, *_strides(dq, layout), *_strides(dk, layout), *_strides(dv, layout), h, n, d, e,
            cu_arg, seg, nseg, nd,
            HAS_S0=s0 is not None, HAS_DHT=dht is not None, STORE_DS0=want_ds0, BLOCK_D=cfg.bwd_bd, BLOCK_E=cfg.be,
            BLOCK_DV=cfg.bd, BLOCK_EV=cfg.bwd_be, **common,
        )
        return dq, dk, dv, ds0
    _launch(
        _la2_bwd_dq_kernel, (nseq * h, nd, nseg), k, v, do, dq, sl, s0 if s0 is not None else q, seg_end, *sk, *sv,
        *sdo, *_strides(dq, layout), h, n, d, e, cu_arg, seg, nseg,
        HAS_S0=s0 is not None, BLOCK_D=cfg.bwd_bd, BLOCK_E=cfg.be, **common,
    )
    _launch(
        _la2_bwd_dk_kernel, (nseq * h, nd, nseg), q, v, do, dk, sl, dht if dht is not None else q, seg_r, *sq, *sv,
        *sdo, *_strides(dk, layout), h, n, d, e, cu_arg, seg, nseg,
        HAS_DHT=dht is not None, BLOCK_D=cfg.bwd_bd, BLOCK_E=cfg.be, **common,
    )
    _launch(
        _la2_bwd_dv_kernel, (nseq * h, ne, nseg), q, k, do, dv, sl, dht if dht is not None else q,
        ds0 if ds0 is not None else q, seg_r, *sq, *sk, *sdo, *_strides(dv, layout), h, n, d, e, cu_arg, seg, nseg,
        HAS_DHT=dht is not None, STORE_DS0=want_ds0, BLOCK_D=cfg.bd, BLOCK_E=cfg.bwd_be, **common,
    )
    return dq, dk, dv, ds0


class _LightningAttn2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, slopes, s0, layout, block_n, want_ht, cu, fp32_dot, seq_split):
        o, ht = _fwd(q, k, v, slopes, s0, want_ht, layout, block_n, cu, fp32_dot, seq_split)
        ctx.save_for_backward(q, k, v, slopes, s0, cu)
        ctx.layout = layout
        ctx.block_n = block_n
        ctx.fp32_dot = fp32_dot
        ctx.seq_split = seq_split
        ctx.overrides = _OVERRIDES.get()  # the backward runs on autograd's device thread, outside this context
        ctx.gluon = _gluon._ENABLED.get()  # likewise gluon_fwd.disabled() (the la2_triton ablation)
        return o, ht

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, slopes, s0, cu = ctx.saved_tensors
        if dht is not None:
            dht = dht.float().contiguous()
        want_ds0 = s0 is not None and ctx.needs_input_grad[4]
        with _overrides_of(ctx):
            dq, dk, dv, ds0 = _bwd(q, k, v, do, slopes, s0, dht, want_ds0, ctx.layout, ctx.block_n, cu,
                                   ctx.fp32_dot, ctx.seq_split)
        return dq, dk, dv, None, ds0, None, None, None, None, None, None


@contextlib.contextmanager
def _overrides_of(ctx):
    """Re-enter the ``launch_config`` overrides that were in effect when the forward ran (``ctx.overrides``): autograd
    runs a CUDA backward on its own device thread, where a ContextVar set by the caller is not visible, so without
    this ``with launch_config(...)`` around a training step changed the forward's launch only."""
    token = _OVERRIDES.set(ctx.overrides)
    token_g = _gluon._ENABLED.set(getattr(ctx, "gluon", True))
    try:
        yield
    finally:
        _gluon._ENABLED.reset(token_g)
        _OVERRIDES.reset(token)


# ---------------------------------------------------------------- torch.library custom ops (torch.compile)
# Under torch.compile the kernels are reached through these opaque custom ops (with fake implementations for shape
# propagation and a registered autograd formula), so a compiled model has no graph break at the attention call.
# Eager calls keep the plain autograd.Function path, which has less per-call overhead.
_EMPTY = (0,)
# seq_split="auto" in the custom ops' int argument. The ops' own default stays 1 (unsplit, the Triton backward: what
# they ran before they took the argument, so graphs and direct ``torch.ops`` callers keep their launches);
# ``lightning_attn`` always passes the call's value.
SPLIT_AUTO = 0


def _split_arg(seq_split: int):
    """The custom ops' int seq_split as ``_fwd`` / ``_bwd`` take it (``SPLIT_AUTO`` → "auto").

    Raises:
        ValueError: seq_split < 0.
    """
    if seq_split < 0:
        raise ValueError(f"seq_split must be {SPLIT_AUTO} (auto) or an integer ≥ 1 in the custom ops, "
                         f"got {seq_split}")
    return "auto" if seq_split == SPLIT_AUTO else seq_split


# The custom ops' names carry a version: torch's compile caches (FX graph, AOTAutograd) key a compiled graph by an
# op's name, not its schema, fake or backward (pytorch/pytorch#144344), so a changed op under its old name gets the
# old compiled code from a warm cache (seen here: inductor asserting the old gradients' shapes). Bump the version
# with any change to an op's schema, fake or backward. v2: la2_bwd returns one flat gradient buffer (grad_views).
FWD_OP, BWD_OP = "la2_fwd_v2", "la2_bwd_v2"


def _register_custom_ops() -> bool:
    """Define the custom ops; returns False (the compile path then uses the autograd.Function) where this torch
    lacks torch.library.custom_op or rejects the schema, so an old or unusual torch never breaks the import."""
    global _la2_fwd_op, _la2_bwd_op
    @torch.library.custom_op(f"lightning_bench::{FWD_OP}", mutates_args=())
    def _la2_fwd_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, slopes: Optional[torch.Tensor],
                    s0: Optional[torch.Tensor], cu: Optional[torch.Tensor], layout: str, block_n: int,
                    want_ht: bool, fp32_dot: str, seq_split: int = 1) -> Tuple[torch.Tensor, torch.Tensor]:
        o, ht = _fwd(q, k, v, slopes, s0, want_ht, layout, block_n, cu, fp32_dot, _split_arg(seq_split))
        return o, (ht if ht is not None else q.new_empty(_EMPTY, dtype=torch.float32))


    @_la2_fwd_op.register_fake
    def _la2_fwd_fake(q, k, v, slopes, s0, cu, layout, block_n, want_ht, fp32_dot, seq_split=1):
        b, h, n, d, e = _dims(q, v, layout)
        nseq = b if cu is None else cu.shape[0] - 1
        o = q.new_empty((b, h, n, e) if layout == "bhnd" else (b, n, h, e))
        ht = q.new_empty((nseq, h, d, e) if want_ht else _EMPTY, dtype=torch.float32)
        return o, ht


    @torch.library.custom_op(f"lightning_bench::{BWD_OP}", mutates_args=())
    def _la2_bwd_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, do: torch.Tensor, slopes: Optional[torch.Tensor],
                    s0: Optional[torch.Tensor], dht: Optional[torch.Tensor], cu: Optional[torch.Tensor], layout: str,
                    block_n: int, want_ds0: bool, fp32_dot: str, seq_split: int = 1
                    ) -> Tuple[torch.Tensor, torch.Tensor]:
        # one flat gradient buffer, dq, dk, dv made as views of it outside the op (grad_views): a custom op's outputs
        # may not alias each other (torch checks it at every call), and the one launch writes the three as one
        # stacked buffer (gluon_fwd.x3_one_out; three separate buffers cost it 1.3–2.5% at b2 h16)
        grads = q.new_empty(q.numel() + k.numel() + v.numel())
        ds0 = _bwd(q, k, v, do, slopes, s0, dht, want_ds0, layout, block_n, cu, fp32_dot, _split_arg(seq_split),
                   grads=grads)[3]
        return grads, (ds0 if ds0 is not None else q.new_empty(_EMPTY, dtype=torch.float32))


    @_la2_bwd_op.register_fake
    def _la2_bwd_fake(q, k, v, do, slopes, s0, dht, cu, layout, block_n, want_ds0, fp32_dot, seq_split=1):
        b, h, n, d, e = _dims(q, v, layout)
        nseq = b if cu is None else cu.shape[0] - 1
        ds0 = q.new_empty((nseq, h, d, e) if want_ds0 else _EMPTY, dtype=torch.float32)
        return q.new_empty(q.numel() + k.numel() + v.numel()), ds0


    def _op_setup_context(ctx, inputs, output):
        q, k, v, slopes, s0, cu, layout, block_n, want_ht, fp32_dot, seq_split = inputs
        ctx.save_for_backward(q, k, v, slopes, s0, cu)
        ctx.layout, ctx.block_n, ctx.want_ht, ctx.fp32_dot = layout, block_n, want_ht, fp32_dot
        ctx.seq_split = seq_split
        ctx.overrides = _OVERRIDES.get()
        ctx.gluon = _gluon._ENABLED.get()


    def _op_backward(ctx, do, dht):
        q, k, v, slopes, s0, cu = ctx.saved_tensors
        dht_arg = dht.float().contiguous() if (ctx.want_ht and dht is not None) else None
        want_ds0 = s0 is not None and ctx.needs_input_grad[4]
        with _overrides_of(ctx):
            grads, ds0 = _la2_bwd_op(q, k, v, do, slopes, s0, dht_arg, cu, ctx.layout, ctx.block_n, want_ds0,
                                     ctx.fp32_dot, ctx.seq_split)
        dq, dk, dv = grad_views(grads, q, k, v)
        return dq, dk, dv, None, (ds0 if want_ds0 else None), None, None, None, None, None, None


    _la2_fwd_op.register_autograd(_op_backward, setup_context=_op_setup_context)
    return True


try:
    _HAS_CUSTOM_OPS = _register_custom_ops()
except Exception as _ex:  # pragma: no cover - depends on the torch build
    import warnings as _warnings

    _warnings.warn(f"lightning_bench: torch.library custom ops not registered ({_ex}); torch.compile will trace the "
                   "autograd.Function instead", stacklevel=1)
    _HAS_CUSTOM_OPS = False


def canonical_state(state, b: int, h: int, d: int, e: int, device, name: str = "initial_state"):
    """Validate an fp32 [batch, heads, head_dim, value_dim] state; returns it contiguous (or None)."""
    if state is None:
        return None
    if not isinstance(state, torch.Tensor):
        raise TypeError(f"{name} must be None or a torch.Tensor, got {type(state).__name__}")
    if tuple(state.shape) != (b, h, d, e):
        raise ValueError(f"{name} must have shape [batch, heads, head_dim, value_dim] = {[b, h, d, e]}, "
                         f"got {list(state.shape)}")
    if state.dtype != torch.float32:
        raise ValueError(f"{name} must be float32 (the state is kept in fp32), got {state.dtype}")
    if state.device != device:
        raise ValueError(f"{name} must be on q's device {device}, got {state.device}")
    return state.contiguous()


def lightning_attn(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    slopes: torch.Tensor | None = None,
    *,
    layout: str = "bhnd",
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    cu_seqlens: torch.Tensor | None = None,
    fp32_dot: str = "ieee",
    seq_split: int | str = "auto",
    block_n: int = BLOCK_N,
):
    """Causal Lightning Attention-2 (Triton), differentiable: ``O = (Q Kᵀ ⊙ M) V``.

    ``M[s, t] = exp(−slope_h · (s − t))`` for s ≥ t and 0 otherwise; no softmax, no 1/√d scale, no normaliser
    (paper arXiv 2401.04658 §3.2, Algorithms 1 and 2; contract in shared docs §1). Recurrent form (eqs. 4–5):
    ``S_t = λ·S_{t−1} + k_tᵀ v_t``, ``o_t = q_t S_t`` with ``S_{−1} = initial_state`` (0 by default).

    Args:
        q, k: ``[batch, heads, seq_len, head_dim]`` for ``layout="bhnd"``, ``[batch, seq_len, heads, head_dim]`` for
            ``"bnhd"``; any strides (no copy is made).
        v: same layout with its own last dim ``value_dim``.
        slopes: None (no decay, dedicated kernel) or fp32 ``[heads]`` (``[heads, 1, 1]`` accepted), finite, ≥ 0;
            the per-step decay is exp(−slope). Must not require grad.
        layout: "bhnd" or "bnhd"; o uses the same layout.
        initial_state: optional fp32 ``[batch, heads, head_dim, value_dim]``, the state before position 0;
            differentiable.
        output_final_state: also return ``S_{n−1}``, fp32 ``[batch, heads, head_dim, value_dim]`` (differentiable),
            so that a sequence split into pieces, each fed the previous piece's final state, gives the same outputs.
        cu_seqlens: variable-length packed sequences (the FlashAttention convention): int32/int64 ``[num_seqs + 1]``
            cumulative lengths starting at 0 and ending at the packed seq_len; q, k, v then have batch 1 and every
            sequence is computed independently (no state crosses a boundary). States are then
            ``[num_seqs, heads, head_dim, value_dim]``. Validating cu_seqlens reads it on the host once per call.
        fp32_dot: for fp32 inputs, "ieee" (exact fp32 dots, default; rel-L2 ≤ 1e-5) or "tf32" (tensor-core TF32
            dots, faster, rel-L2 ≤ 5e-3 per the shared docs' table); ignored for bf16/fp16.
        seq_split: split each sequence into this many segments run by separate programs, forward and backward
            (local end states + a prefix combine for the forward and sweep F; local R + a suffix combine for sweep R;
            shared docs §4), or "auto" (default: as many segments as fit in one wave of programs by the tuned
            launch table, none below 2048-row segments, and none for short sequences where the table's "short"
            entry says so, e.g. ≤ 8192 tokens at head_dim 128 on an H200; see ``seq_split_segments`` and
            ``_Config.at``). 1 runs one program per
            (batch·head, value tile); same result either way up to rounding.
            Not applied to packed (cu_seqlens) input. Under torch.compile the custom ops take it too (``"auto"``
            encoded as 0), so a compiled call runs the eager call's launches, the Gluon backward included.
        block_n: rows per block B (16, 32, 64 or 128; tests use small blocks).

    On an sm_90 GPU, eligible bf16 forwards (head_dim and value_dim 64 or 128, seq_len a multiple of 64, no
    initial_state / output_final_state / cu_seqlens) run the Gluon kernel of ``gluon_fwd.py`` (same algorithm, MMAs
    overlapped); ``LIGHTNING_BENCH_GLUON=0`` or ``gluon_fwd.disabled()`` keeps the Triton forward. The backward of
    such a call (no initial_state, final state or cu_seqlens, seq_split "auto", no ``launch_config`` override) runs
    the same Gluon kernel three times (``gluon_fwd.backward``: dq causal, dk and dv anti-causal; at head_dim = value_dim
    = 128 where the three fill the SMs, side by side in one launch; from 64 batch·heads dq and one fused dk, dv kernel,
    ``gluon_fwd.fuse_dkdv``); every other backward is the Triton one, and so is
    a short one the launch table gives the fused backward (≤ 1024 tokens) unless it would run as that one launch.

    Dtypes: bf16 (tensor-core dots, fp32 accumulation and state), fp16 (fp16 dots between inputs; TF32 dots against
    the fp32 state and score tiles, so nothing overflows where the output is representable) or fp32 (IEEE dots).
    seq_len ≥ 1; 16 ≤ head_dim, value_dim ≤ 256 (above 128 as ≤ 128-wide chunks, see ``_wide``).

    Returns:
        o with v's dtype, ``[batch, heads, seq_len, value_dim]`` (or the "bnhd" equivalent); with
        ``output_final_state=True`` the tuple ``(o, final_state)``.

    Raises:
        ValueError: wrong rank, mismatched batch/heads/seq_len/head_dim, unsupported dims or dtype, mixed devices,
            a non-CUDA tensor without ``TRITON_INTERPRET=1``, bad slopes, a bad initial_state, bad block_n.
        TypeError: arguments that are not tensors.
    """
    b, h, n, d, e = canonical_shapes(q, k, v, layout, dim_range=(MIN_HEAD_DIM, MAX_HEAD_DIM))
    check_kernel_device(q)
    if block_n not in (16, 32, 64, 128):
        raise ValueError(f"block_n must be one of 16, 32, 64, 128, got {block_n}")
    if fp32_dot not in FP32_DOTS:
        raise ValueError(f"fp32_dot must be one of {FP32_DOTS}, got {fp32_dot!r}")
    if d > KERNEL_MAX_DIM or e > KERNEL_MAX_DIM:
        return _wide(q, k, v, slopes, layout, initial_state, output_final_state, cu_seqlens, fp32_dot, seq_split,
                     block_n, b, h, d, e)
    if _HAS_CUSTOM_OPS and torch.compiler.is_compiling():
        # traced by torch.compile: shape/dtype/device checks only (value checks would read device memory, a graph
        # break), then the custom op
        s = canonical_slopes(slopes, h, q.device, check_values=False)
        cu = canonical_cu_seqlens(cu_seqlens, b, n, q.device, check_values=False)
        nseq = b if cu is None else cu.shape[0] - 1
        s0 = canonical_state(initial_state, nseq, h, d, e, q.device)
        if seq_split not in (1, "auto"):
            seq_split_segments(seq_split, b * h, 1, n, block_n)  # validates
        o, ht = getattr(torch.ops.lightning_bench, FWD_OP)(q, k, v, s, s0, cu, layout, block_n,
                                                           bool(output_final_state), fp32_dot,
                                                           SPLIT_AUTO if seq_split == "auto" else seq_split)
        return (o, ht) if output_final_state else o
    s = canonical_slopes(slopes, h, q.device)
    cu = canonical_cu_seqlens(cu_seqlens, b, n, q.device)
    nseq = b if cu is None else cu.numel() - 1
    s0 = canonical_state(initial_state, nseq, h, d, e, q.device)
    if seq_split != 1:
        seq_split_segments(seq_split, b * h, 1, n, block_n)  # validates
    if not (torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad
                                         or (s0 is not None and s0.requires_grad))):
        # nothing to differentiate: the launches alone, without autograd.Function's per-call cost (~15 µs of host
        # time on the CI CPU, on the timed path of every short forward)
        profiling = getattr(torch.autograd.profiler, "_is_profiler_enabled", False)  # a named range only then
        with torch.profiler.record_function("lightning_attn2.fwd") if profiling else contextlib.nullcontext():
            o, ht = _fwd(q, k, v, s, s0, bool(output_final_state), layout, block_n, cu, fp32_dot, seq_split)
        return (o, ht) if output_final_state else o
    o, ht = _LightningAttn2.apply(q, k, v, s, s0, layout, block_n, bool(output_final_state), cu, fp32_dot,
                                  seq_split)
    return (o, ht) if output_final_state else o


def _chunks(dim: int) -> list[tuple[int, int]]:
    """Split a head dim into ⌈dim/128⌉ near-equal chunks (each ≥ 16 since 128 < dim ≤ 256 gives ≥ 64)."""
    parts = -(-dim // KERNEL_MAX_DIM)
    edges = [round(i * dim / parts) for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _wide(q, k, v, slopes, layout, initial_state, output_final_state, cu_seqlens, fp32_dot, seq_split, block_n,
          b, h, d, e):
    """head_dim or value_dim above 128: O = Σ_c (Q_c K_cᵀ ⊙ M) V over ≤ 128-wide head-dim chunks c (QKᵀ is a sum over
    d), computed per ≤ 128-wide value-dim chunk (o's columns are independent); the state splits into the matching
    [d_c, e_c] blocks, each carried by its own call. Chunk outputs are summed in fp32. Differentiable through
    autograd (slices, sums and concatenations of differentiable calls); no copies of q, k, v (strided views)."""
    nseq = b if cu_seqlens is None else cu_seqlens.numel() - 1
    if initial_state is not None:
        initial_state = canonical_state(initial_state, nseq, h, d, e, q.device)
    o_cols, ht_cols = [], []
    for e0, e1 in _chunks(e):
        acc, ht_rows = None, []
        for d0, d1 in _chunks(d):
            s0 = None if initial_state is None else initial_state[:, :, d0:d1, e0:e1]
            out = lightning_attn(q[..., d0:d1], k[..., d0:d1], v[..., e0:e1], slopes, layout=layout,
                                 initial_state=s0, output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                                 fp32_dot=fp32_dot, seq_split=seq_split, block_n=block_n)
            o_c, ht_c = out if output_final_state else (out, None)
            acc = o_c.float() if acc is None else acc + o_c.float()
            ht_rows.append(ht_c)
        o_cols.append(acc.to(q.dtype))
        if output_final_state:
            ht_cols.append(torch.cat(ht_rows, dim=2))
    o = torch.cat(o_cols, dim=-1) if len(o_cols) > 1 else o_cols[0]
    if output_final_state:
        return o, torch.cat(ht_cols, dim=3)
    return o


def canonical_cu_seqlens(cu_seqlens, batch: int, seq_len: int, device, check_values: bool = True):
    """Validate FlashAttention-style cumulative sequence lengths; returns an int32 tensor on ``device`` (or None)."""
    if cu_seqlens is None:
        return None
    if not isinstance(cu_seqlens, torch.Tensor):
        raise TypeError(f"cu_seqlens must be None or a torch.Tensor, got {type(cu_seqlens).__name__}")
    if cu_seqlens.dim() != 1 or cu_seqlens.numel() < 2:
        raise ValueError(f"cu_seqlens must be 1-D [num_seqs + 1] with at least 2 entries, got {tuple(cu_seqlens.shape)}")
    if cu_seqlens.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"cu_seqlens must be int32 or int64, got {cu_seqlens.dtype}")
    if cu_seqlens.device != device:
        raise ValueError(f"cu_seqlens must be on q's device {device}, got {cu_seqlens.device}")
    if batch != 1:
        raise ValueError(f"with cu_seqlens, q, k and v must be packed into batch 1, got batch {batch}")
    if not check_values:
        return cu_seqlens.to(torch.int32).contiguous()
    vals = cu_seqlens.tolist()
    if vals[0] != 0 or vals[-1] != seq_len:
        raise ValueError(f"cu_seqlens must start at 0 and end at the packed seq_len {seq_len}, "
                         f"got {vals[0]} … {vals[-1]}")
    if any(b < a for a, b in zip(vals, vals[1:])):
        raise ValueError("cu_seqlens must be non-decreasing")
    return cu_seqlens.to(torch.int32).contiguous()


def kernel_impl_name() -> str:
    """Name of what actually runs: the compiled Triton kernels or Triton's CPU interpreter."""
    return "triton-interpreter" if interpreter_enabled() else "triton"
