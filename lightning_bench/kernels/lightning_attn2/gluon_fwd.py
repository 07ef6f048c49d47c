"""Lightning Attention-2 forward in Gluon for Hopper (sm_90a): the four products of a block overlapped.

Why a second forward: Triton 3.6 issues every ``tl.dot`` of ``_la2_fwd_kernel`` as its own wgmma group followed by
``wgmma.wait_group 0`` (docs/perf-notes.md v7), so a block costs the sum of four MMA latencies. Gluon (Triton's
lower-level language, shipped with Triton ≥ 3.5) lets the kernel issue the MMAs asynchronously and wait only where
a result is needed:

    QKᵀ ∥ Q·S_{i−1}            (two async wgmma groups, waited one at a time)
    (QKᵀ ⊙ D)·V ∥ Kᵀ·(diag(g) V)  (the output and the state update; o is stored by TMA while the update runs)

Same algorithm and decay conventions as the Triton forward (paper arXiv 2401.04658 Algorithm 1; shared docs §2):
``O_i = (Q_i K_iᵀ ⊙ D) V_i + diag(a) Q_i S_{i−1}``, ``S_i = λ^B S_{i−1} + K_iᵀ diag(g) V_i`` with
``a[c] = λ^(c+1)``, ``g[c] = λ^(B−1−c)``, ``D[r, c] = λ^(r−c)`` (r ≥ c), exponents ≥ 0 only. The state is fp32 in
registers; its bf16 copy in shared memory feeds the Q·S product (as the Triton kernel's bf16 dot does).
Q, K, V blocks arrive by TMA into a STAGES-deep ring (mbarriers); one compute warpgroup (4 warps) per program, or
two (``Plan.wg2``: value tiles e0 and e0 + block_e of one head sharing the Q, K ring); programs per (batch·head, value
tile, sequence segment), segments combined in-kernel from the Triton segment-end states (``_la2_fwd_seg_end_kernel``,
SPLIT mode 2 of the Triton forward) or, in one launch, from end states the earlier segments' programs publish
(``Plan.lookback``).

Used by ``lightning_attn`` for the forward when :func:`plan` says the call is eligible (sm_90, bf16, head_dim and
value_dim 64 or 128, seq_len a multiple of 64, "bhnd" or "bnhd" with unit last stride and 16-byte aligned rows, no
final state / cu_seqlens; an initial_state and the sequence-parallel segment hook are taken), and three times for
the backward of such a call without states (:func:`backward`: dq causal, dk and dv anti-causal, ``REVERSE``; from
64 batch·heads dk and dv by one fused kernel instead, ``_la2_bwd_gluon_dkdv_kernel``, :func:`fuse_dkdv`);
everything else runs the Triton kernels. Set ``LIGHTNING_BENCH_GLUON=0`` (or use :func:`disabled`) to force the
Triton kernels. Correctness evidence is on the
GPU (tests/test_gluon_fwd.py, ``lightning-bench verify``); on the CPU the kernel is compiled for sm_90a and its
PTX checked (no interpreter runs Gluon).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import dataclasses
import functools
import os
import threading
from dataclasses import dataclass

import torch

from .._common import dims as _dims
from .._common import grad_views
from .._common import prec as _prec
from .. import _launch as _L
from .._launch import launch as _launch

try:  # Gluon and its Hopper module: Triton ≥ 3.5 (the API names moved between 3.6 and 3.9; both are handled)
    from triton.experimental import gluon
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon.language.nvidia.hopper import (fence_async_shared, mbarrier, tma, warpgroup_mma,
                                                                  warpgroup_mma_wait)
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

    _tma_load = getattr(tma, "async_load", None) or tma.async_copy_global_to_shared
    _tma_store = getattr(tma, "async_store", None) or tma.async_copy_shared_to_global
    IMPORT_ERROR = None
except Exception as _exc:  # pragma: no cover - depends on the installed triton
    IMPORT_ERROR = f"{type(_exc).__name__}: {_exc}"

ENV = "LIGHTNING_BENCH_GLUON"
BLOCK_N = 64
DIMS = (64, 128)  # head_dim and value_dim the kernel is verified for (GPU tests)
MAX_SEGMENTS = 16  # in-kernel combine of the segment-end states (Triton SPLIT mode 2)
RING_STAGES = {64: 3, 32: 4}  # one-warpgroup launches: ring depth per value tile (:func:`choose`)
LONG_SPLIT_MIN = 49152  # from here the e64 2-way split beats the unsplit e32 launch (:func:`choose`)
WG2_SPLIT_MIN: int | None = None  # a wg2 lookback split where e32 fills the SMs unsplit, from here (None: never;
# 16384 until v23: with QK_ONE_FENCE the unsplit e32 launch wins at 16K-32K, :func:`choose`)
O_DIRECT = False  # every plan's ``o_direct`` (tools/tune_knob.py --knob o_direct flips it to time both)
TILE_MAJOR = True  # ws plans with several value tiles: grid (tiles, batch·heads, segments); +2–8% (perf-notes v17)
STATE_FIRST = False  # ws / wg2: the state's bf16 copy before the ring stage's release (ablation: 0.98–1.005×, v17)
VG_AHEAD: bool | None = None  # None: :func:`vg_ahead_wins` decides; True / False force it (tools/tune_knob.py)
QK_AHEAD: bool | None = None  # None: :func:`qk_ahead` decides; True / False force it (tools/tune_knob.py)
QK_ONE_FENCE: bool | None = None  # with Plan.qk_ahead: o staged with the state copy under one fence; None: :func:`_qk_form`
BWD_STREAMS: bool | None = None  # backward's dk, dv on side streams: None = :func:`streams_win`; True / False force it
BWD_CONCURRENT: bool | None = None  # unsplit backward passes side by side: None = :func:`concurrent_plans`'s rule
BWD_ONE_LAUNCH: bool | None = None  # side-by-side passes as one launch (:func:`one_launch`); False: three launches
BWD_X3_STAGES: int | None = None  # ring depth of the side-by-side passes' wg2 programs (None: 3; ablation, v25)
BWD_X3_TILE: int | None = None  # side-by-side passes as one-warpgroup programs of this value tile (32 / 64; ablation)
BWD_X3_ONE_PASS: int | None = None  # probe only (v26): every program of the one launch runs pass 0, 1 or 2 (wrong
# gradients; the kernel then holds one pass's code: tools/program_stamps.py --set BWD_X3_ONE_PASS=1)
BWD_X3_ONE_BODY: bool | None = None  # the one launch's compute code once for its three passes (None, True) or a copy
# per pass (False, v25; perf-notes v26, v27: :func:`x3_one_body`)
BWD_X3_ONE_OUT: bool | None = None  # with the one body: dq, dk, dv in one [3, …] buffer behind one output descriptor,
# the pass choosing a row offset instead of a descriptor at run time (None: with every one body; False: three
# descriptors, v26; perf-notes v27)
BWD_X3_DKDV_BODY = False  # where the one launch runs a copy per pass: dk and dv share one reverse copy (ablation,
# perf-notes v26 lead 1: does a code copy shared by more programs start sooner?)
BWD_PASS_INNER = False  # the one launch's grid (3, batch·heads, tiles): a head's passes adjacent (ablation, v21 lead 2)
BWD_FUSE_DKDV: bool | None = None  # the fused dk, dv kernel (:func:`fuse_dkdv`): None = its rule; True / False force it
DKDV_MIN_BATCH_HEADS = 64  # :func:`fuse_dkdv`'s rule: from here one program per head fills enough SMs
DKDV_STAGES = {128: 2, 64: 3}  # ring depth of the fused dk, dv kernel per head_dim (d128: 64 KB a stage, 3 do not fit)
STREAMS_MIN_WORK = 1 << 20  # batch·heads·seq_len from which the backward's passes run on side streams
WS_EARLY_STAGE = True  # the ws kernel's first ring stage issued by the default partition before the partitions start
# (``EARLY`` of ``_la2_fwd_gluon_ws_kernel``; False: by the loader after them). perf-notes v27: stage 0 issued at 0.51
# instead of 0.77 µs, landed at 2.05 instead of 2.30; forward 1.002–1.024× (1K–32K), fwd_bwd 1.010–1.011× (1K, 2K)
WG2_EARLY_STAGE = False  # ablation (perf-notes v27 lead 2): :data:`WS_EARLY_STAGE` for the wg2 forward (not with
# LOOKBACK; ``EARLY`` of ``_la2_fwd_gluon_wg2_kernel``)
X3_EARLY_STAGE = False  # ablation: the same for the one-launch backward (``EARLY`` of ``_la2_bwd_gluon_x3_kernel``,
# :func:`_x3_early`). perf-notes v28: its stage 0 lands later (3.84 instead of 3.07 µs at 2K) and fwd_bwd reads
# 0.980–0.997× at b2 h16 1K–128K (the load chosen among three descriptors at run time), 1.00× at b1 h16
PDL = False  # programmatic dependent launch of the ws / wg2 / x3 / dkdv launches (:func:`_pdl_enter`; ablation:
# 0.98–1.03× fwd_bwd, 1.00× forward on the H200, perf-notes v25)
STAMP_BUF: torch.Tensor | None = None  # probe (tools/program_stamps.py): int64 on the GPU; the ws and wg2 forward
# and the one-launch backward then write per-program %globaltimer / %clock64 stamps into it (:func:`_stamps`)
WG2_REGS = 232  # registers per thread of the second compute warpgroup (the first gets 256, the loader 24: 512 × 128)
_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("lightning_bench_gluon", default=True)


if IMPORT_ERROR is None:

    @gluon.jit
    def _program(H, N, E, SEG, BNHD: gl.constexpr, SPLIT: gl.constexpr, BLOCK_N: gl.constexpr,
                 BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr, TILE_MAJOR: gl.constexpr = False,
                 PASS_INNER: gl.constexpr = False):
        """This program's (batch·head, head, value tile start, segment, first block, block count) and the rows and
        columns of its tiles in the 2-D views the descriptors describe: bhnd [batch·heads·seq_len, dim], bnhd
        [batch·seq_len, heads·dim]. Grid (batch·heads, value tiles, segments), or with ``TILE_MAJOR`` (value tiles,
        batch·heads, segments): a head's value-tile programs adjacent in dispatch order; ``PASS_INNER`` (the one-launch
        backward, unsplit): grid (passes, batch·heads, value tiles), a head's three passes adjacent."""
        if PASS_INNER:
            pid_bh = gl.program_id(1)
            e0 = gl.program_id(2) * BLOCK_E
        elif TILE_MAJOR:
            pid_bh = gl.program_id(1)
            e0 = gl.program_id(0) * BLOCK_E
        else:
            pid_bh = gl.program_id(0)
            e0 = gl.program_id(1) * BLOCK_E
        h = pid_bh % H
        if BNHD:
            row_base = (pid_bh // H) * N
            col_qk = h * BLOCK_D
            col_v = h * E + e0
        else:
            row_base = pid_bh * N
            col_qk = 0
            col_v = e0
        if SPLIT:
            p = gl.program_id(2)
            first = p * (SEG // BLOCK_N)
            end = gl.minimum(N // BLOCK_N, first + SEG // BLOCK_N)
        else:
            p = 0
            first = 0
            end = N // BLOCK_N
        return pid_bh, h, e0, p, first, end - first, row_base, col_qk, col_v

    @gluon.jit
    def _slope(SLOPES, h, HAS_DECAY: gl.constexpr):
        """The head's decay slope (0 without decay)."""
        if HAS_DECAY:
            slope = gl.load(SLOPES + h)
        else:
            slope = 0.0
        return slope

    @gluon.jit
    def _buffers(q_desc, k_desc, v_desc, o_desc, STAGES: gl.constexpr, BLOCK_N: gl.constexpr,
                 BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr):
        """Shared memory of a program: the Q, K, V ring, the bf16 state copy (Q·S operand), diag(g)V (state update
        operand) and a double buffer for the TMA stores of o."""
        s_sl: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_D, BLOCK_E], gl.bfloat16)
        q_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_D], q_desc.layout)
        k_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_D], k_desc.layout)
        v_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_E], v_desc.layout)
        s_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_D, BLOCK_E], s_sl)
        vg_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_N, BLOCK_E], v_desc.layout)
        o_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], o_desc.layout)
        return q_s, k_s, v_s, s_smem, vg_smem, o_smem

    @gluon.jit
    def _decay(slope, BLOCK_N: gl.constexpr, sc_l: gl.constexpr, o_l: gl.constexpr, REVERSE=False):
        """Decay factors of a full block (shared docs §2; exponents ≥ 0 only): D[r, c] = λ^(r−c) (r ≥ c, else 0),
        a[c] = λ^(c+1), g[c] = λ^(B−1−c), λ^B. ``REVERSE`` (the anti-causal sum o_t = Σ_(s ≥ t) λ^(s−t) (q_t·k_s) v_s
        of the backward): the same factors of the block read back to front (row r → B − 1 − r): D[r, c] = λ^(c−r)
        (c ≥ r), a[r] = λ^(B−r), g[c] = λ^c. ``REVERSE`` is a constexpr, or a run-time boolean (the one-launch
        backward's one body, :func:`x3_one_body`: the branch is then taken per program)."""
        r_sc = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, sc_l)).to(gl.float32)
        c_sc = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, sc_l)).to(gl.float32)
        if REVERSE:
            diff = c_sc[None, :] - r_sc[:, None]
        else:
            diff = r_sc[:, None] - c_sc[None, :]
        dmat = gl.where(diff >= 0.0, gl.exp(-slope * gl.maximum(diff, 0.0)), 0.0)
        c_o = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, o_l)).to(gl.float32)
        if REVERSE:
            c_o = BLOCK_N - 1.0 - c_o
        a = gl.exp(-slope * (c_o + 1.0))
        g = gl.exp(-slope * (BLOCK_N - 1.0 - c_o))
        lam = gl.exp(-slope * BLOCK_N)
        return dmat, a, g, lam

    @gluon.jit
    def _entry_state(SEG_END, S0, slope, pid_bh, e0, E, SEG, NSEG, p, SPLIT: gl.constexpr, HAS_S0: gl.constexpr,
                     BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr, o_l: gl.constexpr, S0_SHIFT: gl.constexpr = False):
        """The state S[:, e tile] (fp32) entering this program's first block: the initial state (``HAS_S0``: fp32
        [batch·heads, head_dim, value_dim], contiguous) or 0, and with segments the decayed sum of it and the
        segment-end states before this segment, S_p = λ^SEG S_{p−1} + E_{p−1} (SPLIT mode 2 of the Triton forward).
        ``S0_SHIFT`` (the initial state decays one λ less, see :func:`_ws_compute`): segment p > 0 gets
        λ^(p·SEG − 1)·S0 instead of λ^(p·SEG)·S0; segment 0 gets S0 as it is (its first block does the shift)."""
        offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(1, o_l))
        offs_e = e0 + gl.arange(0, BLOCK_E, layout=gl.SliceLayout(0, o_l))
        ptrs = offs_d[:, None] * E + offs_e[None, :]
        if HAS_S0:
            S = gl.load(S0 + pid_bh.to(gl.int64) * BLOCK_D * E + ptrs)
        else:
            S = gl.zeros([BLOCK_D, BLOCK_E], gl.float32, o_l)
        if SPLIT:
            lam_seg = gl.exp(-slope * SEG)
            base = SEG_END + pid_bh.to(gl.int64) * NSEG * BLOCK_D * E
            if S0_SHIFT and HAS_S0:  # S0's share decayed apart, λ^(p·SEG − 1), exponent ≥ 0
                s0_part = S * gl.exp(-slope * gl.maximum(p * SEG - 1, 0).to(gl.float32))
                S = gl.zeros([BLOCK_D, BLOCK_E], gl.float32, o_l)
            for j in range(0, p):
                S = lam_seg * S + gl.load(base + j * BLOCK_D * E + ptrs)
            if S0_SHIFT and HAS_S0:
                S = S + s0_part
        return S

    @gluon.jit
    def _store_final(SEG_END, S, pid_bh, e0, E, NSEG, BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr,
                     o_l: gl.constexpr):
        """Store the state after this program's last block (fp32, value tile at ``e0``) into slot NSEG − 1 of
        ``SEG_END`` ([batch·heads, NSEG, head_dim, value_dim]; no program reads that slot: only segments before a
        program's own are read). Called by the last segment's program (``STORE_FINAL``)."""
        offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(1, o_l))
        offs_e = e0 + gl.arange(0, BLOCK_E, layout=gl.SliceLayout(0, o_l))
        base = SEG_END + (pid_bh.to(gl.int64) * NSEG + NSEG - 1) * BLOCK_D * E
        gl.store(base + offs_d[:, None] * E + offs_e[None, :], S)

    @gluon.jit
    def _scaled_v(vb, g, o_l: gl.constexpr):
        """diag(g) V of a staged V tile (bf16, in the accumulator layout ``o_l``): the state update's operand."""
        return (vb.load(o_l) * g[:, None]).to(gl.bfloat16)

    @gluon.jit
    def _block(qb, kb, vb, s_smem, vg_smem, ob, o_desc, o_row, col_v, S, dmat, a, g, lam, zero_sc, zero_o,
               p_l: gl.constexpr, o_l: gl.constexpr, Q_REG: gl.constexpr, O, O_STRIDE, O_DIRECT: gl.constexpr,
               VG_AHEAD: gl.constexpr):
        """One block of Algorithm 1 on staged tiles: O_i = (Q Kᵀ ⊙ D) V + diag(a) Q S_{i−1}, stored by TMA from
        ``ob``, and the state S_i = λ^B S_{i−1} + Kᵀ (diag(g) V) returned (waited; its bf16 copy is the caller's).
        QKᵀ ∥ Q·S_{i−1}, then P·V ∥ the state update, as async wgmma pairs. ``Q_REG`` (ablation): Q is read from
        shared memory into registers once and is the register A operand of both first products instead of being
        re-read by two SS wgmma; measured ±1% on the H200 (docs/perf-notes.md v9). ``O_DIRECT``: o leaves from the
        accumulator registers by plain global stores (``O`` the output, ``O_STRIDE`` elements between rows of the 2-D
        view) instead of the shared-memory staging, fence, warpgroup barrier and TMA store. ``VG_AHEAD``: diag(g) V
        is already in ``vg_smem`` (written and fenced by the caller with the previous block's state copy, so one
        fence and barrier serve both) and the state update is returned still in flight (the caller waits)."""
        if Q_REG:
            qsc_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=zero_sc.type.layout, k_width=2)
            qa = qb.load(qsc_l)
            sc = warpgroup_mma(qa, kb.permute((1, 0)), zero_sc, use_acc=False, is_async=True)
            qs = warpgroup_mma(gl.convert_layout(qa, gl.DotOperandLayout(operand_index=0, parent=o_l, k_width=2)),
                               s_smem, zero_o, use_acc=False, is_async=True)
        else:
            sc = warpgroup_mma(qb, kb.permute((1, 0)), zero_sc, use_acc=False, is_async=True)
            qs = warpgroup_mma(qb, s_smem, zero_o, use_acc=False, is_async=True)
        sc = warpgroup_mma_wait(num_outstanding=1, deps=(sc, ))
        pm = gl.convert_layout((sc * dmat).to(gl.bfloat16), p_l)
        qs = warpgroup_mma_wait(num_outstanding=0, deps=(qs, ))
        o = warpgroup_mma(pm, vb, qs * a[:, None], is_async=True)
        if not VG_AHEAD:
            vg_smem.store(_scaled_v(vb, g, o_l))
            fence_async_shared()
        S = warpgroup_mma(kb.permute((1, 0)), vg_smem, S * lam, is_async=True)
        o = warpgroup_mma_wait(num_outstanding=1, deps=(o, ))
        if O_DIRECT:
            rows = (o_row + gl.arange(0, ob.shape[0], layout=gl.SliceLayout(1, o_l))).to(gl.int64)
            cols = col_v + gl.arange(0, ob.shape[1], layout=gl.SliceLayout(0, o_l))
            gl.store(O + rows[:, None] * O_STRIDE + cols[None, :], o.to(O.dtype.element_ty))
        else:
            tma.store_wait(pendings=1)  # the store that last used ob (two blocks ago) has read it
            ob.store(o.to(gl.bfloat16))
            fence_async_shared()
            _tma_store(o_desc, [o_row, col_v], ob)
        if not VG_AHEAD:
            S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
        return S

    @gluon.jit
    def _first_block_shift(j, p, a, lam, a_sh, lam_sh, SHIFT: gl.constexpr):
        """(a, λ^B) of block ``j`` of segment ``p``: with ``SHIFT`` (``S0_SHIFT`` from an initial state, see
        :func:`_ws_compute`) segment 0's first block takes ``a_sh``, ``lam_sh``, every other block ``a``, ``lam``."""
        if SHIFT:
            shift = (j + p) == 0
            return gl.where(shift, a_sh, a), gl.where(shift, lam_sh, lam)
        else:
            return a, lam

    @gluon.jit
    def _block_ahead(q_s, k_s, v_s, ready, st, nst, nphase, s_smem, vg_smem, ob, o_desc, o_row, col_v, S, sc, dmat,
                     a, lam, zero_o, p_l: gl.constexpr, NEXT: gl.constexpr,
                     ONE_FENCE: gl.constexpr = False):
        """One block of Algorithm 1 (as :func:`_block`) with the *next* block's Q Kᵀ issued ahead (``QK_AHEAD``):
        ``sc`` is this block's Q Kᵀ, issued one block earlier (in flight), and ``vg_smem`` already holds this block's
        diag(g) V (written and fenced by the caller with the previous state's copy). Order of the async groups:
        Q·S_{i−1}; P·V, the state update and, with ``NEXT``, the next block's Q Kᵀ from ring stage ``nst`` (waited on
        ``ready`` with phase ``nphase``), which the tensor cores run while this block's o is stored and its state
        copied. The next scores reuse this block's score registers, and ``sc`` is waited with nothing else in flight
        (waiting it with ``num_outstanding=1`` behind Q·S across the loop's back edge makes ptxas serialize every
        wgmma: C7514). ``ONE_FENCE`` (with ``NEXT``): o is not staged here (the caller stages it with the state copy
        under one fence; the peeled last block has no state copy and stages it here).
        Returns (S_i waited, the next Q Kᵀ in flight or without ``NEXT`` this block's scores, o_i waited)."""
        sc = warpgroup_mma_wait(num_outstanding=0, deps=(sc, ))
        qs = warpgroup_mma(q_s.index(st), s_smem, zero_o, use_acc=False, is_async=True)
        pm = gl.convert_layout((sc * dmat).to(gl.bfloat16), p_l)
        qs = warpgroup_mma_wait(num_outstanding=0, deps=(qs, ))
        o = warpgroup_mma(pm, v_s.index(st), qs * a[:, None], is_async=True)
        S = warpgroup_mma(k_s.index(st).permute((1, 0)), vg_smem, S * lam, is_async=True)
        if NEXT:
            mbarrier.wait(ready.index(nst), nphase)
            sc = warpgroup_mma(q_s.index(nst), k_s.index(nst).permute((1, 0)), sc, use_acc=False, is_async=True)
            o = warpgroup_mma_wait(num_outstanding=2, deps=(o, ))
        else:
            o = warpgroup_mma_wait(num_outstanding=1, deps=(o, ))
        if not ONE_FENCE:
            tma.store_wait(pendings=1)  # the store that last used ob (two blocks ago) has read it
            ob.store(o.to(gl.bfloat16))
            fence_async_shared()
            _tma_store(o_desc, [o_row, col_v], ob)
        if NEXT:
            S = warpgroup_mma_wait(num_outstanding=1, deps=(S, ))
        else:
            S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
        return S, sc, o

    @gluon.jit
    def _load_block(q_desc, k_desc, v_desc, q_s, k_s, v_s, bar, st, r, col_qk, col_v):
        """TMA loads of one block's Q, K rows and V tile into ring stage ``st``, completing on ``bar``."""
        nbytes: gl.constexpr = q_desc.block_type.nbytes + k_desc.block_type.nbytes + v_desc.block_type.nbytes
        mbarrier.expect(bar, nbytes)
        _tma_load(q_desc, [r, col_qk], bar, q_s.index(st))
        _tma_load(k_desc, [r, col_qk], bar, k_s.index(st))
        _tma_load(v_desc, [r, col_v], bar, v_s.index(st))

    @gluon.jit(do_not_specialize=["EPOCH"])
    def _la2_fwd_gluon_kernel(q_desc, k_desc, v_desc, o_desc, SLOPES, SEG_END, S0, FLAGS, EPOCH, H, N, E, SEG, NSEG,
                              O, O_STRIDE, HAS_DECAY: gl.constexpr, SPLIT: gl.constexpr, HAS_S0: gl.constexpr,
                              BNHD: gl.constexpr,
                              BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr,
                              STAGES: gl.constexpr, Q_REG: gl.constexpr, num_warps: gl.constexpr):
        """Single partition: the one warpgroup issues the ring's loads too (kept as the ablation of the
        warp-specialized kernel below)."""
        pid_bh, h, e0, p, first, nblk, row_base, col_qk, col_v = _program(H, N, E, SEG, BNHD, SPLIT, BLOCK_N,
                                                                          BLOCK_D, BLOCK_E)
        # accumulator layouts (wgmma m64nXk16, one warpgroup), the register A operand of P·V, shared layouts
        sc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                       instr_shape=[16, BLOCK_N, 16])
        o_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                      instr_shape=[16, BLOCK_E, 16])
        p_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_l, k_width=2)
        slope = _slope(SLOPES, h, HAS_DECAY)
        dmat, a, g, lam = _decay(slope, BLOCK_N, sc_l, o_l)
        S = _entry_state(SEG_END, S0, slope, pid_bh, e0, E, SEG, NSEG, p, SPLIT, HAS_S0, BLOCK_D, BLOCK_E, o_l)

        q_s, k_s, v_s, s_smem, vg_smem, o_smem = _buffers(q_desc, k_desc, v_desc, o_desc, STAGES, BLOCK_N, BLOCK_D,
                                                          BLOCK_E)
        bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
        for s in gl.static_range(STAGES):
            mbarrier.init(bars.index(s), count=1)
        s_smem.store(S.to(gl.bfloat16))
        fence_async_shared()

        for s in gl.static_range(STAGES - 1):  # prologue: the first STAGES − 1 blocks in flight
            if s < nblk:
                _load_block(q_desc, k_desc, v_desc, q_s, k_s, v_s, bars.index(s), s,
                            row_base + (first + s) * BLOCK_N, col_qk, col_v)

        zero_sc = gl.zeros([BLOCK_N, BLOCK_N], gl.float32, sc_l)
        zero_o = gl.zeros([BLOCK_N, BLOCK_E], gl.float32, o_l)
        for j in range(0, nblk):
            st = j % STAGES
            mbarrier.wait(bars.index(st), (j // STAGES) & 1)
            # refill the stage block j − 1 used (all its readers finished in iteration j − 1) with block
            # j + STAGES − 1, so that the load overlaps this block's work
            nj = j + STAGES - 1
            if nj < nblk:
                ns = nj % STAGES
                _load_block(q_desc, k_desc, v_desc, q_s, k_s, v_s, bars.index(ns), ns,
                            row_base + (first + nj) * BLOCK_N, col_qk, col_v)
            S = _block(q_s.index(st), k_s.index(st), v_s.index(st), s_smem, vg_smem, o_smem.index(j % 2), o_desc,
                       row_base + (first + j) * BLOCK_N, col_v, S, dmat, a, g, lam, zero_sc, zero_o, p_l, o_l, Q_REG,
                       O, O_STRIDE, False, False)
            s_smem.store(S.to(gl.bfloat16))
            fence_async_shared()
        tma.store_wait(pendings=0)
        for s in gl.static_range(STAGES):
            mbarrier.invalidate(bars.index(s))

    # ------------------------------------------------------------ warp-specialized (the default): a 1-warp loader
    @gluon.jit
    def _load_kv(k_desc, v_desc, k_s, v_s, v2_s, bar, st, r, col_qk, col_v, V2: gl.constexpr, BLOCK_E: gl.constexpr):
        """TMA loads of one block's K rows and V tile only (a block of the state pre-pass: ``PREFIX``, ``LOOKBACK``);
        with ``V2`` also the next value tile (the second compute warpgroup's) into ``v2_s``."""
        if V2:
            nbytes: gl.constexpr = k_desc.block_type.nbytes + 2 * v_desc.block_type.nbytes
        else:
            nbytes: gl.constexpr = k_desc.block_type.nbytes + v_desc.block_type.nbytes
        mbarrier.expect(bar, nbytes)
        _tma_load(k_desc, [r, col_qk], bar, k_s.index(st))
        _tma_load(v_desc, [r, col_v], bar, v_s.index(st))
        if V2:
            _tma_load(v_desc, [r, col_v + BLOCK_E], bar, v2_s.index(st))

    @gluon.jit
    def _load_qkv(q_desc, k_desc, v_desc, q_s, k_s, v_s, v2_s, bar, st, r, col_qk, col_v, V2: gl.constexpr,
                  BLOCK_E: gl.constexpr):
        """:func:`_load_block` with ``V2`` (the second compute warpgroup's value tile into ``v2_s``)."""
        if V2:
            nbytes: gl.constexpr = (q_desc.block_type.nbytes + k_desc.block_type.nbytes
                                    + 2 * v_desc.block_type.nbytes)
            mbarrier.expect(bar, nbytes)
            _tma_load(q_desc, [r, col_qk], bar, q_s.index(st))
            _tma_load(k_desc, [r, col_qk], bar, k_s.index(st))
            _tma_load(v_desc, [r, col_v], bar, v_s.index(st))
            _tma_load(v_desc, [r, col_v + BLOCK_E], bar, v2_s.index(st))
        else:
            _load_block(q_desc, k_desc, v_desc, q_s, k_s, v_s, bar, st, r, col_qk, col_v)

    @gluon.jit
    def _ws_load(q_desc, k_desc, v_desc, q_s, k_s, v_s, v2_s, ready, empty, row0, col_qk, col_v, first, nblk,
                 npre, pre_first, HAS_PRE: gl.constexpr, V2: gl.constexpr, STAGES: gl.constexpr,
                 RSTEP: gl.constexpr, BLOCK_E: gl.constexpr, STAMPS: gl.constexpr = False, STAMP_BUF=None, SID=0,
                 J0: gl.constexpr = 0):
        """The loader partition: with ``HAS_PRE`` first ``npre`` K, V blocks from block ``pre_first`` on (``PREFIX``:
        the blocks before the segment; ``LOOKBACK``: the segment's own, for its end state), then the segment's Q, K,
        V blocks, all through the same ring; from ring slot ``J0`` on (the earlier ones issued before the
        partitions started, ``EARLY``). ``STAMPS``: the probe's slot 3 of word ``SID + 1`` once the first stage's
        loads are issued (:func:`_stamp`)."""
        for j in range(J0, npre + nblk):
            st = j % STAGES
            # the compute partition frees a stage after the last reader of its block; the first round passes at once
            mbarrier.wait(empty.index(st), ((j // STAGES) & 1) ^ 1)
            if HAS_PRE:
                if j < npre:
                    _load_kv(k_desc, v_desc, k_s, v_s, v2_s, ready.index(st), st,
                             row0 + (pre_first + j) * RSTEP, col_qk, col_v, V2, BLOCK_E)
                else:
                    _load_qkv(q_desc, k_desc, v_desc, q_s, k_s, v_s, v2_s, ready.index(st), st,
                              row0 + (first + j - npre) * RSTEP, col_qk, col_v, V2, BLOCK_E)
            else:
                _load_qkv(q_desc, k_desc, v_desc, q_s, k_s, v_s, v2_s, ready.index(st), st,
                          row0 + (first + j) * RSTEP, col_qk, col_v, V2, BLOCK_E)
            if STAMPS:
                if j == 0:
                    _stamp(STAMP_BUF, SID + 1, 3, STAMPS)

    @gluon.jit
    def _prefix_state(S, slope, first, k_s, v_s, ready, empty, vg_bufs, STAGES: gl.constexpr,
                      BLOCK_N: gl.constexpr, o_l: gl.constexpr, REVERSE: gl.constexpr = False):
        """The state entering block ``first`` from the blocks before it, in this program (``PREFIX``, no pre-pass
        launch): S_in = λ^(B·first) S + Σ_{i<first} K_iᵀ diag(w_i) V_i with w_i[c] = λ^(B·(first−i) − 1 − c), the
        closed form of the recursion S_i = λ^B S_{i−1} + K_iᵀ diag(g) V_i (shared docs §2; every exponent ≥ 0, a
        far block's weights underflow to 0 as they should). No recursion through registers: the products
        accumulate in one chain of async wgmma, each waited one block later (double-buffered diag(w) V operand in
        ``vg_bufs``, the o store buffers, idle until the segment's first block)."""
        c_o = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, o_l)).to(gl.float32)
        if REVERSE:  # rows of a block read back to front (see _decay)
            c_o = BLOCK_N - 1.0 - c_o
        S = S * gl.exp(-slope * (first * BLOCK_N).to(gl.float32))
        for i in range(0, first):
            st = i % STAGES
            mbarrier.wait(ready.index(st), (i // STAGES) & 1)
            w = gl.exp(-slope * (((first - i) * BLOCK_N - 1).to(gl.float32) - c_o))
            vg = vg_bufs.index(i % 2)
            vg.store((v_s.index(st).load(o_l) * w[:, None]).to(gl.bfloat16))
            fence_async_shared()
            S = warpgroup_mma(k_s.index(st).permute((1, 0)), vg, S, is_async=True)
            S = warpgroup_mma_wait(num_outstanding=1, deps=(S, ))  # block i − 1's product is done:
            if i > 0:
                mbarrier.arrive(empty.index((i - 1) % STAGES), count=1)  # its stage is free
        S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
        if first > 0:
            mbarrier.arrive(empty.index((first - 1) % STAGES), count=1)
        return S

    @gluon.jit
    def _flag_ptrs(FLAGS, pid_bh, e0, E, NSEG, j, BLOCK_E: gl.constexpr):
        """The 128 flag words (one per thread of a warpgroup) of segment ``j``'s end state, value tile at ``e0``."""
        fl_l: gl.constexpr = gl.BlockedLayout([1], [32], [4], [0])
        tile = pid_bh * (E // BLOCK_E) + e0 // BLOCK_E
        return FLAGS + (tile.to(gl.int64) * NSEG + j) * 128 + gl.arange(0, 128, layout=fl_l)

    @gluon.jit
    def _publish(st_end, SEG_END, FLAGS, EPOCH, pid_bh, e0, E, NSEG, p, BLOCK_D: gl.constexpr,
                 BLOCK_E: gl.constexpr, o_l: gl.constexpr):
        """Store this segment's end state (fp32, value tile at ``e0``) where :func:`_entry_state` reads it, then
        release it: every thread stores ``EPOCH`` to its own flag word with release semantics (gpu scope) after its
        own part of the state, so a waiting thread that acquires its word sees the elements it will read (the same
        threads own the same elements in both: same layout, same partition role)."""
        offs_d = gl.arange(0, BLOCK_D, layout=gl.SliceLayout(1, o_l))
        offs_e = e0 + gl.arange(0, BLOCK_E, layout=gl.SliceLayout(0, o_l))
        base = SEG_END + (pid_bh.to(gl.int64) * NSEG + p) * BLOCK_D * E
        gl.store(base + offs_d[:, None] * E + offs_e[None, :], st_end)
        fl = _flag_ptrs(FLAGS, pid_bh, e0, E, NSEG, p, BLOCK_E)
        gl.atomic_xchg(fl, gl.full(fl.shape, EPOCH, gl.int32, fl.type.layout), sem="release", scope="gpu")

    @gluon.jit
    def _await(FLAGS, EPOCH, pid_bh, e0, E, NSEG, p, BLOCK_E: gl.constexpr):
        """Spin (each thread on its own flag word, acquire, gpu scope) until segments 0 … p − 1 of this value tile
        published their end states in this launch (``EPOCH``). Programs only wait for segments before their own,
        which have lower program ids (the segment is the grid's slowest axis) and are dispatched first."""
        for j in range(0, p):
            fl = _flag_ptrs(FLAGS, pid_bh, e0, E, NSEG, j, BLOCK_E)
            gl.inline_asm_elementwise(
                "{\n.reg .pred %p;\nLA2_SPIN:\nld.acquire.gpu.global.b32 $0, [$1];\nsetp.ne.s32 %p, $0, $2;\n"
                "@%p bra LA2_SPIN;\n}", "=r,l,r", [fl, gl.full(fl.shape, EPOCH, gl.int32, fl.type.layout)],
                dtype=gl.int32, is_pure=False, pack=1)

    @gluon.jit
    def _ws_compute(o_desc, SLOPES, SEG_END, S0, FLAGS, EPOCH, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem,
                    pid_bh, h, e0, E, SEG, NSEG, row0, col_v, first, nblk, p, HAS_DECAY: gl.constexpr,
                    SPLIT: gl.constexpr, HAS_S0: gl.constexpr, PREFIX: gl.constexpr, LOOKBACK: gl.constexpr,
                    BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr, STAGES: gl.constexpr,
                    Q_REG: gl.constexpr, REVERSE, RSTEP, O, O_STRIDE,
                    O_DIRECT: gl.constexpr, VG_AHEAD: gl.constexpr, STATE_FIRST: gl.constexpr = False,
                    S0_SHIFT: gl.constexpr = False, STORE_FINAL: gl.constexpr = False,
                    QK_AHEAD: gl.constexpr = False, STAMPS: gl.constexpr = False, STAMP_BUF=None, SID=0):
        """One compute warpgroup of the ws / wg2 kernels: entry state, then the segment's blocks. ``VG_AHEAD``:
        ``vg_smem`` is a double buffer; block j + 1's diag(g) V is written while block j's state update runs and
        fenced with block j's state copy (one fence and one barrier per block fewer). ``STATE_FIRST``: the state's
        bf16 copy is written and fenced before the ring stage is released, not after: with Triton 3.6 the membar pass
        then drops the barrier it put between the release and the copy (6 → 5 ``bar.sync`` per block at e32; Triton
        3.9 already has 5). The copy's write-after-read hazard against this block's Q·S wgmma is covered either way
        by the o store's barriers, which every warp passes after its wait for Q·S.

        ``S0_SHIFT`` (with ``HAS_S0``): the initial state enters one λ less decayed, o_t gets λ^t·q_t S0 instead of
        λ^(t+1)·q_t S0 (t from the first processed row), without forming S0/λ (which overflows for slopes above
        ~88): the first block of segment 0 uses a′[c] = λ^c and λ^(B−1) on S0 in its state update, later segments
        enter with λ^(p·SEG − 1)·S0 (:func:`_entry_state`). The backward's reverse passes need it: the gradient of
        the state after a chunk's last token reaches row s with λ^(n−1−s) (sequence parallelism). ``STORE_FINAL``:
        the last segment's program stores its state after its last block (:func:`_store_final`).

        ``QK_AHEAD``: software-pipelined blocks (:func:`_block_ahead`): block i + 1's Q Kᵀ is issued right after
        block i's state update and runs while block i's o is stored and its state copied; block i + 1's diag(g) V
        is written with that copy (one fence for both). The last block is peeled (no next). Every segment has at
        least one block (``kernel.segments``). Not with ``Q_REG``, ``O_DIRECT`` or ``VG_AHEAD``.

        ``REVERSE`` (blocks last → first) and ``RSTEP`` (the row step, ±BLOCK_N) are constexprs, or run-time values in
        the one-launch backward's one body (:func:`x3_one_body`; not with ``PREFIX``, ``LOOKBACK`` or ``S0_SHIFT``,
        whose code branches on ``REVERSE`` at compile time).

        ``STAMPS`` (probe, :data:`STAMP_BUF`; words ``SID`` and ``SID + 1`` of 8): slot 1 when block 0's stage has
        landed, 2 after the last block's o is issued, 3 after every o store has drained; in the second word, slot 2
        at this partition's start and 1 when its prologue (slope, entry state, decay matrix) is done
        (:func:`_stamp`)."""
        _stamp(STAMP_BUF, SID + 1, 2, STAMPS)
        sc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                       instr_shape=[16, BLOCK_N, 16])
        o_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                      instr_shape=[16, BLOCK_E, 16])
        p_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_l, k_width=2)
        slope = _slope(SLOPES, h, HAS_DECAY)
        if PREFIX:  # the state entering the segment from the blocks before it, here (no SEG_END)
            S = _entry_state(SEG_END, S0, slope, pid_bh, e0, E, SEG, NSEG, p, False, HAS_S0, BLOCK_D, BLOCK_E, o_l)
            S = _prefix_state(S, slope, first, k_s, v_s, ready, empty, o_smem, STAGES, BLOCK_N, o_l, REVERSE)
            npre = first
        elif LOOKBACK:  # every segment but the last publishes its own end state first; the entry combines earlier ones
            npre = nblk * (p < NSEG - 1).to(gl.int32)
            if p < NSEG - 1:
                st_end = _prefix_state(gl.zeros([BLOCK_D, BLOCK_E], gl.float32, o_l), slope, nblk, k_s, v_s, ready,
                                       empty, o_smem, STAGES, BLOCK_N, o_l, REVERSE)
                _publish(st_end, SEG_END, FLAGS, EPOCH, pid_bh, e0, E, NSEG, p, BLOCK_D, BLOCK_E, o_l)
            _await(FLAGS, EPOCH, pid_bh, e0, E, NSEG, p, BLOCK_E)
            S = _entry_state(SEG_END, S0, slope, pid_bh, e0, E, SEG, NSEG, p, True, HAS_S0, BLOCK_D, BLOCK_E, o_l,
                             S0_SHIFT)
        else:
            S = _entry_state(SEG_END, S0, slope, pid_bh, e0, E, SEG, NSEG, p, SPLIT, HAS_S0, BLOCK_D, BLOCK_E, o_l,
                             S0_SHIFT)
            npre = 0
        dmat, a, g, lam = _decay(slope, BLOCK_N, sc_l, o_l, REVERSE)
        _stamp(STAMP_BUF, SID + 1, 1, STAMPS)
        if S0_SHIFT and HAS_S0:  # segment 0's first block: a′ = a / λ = λ^c (REVERSE: λ^(B−1−c)), λ^(B−1) on S0
            c_sh = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, o_l)).to(gl.float32)
            if REVERSE:
                c_sh = BLOCK_N - 1.0 - c_sh
            a_sh = gl.exp(-slope * c_sh)
            lam_sh = gl.exp(-slope * (BLOCK_N - 1.0))
        else:
            a_sh = a
            lam_sh = lam
        if QK_AHEAD:
            gl.static_assert(not (Q_REG or O_DIRECT or VG_AHEAD), "QK_AHEAD: not with Q_REG, O_DIRECT, VG_AHEAD")
            zero_o = gl.zeros([BLOCK_N, BLOCK_E], gl.float32, o_l)
            st = npre % STAGES  # block 0: its diag(g) V fenced with the entry state's copy, its Q Kᵀ issued
            mbarrier.wait(ready.index(st), (npre // STAGES) & 1)
            _stamp(STAMP_BUF, SID, 1, STAMPS)
            vg_smem.store(_scaled_v(v_s.index(st), g, o_l))
            s_smem.store(S.to(gl.bfloat16))
            fence_async_shared()
            sc = warpgroup_mma(q_s.index(st), k_s.index(st).permute((1, 0)),
                               gl.zeros([BLOCK_N, BLOCK_N], gl.float32, sc_l), use_acc=False, is_async=True)
            RELEASE_FIRST: gl.constexpr = QK_AHEAD == 2 or not STATE_FIRST  # the stage released before the copies
            for j in range(0, nblk - 1):  # every block but the last (segments have ≥ 1 block: kernel.segments)
                st = (npre + j) % STAGES
                nst = (npre + j + 1) % STAGES
                a_j, lam_j = _first_block_shift(j, p, a, lam, a_sh, lam_sh, S0_SHIFT and HAS_S0)
                S, sc, o = _block_ahead(q_s, k_s, v_s, ready, st, nst, ((npre + j + 1) // STAGES) & 1, s_smem,
                                        vg_smem, o_smem.index(j % 2), o_desc, row0 + (first + j) * RSTEP, col_v, S,
                                        sc, dmat, a_j, lam_j, zero_o, p_l, True, QK_AHEAD == 2)
                if RELEASE_FIRST:
                    mbarrier.arrive(empty.index(st), count=1)  # every reader of this stage has finished
                if QK_AHEAD == 2:  # o staged with the state copy and the next diag(g) V under one fence
                    tma.store_wait(pendings=1)  # the store that last used this o buffer (two blocks ago) has read it
                    o_smem.index(j % 2).store(o.to(gl.bfloat16))
                s_smem.store(S.to(gl.bfloat16))
                vg_smem.store(_scaled_v(v_s.index(nst), g, o_l))
                fence_async_shared()
                if not RELEASE_FIRST:
                    mbarrier.arrive(empty.index(st), count=1)
                if QK_AHEAD == 2:
                    _tma_store(o_desc, [row0 + (first + j) * RSTEP, col_v], o_smem.index(j % 2))
            j = nblk - 1  # the last block, peeled: no next Q Kᵀ
            st = (npre + j) % STAGES
            a_j, lam_j = _first_block_shift(j, p, a, lam, a_sh, lam_sh, S0_SHIFT and HAS_S0)
            S, sc, o = _block_ahead(q_s, k_s, v_s, ready, st, st, 0, s_smem, vg_smem, o_smem.index(j % 2), o_desc,
                                    row0 + (first + j) * RSTEP, col_v, S, sc, dmat, a_j, lam_j, zero_o, p_l, False)
            mbarrier.arrive(empty.index(st), count=1)
            _stamp(STAMP_BUF, SID, 2, STAMPS)
        else:
            if VG_AHEAD:
                if nblk > 0:  # block 0's diag(g) V, fenced with the entry state's copy
                    mbarrier.wait(ready.index(npre % STAGES), (npre // STAGES) & 1)
                    vg_smem.index(0).store(_scaled_v(v_s.index(npre % STAGES), g, o_l))
            s_smem.store(S.to(gl.bfloat16))
            fence_async_shared()
            zero_sc = gl.zeros([BLOCK_N, BLOCK_N], gl.float32, sc_l)
            zero_o = gl.zeros([BLOCK_N, BLOCK_E], gl.float32, o_l)
            for j in range(0, nblk):
                st = (npre + j) % STAGES
                mbarrier.wait(ready.index(st), ((npre + j) // STAGES) & 1)
                if STAMPS:
                    if j == 0:
                        _stamp(STAMP_BUF, SID, 1, STAMPS)
                if VG_AHEAD:
                    vgb = vg_smem.index(j % 2)
                else:
                    vgb = vg_smem
                a_j, lam_j = _first_block_shift(j, p, a, lam, a_sh, lam_sh, S0_SHIFT and HAS_S0)
                S = _block(q_s.index(st), k_s.index(st), v_s.index(st), s_smem, vgb, o_smem.index(j % 2), o_desc,
                           row0 + (first + j) * RSTEP, col_v, S, dmat, a_j, g, lam_j, zero_sc, zero_o, p_l, o_l, Q_REG,
                           O, O_STRIDE, O_DIRECT, VG_AHEAD)
                if VG_AHEAD:  # the state update is still in flight: the next block's diag(g) V meanwhile
                    if j + 1 < nblk:
                        nst = (npre + j + 1) % STAGES
                        mbarrier.wait(ready.index(nst), ((npre + j + 1) // STAGES) & 1)
                        vg_smem.index((j + 1) % 2).store(_scaled_v(v_s.index(nst), g, o_l))
                    S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
                if STATE_FIRST:
                    s_smem.store(S.to(gl.bfloat16))
                    fence_async_shared()
                    mbarrier.arrive(empty.index(st), count=1)  # every reader of this stage has finished
                else:
                    mbarrier.arrive(empty.index(st), count=1)  # every reader of this stage has finished
                    s_smem.store(S.to(gl.bfloat16))
                    fence_async_shared()
            _stamp(STAMP_BUF, SID, 2, STAMPS)
        if STORE_FINAL:
            if p == NSEG - 1:
                _store_final(SEG_END, S, pid_bh, e0, E, NSEG, BLOCK_D, BLOCK_E, o_l)
        tma.store_wait(pendings=0)
        _stamp(STAMP_BUF, SID, 3, STAMPS)

    @gluon.jit
    def _pre_blocks(p, first, nblk, NSEG, PREFIX: gl.constexpr, LOOKBACK: gl.constexpr):
        """(count, first block) of the K, V-only blocks a program streams before its segment's own blocks:
        ``PREFIX`` the blocks before the segment, ``LOOKBACK`` the segment's own (all but the last segment)."""
        if PREFIX:
            npre = first
            pre_first = first * 0
        elif LOOKBACK:
            npre = nblk * (p < NSEG - 1).to(gl.int32)
            pre_first = first
        else:
            npre = first * 0
            pre_first = first * 0
        return npre, pre_first

    @gluon.jit
    def _pdl_enter(PDL: gl.constexpr):
        """Programmatic dependent launch (CUDA PDL; PTX ``griddepcontrol``), at a program's start when ``PDL``: wait
        until the grid launched before this one on the stream has completed and its memory is visible
        (``griddepcontrol.wait``: before any global load or store of the program, so neither a read of the previous
        kernel's output nor a write over its input can move ahead of it), then let the next grid launch
        (``griddepcontrol.launch_dependents``). Launched with ``launch_pdl=True``, a grid's programs are placed on the
        SMs as the previous grid's programs exit instead of after the whole grid has drained and the launch has been
        processed; without it both instructions return at once. Code before the ``warp_specialize`` runs in the
        default partition's warps and the workers start after it, so the wait here orders every partition."""
        if PDL:
            gl.inline_asm_elementwise("griddepcontrol.wait; // $0", "=r", [], dtype=gl.int32, is_pure=False, pack=1)
            gl.inline_asm_elementwise("griddepcontrol.launch_dependents; // $0", "=r", [], dtype=gl.int32,
                                      is_pure=False, pack=1)

    @gluon.jit
    def _stamp(BUF, sid, i: gl.constexpr, STAMPS: gl.constexpr):
        """Probe (``STAMPS``; :data:`STAMP_BUF`): slot ``i`` of program ``sid``'s 8 int64 words gets
        ``%globaltimer`` (ns, one clock for every SM), slot ``4 + i`` the SM's ``%clock64`` (cycles) — for slot 0
        (the program's start; the one launch's end in its second word) the SM's index ``%smid`` instead (which SM
        ran the program)."""
        if STAMPS:
            gt = gl.inline_asm_elementwise("mov.u64 $0, %globaltimer;", "=l", [], dtype=gl.int64, is_pure=False,
                                           pack=1)
            if i == 0:
                ck = gl.inline_asm_elementwise("mov.u32 $0, %smid;", "=r", [], dtype=gl.int32, is_pure=False,
                                               pack=1).to(gl.int64)
            else:
                ck = gl.inline_asm_elementwise("mov.u64 $0, %clock64;", "=l", [], dtype=gl.int64, is_pure=False,
                                               pack=1)
            gl.store(BUF + sid * 8 + i, gt)
            gl.store(BUF + sid * 8 + 4 + i, ck)

    @gluon.jit
    def _sid():
        """The program's linear index in its grid (x fastest)."""
        return gl.program_id(0) + gl.num_programs(0) * (gl.program_id(1) + gl.num_programs(1) * gl.program_id(2))

    @gluon.jit
    def _ring_barriers(STAGES: gl.constexpr, CONSUMERS: gl.constexpr):
        """The ring's mbarriers: ``ready`` (the loader's TMA bytes landed) and ``empty`` (all ``CONSUMERS`` compute
        warpgroups released the stage), initialised and fenced."""
        ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
        empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
        for s in gl.static_range(STAGES):
            mbarrier.init(ready.index(s), count=1)
            mbarrier.init(empty.index(s), count=CONSUMERS)
        fence_async_shared()
        return ready, empty

    @gluon.jit
    def _row0(row_base, N, BLOCK_N: gl.constexpr, REVERSE: gl.constexpr):
        """Row of the first processed block; block j is at ``_row0 + j·RSTEP`` with RSTEP = −BLOCK_N when ``REVERSE``
        (blocks and segments in the order last → first), else BLOCK_N."""
        if REVERSE:
            row0 = row_base + (N // BLOCK_N - 1) * BLOCK_N
        else:
            row0 = row_base
        return row0

    @gluon.jit(do_not_specialize=["EPOCH"])
    def _la2_fwd_gluon_ws_kernel(q_desc, k_desc, v_desc, o_desc, SLOPES, SEG_END, S0, FLAGS, EPOCH, H, N, E, SEG,
                                 NSEG, O, O_STRIDE, HAS_DECAY: gl.constexpr, SPLIT: gl.constexpr, HAS_S0: gl.constexpr,
                                 BNHD: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr,
                                 BLOCK_E: gl.constexpr, STAGES: gl.constexpr, Q_REG: gl.constexpr,
                                 num_warps: gl.constexpr, PREFIX: gl.constexpr, LOOKBACK: gl.constexpr,
                                 REVERSE: gl.constexpr = False, O_DIRECT: gl.constexpr = False,
                                 VG_AHEAD: gl.constexpr = False, TILE_MAJOR: gl.constexpr = False,
                                 STATE_FIRST: gl.constexpr = False, S0_SHIFT: gl.constexpr = False,
                                 STORE_FINAL: gl.constexpr = False, QK_AHEAD: gl.constexpr = False,
                                 PDL: gl.constexpr = False, STAMPS: gl.constexpr = False, STAMP_BUF=None,
                                 EARLY: gl.constexpr = False):
        """The default kernel: a 1-warp partition streams Q, K, V blocks into the ring (ready/empty mbarriers), the
        4-warp compute partition runs the blocks and never issues a load. With segments the entry state comes from
        the pre-pass's segment-end states (``SPLIT``), or ``PREFIX``: each program derives it from the K, V blocks
        before its segment (:func:`_prefix_state`), or ``LOOKBACK``: each program but the last segment's first
        computes and publishes its own segment's end state, then combines those of the segments before it
        (:func:`_publish`, :func:`_await`); both cost one launch. ``TILE_MAJOR``: the grid's first two axes swapped
        (:func:`_program`). ``PDL``: :func:`_pdl_enter` first. ``STAMPS``: the probe's slot 0 at the program's start
        (:func:`_stamp`, :func:`_ws_compute`; 16 words a program).
        ``EARLY`` (:data:`WS_EARLY_STAGE`; not with ``PREFIX`` or ``LOOKBACK``): the first ring stage's Q, K, V loads
        issued here, before the partitions start (while the workers' registers are handed over), the loader from
        the second on."""
        sid = 2 * _sid()  # the probe's first word of this program (16 words a program)
        _stamp(STAMP_BUF, sid, 0, STAMPS)
        _pdl_enter(PDL)
        pid_bh, h, e0, p, first, nblk, row_base, col_qk, col_v = _program(H, N, E, SEG, BNHD, SPLIT, BLOCK_N,
                                                                          BLOCK_D, BLOCK_E, TILE_MAJOR)
        q_s, k_s, v_s, s_smem, vg_smem, o_smem = _buffers(q_desc, k_desc, v_desc, o_desc, STAGES, BLOCK_N, BLOCK_D,
                                                          BLOCK_E)
        ready, empty = _ring_barriers(STAGES, 1)
        if VG_AHEAD:
            vg_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], v_desc.layout)
        npre, pre_first = _pre_blocks(p, first, nblk, NSEG, PREFIX, LOOKBACK)
        row0 = _row0(row_base, N, BLOCK_N, REVERSE)
        RSTEP: gl.constexpr = -BLOCK_N if REVERSE else BLOCK_N
        if EARLY:
            gl.static_assert(not (PREFIX or LOOKBACK), "EARLY: not with PREFIX or LOOKBACK")
            _early_stage(q_desc, k_desc, v_desc, q_s, k_s, v_s, v_s, ready, row0 + first * RSTEP, col_qk, col_v,
                         False, BLOCK_E, STAMPS, STAMP_BUF, sid)
        gl.warp_specialize([
            (_ws_compute, (o_desc, SLOPES, SEG_END, S0, FLAGS, EPOCH, q_s, k_s, v_s, ready, empty, s_smem, vg_smem,
                           o_smem, pid_bh, h, e0, E, SEG, NSEG, row0, col_v, first, nblk, p, HAS_DECAY, SPLIT,
                           HAS_S0, PREFIX, LOOKBACK, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, Q_REG, REVERSE, RSTEP, O,
                           O_STRIDE, O_DIRECT, VG_AHEAD, STATE_FIRST, S0_SHIFT, STORE_FINAL, QK_AHEAD, STAMPS,
                           STAMP_BUF, sid)),
            (_ws_load, (q_desc, k_desc, v_desc, q_s, k_s, v_s, v_s, ready, empty, row0, col_qk, col_v, first,
                        nblk, npre, pre_first, PREFIX or LOOKBACK, False, STAGES, RSTEP, BLOCK_E, STAMPS,
                        STAMP_BUF, sid, 1 if EARLY else 0)),
        ], [1], [24])
        for s in gl.static_range(STAGES):
            mbarrier.invalidate(ready.index(s))
            mbarrier.invalidate(empty.index(s))

    @gluon.jit(do_not_specialize=["EPOCH"])
    def _la2_fwd_gluon_wg2_kernel(q_desc, k_desc, v_desc, o_desc, SLOPES, SEG_END, S0, FLAGS, EPOCH, H, N, E, SEG,
                                  NSEG, O, O_STRIDE, HAS_DECAY: gl.constexpr, SPLIT: gl.constexpr, HAS_S0: gl.constexpr,
                                  BNHD: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr,
                                  BLOCK_E: gl.constexpr, STAGES: gl.constexpr, Q_REG: gl.constexpr,
                                  num_warps: gl.constexpr, LOOKBACK: gl.constexpr, REGS: gl.constexpr,
                                  REVERSE: gl.constexpr = False, O_DIRECT: gl.constexpr = False,
                                  STATE_FIRST: gl.constexpr = False, S0_SHIFT: gl.constexpr = False,
                                  STORE_FINAL: gl.constexpr = False, QK_AHEAD: gl.constexpr = False,
                                  PDL: gl.constexpr = False, STAMPS: gl.constexpr = False, STAMP_BUF=None,
                                  EARLY: gl.constexpr = False):
        """Two compute warpgroups per program, value tiles e0 and e0 + BLOCK_E of one head, sharing one Q, K ring
        (each Q, K block crosses L2 → SM once for both tiles; the ws kernel reads it once per tile) with a 1-warp
        loader; a stage is free when both warpgroups arrived. Each warpgroup runs :func:`_ws_compute` on its own
        value tile (own V ring, state, o buffers) exactly as the ws kernel's one does; segments as there.
        ``PDL``: :func:`_pdl_enter` first. ``STAMPS``: the probe as in the ws kernel (the first warpgroup's).
        ``EARLY`` (:data:`WG2_EARLY_STAGE`; not with ``LOOKBACK``): the first ring stage issued before the partitions
        start, as the ws kernel's ``EARLY``."""
        sid = 2 * _sid()  # the probe's first word of this program (16 words a program)
        _stamp(STAMP_BUF, sid, 0, STAMPS)
        _pdl_enter(PDL)
        pid_bh, h, e0, p, first, nblk, row_base, col_qk, col_v = _program(H, N, E, SEG, BNHD, SPLIT, BLOCK_N,
                                                                          BLOCK_D, 2 * BLOCK_E)
        q_s, k_s, v_s, s_smem, vg_smem, o_smem = _buffers(q_desc, k_desc, v_desc, o_desc, STAGES, BLOCK_N, BLOCK_D,
                                                          BLOCK_E)
        s_sl: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_D, BLOCK_E], gl.bfloat16)
        v2_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_E], v_desc.layout)
        s2_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_D, BLOCK_E], s_sl)
        vg2_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_N, BLOCK_E], v_desc.layout)
        o2_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], o_desc.layout)
        ready, empty = _ring_barriers(STAGES, 2)  # both compute warpgroups release a stage
        npre, pre_first = _pre_blocks(p, first, nblk, NSEG, False, LOOKBACK)
        row0 = _row0(row_base, N, BLOCK_N, REVERSE)
        RSTEP: gl.constexpr = -BLOCK_N if REVERSE else BLOCK_N
        if EARLY:
            gl.static_assert(not LOOKBACK, "EARLY: not with LOOKBACK")
            _early_stage(q_desc, k_desc, v_desc, q_s, k_s, v_s, v2_s, ready, row0 + first * RSTEP, col_qk, col_v,
                         True, BLOCK_E, STAMPS, STAMP_BUF, sid)
        gl.warp_specialize([
            (_ws_compute, (o_desc, SLOPES, SEG_END, S0, FLAGS, EPOCH, q_s, k_s, v_s, ready, empty, s_smem, vg_smem,
                           o_smem, pid_bh, h, e0, E, SEG, NSEG, row0, col_v, first, nblk, p, HAS_DECAY, SPLIT,
                           HAS_S0, False, LOOKBACK, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, Q_REG, REVERSE, RSTEP, O,
                           O_STRIDE, O_DIRECT, False, STATE_FIRST, S0_SHIFT, STORE_FINAL, QK_AHEAD, STAMPS,
                           STAMP_BUF, sid)),
            (_ws_compute, (o_desc, SLOPES, SEG_END, S0, FLAGS, EPOCH, q_s, k_s, v2_s, ready, empty, s2_smem, vg2_smem,
                           o2_smem, pid_bh, h, e0 + BLOCK_E, E, SEG, NSEG, row0, col_v + BLOCK_E, first, nblk, p,
                           HAS_DECAY, SPLIT, HAS_S0, False, LOOKBACK, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, Q_REG,
                           REVERSE, RSTEP, O, O_STRIDE, O_DIRECT, False, STATE_FIRST, S0_SHIFT, STORE_FINAL,
                           QK_AHEAD)),
            (_ws_load, (q_desc, k_desc, v_desc, q_s, k_s, v_s, v2_s, ready, empty, row0, col_qk, col_v, first,
                        nblk, npre, pre_first, LOOKBACK, True, STAGES, RSTEP, BLOCK_E, STAMPS, STAMP_BUF,
                        sid, 1 if EARLY else 0)),
        ], [4, 1], [REGS, 24])
        for s in gl.static_range(STAGES):
            mbarrier.invalidate(ready.index(s))
            mbarrier.invalidate(empty.index(s))

    # ------------------------------------- the backward's three passes in one launch (grid axis 2: dq, dk, dv)
    @gluon.jit
    def _x3_load(pas, q0, k0, v0, q1, k1, v1, q2, k2, v2, q_s, k_s, v_s, v2_s, ready, empty, row_f, row_r, col_qk,
                 col_v, nblk, V2: gl.constexpr, STAGES: gl.constexpr, BLOCK_N: gl.constexpr,
                 BLOCK_E: gl.constexpr, STAMPS: gl.constexpr = False, STAMP_BUF=None, SID=0, J0: gl.constexpr = 0):
        """The loader of the one-launch backward: :func:`_ws_load` of pass ``pas`` 0 (dq, causal: rows first → last
        from ``row_f``) or 1, 2 (dk, dv, anti-causal: last → first from ``row_r``), each with its own descriptors;
        from ring slot ``J0`` on (:func:`_x3_early`)."""
        if pas == 0:
            _ws_load(q0, k0, v0, q_s, k_s, v_s, v2_s, ready, empty, row_f, col_qk, col_v, 0, nblk, 0, 0, False, V2,
                     STAGES, BLOCK_N, BLOCK_E, STAMPS, STAMP_BUF, SID, J0)
        elif pas == 1:
            _ws_load(q1, k1, v1, q_s, k_s, v_s, v2_s, ready, empty, row_r, col_qk, col_v, 0, nblk, 0, 0, False, V2,
                     STAGES, -BLOCK_N, BLOCK_E, STAMPS, STAMP_BUF, SID, J0)
        else:
            _ws_load(q2, k2, v2, q_s, k_s, v_s, v2_s, ready, empty, row_r, col_qk, col_v, 0, nblk, 0, 0, False, V2,
                     STAGES, -BLOCK_N, BLOCK_E, STAMPS, STAMP_BUF, SID, J0)

    @gluon.jit
    def _early_stage(q_desc, k_desc, v_desc, q_s, k_s, v_s, v2_s, ready, row, col_qk, col_v, V2: gl.constexpr,
                     BLOCK_E: gl.constexpr, STAMPS: gl.constexpr = False, STAMP_BUF=None, SID=0):
        """``EARLY`` (:data:`WS_EARLY_STAGE`, :data:`WG2_EARLY_STAGE`): ring slot 0's loads (the block at ``row``)
        issued by the default partition before the partitions start; the loader (:func:`_ws_load` with ``J0`` = 1)
        issues the rest. Every segment has at least one block (``kernel.segments``). ``STAMPS``: the probe's "first
        stage issued" (slot 3 of word ``SID + 1``) here instead of in the loader."""
        _load_qkv(q_desc, k_desc, v_desc, q_s, k_s, v_s, v2_s, ready.index(0), 0, row, col_qk, col_v, V2, BLOCK_E)
        _stamp(STAMP_BUF, SID + 1, 3, STAMPS)

    @gluon.jit
    def _x3_early(pas, q0, k0, v0, q1, k1, v1, q2, k2, v2, q_s, k_s, v_s, v2_s, ready, row_f, row_r, col_qk, col_v,
                  V2: gl.constexpr, BLOCK_E: gl.constexpr, STAMPS: gl.constexpr = False, STAMP_BUF=None, SID=0):
        """``EARLY`` of the one-launch backward (:data:`X3_EARLY_STAGE`): pass ``pas``'s first ring stage (its first
        block: ``row_f`` for dq, ``row_r`` for dk and dv) issued before the partitions start; the loader
        (:func:`_x3_load`) then starts at slot 1. ``STAMPS``: the probe's "first stage issued" here."""
        if pas == 0:
            _early_stage(q0, k0, v0, q_s, k_s, v_s, v2_s, ready, row_f, col_qk, col_v, V2, BLOCK_E, STAMPS,
                         STAMP_BUF, SID)
        elif pas == 1:
            _early_stage(q1, k1, v1, q_s, k_s, v_s, v2_s, ready, row_r, col_qk, col_v, V2, BLOCK_E, STAMPS,
                         STAMP_BUF, SID)
        else:
            _early_stage(q2, k2, v2, q_s, k_s, v_s, v2_s, ready, row_r, col_qk, col_v, V2, BLOCK_E, STAMPS,
                         STAMP_BUF, SID)

    @gluon.jit
    def _x3_pass(o_desc, SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh, h, e0, E, row0, col_v,
                 nblk, HAS_DECAY: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr,
                 STAGES: gl.constexpr, VG_AHEAD: gl.constexpr, STATE_FIRST: gl.constexpr, REVERSE, RSTEP,
                 QK_AHEAD: gl.constexpr, STAMPS: gl.constexpr = False, STAMP_BUF=None, SID=0):
        """:func:`_ws_compute` of one unsplit backward pass without states (no segments, initial state, lookback,
        o from registers): blocks from ``row0`` on, forward or ``REVERSE``, into ``o_desc``."""
        _ws_compute(o_desc, SLOPES, SLOPES, SLOPES, SLOPES, 0, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem,
                    pid_bh, h, e0, E, BLOCK_N, 1, row0, col_v, 0, nblk, 0, HAS_DECAY, False, False, False, False,
                    BLOCK_N, BLOCK_D, BLOCK_E, STAGES, False, REVERSE, RSTEP, SLOPES, 0, False, VG_AHEAD, STATE_FIRST,
                    False, False, QK_AHEAD, STAMPS, STAMP_BUF, SID)

    @gluon.jit
    def _x3_out(pas, o0, o1, o2):
        """Pass ``pas``'s output descriptor (dq, dk, dv), chosen at run time (one code copy for several passes)."""
        if pas == 0:
            o_desc = o0
        elif pas == 1:
            o_desc = o1
        else:
            o_desc = o2
        return o_desc

    @gluon.jit
    def _x3_compute(pas, o0, o1, o2, SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh, h, e0,
                    E, row_f, row_r, col_v, nblk, HAS_DECAY: gl.constexpr, BLOCK_N: gl.constexpr,
                    BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr, STAGES: gl.constexpr, VG_AHEAD: gl.constexpr,
                    STATE_FIRST: gl.constexpr, QK_AHEAD: gl.constexpr, STAMPS: gl.constexpr = False, STAMP_BUF=None,
                    SID=0, ONE_BODY: gl.constexpr = False, DKDV_BODY: gl.constexpr = False,
                    ONE_OUT: gl.constexpr = False, OROWS=0):
        """One compute warpgroup of the one-launch backward: :func:`_x3_pass` of pass ``pas``, forward for dq,
        ``REVERSE`` for dk and dv, into that pass's output descriptor. ``ONE_BODY`` (:func:`x3_one_body`): one copy
        of the pass's code for all three, the direction, first row and output descriptor chosen at run time; else an
        inlined copy per pass, or with ``DKDV_BODY`` (:data:`BWD_X3_DKDV_BODY`, an ablation) dq's own copy and one
        reverse copy for dk and dv (only the output descriptor chosen at run time). ``ONE_OUT`` (with ``ONE_BODY``;
        :data:`BWD_X3_ONE_OUT`): ``o0`` describes dq, dk, dv stacked ([3·OROWS, cols], the gradients' 2-D views one
        after the other) and the pass offsets its rows by ``pas``·``OROWS`` instead of choosing a descriptor (the
        compute partition uses its first row only for the o stores; the loads are the loader's)."""
        if ONE_BODY:
            rev = pas > 0
            row0 = row_f + (row_r - row_f) * rev.to(gl.int32)
            if ONE_OUT:
                o_desc = o0
                row0 = row0 + pas * OROWS
            else:
                o_desc = _x3_out(pas, o0, o1, o2)
            _x3_pass(o_desc, SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh, h, e0, E, row0,
                     col_v, nblk, HAS_DECAY, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, VG_AHEAD, STATE_FIRST, rev,
                     BLOCK_N - 2 * BLOCK_N * rev.to(gl.int32), QK_AHEAD, STAMPS, STAMP_BUF, SID)
        elif pas == 0:
            _x3_pass(o0, SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh, h, e0, E, row_f, col_v,
                     nblk, HAS_DECAY, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, VG_AHEAD, STATE_FIRST, False, BLOCK_N,
                     QK_AHEAD, STAMPS, STAMP_BUF, SID)
        elif DKDV_BODY:
            _x3_pass(_x3_out(pas, o0, o1, o2), SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh,
                     h, e0, E, row_r, col_v, nblk, HAS_DECAY, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, VG_AHEAD,
                     STATE_FIRST, True, -BLOCK_N, QK_AHEAD, STAMPS, STAMP_BUF, SID)
        elif pas == 1:
            _x3_pass(o1, SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh, h, e0, E, row_r, col_v,
                     nblk, HAS_DECAY, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, VG_AHEAD, STATE_FIRST, True, -BLOCK_N,
                     QK_AHEAD, STAMPS, STAMP_BUF, SID)
        else:
            _x3_pass(o2, SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh, h, e0, E, row_r, col_v,
                     nblk, HAS_DECAY, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, VG_AHEAD, STATE_FIRST, True, -BLOCK_N,
                     QK_AHEAD, STAMPS, STAMP_BUF, SID)

    @gluon.jit
    def _la2_bwd_gluon_x3_kernel(q0, k0, v0, o0, q1, k1, v1, o1, q2, k2, v2, o2, SLOPES, H, N, E,
                                 HAS_DECAY: gl.constexpr, BNHD: gl.constexpr, BLOCK_N: gl.constexpr,
                                 BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr, STAGES: gl.constexpr,
                                 num_warps: gl.constexpr, WG2: gl.constexpr, REGS: gl.constexpr,
                                 VG_AHEAD: gl.constexpr = False, TILE_MAJOR: gl.constexpr = False,
                                 STATE_FIRST: gl.constexpr = False, PASS_INNER: gl.constexpr = False,
                                 QK_AHEAD: gl.constexpr = False, PDL: gl.constexpr = False,
                                 STAMPS: gl.constexpr = False, STAMP_BUF=None, ONE_PASS: gl.constexpr = None,
                                 ONE_BODY: gl.constexpr = False, DKDV_BODY: gl.constexpr = False,
                                 ONE_OUT: gl.constexpr = False, OROWS=0, EARLY: gl.constexpr = False):
        """The backward's three passes (:func:`backward`) in one launch: grid axis 2 is the pass (0: dq = F(do, v,
        k); 1: dk = R(v, do, q); 2: dv = R(k, q, do)), each program one unsplit pass of one (batch·head, value
        tile) exactly as the ``wg2`` kernel (``WG2``: two compute warpgroups, value tiles e0 and e0 + BLOCK_E) or the
        ``ws`` kernel (one) runs it; the passes' programs share the SMs as the three launches side by side do, without
        the side streams' fork and join or two more launches' host time. head_dim = value_dim (every pass has the
        same tile shapes, so one set of shared buffers serves all three). ``PASS_INNER``: grid (3, batch·heads, value
        tiles) instead of (batch·heads or tiles, tiles or batch·heads, 3), a head's passes adjacent in dispatch order.
        ``PDL``: :func:`_pdl_enter` first. ``STAMPS``: the probe (:func:`_stamp`, 16 words a program): slot 0 at
        the program's start, the first compute warpgroup's and the loader's stamps (:func:`_ws_compute`,
        :func:`_ws_load`), and slot 0 of the second word at the program's end, after every partition finished.
        ``ONE_BODY``, ``DKDV_BODY``, ``ONE_OUT`` (``o0`` then describes dq, dk, dv stacked, ``OROWS`` rows each):
        :func:`_x3_compute`'s code forms. ``EARLY``: :func:`_x3_early`."""
        sid = 2 * _sid()  # the probe's first word of this program (16 words a program)
        _stamp(STAMP_BUF, sid, 0, STAMPS)
        _pdl_enter(PDL)
        if WG2:
            pid_bh, h, e0, p, first, nblk, row_base, col_qk, col_v = _program(H, N, E, N, BNHD, False, BLOCK_N,
                                                                              BLOCK_D, 2 * BLOCK_E, False, PASS_INNER)
        else:
            pid_bh, h, e0, p, first, nblk, row_base, col_qk, col_v = _program(H, N, E, N, BNHD, False, BLOCK_N,
                                                                              BLOCK_D, BLOCK_E, TILE_MAJOR, PASS_INNER)
        if ONE_PASS is not None:  # probe (BWD_X3_ONE_PASS): one pass's code for every program
            pas = ONE_PASS
        elif PASS_INNER:
            pas = gl.program_id(0)
        else:
            pas = gl.program_id(2)
        q_s, k_s, v_s, s_smem, vg_smem, o_smem = _buffers(q0, k0, v0, o0, STAGES, BLOCK_N, BLOCK_D, BLOCK_E)
        row_f = _row0(row_base, N, BLOCK_N, False)
        row_r = _row0(row_base, N, BLOCK_N, True)
        if WG2:
            s_sl: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_D, BLOCK_E], gl.bfloat16)
            v2_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_E], v0.layout)
            s2_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_D, BLOCK_E], s_sl)
            vg2_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_N, BLOCK_E], v0.layout)
            o2_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], o0.layout)
            ready, empty = _ring_barriers(STAGES, 2)
            if EARLY:
                _x3_early(pas, q0, k0, v0, q1, k1, v1, q2, k2, v2, q_s, k_s, v_s, v2_s, ready, row_f, row_r, col_qk,
                          col_v, True, BLOCK_E, STAMPS, STAMP_BUF, sid)
            gl.warp_specialize([
                (_x3_compute, (pas, o0, o1, o2, SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh,
                               h, e0, E, row_f, row_r, col_v, nblk, HAS_DECAY, BLOCK_N, BLOCK_D, BLOCK_E, STAGES,
                               False, STATE_FIRST, QK_AHEAD, STAMPS, STAMP_BUF, sid, ONE_BODY, DKDV_BODY,
                               ONE_OUT, OROWS)),
                (_x3_compute, (pas, o0, o1, o2, SLOPES, q_s, k_s, v2_s, ready, empty, s2_smem, vg2_smem, o2_smem,
                               pid_bh, h, e0 + BLOCK_E, E, row_f, row_r, col_v + BLOCK_E, nblk, HAS_DECAY, BLOCK_N,
                               BLOCK_D, BLOCK_E, STAGES, False, STATE_FIRST, QK_AHEAD, False, SLOPES, 0, ONE_BODY,
                               DKDV_BODY, ONE_OUT, OROWS)),
                (_x3_load, (pas, q0, k0, v0, q1, k1, v1, q2, k2, v2, q_s, k_s, v_s, v2_s, ready, empty, row_f, row_r,
                            col_qk, col_v, nblk, True, STAGES, BLOCK_N, BLOCK_E, STAMPS, STAMP_BUF, sid,
                            1 if EARLY else 0)),
            ], [4, 1], [REGS, 24])
        else:
            ready, empty = _ring_barriers(STAGES, 1)
            if VG_AHEAD:
                vg_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], v0.layout)
            if EARLY:
                _x3_early(pas, q0, k0, v0, q1, k1, v1, q2, k2, v2, q_s, k_s, v_s, v_s, ready, row_f, row_r, col_qk,
                          col_v, False, BLOCK_E, STAMPS, STAMP_BUF, sid)
            gl.warp_specialize([
                (_x3_compute, (pas, o0, o1, o2, SLOPES, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh,
                               h, e0, E, row_f, row_r, col_v, nblk, HAS_DECAY, BLOCK_N, BLOCK_D, BLOCK_E, STAGES,
                               VG_AHEAD, STATE_FIRST, QK_AHEAD, STAMPS, STAMP_BUF, sid, ONE_BODY, DKDV_BODY, ONE_OUT,
                               OROWS)),
                (_x3_load, (pas, q0, k0, v0, q1, k1, v1, q2, k2, v2, q_s, k_s, v_s, v_s, ready, empty, row_f, row_r,
                            col_qk, col_v, nblk, False, STAGES, BLOCK_N, BLOCK_E, STAMPS, STAMP_BUF, sid,
                            1 if EARLY else 0)),
            ], [1], [24])
        for s in gl.static_range(STAGES):
            mbarrier.invalidate(ready.index(s))
            mbarrier.invalidate(empty.index(s))
        _stamp(STAMP_BUF, sid + 1, 0, STAMPS)

    # ------------------------------- the backward's dk and dv passes fused: one program per head, one shared state
    @gluon.jit
    def _dkdv_pre_bufs(q_s, k_s, v0_s, v1_s, do0_s, do1_s, s: gl.constexpr, STAGES: gl.constexpr):
        """Stage ``s`` of the own-segment pass's ring (2·STAGES stages of one block's Q and both dO halves): the main
        ring's Q and dO buffers for s < STAGES, its K and V buffers (same shapes, unused by that pass) above."""
        if s < STAGES:
            return q_s.index(s), do0_s.index(s), do1_s.index(s)
        else:
            return k_s.index(s - STAGES), v0_s.index(s - STAGES), v1_s.index(s - STAGES)

    @gluon.jit
    def _dkdv_load(q_desc, k_desc, v_desc, do_desc, q_s, k_s, v0_s, v1_s, do0_s, do1_s, ready, empty, pre_ready,
                   pre_empty, row0, col_qk, col_v, npre, nblk, STAGES: gl.constexpr, BLOCK_N: gl.constexpr,
                   BLOCK_E: gl.constexpr):
        """The loader of the fused dk, dv kernel: the segment's blocks last → first from ``row0``, each stage holding
        that block's Q, K rows and the two value halves of V and dO. Before them (``npre`` = the block count, the
        lookback's own-segment pass) the same blocks' Q and dO only, through a ring of 2·STAGES half-size stages laid
        over the main ring's buffers (:func:`_dkdv_pre_bufs`, own ``pre_ready`` / ``pre_empty`` barriers); the main
        loads start once every such stage was released."""
        PS: gl.constexpr = 2 * STAGES
        pbytes: gl.constexpr = q_desc.block_type.nbytes + 2 * do_desc.block_type.nbytes
        for j0 in range(0, npre, PS):
            for s in gl.static_range(PS):
                j = j0 + s
                if j < npre:
                    qb, d0, d1 = _dkdv_pre_bufs(q_s, k_s, v0_s, v1_s, do0_s, do1_s, s, STAGES)
                    mbarrier.wait(pre_empty.index(s), ((j0 // PS) & 1) ^ 1)
                    bar = pre_ready.index(s)
                    mbarrier.expect(bar, pbytes)
                    r = row0 - j * BLOCK_N
                    _tma_load(q_desc, [r, col_qk], bar, qb)
                    _tma_load(do_desc, [r, col_v], bar, d0)
                    _tma_load(do_desc, [r, col_v + BLOCK_E], bar, d1)
        for s in gl.static_range(PS):  # every own-segment stage released before the main ring reuses the buffers
            if s < npre:
                mbarrier.wait(pre_empty.index(s), (((npre - 1 - s) // PS) & 1))
        nbytes: gl.constexpr = (q_desc.block_type.nbytes + k_desc.block_type.nbytes + 2 * v_desc.block_type.nbytes
                                + 2 * do_desc.block_type.nbytes)
        for j in range(0, nblk):
            st = j % STAGES
            mbarrier.wait(empty.index(st), ((j // STAGES) & 1) ^ 1)
            bar = ready.index(st)
            r = row0 - j * BLOCK_N
            mbarrier.expect(bar, nbytes)
            _tma_load(k_desc, [r, col_qk], bar, k_s.index(st))
            _tma_load(v_desc, [r, col_v], bar, v0_s.index(st))
            _tma_load(v_desc, [r, col_v + BLOCK_E], bar, v1_s.index(st))
            _tma_load(q_desc, [r, col_qk], bar, q_s.index(st))
            _tma_load(do_desc, [r, col_v], bar, do0_s.index(st))
            _tma_load(do_desc, [r, col_v + BLOCK_E], bar, do1_s.index(st))

    @gluon.jit
    def _dkdv_own_sum(ROLE: gl.constexpr, slope, q_s, k_s, v0_s, v1_s, do0_s, do1_s, pre_ready, pre_empty, bufs,
                      npre, STAGES: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr,
                      BLOCK_E: gl.constexpr, o_l: gl.constexpr):
        """This warpgroup's half of the segment's own end state (the lookback's pass, blocks last → first): Σ_i
        Qᵢᵀ diag(wᵢ) dO_i[:, half] with wᵢ[c] = λ^(B·(npre−1−i) + c), the closed form of the reverse recursion (as
        :func:`_prefix_state` with ``REVERSE``), its products one async wgmma chain waited a block later, the scaled
        dO double-buffered in ``bufs``; stages from the loader's half-size ring (:func:`_dkdv_load`)."""
        PS: gl.constexpr = 2 * STAGES
        c_o = BLOCK_N - 1.0 - gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, o_l)).to(gl.float32)
        S = gl.zeros([BLOCK_D, BLOCK_E], gl.float32, o_l)
        for j0 in range(0, npre, PS):
            for s in gl.static_range(PS):
                j = j0 + s
                if j < npre:
                    qb, d0, d1 = _dkdv_pre_bufs(q_s, k_s, v0_s, v1_s, do0_s, do1_s, s, STAGES)
                    if ROLE == 0:
                        db = d0
                    else:
                        db = d1
                    mbarrier.wait(pre_ready.index(s), (j0 // PS) & 1)
                    w = gl.exp(-slope * (((npre - j) * BLOCK_N - 1).to(gl.float32) - c_o))
                    vg = bufs.index(s % 2)
                    vg.store((db.load(o_l) * w[:, None]).to(gl.bfloat16))
                    fence_async_shared()
                    S = warpgroup_mma(qb.permute((1, 0)), vg, S, is_async=True)
                    S = warpgroup_mma_wait(num_outstanding=1, deps=(S, ))  # block j − 1's product is done:
                    if j > 0:
                        mbarrier.arrive(pre_empty.index((s + PS - 1) % PS), count=1)  # its stage is free
        S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
        if npre > 0:
            mbarrier.arrive(pre_empty.index((npre - 1) % PS), count=1)
        return S

    @gluon.jit
    def _dkdv_compute(ROLE: gl.constexpr, dk_desc, dv_desc, SLOPES, SEG_END, FLAGS, EPOCH, q_s, k_s, v0_s, v1_s,
                      do0_s, do1_s, ready, empty, pre_ready, pre_empty, s_smem, gdo_smem, dk_smem, dv_smem, pre_bufs,
                      s_written, s_read, pid_bh, h, row0, col_qk, col_v, SEG, NSEG, p, npre, nblk, HAS_DECAY: gl.constexpr,
                      LOOKBACK: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr,
                      STAGES: gl.constexpr):
        """One compute warpgroup of the fused dk, dv kernel (head_dim = value_dim = 2 × BLOCK_E). Both
        warpgroups keep one half of the one state the two anti-causal passes share, S = Σ_(t later) λ^(t−start)
        q_tᵀ do_t (head_dim × value_dim; dv's state is S, dk's is Sᵀ): warpgroup ``ROLE`` owns columns
        [ROLE·BLOCK_E, (ROLE + 1)·BLOCK_E) in fp32 registers and writes their bf16 copy to ``s_smem.index(ROLE)``.
        ROLE 0 computes dk = (V dOᵀ ⊙ Dᵀ) Q + diag(a) V Sᵀ, ROLE 1 dv = (K Qᵀ ⊙ Dᵀ) dO + diag(a) K S, each for all
        columns, reading both halves of the state copy; so the warpgroups meet twice per block: ``s_read`` (both
        finished reading S_(j−1), so either may overwrite its half) and ``s_written`` (both halves of S_j are in
        shared memory). Decay factors of the reverse pass (:func:`_decay` ``REVERSE``). ``LOOKBACK`` (segment
        ``p`` of ``NSEG``, blocks last → first): every segment but the last first sums its own blocks' half-state
        (:func:`_dkdv_own_sum`, the Q and dO the loader streams ahead through a ring of half-size stages) and
        publishes it (:func:`_publish`, the forward's lookback flags per value half), then each combines the segments
        before it into its entry state."""
        sc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                       instr_shape=[16, BLOCK_N, 16])
        oe_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                       instr_shape=[16, BLOCK_E, 16])
        od_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                       instr_shape=[16, BLOCK_D, 16])
        slope = _slope(SLOPES, h, HAS_DECAY)
        if LOOKBACK:
            E: gl.constexpr = 2 * BLOCK_E
            if p < NSEG - 1:
                st_end = _dkdv_own_sum(ROLE, slope, q_s, k_s, v0_s, v1_s, do0_s, do1_s, pre_ready, pre_empty,
                                       pre_bufs, npre, STAGES, BLOCK_N, BLOCK_D, BLOCK_E, oe_l)
                _publish(st_end, SEG_END, FLAGS, EPOCH, pid_bh, ROLE * BLOCK_E, E, NSEG, p, BLOCK_D, BLOCK_E, oe_l)
            _await(FLAGS, EPOCH, pid_bh, ROLE * BLOCK_E, E, NSEG, p, BLOCK_E)
            S = _entry_state(SEG_END, SEG_END, slope, pid_bh, ROLE * BLOCK_E, E, SEG, NSEG, p, True, False, BLOCK_D,
                             BLOCK_E, oe_l)
        else:
            S = gl.zeros([BLOCK_D, BLOCK_E], gl.float32, oe_l)
        dmat, a_e, g, lam = _decay(slope, BLOCK_N, sc_l, oe_l, True)
        c_d = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, od_l)).to(gl.float32)
        a_d = gl.exp(-slope * (BLOCK_N - c_d))  # λ^(B−r) in dk's accumulator layout
        s0 = s_smem.index(0)
        s1 = s_smem.index(1)
        mine = s_smem.index(ROLE)
        gdo = gdo_smem.index(ROLE)
        mine.store(S.to(gl.bfloat16))
        fence_async_shared()
        mbarrier.arrive(s_written, count=1)
        zero_sc = gl.zeros([BLOCK_N, BLOCK_N], gl.float32, sc_l)
        zero_e = gl.zeros([BLOCK_N, BLOCK_E], gl.float32, oe_l)
        zero_d = gl.zeros([BLOCK_N, BLOCK_D], gl.float32, od_l)
        for j in range(0, nblk):
            st = j % STAGES
            mbarrier.wait(ready.index(st), (j // STAGES) & 1)
            qb = q_s.index(st)
            kb = k_s.index(st)
            v0 = v0_s.index(st)
            v1 = v1_s.index(st)
            do0 = do0_s.index(st)
            do1 = do1_s.index(st)
            r = row0 - j * BLOCK_N
            if ROLE == 0:  # dk: scores V dOᵀ over both value halves, inter V Sᵀ
                sc = warpgroup_mma(v0, do0.permute((1, 0)), zero_sc, use_acc=False, is_async=True)
                sc = warpgroup_mma(v1, do1.permute((1, 0)), sc, is_async=True)
                mbarrier.wait(s_written, j & 1)
                x = warpgroup_mma(v0, s0.permute((1, 0)), zero_d, use_acc=False, is_async=True)
                x = warpgroup_mma(v1, s1.permute((1, 0)), x, is_async=True)
                sc = warpgroup_mma_wait(num_outstanding=1, deps=(sc, ))
                pm = gl.convert_layout((sc * dmat).to(gl.bfloat16),
                                       gl.DotOperandLayout(operand_index=0, parent=od_l, k_width=2))
                x = warpgroup_mma_wait(num_outstanding=0, deps=(x, ))
                mbarrier.arrive(s_read, count=1)
                x = warpgroup_mma(pm, qb, x * a_d[:, None], is_async=True)
                gdo.store((do0.load(oe_l) * g[:, None]).to(gl.bfloat16))
                fence_async_shared()
                S = warpgroup_mma(qb.permute((1, 0)), gdo, S * lam, is_async=True)
                x = warpgroup_mma_wait(num_outstanding=1, deps=(x, ))
                tma.store_wait(pendings=0)
                dk_smem.store(x.to(gl.bfloat16))
                fence_async_shared()
                _tma_store(dk_desc, [r, col_qk], dk_smem)
            else:  # dv: scores K Qᵀ, inter K S per value half
                sc = warpgroup_mma(kb, qb.permute((1, 0)), zero_sc, use_acc=False, is_async=True)
                mbarrier.wait(s_written, j & 1)
                y0 = warpgroup_mma(kb, s0, zero_e, use_acc=False, is_async=True)
                y1 = warpgroup_mma(kb, s1, zero_e, use_acc=False, is_async=True)
                sc = warpgroup_mma_wait(num_outstanding=2, deps=(sc, ))
                pm = gl.convert_layout((sc * dmat).to(gl.bfloat16),
                                       gl.DotOperandLayout(operand_index=0, parent=oe_l, k_width=2))
                y0, y1 = warpgroup_mma_wait(num_outstanding=0, deps=(y0, y1))
                mbarrier.arrive(s_read, count=1)
                y0 = warpgroup_mma(pm, do0, y0 * a_e[:, None], is_async=True)
                y1 = warpgroup_mma(pm, do1, y1 * a_e[:, None], is_async=True)
                gdo.store((do1.load(oe_l) * g[:, None]).to(gl.bfloat16))
                fence_async_shared()
                S = warpgroup_mma(qb.permute((1, 0)), gdo, S * lam, is_async=True)
                y0, y1 = warpgroup_mma_wait(num_outstanding=1, deps=(y0, y1))
                tma.store_wait(pendings=0)
                dv_smem.index(0).store(y0.to(gl.bfloat16))
                dv_smem.index(1).store(y1.to(gl.bfloat16))
                fence_async_shared()
                _tma_store(dv_desc, [r, col_v], dv_smem.index(0))
                _tma_store(dv_desc, [r, col_v + BLOCK_E], dv_smem.index(1))
            S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
            mbarrier.arrive(empty.index(st), count=1)  # this warpgroup has finished with the stage
            mbarrier.wait(s_read, j & 1)  # both warpgroups have read S_(j−1): overwrite this half with S_j
            mine.store(S.to(gl.bfloat16))
            fence_async_shared()
            mbarrier.arrive(s_written, count=1)
        tma.store_wait(pendings=0)

    @gluon.jit(do_not_specialize=["EPOCH"])
    def _la2_bwd_gluon_dkdv_kernel(q_desc, k_desc, v_desc, do_desc, dk_desc, dv_desc, SLOPES, SEG_END, FLAGS, EPOCH,
                                   H, N, SEG, NSEG, HAS_DECAY: gl.constexpr, BNHD: gl.constexpr,
                                   BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr,
                                   STAGES: gl.constexpr, num_warps: gl.constexpr, REGS: gl.constexpr,
                                   LOOKBACK: gl.constexpr = False, PDL: gl.constexpr = False):
        """dk and dv of :func:`backward` in one program per batch·head (head_dim = value_dim = 2·BLOCK_E, 64 or 128):
        the two anti-causal passes R(v, do, q) and R(k, q, do) read the same four tensors and carry transposed
        copies of one state, so one program reads q, k, v, do once per block and keeps one state (two compute
        warpgroups: :func:`_dkdv_compute`, dv's in the default partition (256 registers: ptxas spills 136 bytes
        with dv's in the 232-register one, 12 this way round); a 1-warp TMA loader: :func:`_dkdv_load`). Blocks
        last → first. Grid (batch·heads, segments): ``LOOKBACK`` splits the sequence into ``NSEG`` segments of
        ``SEG`` rows (the last partial), segment 0 the last rows, combined in the launch as the forward's lookback
        split does (``SEG_END`` fp32 [batch·heads, NSEG, head_dim, value_dim], ``FLAGS`` / ``EPOCH``). ``PDL``:
        :func:`_pdl_enter` first."""
        _pdl_enter(PDL)
        pid_bh = gl.program_id(0)
        h = pid_bh % H
        if BNHD:
            row_base = (pid_bh // H) * N
            col_qk = h * BLOCK_D
            col_v = h * BLOCK_D
        else:
            row_base = pid_bh * N
            col_qk = 0
            col_v = 0
        if LOOKBACK:
            p = gl.program_id(1)
            first = p * (SEG // BLOCK_N)
            nblk = gl.minimum(N // BLOCK_N, first + SEG // BLOCK_N) - first
        else:
            p = 0
            first = 0
            nblk = N // BLOCK_N
        npre, _ = _pre_blocks(p, first, nblk, NSEG, False, LOOKBACK)
        row0 = _row0(row_base, N, BLOCK_N, True) - first * BLOCK_N  # the segment's first block, blocks last → first
        q_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_D], q_desc.layout)
        k_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_D], k_desc.layout)
        v0_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_E], v_desc.layout)
        v1_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_E], v_desc.layout)
        do0_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_E], do_desc.layout)
        do1_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_E], do_desc.layout)
        s_sl: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_D, BLOCK_E], gl.bfloat16)
        s_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_D, BLOCK_E], s_sl)
        gdo_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], do_desc.layout)
        dk_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_N, BLOCK_D], dk_desc.layout)
        dv_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], dv_desc.layout)
        if LOOKBACK:  # the dk warpgroup's double buffer for the own-segment sum (dv's uses its o staging)
            pre_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], do_desc.layout)
        else:
            pre_smem = dv_smem
        ready, empty = _ring_barriers(STAGES, 2)
        if LOOKBACK:  # the own-segment pass's half-size stages
            pre_ready, pre_empty = _ring_barriers(2 * STAGES, 2)
        else:
            pre_ready, pre_empty = ready, empty
        s_written = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
        s_read = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
        mbarrier.init(s_written, count=2)
        mbarrier.init(s_read, count=2)
        fence_async_shared()
        gl.warp_specialize([
            (_dkdv_compute, (1, dk_desc, dv_desc, SLOPES, SEG_END, FLAGS, EPOCH, q_s, k_s, v0_s, v1_s, do0_s, do1_s,
                             ready, empty, pre_ready, pre_empty, s_smem, gdo_smem, dk_smem, dv_smem, dv_smem,
                             s_written, s_read, pid_bh, h, row0, col_qk, col_v, SEG, NSEG, p, npre, nblk, HAS_DECAY,
                             LOOKBACK, BLOCK_N, BLOCK_D, BLOCK_E, STAGES)),
            (_dkdv_compute, (0, dk_desc, dv_desc, SLOPES, SEG_END, FLAGS, EPOCH, q_s, k_s, v0_s, v1_s, do0_s, do1_s,
                             ready, empty, pre_ready, pre_empty, s_smem, gdo_smem, dk_smem, dv_smem, pre_smem,
                             s_written, s_read, pid_bh, h, row0, col_qk, col_v, SEG, NSEG, p, npre, nblk, HAS_DECAY,
                             LOOKBACK, BLOCK_N, BLOCK_D, BLOCK_E, STAGES)),
            (_dkdv_load, (q_desc, k_desc, v_desc, do_desc, q_s, k_s, v0_s, v1_s, do0_s, do1_s, ready, empty,
                          pre_ready, pre_empty, row0, col_qk, col_v, npre, nblk, STAGES, BLOCK_N, BLOCK_E)),
        ], [4, 1], [REGS, 24])
        for s in gl.static_range(STAGES):
            mbarrier.invalidate(ready.index(s))
            mbarrier.invalidate(empty.index(s))
        if LOOKBACK:
            for s in gl.static_range(2 * STAGES):
                mbarrier.invalidate(pre_ready.index(s))
                mbarrier.invalidate(pre_empty.index(s))
        mbarrier.invalidate(s_written)
        mbarrier.invalidate(s_read)

    # ------------------------------------------------- row pairs: two warpgroups on the two halves of a 128-row step
    @gluon.jit
    def _pair_load(q_desc, k_desc, v_desc, q_s, k_s, v_s, ready, empty, row0, col_qk, col_v, nstep,
                   STAGES: gl.constexpr, BLOCK_N: gl.constexpr):
        """The loader of :func:`_la2_fwd_gluon_pair_kernel`: step j's two 64-row blocks of Q, K and V into ring stage
        j % STAGES (tiles 2·stage and 2·stage + 1), completing on one ready barrier."""
        nbytes: gl.constexpr = 2 * (q_desc.block_type.nbytes + k_desc.block_type.nbytes + v_desc.block_type.nbytes)
        for j in range(0, nstep):
            st = j % STAGES
            mbarrier.wait(empty.index(st), ((j // STAGES) & 1) ^ 1)
            bar = ready.index(st)
            mbarrier.expect(bar, nbytes)
            for w in gl.static_range(2):
                r = row0 + (2 * j + w) * BLOCK_N
                _tma_load(q_desc, [r, col_qk], bar, q_s.index(2 * st + w))
                _tma_load(k_desc, [r, col_qk], bar, k_s.index(2 * st + w))
                _tma_load(v_desc, [r, col_v], bar, v_s.index(2 * st + w))

    @gluon.jit
    def _pair_compute(o_desc, SLOPES, S0, q_s, k_s, v_s, ready, empty, s_smem, vg_smem, o_smem, pid_bh, h, e0, E,
                      row0, col_v, nstep, HAS_DECAY: gl.constexpr, HAS_S0: gl.constexpr, BLOCK_N: gl.constexpr,
                      BLOCK_D: gl.constexpr, BLOCK_E: gl.constexpr, STAGES: gl.constexpr, W: gl.constexpr):
        """Rows W·64 … W·64 + 63 of every 128-row step (blocks 0 and 1 of the step, B = 64):

            W = 0:  O_0 = (Q_0 K_0ᵀ ⊙ D) V_0 + diag(a) Q_0 S
            W = 1:  O_1 = (Q_1 K_1ᵀ ⊙ D) V_1 + (Q_1 K_0ᵀ ⊙ a gᵀ) V_0 + diag(λ^B a) Q_1 S

        with S the state before the step, a[r] = λ^(r+1), g[c] = λ^(B−1−c) (so a[r] g[c] = λ^(B+r−c): block 1's row r
        against block 0's row c, every exponent ≥ 0) — the second block needs no state after the first, so the two
        halves run at once. Both warpgroups carry the whole state, S ← λ^(2B) S + K_0ᵀ diag(λ^B g) V_0 + K_1ᵀ diag(g)
        V_1 (the recursion of Algorithm 1 over two blocks), each on its own registers: no exchange between them."""
        sc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                       instr_shape=[16, BLOCK_N, 16])
        o_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                      instr_shape=[16, BLOCK_E, 16])
        p_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_l, k_width=2)
        slope = _slope(SLOPES, h, HAS_DECAY)
        S = _entry_state(S0, S0, slope, pid_bh, e0, E, 0, 1, 0, False, HAS_S0, BLOCK_D, BLOCK_E, o_l)
        s_smem.store(S.to(gl.bfloat16))
        fence_async_shared()
        dmat, a, g, lam = _decay(slope, BLOCK_N, sc_l, o_l)
        lam2 = lam * lam
        g0 = g * lam  # λ^(2B−1−c): block 0's rows in the state at the step's end
        if W == 1:
            a = a * lam
            r_sc = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, sc_l)).to(gl.float32)
            c_sc = gl.arange(0, BLOCK_N, layout=gl.SliceLayout(0, sc_l)).to(gl.float32)
            a_r = gl.exp(-slope * (r_sc + 1.0))
            g_c = gl.exp(-slope * (BLOCK_N - 1.0 - c_sc))
        zero_sc = gl.zeros([BLOCK_N, BLOCK_N], gl.float32, sc_l)
        zero_o = gl.zeros([BLOCK_N, BLOCK_E], gl.float32, o_l)
        for j in range(0, nstep):
            st = j % STAGES
            mbarrier.wait(ready.index(st), (j // STAGES) & 1)
            qb = q_s.index(2 * st + W)
            k0 = k_s.index(2 * st)
            k1 = k_s.index(2 * st + 1)
            v0 = v_s.index(2 * st)
            v1 = v_s.index(2 * st + 1)
            ob = o_smem.index(j % 2)
            if W == 0:
                sc = warpgroup_mma(qb, k0.permute((1, 0)), zero_sc, use_acc=False, is_async=True)
                qs = warpgroup_mma(qb, s_smem, zero_o, use_acc=False, is_async=True)
                sc = warpgroup_mma_wait(num_outstanding=1, deps=(sc, ))
                pm = gl.convert_layout((sc * dmat).to(gl.bfloat16), p_l)
                qs = warpgroup_mma_wait(num_outstanding=0, deps=(qs, ))
                o = warpgroup_mma(pm, v0, qs * a[:, None], is_async=True)
            else:
                sc = warpgroup_mma(qb, k1.permute((1, 0)), zero_sc, use_acc=False, is_async=True)
                sx = warpgroup_mma(qb, k0.permute((1, 0)), zero_sc, use_acc=False, is_async=True)
                qs = warpgroup_mma(qb, s_smem, zero_o, use_acc=False, is_async=True)
                sc = warpgroup_mma_wait(num_outstanding=2, deps=(sc, ))
                pm = gl.convert_layout((sc * dmat).to(gl.bfloat16), p_l)
                sx = warpgroup_mma_wait(num_outstanding=1, deps=(sx, ))
                px = gl.convert_layout((sx * a_r[:, None] * g_c[None, :]).to(gl.bfloat16), p_l)
                qs = warpgroup_mma_wait(num_outstanding=0, deps=(qs, ))
                o = warpgroup_mma(pm, v1, qs * a[:, None], is_async=True)
                o = warpgroup_mma(px, v0, o, is_async=True)
            vg0 = vg_smem.index(0)
            vg1 = vg_smem.index(1)
            vg0.store((v0.load(o_l) * g0[:, None]).to(gl.bfloat16))
            vg1.store((v1.load(o_l) * g[:, None]).to(gl.bfloat16))
            fence_async_shared()
            S = warpgroup_mma(k0.permute((1, 0)), vg0, S * lam2, is_async=True)
            S = warpgroup_mma(k1.permute((1, 0)), vg1, S, is_async=True)
            o = warpgroup_mma_wait(num_outstanding=2, deps=(o, ))
            tma.store_wait(pendings=1)  # the store that last used ob (two steps ago) has read it
            ob.store(o.to(gl.bfloat16))
            fence_async_shared()
            _tma_store(o_desc, [row0 + (2 * j + W) * BLOCK_N, col_v], ob)
            S = warpgroup_mma_wait(num_outstanding=0, deps=(S, ))
            mbarrier.arrive(empty.index(st), count=1)
            s_smem.store(S.to(gl.bfloat16))
            fence_async_shared()
        tma.store_wait(pendings=0)

    @gluon.jit(do_not_specialize=["EPOCH"])
    def _la2_fwd_gluon_pair_kernel(q_desc, k_desc, v_desc, o_desc, SLOPES, SEG_END, S0, FLAGS, EPOCH, H, N, E, SEG,
                                   NSEG, O, O_STRIDE, HAS_DECAY: gl.constexpr, SPLIT: gl.constexpr, HAS_S0: gl.constexpr,
                                   BNHD: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr,
                                   BLOCK_E: gl.constexpr, STAGES: gl.constexpr, Q_REG: gl.constexpr,
                                   num_warps: gl.constexpr, REGS: gl.constexpr):
        """Two compute warpgroups per program on one value tile, each on one half of every 128-row step
        (:func:`_pair_compute`): a program's serial chain has half as many steps as the ws kernel's, each step
        two blocks wide, for the same programs (batch·heads × value tiles). Unsplit; seq_len a multiple of 128.
        An ablation knob (``Plan.pair``), GPU-tested, not chosen by :func:`choose`: **slower** than the ws kernel on
        the H200 (b2 h16 e32: 82.9 / 105.0 / 132.7 M tokens/s at 1K / 2K / 128K against the ws e32 launch's 98.3 / 122.3 / ~158,
        results/h200/tune/2026-11-30k and 2026-11-30g): the second half's extra QKᵀ and P·V and both halves' full
        state updates add ~50% MMA work and ~35% shared-memory operand traffic per row on one SM, and at e32 the SM's
        throughput binds, not the chain's latency (docs/perf-notes.md v14)."""
        pid_bh, h, e0, p, first, nblk, row_base, col_qk, col_v = _program(H, N, E, SEG, BNHD, False, BLOCK_N,
                                                                          BLOCK_D, BLOCK_E)
        nstep = nblk // 2
        s_sl: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_D, BLOCK_E], gl.bfloat16)
        q_s = gl.allocate_shared_memory(gl.bfloat16, [2 * STAGES, BLOCK_N, BLOCK_D], q_desc.layout)
        k_s = gl.allocate_shared_memory(gl.bfloat16, [2 * STAGES, BLOCK_N, BLOCK_D], k_desc.layout)
        v_s = gl.allocate_shared_memory(gl.bfloat16, [2 * STAGES, BLOCK_N, BLOCK_E], v_desc.layout)
        s0_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_D, BLOCK_E], s_sl)
        s1_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_D, BLOCK_E], s_sl)
        vg0_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], v_desc.layout)
        vg1_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], v_desc.layout)
        o0_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], o_desc.layout)
        o1_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, BLOCK_E], o_desc.layout)
        ready, empty = _ring_barriers(STAGES, 2)
        gl.warp_specialize([
            (_pair_compute, (o_desc, SLOPES, S0, q_s, k_s, v_s, ready, empty, s0_smem, vg0_smem, o0_smem, pid_bh, h,
                             e0, E, row_base, col_v, nstep, HAS_DECAY, HAS_S0, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, 0)),
            (_pair_compute, (o_desc, SLOPES, S0, q_s, k_s, v_s, ready, empty, s1_smem, vg1_smem, o1_smem, pid_bh, h,
                             e0, E, row_base, col_v, nstep, HAS_DECAY, HAS_S0, BLOCK_N, BLOCK_D, BLOCK_E, STAGES, 1)),
            (_pair_load, (q_desc, k_desc, v_desc, q_s, k_s, v_s, ready, empty, row_base, col_qk, col_v, nstep,
                          STAGES, BLOCK_N)),
        ], [4, 1], [REGS, 24])
        for s in gl.static_range(STAGES):
            mbarrier.invalidate(ready.index(s))
            mbarrier.invalidate(empty.index(s))


@contextlib.contextmanager
def disabled():
    """Within this context ``lightning_attn`` runs the Triton forward everywhere (ablations, the ``la2_triton``
    provider); the environment variable ``LIGHTNING_BENCH_GLUON=0`` does the same process-wide."""
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


@dataclass(frozen=True)
class Plan:
    """One Gluon forward launch: value tile, ring depth and sequence segments (seq_len is never compiled in)."""

    block_e: int
    stages: int
    nseg: int
    seg: int
    ws: bool = False
    maxnreg: int | None = None  # registers per thread at launch (128: two 256-thread programs per SM)
    q_reg: bool = False  # Q as the register A operand of QKᵀ and Q·S (see _block)
    chunks: int = 1  # programs per segment in the segment-end pre-pass (kernel._seg_end_states)
    prefix: bool = False  # segments: each program sums the blocks before its segment itself (no pre-pass; ws only)
    wg2: bool = False  # two compute warpgroups per program (value tiles e0, e0 + block_e) sharing the Q, K ring
    lookback: bool = False  # segments: programs publish their segment's end state and combine earlier ones (ws/wg2)
    pair: bool = False  # two compute warpgroups per program on the two 64-row halves of 128-row steps (unsplit)
    o_direct: bool = False  # ws / wg2: o stored from registers, no staging or TMA store (_block; 0.76–0.97×: ablation)
    vg_ahead: bool = False  # ws: the next block's diag(g) V written during this block's state update (_ws_compute)
    tile_major: bool = False  # ws: grid (value tiles, batch·heads, segments), a head's tiles dispatched together
    state_first: bool = False  # ws / wg2: the state copy before the stage release (_ws_compute; one barrier fewer)
    qk_ahead: bool = False  # ws / wg2: each next block's Q Kᵀ issued during this block (_block_ahead; :func:`qk_ahead`)

    @classmethod
    def make(cls, seq_len: int, block_e: int, stages: int, nseg: int, ws: bool = True,
             maxnreg: int | None = None, q_reg: bool = False, chunks: int = 1, prefix: bool = False,
             wg2: bool = False, lookback: bool = False, pair: bool = False, o_direct: bool = False,
             vg_ahead: bool = False, tile_major: bool = False, state_first: bool = False,
             qk_ahead: bool = False) -> "Plan":
        """The plan for about ``nseg`` segments of whole blocks (the same rounding as the Triton forward's);
        ``pair`` plans are unsplit."""
        from .kernel import segments

        nseg, seg = segments(1 if pair else nseg, 1, 1, seq_len, BLOCK_N)
        qk = qk_ahead and (ws or wg2) and not (pair or q_reg or o_direct or maxnreg)  # it writes diag(g) V ahead
        return cls(block_e, stages, nseg, seg, ws or wg2 or pair, maxnreg, q_reg, chunks,
                   prefix and nseg > 1 and ws and not wg2, wg2, lookback and nseg > 1 and (ws or wg2), pair,
                   o_direct, vg_ahead and not qk, tile_major, state_first, qk)

    @property
    def tile(self) -> int:
        """Value columns per program (two warpgroups' tiles with ``wg2``)."""
        return 2 * self.block_e if self.wg2 else self.block_e

    def describe(self) -> str:
        return (f"gluon sm_90a fwd e{self.block_e} s{self.stages} P{self.nseg}"
                + (" wg2" if self.wg2 else " pair" if self.pair else " ws" if self.ws else "")
                + (f" r{self.maxnreg}" if self.maxnreg else "") + (" qreg" if self.q_reg else "")
                + (" prefix" if self.prefix else " lookback" if self.lookback
                   else f" c{self.chunks}" if self.chunks > 1 else "") + (" odirect" if self.o_direct else "")
                + ((" qkahead1f" if _qk_form(self) == 2 else " qkahead") if self.qk_ahead else "")
                + (" vgahead" if self.vg_ahead and self.ws and not (self.wg2 or self.pair or self.qk_ahead) else "")
                + (" tilemajor" if self.tile_major and self.ws and not (self.wg2 or self.pair) else "")
                + (" sfirst" if self.state_first and self.ws and not self.pair else ""))


_CAPABLE: dict[int, str | None] = {}
_SMS: dict[int, int] = {}


def unavailable_reason(device: torch.device) -> str | None:
    """Why the Gluon forward cannot run on this device (None: it can): no Gluon in this triton, the interpreter,
    not CUDA, or not compute capability 9.0 (wgmma and TMA as used here are sm_90a-only)."""
    if IMPORT_ERROR is not None:
        return f"triton without Gluon/Hopper ({IMPORT_ERROR})"
    if os.environ.get("TRITON_INTERPRET") == "1":
        return "the Triton interpreter does not run Gluon"
    if device.type != "cuda":
        return f"device {device} is not CUDA"
    idx = device_index(device)
    if idx not in _CAPABLE:
        cap = torch.cuda.get_device_capability(idx)
        _CAPABLE[idx] = None if cap == (9, 0) else f"compute capability {cap[0]}.{cap[1]} is not 9.0 (sm_90a)"
        _SMS[idx] = torch.cuda.get_device_properties(idx).multi_processor_count
    return _CAPABLE[idx]


def device_index(device: torch.device) -> int:
    """The CUDA ordinal of ``device`` (the current device where it has no index)."""
    return device.index if device.index is not None else torch.cuda.current_device()


def sm_count(device: torch.device) -> int:
    """Streaming multiprocessors of ``device`` as :func:`unavailable_reason` recorded them (132, an H200's, where it
    has not looked at the device yet)."""
    return _SMS.get(device_index(device), 132)


def _tma_ok(t: torch.Tensor) -> bool:
    """Contiguous in its own layout (so the 2-D view the kernel uses, bhnd [b·h·n, x] or bnhd [b·n, h·x], is a view
    with unit last stride) and a 16-byte aligned base (TMA; the row pitch x·2 bytes is a multiple of 16 for x ∈ DIMS)."""
    return t.is_contiguous() and t.data_ptr() % 16 == 0


def _pow2_floor(x: float) -> int:
    p = 1
    while p * 2 <= x:
        p *= 2
    return p


def choose(batch_heads: int, seq_len: int, head_dim: int, value_dim: int, seq_split="auto",
           sms: int = 132) -> tuple[int, int, int, bool, bool]:
    """(block_e, stages, nseg, wg2, lookback) of a launch, from the H200 grids (tools/gluon_la2_fwd.py tune,
    tools/tune_mr.py; M tokens/s, b = batch, h = heads, bf16 with decay):

    - head_dim 128 and whole heads of value (value_dim % 128 == 0): **two compute warpgroups of e64 per program**
      (``wg2``: one program per head and 128 value columns, one Q, K read for both tiles) when those programs fill
      ≥ 90% of the SMs unsplit (b4 h32: 101.6 / 117.9 at 2K / 8K against the one-warpgroup e64 launch's 74.2 / 79.7,
      results/h200/tune/2026-11-30i); with the **lookback split** (``lookback``: one launch, each segment publishes
      its end state) into a power-of-two number of segments that fills one wave, where the one-warpgroup e32 launch
      leaves SMs idle (b1 h16, 8 segments: 113.3 / 150.9 at 8K / 32K against 94.4 / 127.9) — not where it does
      (b2 h16: until v23 from ``WG2_SPLIT_MIN`` = 16K, 4 segments: 159.9 / 167.5 at 16K / 32K against 150.6 / 158.4;
      with ``QK_ONE_FENCE`` the unsplit e32 launch and, from ``LONG_SPLIT_MIN``, the e64 2-way split win: 172.0 /
      181.3 / 183.5 / 183.2 at 16K / 32K / 64K / 128K against the split's 161.5 / 169.2 / 171.6 / 175.2,
      results/h200/tune/2026-12-01f/f22; ``WG2_SPLIT_MIN`` brings the split back from that length), and
      not where the one-warpgroup e64 launch fills the SMs unsplit (64 batch·heads: b4 h16 196.6 / 194.1 /
      186.5 at 16K / 64K / 128K against the wg2 P2 lookback's 175.0 / 179.6 / 180.6, results/h200/tune/2026-11-30k);
    - otherwise one warpgroup (``ws`` kernel): the widest value tile (64 or 32) whose programs (batch·heads × tiles)
      fill ≥ 90% of the SMs, unsplit: b2 h16 d128 → e32 with a 4-deep ring below 16K (121 / 138 M tokens/s at 2K /
      4K); b8 h16 d64 → e64, 3-deep (512 at 64K);
    - when even e32 leaves SMs idle and the wg2 rule does not apply: e64, 3-deep, and sequence segments up to about
      2 (shorter than 65536) or 4 programs per SM, ≤ 16 segments of ≥ 8 blocks, with the pre-pass;
    - long sequences (≥ ``LONG_SPLIT_MIN``) where e32 fills the SMs unsplit but e64 needs exactly a 2-way split, when
      the wg2 rule does not apply: e64, 3-deep, 2 segments, the segment-end pre-pass chunked (:func:`prepass_chunks`;
      results/h200/tune/2026-11-30g/b-long).

    An explicit integer seq_split keeps the one-warpgroup tile rule and uses min(seq_split, 16) segments.
    """
    tile = 32
    for t in (64, 32):
        if value_dim % t == 0 and batch_heads * (value_dim // t) >= 0.9 * sms:
            tile = t
            break
    stages = RING_STAGES[tile]
    max_seg = max(1, min(MAX_SEGMENTS, seq_len // (BLOCK_N * 8)))
    if seq_split != "auto":
        return tile, stages, min(int(seq_split), max_seg), False, False
    if head_dim == 128 and value_dim % 128 == 0:
        progs = batch_heads * (value_dim // 128)
        if progs >= 0.9 * sms:
            return 64, 3, 1, True, False
        fills_e32 = batch_heads * (value_dim // 32) >= 0.9 * sms
        long_split = WG2_SPLIT_MIN is not None and seq_len >= WG2_SPLIT_MIN
        if tile == 32 and (not fills_e32 or long_split):  # e64 filling the SMs unsplit wins
            nseg = min(_pow2_floor(sms / progs), max_seg)
            if nseg > 1 and nseg * progs >= 0.9 * sms:
                return 64, 3, nseg, True, True
    if (tile == 32 and head_dim == 128 and value_dim % 64 == 0 and seq_len >= LONG_SPLIT_MIN
            and 0.9 * sms <= 2 * batch_heads * (value_dim // 64) <= sms):
        return 64, 3, 2, False, False
    if batch_heads * (value_dim // 32) < 0.9 * sms and value_dim % 64 == 0:
        per_sm = 4 if seq_len >= 65536 else 2
        nseg = _pow2_floor(per_sm * sms / (batch_heads * (value_dim // 64)))
        return 64, 3, max(1, min(nseg, max_seg)), False, False
    return tile, stages, 1, False, False


def prepass_chunks(batch_heads: int, value_dim: int, block_e: int, nseg: int, seg: int, sms: int = 132) -> int:
    """Programs per segment for the segment-end pre-pass (``Plan.chunks``): 1 where one program per segment already
    covers the SMs; otherwise chunks of about 8 blocks, at most about 8 programs per SM in all. The pre-pass is a
    reduction; one program per segment makes a 2-way split's pre-pass walk as many blocks as the main kernel (ncu,
    results/h200/tune/2026-11-30f/f-ncu-e64). Measured (results/h200/tune/2026-11-30g): b2 h16 d128 e64 P2 at 128K
    174 M tokens/s chunked (17) against 116 unchunked; b1 h16 P8/P16 (224/480 pre-pass programs) 80/137 chunked
    against 92/148 unchunked, hence the first rule."""
    if nseg == 1:
        return 1
    programs = batch_heads * (value_dim // block_e) * (nseg - 1)
    if programs >= sms:
        return 1
    return max(1, min(-(-(seg // BLOCK_N) // 8), -(-8 * sms // programs)))


def vg_ahead_wins(head_dim: int, block_e: int, wg2: bool) -> bool:
    """Whether the one-warpgroup (ws) launch writes the next block's diag(g) V ahead (``Plan.vg_ahead``): at head_dim
    128 with value tile 64, where the 64 × 64 operand's scaling is the longest step between the output product and the
    state update. Measured on the H200 (tools/tune_knob.py, results/h200/tune/2026-11-30l): b4 h16 forward
    1.01–1.04× (16K–128K), fwd_bwd 1.04–1.08×, b8 h8 128K 1.03×, b2 h32 64K 1.00×, bnhd b4 h16 32K 0.98×, b1 h16 2K
    (e64 split) 1.01 / 0.99×; e32 0.96–1.00× (b2 h16 1K–8K) and head_dim 64 e64 0.98× (b8 h16 4K): not there."""
    return head_dim == 128 and block_e == 64 and not wg2


def qk_ahead(head_dim: int, side_by_side: bool = False) -> bool:
    """Whether a ws / wg2 launch issues each next block's Q Kᵀ during the current block (``Plan.qk_ahead``,
    :func:`_block_ahead`): the module's ``QK_AHEAD`` forces it, else at head_dim 128 for launches through
    :func:`forward` (the forward and the backward's passes run one by one) but not for the backward's passes side by
    side (``side_by_side``: the one-launch kernel). Measured on the H200 (tools/tune_knob.py --knob qk_ahead,
    results/h200/tune/2026-12-01e/a21): forward b2 h16 e32 1.008 / 1.022 / 1.040× at 1K / 2K / 8K, wg2 1.002–1.020×
    (b4 h32, b2 h16 lookback 32K–128K, b1 h16), one-warpgroup e64 (in place of ``vg_ahead``) 1.013–1.029×; but
    the b2 h16 fwd + bwd 0.92–0.97× (its backward is the one-launch kernel: three passes side by side) and head_dim
    64 (e64) 0.98×."""
    if QK_AHEAD is not None:
        return QK_AHEAD
    return head_dim == 128 and not side_by_side


def _qk_form(p: "Plan") -> int:
    """The kernels' ``QK_AHEAD`` constexpr for plan ``p``: 0 the plain loop, 1 the next Q Kᵀ ahead
    (``Plan.qk_ahead``), 2 that and o staged with the state copy and the next diag(g) V under one fence (4 warpgroup
    barriers and 1 fence per block instead of 5 and 2). Form 2 for one-warpgroup launches, form 1 for ``wg2``
    (``QK_ONE_FENCE`` forces either). Measured on the H200 (tools/tune_knob.py --knob qk_one_fence,
    results/h200/tune/2026-12-01f/a22), form 2 against form 1: one-warpgroup b2 h16 e32 forward 1.039 / 1.049 / 1.079×
    at 1K / 2K / 8K (bnhd 2K 1.063×), b4 h16 e64 64K 1.038×; ``wg2`` 0.993–1.004× (its second warpgroup already
    covers one warpgroup's barrier waits)."""
    if not p.qk_ahead:
        return 0
    one = QK_ONE_FENCE if QK_ONE_FENCE is not None else not (p.wg2 or p.pair)
    return 2 if one else 1


def wins(head_dim: int, block_e: int, nseg: int) -> bool:
    """Whether the Gluon launch is the measured faster one: always unsplit; split only at head_dim 128 with value
    tile 64 (b1 h16: 94.5 vs 51.6 M tokens/s at 8K, 147.5 vs 114.7 at 128K). The warp-specialized kernel holds 255
    registers × 256 threads, one program per SM, so where the split needs more programs than SMs and the Triton
    kernel fits two per SM (head_dim 64) Triton is faster: the H200 gate run of 2026-11-30 (b2 h16 d64, P8 at 32K)
    took 0.230 ms against Triton's 0.210 (results/h200/gate-calibration/v8-aa)."""
    return nseg == 1 or (head_dim == 128 and block_e == 64)


def _shape_plan(batch_heads: int, seq_len: int, head_dim: int, value_dim: int, dtype, device: torch.device,
                seq_split) -> "Plan | str":
    """The launch for a call of this shape, or why the Triton forward runs instead (the part of :func:`plan` that
    needs no tensors; :func:`describe` reports it per benchmark row)."""
    reason = unavailable_reason(device)
    if reason is not None:
        return f"gluon: {reason}"
    if not _ENABLED.get() or os.environ.get(ENV, "1") == "0":
        return "gluon disabled"
    if dtype != torch.bfloat16:
        return "gluon: bf16 only"
    if head_dim not in DIMS or value_dim not in DIMS or seq_len < BLOCK_N or seq_len % BLOCK_N:
        return f"gluon: needs head_dim, value_dim in {DIMS} and seq_len % {BLOCK_N} == 0"
    if seq_split != "auto" and seq_split > MAX_SEGMENTS:
        return f"gluon: at most {MAX_SEGMENTS} segments"
    sms = sm_count(device)
    # the rest is a pure function of these (Plan is frozen): cached (perf-notes v20 lead 2: ~57 → ~23 µs per launch
    # under the profiler; no measurable change of the call's host time)
    key = (batch_heads, seq_len, head_dim, value_dim, seq_split, sms, O_DIRECT, VG_AHEAD, TILE_MAJOR, STATE_FIRST, QK_AHEAD,
           WG2_SPLIT_MIN, LONG_SPLIT_MIN, MAX_SEGMENTS)
    hit = _PLANS.get(key)
    if hit is not None:
        return hit
    block_e, stages, nseg, wg2, lookback = choose(batch_heads, seq_len, head_dim, value_dim, seq_split, sms)
    if not wins(head_dim, block_e, nseg):
        p = f"gluon: split e{block_e} at head_dim {head_dim} measured slower"
    else:
        vg = VG_AHEAD if VG_AHEAD is not None else vg_ahead_wins(head_dim, block_e, wg2)
        p = Plan.make(seq_len, block_e, stages, nseg, wg2=wg2, lookback=lookback, o_direct=O_DIRECT, vg_ahead=vg,
                      tile_major=TILE_MAJOR, state_first=STATE_FIRST, qk_ahead=qk_ahead(head_dim))
        p = dataclasses.replace(p, chunks=prepass_chunks(batch_heads, value_dim, block_e, p.nseg, p.seg, sms),
                                tile_major=_tile_major(p, batch_heads, value_dim))
    if len(_PLANS) >= 4096:
        _PLANS.clear()
    _PLANS[key] = p
    return p


_PLANS: dict[tuple, "Plan | str"] = {}


def _tile_major(p: Plan, batch_heads: int, value_dim: int) -> bool:
    """Whether plan ``p`` launches with the value tile as the grid's first axis: ``p.tile_major`` asked for it, a
    one-warpgroup ws kernel with several value tiles per head, and batch·heads within the grid's y limit (65535)."""
    return (p.tile_major and p.ws and not (p.wg2 or p.pair) and value_dim // p.tile > 1
            and batch_heads <= 65535)


def plan(q, k, v, slopes, layout: str, *, s0=None, want_ht=False, cu=None, block_n=BLOCK_N, seq_split="auto",
         segment_hook=None) -> Plan | None:
    """The Gluon launch for this validated forward call, or None where it does not apply (then the Triton forward
    runs). An initial state ``s0`` and the sequence-parallel ``segment_hook`` are supported (:func:`forward`); a
    final state, packed sequences and other block sizes are not. Never raises for an ineligible call."""
    if want_ht or cu is not None or block_n != BLOCK_N:
        return None
    if k.dtype != q.dtype or v.dtype != q.dtype or not (_tma_ok(q) and _tma_ok(k) and _tma_ok(v)):
        return None
    b, h, n, d, e = _dims(q, v, layout)
    p = _shape_plan(b * h, n, d, e, q.dtype, q.device, seq_split)
    return p if isinstance(p, Plan) else None


@functools.lru_cache(maxsize=None)
def _smem_layout(rows: int, cols: int):
    """The NVMMA shared layout of a bf16 [rows, cols] TMA tile (built once: ~16 µs of host time each)."""
    return gl.NVMMASharedLayout.get_default_for([rows, cols], gl.bfloat16)


_THREAD = threading.local()


def bind_context(device: torch.device) -> None:
    """Make ``device``'s primary CUDA context current on this thread if the thread has none (checked once per thread
    and device). Needed before a launch with TMA descriptors: Triton encodes them on the host
    (``cuTensorMapEncodeTiled``) before its launcher binds a context, and a thread whose first CUDA work is that
    launch has none. The autograd engine's backward thread is such a thread when the backward's first CUDA call is
    the Gluon dq pass (found on the H200: "Failed to create tensor map descriptor: invalid device context"; the
    same failure as pytorch/pytorch#124565, which Triton's launcher fixed for its own calls).

    Raises:
        RuntimeError: the CUDA driver library cannot be loaded, or one of the driver calls fails (named, with its
            error code).
    """
    idx = device_index(device)
    done = getattr(_THREAD, "bound", None)
    if done is None:
        done = _THREAD.bound = set()
    if idx in done:
        return
    cuda = _libcuda()
    ctx = ctypes.c_void_p()

    def check(name, err):
        if err != 0:
            raise RuntimeError(f"binding the CUDA context of cuda:{idx} to this thread: {name} returned {err}")

    check("cuCtxGetCurrent", cuda.cuCtxGetCurrent(ctypes.byref(ctx)))
    if not ctx.value:
        dev = ctypes.c_int()
        check("cuDeviceGet", cuda.cuDeviceGet(ctypes.byref(dev), idx))
        check("cuDevicePrimaryCtxRetain", cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev))
        check("cuCtxSetCurrent", cuda.cuCtxSetCurrent(ctx))
    done.add(idx)


@functools.lru_cache(maxsize=1)
def _libcuda():
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        raise RuntimeError(f"the CUDA driver library libcuda.so.1 cannot be loaded: {exc}") from exc
    vp, i32 = ctypes.c_void_p, ctypes.c_int  # declared, so a CUcontext is never passed as a 32-bit int
    signatures = {"cuCtxGetCurrent": [ctypes.POINTER(vp)], "cuDeviceGet": [ctypes.POINTER(i32), i32],
                  "cuDevicePrimaryCtxRetain": [ctypes.POINTER(vp), i32], "cuCtxSetCurrent": [vp]}
    for name, args in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, i32
    return lib


def _view2d(t: torch.Tensor, layout: str) -> torch.Tensor:
    """The 2-D view the descriptors describe: bhnd [b·h·n, dim] (head h at row (b·H + h)·n), bnhd [b·n, h·dim]."""
    if layout == "bhnd":
        return t.reshape(-1, t.shape[-1])
    b, n, h, x = t.shape
    return t.reshape(b * n, h * x)


def _desc(t: torch.Tensor, layout: str, cols: int):
    """TMA descriptor of ``t``'s 2-D view (:func:`_view2d`) with [BLOCK_N, cols] blocks, for a contiguous ``t``."""
    if not _L.FAST_HOST or not t.is_contiguous():
        t2 = _view2d(t, layout)
        return TensorDescriptor(t2, list(t2.shape), list(t2.stride()), [BLOCK_N, cols], _smem_layout(BLOCK_N, cols))
    width = t.shape[-1] if layout == "bhnd" else t.shape[-2] * t.shape[-1]
    return _tdesc(t, [t.numel() // width, width], [width, 1], cols)


_DESC_TEMPLATES: dict[tuple, dict] = {}


def _tdesc(base: torch.Tensor, shape: list[int], strides: list[int], cols: int):
    """``TensorDescriptor(base, shape, strides, [BLOCK_N, cols], _smem_layout(BLOCK_N, cols))`` for a 2-D
    (shape, strides) view of contiguous ``base`` starting at its first element, built by copying a validated one
    (``_launch.FAST_HOST``; 2.3 instead of 7.8 µs per descriptor on the H200's host, with :func:`_desc`'s skipped
    reshape: tools/host_parts.py, perf-notes v31): the constructor's checks (alignment, dtype, block shape) run once
    per (dtype, cols, shape, strides) and for any base not 16-byte aligned (the constructor then raises). The
    descriptor carries ``lb_key``, what Triton specializes a launch on (dtype and block; the layout follows from
    both), for ``_launch.launch``."""
    key = (base.dtype, cols, shape[0], shape[1], strides[0])
    tmpl = _DESC_TEMPLATES.get(key) if _L.FAST_HOST else None
    if tmpl is None or base.data_ptr() % 16:
        d = TensorDescriptor(base, shape, strides, [BLOCK_N, cols], _smem_layout(BLOCK_N, cols))
        d.lb_key = (base.dtype, cols)
        if len(_DESC_TEMPLATES) >= 1024:
            _DESC_TEMPLATES.clear()
        _DESC_TEMPLATES[key] = {name: value for name, value in d.__dict__.items() if name != "base"}  # no tensor kept
        return d
    d = object.__new__(TensorDescriptor)
    d.__dict__.update(tmpl)
    d.base = base
    return d


def _descs(q, k, v, o, layout: str, block_e: int):
    """TMA descriptors of q, k ([BLOCK_N, head_dim] blocks), v and o ([BLOCK_N, block_e] blocks)."""
    d = q.shape[-1]
    return [_desc(q, layout, d), _desc(k, layout, d), _desc(v, layout, block_e), _desc(o, layout, block_e)]


def _stamps(programs: int, words: int) -> dict:
    """Launch keywords of the stamp probe (``STAMP_BUF`` set: the kernels' ``STAMPS`` and the buffer), checked to
    hold ``words`` int64 per program; else nothing."""
    if STAMP_BUF is None:
        return {}
    if STAMP_BUF.dtype != torch.int64 or STAMP_BUF.numel() < programs * words:
        raise ValueError(f"STAMP_BUF: needs int64 with ≥ {programs * words} elements ({programs} programs × {words}),"
                         f" got {STAMP_BUF.dtype} with {STAMP_BUF.numel()}")
    return {"STAMPS": True, "STAMP_BUF": STAMP_BUF}


def _early(on: bool) -> dict:
    """Launch keyword ``EARLY`` (the first ring stage issued before the partitions start) where ``on``, else nothing:
    :data:`WS_EARLY_STAGE` for a ws launch without PREFIX or LOOKBACK, :data:`WG2_EARLY_STAGE` for a wg2 forward
    without LOOKBACK, :data:`X3_EARLY_STAGE` for the one-launch backward."""
    return {"EARLY": True} if on else {}


def _pdl() -> dict:
    """Launch keywords of the programmatic dependent launch (``PDL``; :func:`_pdl_enter`): the kernels' ``PDL``
    constexpr and Triton's ``launch_pdl`` option, or nothing (the variants compiled without it)."""
    return {"PDL": True, "launch_pdl": True} if PDL else {}


def forward(q, k, v, slopes, layout: str, p: Plan, o: torch.Tensor, s0: torch.Tensor | None = None,
            segment_hook=None, reverse: bool = False, s0_shift: bool = False, want_final: bool = False):
    """Run the planned launch(es) into ``o`` (same layout as v, contiguous): with segments, first the Triton
    segment-end states (fp32 [batch·heads, nseg, head_dim, value_dim]), then the Gluon forward, which starts from
    ``s0`` (fp32 [batch, heads, head_dim, value_dim], the state before the first token; None = 0). With
    ``segment_hook`` (sequence parallelism, as in ``kernel._fwd``) the end states of *all* segments are computed,
    the hook is called as ``segment_hook(seg_buf, nseg, seg)`` and its result (or None) replaces ``s0``.
    ``Plan.prefix`` and ``Plan.lookback`` need no pre-pass launch; a lookback launch falls back to the pre-pass while
    a CUDA graph is being captured (its flags carry a per-launch epoch that a replay would not renew).

    ``reverse`` (the backward's anti-causal sums, :func:`backward`): o_t = Σ_(s ≥ t) λ^(s−t) (q_t·k_s) v_s, blocks
    and segments in the order last → first (``ws`` or ``wg2`` plans, unsplit or lookback; no hook), plus
    λ^(n−t)·q_t s0 from an initial state ``s0`` entering after the last row.

    ``s0_shift`` (with ``s0``; ``ws`` / ``wg2`` plans, unsplit or lookback): s0 enters one λ less decayed, λ^m instead
    of λ^(m+1) at the m-th processed row (m from 0), exactly (no division by λ; see ``_ws_compute``).
    ``want_final`` (``ws`` / ``wg2`` plans, unsplit or lookback): also return the state after the last processed
    row, fp32 ``[batch·heads, head_dim, value_dim]`` (forward: Σ_s λ^(n−1−s) k_sᵀ v_s + λ^n s0; ``reverse``:
    Σ_s λ^s k_sᵀ v_s + λ^n s0), as ``(o, final)``.

    Raises:
        ValueError: ``reverse``, ``s0_shift`` or ``want_final`` with a plan or arguments it does not cover (callers
            check :func:`backward_plans`).
    """
    from . import kernel as K

    b, h, n, d, e = _dims(q, v, layout)
    prefix = p.prefix and segment_hook is None  # the hook needs every segment's end state: the pre-pass
    lookback = (p.lookback and p.nseg > 1 and segment_hook is None
                and not (q.is_cuda and torch.cuda.is_current_stream_capturing()))
    if p.pair and (reverse or p.nseg > 1 or segment_hook is not None or n % (2 * BLOCK_N)):
        raise ValueError(f"pair plans: unsplit forward, no segment_hook, seq_len % {2 * BLOCK_N} == 0; got "
                         f"{p.describe()} at seq_len {n}")
    if reverse and (not p.ws or segment_hook is not None or (p.nseg > 1 and not lookback)):
        raise ValueError(f"reverse: needs a warp-specialized plan, unsplit or with a lookback split outside CUDA "
                         f"graph capture, and no segment_hook; got {p.describe()}")
    if (s0_shift or want_final) and (not p.ws or p.pair or segment_hook is not None or prefix
                                     or (p.nseg > 1 and not lookback)):
        raise ValueError(f"s0_shift / want_final: need a ws or wg2 plan, unsplit or with a lookback split outside CUDA "
                         f"graph capture, and no segment_hook; got {p.describe()}")
    if s0_shift and s0 is None:
        raise ValueError("s0_shift: needs an initial state s0")
    seg_buf = q
    flags, epoch = q, 0
    if lookback:
        seg_buf = torch.empty(b * h, p.nseg, d, e, dtype=torch.float32, device=q.device)
        flags, epoch = _flags(q.device, b * h * (e // p.block_e) * p.nseg * 128)
    elif (p.nseg > 1 and not prefix) or segment_hook is not None:
        count = p.nseg if segment_hook is not None else p.nseg - 1
        seg_buf = K._seg_end_states(k, v, slopes, q, layout, h, n, d, e, p.seg, p.nseg, count, _prec(q.dtype),
                                    BLOCK_N, d, p.block_e, 4, 2, chunks=p.chunks)
        if segment_hook is not None:
            s0 = segment_hook(seg_buf, p.nseg, p.seg)
    if want_final and seg_buf is q:  # unsplit: one slot, written by the only segment
        seg_buf = torch.empty(b * h, p.nseg, d, e, dtype=torch.float32, device=q.device)
    if s0 is not None:
        s0 = s0.float().contiguous()
    args = (*_descs(q, k, v, o, layout, p.block_e), slopes if slopes is not None else seg_buf, seg_buf,
            s0 if s0 is not None else seg_buf, flags, epoch, h, n, e, p.seg, p.nseg, o,
            e if layout == "bhnd" else h * e)
    ce = dict(HAS_DECAY=slopes is not None, SPLIT=p.nseg > 1, HAS_S0=s0 is not None, BNHD=layout == "bnhd",
              BLOCK_N=BLOCK_N, BLOCK_D=d, BLOCK_E=p.block_e, STAGES=p.stages, Q_REG=p.q_reg, num_warps=4,
              **({"maxnreg": p.maxnreg} if p.maxnreg else {}))
    if q.is_cuda:
        bind_context(q.device)  # the launch encodes TMA descriptors on the host: this thread needs a CUDA context
    tile_major = _tile_major(p, b * h, e)
    grid = (e // p.tile, b * h, p.nseg) if tile_major else (b * h, e // p.tile, p.nseg)
    if s0_shift or want_final:  # only then: the default launches keep their compiled variants
        ce.update(S0_SHIFT=s0_shift, STORE_FINAL=want_final)
    if p.wg2:
        _launch(_la2_fwd_gluon_wg2_kernel, grid, *args, _fast=not lookback, LOOKBACK=lookback, REGS=WG2_REGS,
                REVERSE=reverse, O_DIRECT=p.o_direct, STATE_FIRST=p.state_first, QK_AHEAD=_qk_form(p), **_pdl(),
                **_stamps(grid[0] * grid[1] * grid[2], 16), **_early(WG2_EARLY_STAGE and not lookback), **ce)
    elif p.pair:
        _launch(_la2_fwd_gluon_pair_kernel, grid, *args, REGS=WG2_REGS, **ce)
    elif p.ws:
        _launch(_la2_fwd_gluon_ws_kernel, grid, *args, _fast=not lookback, PREFIX=prefix, LOOKBACK=lookback,
                REVERSE=reverse, O_DIRECT=p.o_direct, VG_AHEAD=p.vg_ahead and not p.qk_ahead, TILE_MAJOR=tile_major,
                STATE_FIRST=p.state_first, QK_AHEAD=_qk_form(p), **_pdl(), **_stamps(grid[0] * grid[1] * grid[2], 16),
                **_early(WS_EARLY_STAGE and not (prefix or lookback)), **ce)
    else:
        _launch(_la2_fwd_gluon_kernel, grid, *args, **ce)
    if want_final:
        return o, seg_buf[:, p.nseg - 1]
    return o


def backward_plans(q, k, v, do, slopes, layout: str) -> list[Plan] | None:
    """The three launches of :func:`backward` for validated bf16 inputs (dq causal; dk, dv anti-causal), or None
    where it does not apply (then the Triton backward runs): the same eligibility as the forward (:func:`plan`: sm_90,
    bf16, head_dim and value_dim 64 or 128, seq_len % 64 == 0, contiguous) for each pass's dims. Split plans become
    lookback splits (the pre-pass has no anti-causal form); under CUDA graph capture only unsplit passes run (the
    lookback split's per-launch flags cannot be replayed), so a split shape keeps the Triton backward there unless
    :func:`backward` replaces its passes by unsplit ones side by side (:func:`concurrent_plans`)."""
    if not q.is_cuda:
        return None
    if any(t.dtype != q.dtype for t in (k, v, do)) or not all(_tma_ok(t) for t in (q, k, v, do)):
        return None
    b, h, n, d, e = _dims(q, v, layout)
    plans = _backward_shape_plans(b * h, n, d, e, q.dtype, q.device)
    if not isinstance(plans, list):
        return None
    if any(p.nseg > 1 for p in plans) and torch.cuda.is_current_stream_capturing():
        if concurrent_plans(b * h, n, d, e, plans, sm_count(q.device)) is None:
            return None
    return plans


def _backward_shape_plans(batch_heads: int, seq_len: int, head_dim: int, value_dim: int, dtype,
                          device: torch.device) -> "list[Plan] | str":
    """The three plans of :func:`backward` for this shape, or why the Triton backward runs (tensor-free part)."""
    plans = []
    for hd, vd in ((value_dim, head_dim), (value_dim, head_dim), (head_dim, value_dim)):  # dq, dk, dv passes
        p = _shape_plan(batch_heads, seq_len, hd, vd, dtype, device, "auto")
        if not isinstance(p, Plan):
            return p
        if p.nseg > 1 and not p.lookback:
            p = dataclasses.replace(p, lookback=True)
        plans.append(p)
    return plans


def backward(q, k, v, do, slopes, layout: str, plans: list[Plan],
             grads: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dq, dk, dv of o = LA2(q, k, v) (no initial or final state) as three runs of the forward kernel, because each
    gradient is itself a (causal or anti-causal) decayed linear attention (paper arXiv 2401.04658 §3.2, Algorithm 2;
    shared docs §2), with o_t = Σ_(s ≤ t) λ^(t−s) (q_t·k_s) v_s:

        dq_t = Σ_(s ≤ t) λ^(t−s) (do_t·v_s) k_s  = F(q=do, k=v, v=k)             (causal)
        dk_s = Σ_(t ≥ s) λ^(t−s) (v_s·do_t) q_t  = R(q=v, k=do, v=q)             (anti-causal, ``reverse``)
        dv_s = Σ_(t ≥ s) λ^(t−s) (k_s·q_t) do_t  = R(q=k, k=q, v=do)

    Shapes as the inputs (dq like q, dk like k, dv like v; bf16, fp32 accumulation); ``plans`` from
    :func:`backward_plans`, replaced by three unsplit passes side by side where :func:`concurrent_plans` says so.
    The one launch returns dq, dk, dv as views of one stacked buffer (:func:`x3_one_out`). ``grads``: a flat buffer
    of 2·q.numel() + v.numel() elements to write them into (:func:`grad_views`; the ``la2_bwd`` custom op's one
    output, which torch.compile calls: its outputs may not alias each other, so it returns the buffer, not the views);
    the one launch's stacked buffer is then ``grads`` itself."""
    b, h, n, d, e = _dims(q, v, layout)
    side_by_side = concurrent_plans(b * h, n, d, e, plans, sm_count(q.device))
    one = side_by_side is not None and one_launch(d, e, side_by_side)
    # one_launch: head_dim = value_dim, so q, k, v have one shape and the gradients can be one stacked buffer
    stacked = one and x3_one_out()
    if grads is None and stacked:
        grads = torch.empty(3 * q.numel(), dtype=q.dtype, device=q.device)
    if grads is not None:
        dq, dk, dv = grad_views(grads, q, k, v)
    else:
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    if one:
        _backward_one_launch(q, k, v, do, slopes, layout, side_by_side[0], dq, dk, dv,
                             grads.view(3, *q.shape) if stacked else None)
        return dq, dk, dv
    if side_by_side is None and fuse_dkdv(b * h, d, e):
        forward(do, v, k, slopes, layout, plans[0], dq)
        _backward_dkdv(q, k, v, do, slopes, layout, dk, dv)
        return dq, dk, dv
    plans = side_by_side or plans
    pq, pk, pv = plans
    if side_by_side is None and not use_streams(b * h, n, d, e, plans):
        forward(do, v, k, slopes, layout, pq, dq)
        forward(v, do, q, slopes, layout, pk, dk, reverse=True)
        forward(k, q, do, slopes, layout, pv, dv, reverse=True)
        return dq, dk, dv
    # the three passes are independent: dk and dv on two side streams, joined before returning, so that one pass's
    # last blocks overlap the next one's first (every later use of dq, dk, dv, q, k, v, do on this stream waits)
    cur, side = fork(q.device)
    forward(do, v, k, slopes, layout, pq, dq)
    try:
        torch.cuda.set_stream(side[0])
        forward(v, do, q, slopes, layout, pk, dk, reverse=True)
        torch.cuda.set_stream(side[1])
        forward(k, q, do, slopes, layout, pv, dv, reverse=True)
    finally:
        torch.cuda.set_stream(cur)
    join(q.device, cur)
    return dq, dk, dv


def one_launch(head_dim: int, value_dim: int, plans: list[Plan]) -> bool:
    """Whether :func:`backward` runs its three side-by-side passes (:func:`concurrent_plans`) as one launch of
    ``_la2_bwd_gluon_x3_kernel`` instead of three launches on three streams: ``BWD_ONE_LAUNCH`` not False, head_dim
    = value_dim (the passes' tiles then have one shape), one unsplit ``wg2`` or ``ws`` plan for all three passes and
    no ablation knob the one-launch kernel lacks (``o_direct``, ``q_reg``, ``maxnreg``)."""
    p = plans[0]
    return (BWD_ONE_LAUNCH is not False and head_dim == value_dim and all(x == p for x in plans) and p.ws
            and not p.pair and p.nseg == 1 and not (p.o_direct or p.q_reg or p.maxnreg))


def fuse_dkdv(batch_heads: int, head_dim: int, value_dim: int) -> bool:
    """Whether :func:`backward` computes dk and dv in one fused launch (``_la2_bwd_gluon_dkdv_kernel``: one program
    per batch·head reads q, k, v, do once per block and keeps one state for both) after the dq pass, instead of the
    two anti-causal passes, where the passes do not run side by side (:func:`backward` asks only then): head_dim =
    value_dim = 64 or 128, and ``BWD_FUSE_DKDV`` when set, else from ``DKDV_MIN_BATCH_HEADS`` batch·heads (fewer
    programs, one per head, leave SMs idle). Measured on the H200 (tools/probe_dkdv.py, the backward's GPU time
    against the three passes; results/h200/tune/2026-12-01d/a20, b20): head_dim 128 1.16–1.21× at 128 and 256
    batch·heads (2K–32K), 1.42× at 96 (b6 h16 2K / 8K), 0.99–1.06× at 64 (b4 h16, b2 h32, 2K–32K); head_dim 64 1.13–1.21×
    at 128 and 256 (b8 h16 2K–32K, b16 h16 8K), 0.99–1.02× at 64. Where the passes run side by side (b2 h16, b1 h16)
    one after another it is 0.42–0.61×, and its lookback split beside dq (:func:`_backward_split`) 0.83–1.03× at
    b2 h16 (c20, f20)."""
    if head_dim != value_dim or head_dim not in DKDV_STAGES:
        return False
    if BWD_FUSE_DKDV is not None:
        return BWD_FUSE_DKDV
    return batch_heads >= DKDV_MIN_BATCH_HEADS


def _backward_dkdv(q, k, v, do, slopes, layout: str, dk, dv, nseg: int = 1) -> None:
    """dk and dv of :func:`backward` by the fused kernel (head_dim = value_dim = 64 or 128, bf16, validated and
    TMA-eligible as :func:`backward_plans` checks): grid (batch·heads, segments), ``DKDV_STAGES[head_dim]`` ring
    stages; ``nseg`` > 1 asks for about that many segments combined by the in-launch lookback (outside CUDA graph
    capture only: its flags carry a per-launch epoch; under capture the launch runs unsplit)."""
    from .kernel import segments

    b, h, n, d, e = _dims(q, v, layout)
    half = e // 2
    nseg, seg = segments(nseg, 1, 1, n, BLOCK_N)
    lookback = nseg > 1 and not (q.is_cuda and torch.cuda.is_current_stream_capturing())
    seg_buf, flags, epoch = q, q, 0
    if lookback:
        seg_buf = torch.empty(b * h, nseg, d, e, dtype=torch.float32, device=q.device)
        flags, epoch = _flags(q.device, b * h * 2 * nseg * 128)
    else:
        nseg, seg = 1, n
    args = (_desc(q, layout, d), _desc(k, layout, d), _desc(v, layout, half), _desc(do, layout, half),
            _desc(dk, layout, d), _desc(dv, layout, half), slopes if slopes is not None else seg_buf, seg_buf, flags,
            epoch, h, n, seg, nseg)
    if q.is_cuda:
        bind_context(q.device)
    _launch(_la2_bwd_gluon_dkdv_kernel, (b * h, nseg), *args, _fast=not lookback, HAS_DECAY=slopes is not None,
            BNHD=layout == "bnhd", BLOCK_N=BLOCK_N, BLOCK_D=d, BLOCK_E=half, STAGES=DKDV_STAGES[d], num_warps=4,
            REGS=WG2_REGS, LOOKBACK=lookback, **_pdl())


def _backward_split(q, k, v, do, slopes, layout: str, dq, dk, dv, nseg: int, pq: Plan | None = None) -> None:
    """dq by a two-warpgroup lookback split of ``nseg`` segments (or the plan ``pq``) on this stream and dk, dv by the
    fused kernel's lookback split (:func:`_backward_dkdv`) on a side stream, at once (head_dim = value_dim = 128). Measured, not
    used by :func:`backward` (tools/probe_dkdv.py ``--split``, results/h200/tune/2026-12-01d/c20, f20): with the
    own-segment pass through the main ring (c20) 0.75–0.87× the side-by-side passes' one launch at b2 h16 (P2,
    1K–128K); through its half-size ring (:func:`_dkdv_own_sum`, f20) 0.90–1.03× there (dq as unsplit e64 programs,
    ``pq``; as a wg2 split 0.83–0.94×) and 0.87× / 1.15× at b1 h16 2K / 32K (P4). GPU-tested
    (``test_split_backward_matches_reference``)."""
    n = q.shape[2] if layout == "bhnd" else q.shape[1]
    if pq is None:
        pq = Plan.make(n, 64, 3, nseg, wg2=True, lookback=True, o_direct=O_DIRECT, state_first=STATE_FIRST)
    cur, side = fork(q.device)
    forward(do, v, k, slopes, layout, pq, dq)
    try:
        torch.cuda.set_stream(side[0])
        _backward_dkdv(q, k, v, do, slopes, layout, dk, dv, nseg)
    finally:
        torch.cuda.set_stream(cur)
    join(q.device, cur)


def x3_one_body() -> bool:
    """Whether the one-launch backward runs one copy of its compute code for the three passes (``ONE_BODY`` of
    ``_la2_bwd_gluon_x3_kernel``: direction and first row chosen per program at run time; 2.9 K SASS instructions at
    wg2) instead of an inlined copy per pass (6.7 K): yes at every length, unless :data:`BWD_X3_ONE_BODY` is False.
    Why (perf-notes v26, v27): the 6.7 K-instruction kernel's programs reach their first block 5–7.5 µs after
    issuing its loads, held by instruction fetch (Nsight Compute: ``no_instruction`` stalls in the first compute
    warpgroup's per-pass prologue, whose code is reached by a jump; the one body's follows the partition's entry and
    gets there in 2.8–3.8 µs). With three output descriptors chosen at run time the one body was ~4% slower per block
    (v26: one body up to 4K only); with the stacked output (:func:`x3_one_out`) it is not. Measured on the H200
    (tools/tune_knob.py --knob bwd_x3_one_body --cases x3 / x3b1, A B B A, fwd_bwd, one body with the stacked output
    against a copy per pass; results/h200/tune/2026-12-01i/b26, c26): b2 h16 (wg2 programs) 1.058 / 1.031 / 1.019 /
    1.013 / 1.009 / 1.019× at 1K / 2K / 4K / 8K / 32K / 128K, bnhd 2K 1.024×; b1 h16 (one-warpgroup e64 programs)
    1.008 / 1.013 / 1.020 / 1.024× at 2K / 8K / 32K / 128K. (A third form, the decay factors once for the three
    passes and then a copy per pass, 5.3 K instructions, measured 1.020× at 1K and 0.977× at 32K: not kept; dq's own
    copy with one reverse copy for dk and dv, :data:`BWD_X3_DKDV_BODY`, 1.00–1.03×: dk and dv still start late.)"""
    return BWD_X3_ONE_BODY is not False


def x3_one_out() -> bool:
    """Whether the one launch's one body (:func:`x3_one_body`) writes dq, dk, dv as views of one stacked
    [3, *q.shape] buffer through one output TMA descriptor, the pass offsetting its rows by pass · rows (``ONE_OUT``),
    instead of choosing one of three descriptors at run time: yes wherever the one body runs, unless
    :data:`BWD_X3_ONE_OUT` is False. Measured on the H200 (tools/tune_knob.py --knob bwd_x3_one_out, one body
    forced, A B B A, fwd_bwd; results/h200/tune/2026-12-01i/a26, b26): b2 h16 (wg2 programs) 1.022–1.025× at 1K–4K
    (a26) and 1.013–1.023× at 1K–128K (b26), bnhd 2K 1.000 / 1.014×; b1 h16 (one-warpgroup programs) 0.995–0.997× at
    2K and 8K (the one body with it still 1.008–1.024× a copy per pass there). The run-time descriptor's cost grew
    with the number of blocks (a26: ~1 / 2 / 4 µs at 1K / 2K / 4K), a per-block cost of each TMA store through it.
    The gradients are contiguous views; autograd holds the buffer until all three are released."""
    return BWD_X3_ONE_OUT is not False and x3_one_body()


def _backward_one_launch(q, k, v, do, slopes, layout: str, p: Plan, dq, dk, dv, stacked=None) -> None:
    """dq, dk, dv of :func:`backward` in one launch (``_la2_bwd_gluon_x3_kernel``, grid axis 2 = pass) with plan
    ``p`` for every pass (:func:`one_launch`). Ten TMA descriptors (eight with ``stacked``): the qk-shaped ones of do
    and v serve two passes.
    ``stacked`` (:func:`x3_one_out`): the [3, …] buffer dq, dk, dv are views of; one descriptor then covers all
    three (its 2-D view: the three gradients' 2-D views one after the other)."""
    b, h, n, d, e = _dims(q, v, layout)
    dqk = {id(t): _desc(t, layout, d) for t in (do, v, k, q)}
    dv_ = {id(t): _desc(t, layout, p.block_e) for t in (k, q, do)}
    orows = b * h * n if layout == "bhnd" else b * n  # rows of dq's 2-D view (:func:`_view2d`)
    if stacked is not None:  # one descriptor for the three outputs (the kernel reads only o0)
        width = stacked.numel() // (3 * orows)
        o_all = _tdesc(stacked, [3 * orows, width], [width, 1], p.block_e)
        odq = odk = odv = o_all
    else:
        odq, odk, odv = (_desc(t, layout, p.block_e) for t in (dq, dk, dv))
    args = (dqk[id(do)], dqk[id(v)], dv_[id(k)], odq,   # dq = F(q=do, k=v, v=k)
            dqk[id(v)], dqk[id(do)], dv_[id(q)], odk,   # dk = R(q=v, k=do, v=q)
            dqk[id(k)], dqk[id(q)], dv_[id(do)], odv,   # dv = R(q=k, k=q, v=do)
            slopes if slopes is not None else q, h, n, e)
    if q.is_cuda:
        bind_context(q.device)
    pass_inner = BWD_PASS_INNER and b * h <= 65535  # the grid's y limit
    tile_major = not p.wg2 and not pass_inner and _tile_major(p, b * h, e)
    if pass_inner:
        grid = (3, b * h, e // p.tile)
    else:
        grid = (e // p.tile, b * h, 3) if tile_major else (b * h, e // p.tile, 3)
    _launch(_la2_bwd_gluon_x3_kernel, grid, *args, HAS_DECAY=slopes is not None, BNHD=layout == "bnhd",
            BLOCK_N=BLOCK_N, BLOCK_D=d, BLOCK_E=p.block_e, STAGES=p.stages, num_warps=4, WG2=p.wg2, REGS=WG2_REGS,
            VG_AHEAD=p.vg_ahead and not p.wg2 and not p.qk_ahead, TILE_MAJOR=tile_major, STATE_FIRST=p.state_first,
            PASS_INNER=pass_inner, QK_AHEAD=_qk_form(p), **_pdl(), **_stamps(grid[0] * grid[1] * grid[2], 16),
            ONE_BODY=x3_one_body(), DKDV_BODY=bool(BWD_X3_DKDV_BODY),
            ONE_PASS=None if BWD_X3_ONE_PASS is None else int(BWD_X3_ONE_PASS), ONE_OUT=stacked is not None,
            OROWS=orows, **_early(X3_EARLY_STAGE))


def concurrent_plans(batch_heads: int, seq_len: int, head_dim: int, value_dim: int, plans: list[Plan],
                     sms: int = 132) -> list[Plan] | None:
    """Unsplit plans for the backward's three passes that replace ``plans`` (the forward's launch rule per pass) and
    run side by side on the side streams, or None. A split pass needs as many programs per head as fill the SMs and
    reads the earlier segments' K, V once more from DRAM (the lookback); an unsplit one-warpgroup e32 pass fills the
    SMs with four programs per head that each recompute QKᵀ; three unsplit passes at once with fewer, wider programs
    fill 3× the programs of one and do neither. Taken where the three unsplit launches together fill 70–100% of the
    SMs in one wave — two-warpgroup programs (head_dim 128 per pass, one per 128 value columns) first, else
    one-warpgroup e64 programs — and either some pass is split (from batch·heads·seq_len ≥ ``STREAMS_MIN_WORK``) or
    head_dim = value_dim = 128 (any length: measured there). Measured on the H200 (tools/tune_bwd_split.py; backward
    GPU time, ms):

    - b2 h16 d128 (96 wg2 programs): 0.879 / 1.751 / 3.481 at 32K / 64K / 128K against the wg2 P4 lookback's 1.121 /
      2.233 / 4.406 (1.27×, results/h200/tune/2026-12-01a/e16); 0.041 / 0.067 / 0.125 / 0.235 / 0.453 at 1K / 2K /
      4K / 8K / 16K against the serial e32 passes' (16K: P4 lookback) 0.055 / 0.095 / 0.173 / 0.321 / 0.605
      (1.34–1.42×, results/h200/tune/2026-12-01b/b18);
    - b1 h16 d128 (96 e64 programs; three wg2 passes are only 48): 1.071 / 2.120 at 64K / 128K against 1.156 / 2.289
      (1.08×), where three wg2 passes took 1.593 / 3.155; 0.029 / 0.046 / 0.080 / 0.150 / 0.281 / 0.544 at 1K–32K
      against 0.062 / 0.072 / 0.133 / 0.208 / 0.359 / 0.640 (1.17–2.1×, b18).

    Host time: the side streams' fork and join (:func:`fork`, :func:`join`), ~25–30 µs per call (d18).
    ``BWD_CONCURRENT`` False (or ``BWD_STREAMS`` False) turns it off; True takes it wherever the dims allow, whatever
    the SMs' fill (tests: the side-by-side code paths at small shapes). ``BWD_X3_TILE`` (32 or 64; ablation,
    perf-notes v24 lead 1): where the rule takes the passes side by side, one-warpgroup programs of that value tile
    instead (more programs than SMs: b2 h16 e32 3 × 128), with the forward's ``qk_ahead`` rule (its one-fence form)."""
    if BWD_CONCURRENT is False or BWD_STREAMS is False:
        return None
    force = BWD_CONCURRENT is True
    split = any(p.nseg > 1 for p in plans)
    if not force and not ((split and batch_heads * seq_len >= STREAMS_MIN_WORK)
                          or head_dim == value_dim == 128):
        return None
    dims = ((value_dim, head_dim), (value_dim, head_dim), (head_dim, value_dim))  # (head_dim, value_dim) per pass
    side = _side_by_side(batch_heads, seq_len, head_dim, value_dim, dims, sms, force)
    if side is None or BWD_X3_TILE is None:
        return side
    if BWD_X3_TILE not in (32, 64):
        raise ValueError(f"gluon_fwd.BWD_X3_TILE must be None, 32 or 64, got {BWD_X3_TILE!r}")
    if any(vd % BWD_X3_TILE for _, vd in dims):
        return side
    return _pass_plans(seq_len, batch_heads, dims, BWD_X3_TILE, side_by_side=False, vg=False)


def _pass_plans(seq_len: int, batch_heads: int, dims, tile: int, side_by_side: bool, vg: bool) -> list[Plan]:
    """Unsplit one-warpgroup plans of value tile ``tile`` for the passes of ``dims`` ((head_dim, value_dim) each)
    with the module's ablation knobs as in :func:`_shape_plan`: the ``qk_ahead`` rule for passes ``side_by_side`` or
    not, ``vg_ahead`` by its rule where ``vg``, and the tile-major grid where it applies."""
    out = []
    for hd, vd in dims:
        vg_hd = vg and (VG_AHEAD if VG_AHEAD is not None else vg_ahead_wins(hd, tile, False))
        p = Plan.make(seq_len, tile, RING_STAGES[tile], 1, True, vg_ahead=vg_hd, tile_major=TILE_MAJOR,
                      o_direct=O_DIRECT, state_first=STATE_FIRST, qk_ahead=qk_ahead(hd, side_by_side))
        out.append(dataclasses.replace(p, tile_major=_tile_major(p, batch_heads, vd)))
    return out


def _side_by_side(batch_heads: int, seq_len: int, head_dim: int, value_dim: int, dims, sms: int,
                  force: bool) -> list[Plan] | None:
    """:func:`concurrent_plans`'s rule once it applies: two-warpgroup programs first, else one-warpgroup e64."""
    if all(hd == 128 and vd % 128 == 0 for hd, vd in dims):
        progs = sum(batch_heads * (vd // 128) for _, vd in dims)
        if force or 0.7 * sms <= progs <= sms:  # the module's ablation knobs as in _shape_plan
            return [Plan.make(seq_len, 64, BWD_X3_STAGES or 3, 1, wg2=True, o_direct=O_DIRECT,
                              state_first=STATE_FIRST, qk_ahead=qk_ahead(head_dim, side_by_side=True))] * 3
    if all(vd % 64 == 0 for _, vd in dims):
        progs = sum(batch_heads * (vd // 64) for _, vd in dims)
        if force or 0.7 * sms <= progs <= sms:
            return _pass_plans(seq_len, batch_heads, dims, 64, side_by_side=True, vg=True)
    return None


def use_streams(batch_heads: int, seq_len: int, head_dim: int, value_dim: int, plans: list[Plan]) -> bool:
    """Whether this backward call's dk, dv passes go on side streams: ``BWD_STREAMS`` when set, else
    :func:`streams_win` with the passes' unsplit value tiles per batch·head (value dims d, d, e for dq, dk, dv)."""
    if BWD_STREAMS is not None:
        return BWD_STREAMS
    tiles = [vd // p.tile if p.nseg == 1 else 1 for p, vd in zip(plans, (head_dim, head_dim, value_dim))]
    return streams_win(batch_heads, seq_len, max(tiles))


def streams_win(batch_heads: int, seq_len: int, unsplit_tiles: int = 1) -> bool:
    """Whether :func:`backward` runs its dk, dv passes on two side streams: from batch·heads·seq_len ≥ 2^20 (≥ ~0.8 ms
    of GPU work at head_dim 128, of the order of the call's host time), and only where no pass runs more than one
    value-tile program per batch·head unsplit (``unsplit_tiles``: the largest value_dim // tile of the unsplit
    passes; 1 when every pass has one tile or is split). Measured on the H200 (tools/tune_bwd_streams.py,
    results/h200/tune/2026-11-30l and 2026-11-30m): the backward's GPU time 1.00–1.12× faster with them (one pass's
    last blocks overlap the next one's first; most at few batch·heads and short lengths, b1 h16 8K 1.10×, b4 h32 2K
    1.08×, which the rule leaves off: there the stream switches and events add more host time, up to ~0.4 ms per
    call, than the GPU saves); where the rule turns them on 1.01–1.03× (b2 h16 32K / 64K, b8 h16 32K, b4 h32 32K,
    b8 h16 d64 64K). But **0.84–0.91×** at the unsplit two-tile launches of 64 batch·heads (b4 h16 d128 e64 32K–128K,
    b2 h32 32K, b4 h16 d64 e32 16K / 64K): inferred, not profiled, that a lone pass's value-tile programs of one head
    run side by side and share their Q, K reads in L2, which interleaved passes break."""
    return batch_heads * seq_len >= STREAMS_MIN_WORK and unsplit_tiles <= 1


_SIDE: dict[int, tuple] = {}


def _side_streams(device: torch.device) -> tuple:
    """Two side streams of this device (created once)."""
    idx = device_index(device)
    if idx not in _SIDE:
        _SIDE[idx] = (torch.cuda.Stream(idx), torch.cuda.Stream(idx))
    return _SIDE[idx]


def _events(idx: int) -> list:
    """This thread's three reusable CUDA events of device ``idx`` (fork, side 0, side 1): a stream wait uses the
    event's latest record at the time of the wait, so one set serves every call on this thread; per thread, so that
    two threads' records cannot interleave between another's record and wait."""
    evs = getattr(_THREAD, "events", None)
    if evs is None:
        evs = _THREAD.events = {}
    if idx not in evs:
        evs[idx] = [torch.cuda.Event() for _ in range(3)]
    return evs[idx]


def fork(device: torch.device) -> tuple:
    """``(current stream, side streams)`` with both side streams ordered after the work queued so far on the current
    stream (one event record, two waits: reused events instead of ``Stream.wait_stream``'s new event per wait)."""
    idx = device_index(device)
    cur = torch.cuda.current_stream(idx)
    side = _side_streams(device)
    ev = _events(idx)[0]
    ev.record(cur)
    side[0].wait_event(ev)
    side[1].wait_event(ev)
    return cur, side


def join(device: torch.device, cur) -> None:
    """Order ``cur`` after the work queued so far on both side streams of ``device`` (:func:`fork`'s other half)."""
    idx = device_index(device)
    side = _side_streams(device)
    evs = _events(idx)
    for s, ev in zip(side, evs[1:]):
        ev.record(s)
        cur.wait_event(ev)


_FLAGS: dict[tuple[int, int], list] = {}
_EPOCH_MAX = 2**31 - 2


def _flags(device: torch.device, words: int) -> tuple[torch.Tensor, int]:
    """The lookback flag words (int32, one per thread of a warpgroup per value tile and segment) of this device and
    stream, and this launch's epoch: a program waits until a flag holds the epoch, so flags never need clearing
    between launches. One buffer per stream: launches on one stream run in order, so no two launches share a flag
    at the same time. Zeroed again when grown or when the epoch wraps."""
    idx = device_index(device)
    key = (idx, torch.cuda.current_stream(idx).cuda_stream)
    ent = _FLAGS.get(key)
    if ent is None or ent[0].numel() < words or ent[1] >= _EPOCH_MAX:
        ent = [torch.zeros(max(words, 1 << 16), dtype=torch.int32, device=device), 0]
        _FLAGS[key] = ent
    ent[1] += 1
    return ent[0], ent[1]


def describe(batch: int, heads: int, seq_len: int, head_dim: int, value_dim: int, dtype, device,
             layout: str = "bhnd", seq_split="auto") -> str:
    """Which forward ``lightning_attn`` runs for these inputs (recorded per benchmark row)."""
    p = _shape_plan(batch * heads, seq_len, head_dim, value_dim, dtype, torch.device(device), seq_split)
    return p.describe() if isinstance(p, Plan) else f"triton fwd ({p})"


_COMPILER = None  # a spawned worker process for compile_sm90 (see there)


def compile_sm90(block_e: int = 32, stages: int = 3, split: bool = False, bnhd: bool = False, head_dim: int = 128,
                 decay: bool = True, ws: bool = False, q_reg: bool = False, s0: bool = False,
                 prefix: bool = False, wg2: bool = False, lookback: bool = False, reverse: bool = False,
                 pair: bool = False, o_direct: bool = False, vg_ahead: bool = False, tile_major: bool = False,
                 state_first: bool = False, s0_shift: bool = False, store_final: bool = False,
                 x3: bool = False, dkdv: bool = False, qk_ahead: int = 0, pdl: bool = False,
                 stamps: bool = False, one_pass: int | None = None, one_body: bool = False,
                 dkdv_body: bool = False, one_out: bool = False, early: bool = False) -> dict:
    """Compile the kernel for sm_90a without a GPU and return facts about the result: shared memory (bytes),
    the ``wgmma.wait_group`` operands in program order, wgmma / TMA instruction counts (``wgmma_reg_a``: those with
    a register A operand), and where the Triton
    package ships ptxas, registers and spill bytes. ``x3``: the backward's one-launch kernel
    (``_la2_bwd_gluon_x3_kernel``, ``wg2`` or the ``ws`` form; ``vg_ahead``, ``tile_major``, ``state_first`` apply);
    ``dkdv``: the backward's fused dk, dv kernel (``_la2_bwd_gluon_dkdv_kernel``; ``block_e`` is its value half,
    ``stages``, ``bnhd``, ``decay`` apply); ``pdl``: the ``PDL`` form (:func:`_pdl_enter`; not with ``pair``; its PTX
    count is ``griddepcontrol``); ``stamps``: the stamp probe's form (:data:`STAMP_BUF`; ``ws``, ``wg2`` or ``x3``);
    ``one_pass``: the ``x3`` probe form whose programs all run that pass (:data:`BWD_X3_ONE_PASS`); ``one_body``:
    the ``x3`` kernel's one compute body for the three passes (:func:`x3_one_body`); ``dkdv_body``: its dk and dv
    passes in one reverse copy (:data:`BWD_X3_DKDV_BODY`); ``one_out``: the one body's stacked output
    (:data:`BWD_X3_ONE_OUT`); ``early``: the first stage issued before the partitions (:data:`WS_EARLY_STAGE` for
    ws, :data:`WG2_EARLY_STAGE` for wg2, :data:`X3_EARLY_STAGE` for x3).
    Used by the CPU tests and tools/gluon_la2_fwd.py.

    Under ``TRITON_INTERPRET=1`` the compile runs in one spawned worker process (reused): Triton 3.9's interpreter
    leaves ``triton.language.core`` builtins patched after a kernel ran in this process, and a later compile (one
    the Triton cache does not already hold) then fails inside the interpreter's builder (CPU test suite, cold cache).

    Raises:
        RuntimeError: this triton has no Gluon.
    """
    args = dict(block_e=block_e, stages=stages, split=split, bnhd=bnhd, head_dim=head_dim, decay=decay, ws=ws,
                q_reg=q_reg, s0=s0, prefix=prefix, wg2=wg2, lookback=lookback, reverse=reverse, pair=pair,
                o_direct=o_direct, vg_ahead=vg_ahead, tile_major=tile_major, state_first=state_first,
                s0_shift=s0_shift, store_final=store_final, x3=x3, dkdv=dkdv, qk_ahead=qk_ahead, pdl=pdl,
                stamps=stamps, one_pass=one_pass, one_body=one_body, dkdv_body=dkdv_body, one_out=one_out,
                early=early)
    if IMPORT_ERROR is not None:
        raise RuntimeError(f"Gluon unavailable: {IMPORT_ERROR}")
    return compile_outside_interpreter(_compile_sm90, **args)


def compile_outside_interpreter(fn, **kwargs):
    """``fn(**kwargs)`` here, or under ``TRITON_INTERPRET=1`` in one spawned worker process (reused), where a compile
    for sm_90a is safe from the interpreter's patched builtins (see :func:`compile_sm90`)."""
    global _COMPILER
    if os.environ.get("TRITON_INTERPRET") != "1":
        return fn(**kwargs)
    if _COMPILER is None:
        import concurrent.futures
        import multiprocessing

        _COMPILER = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    return _COMPILER.submit(fn, **kwargs).result()


def _compile_sm90(block_e, stages, split, bnhd, head_dim, decay, ws, q_reg, s0, prefix, wg2=False,
                  lookback=False, reverse=False, pair=False, o_direct=False, vg_ahead=False, tile_major=False,
                  state_first=False, s0_shift=False, store_final=False, x3=False, dkdv=False,
                  qk_ahead=False, pdl=False, stamps=False, one_pass=None, one_body=False,
                  dkdv_body=False, one_out=False, early=False) -> dict:
    import hashlib
    import re
    import subprocess
    import tempfile
    from pathlib import Path

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type

    x = torch.empty(2 * 16 * 1024, head_dim, dtype=torch.bfloat16)
    lay_qk = gl.NVMMASharedLayout.get_default_for([BLOCK_N, head_dim], gl.bfloat16)
    lay_v = gl.NVMMASharedLayout.get_default_for([BLOCK_N, block_e], gl.bfloat16)
    dqk = TensorDescriptor(x, list(x.shape), list(x.stride()), [BLOCK_N, head_dim], lay_qk)
    dv = TensorDescriptor(x, list(x.shape), list(x.stride()), [BLOCK_N, block_e], lay_v)
    kern = _la2_fwd_gluon_pair_kernel if pair else _la2_fwd_gluon_wg2_kernel if wg2 else _la2_fwd_gluon_ws_kernel if ws else _la2_fwd_gluon_kernel
    sig = {"q_desc": mangle_type(dqk), "k_desc": mangle_type(dqk), "v_desc": mangle_type(dv),
           "o_desc": mangle_type(dv), "SLOPES": "*fp32", "SEG_END": "*fp32", "S0": "*fp32", "FLAGS": "*i32",
           "EPOCH": "i32", "H": "i32", "N": "i32", "E": "i32", "SEG": "i32", "NSEG": "i32", "O": "*bf16",
           "O_STRIDE": "i32"}
    ce = dict(HAS_DECAY=decay, SPLIT=split or lookback, HAS_S0=s0, BNHD=bnhd, BLOCK_N=BLOCK_N, BLOCK_D=head_dim,
              BLOCK_E=block_e, STAGES=stages, Q_REG=q_reg, num_warps=4)
    if pair:
        ce.update(REGS=WG2_REGS)
    elif wg2:
        ce.update(LOOKBACK=lookback, REGS=WG2_REGS, REVERSE=reverse, O_DIRECT=o_direct, STATE_FIRST=state_first)
        ce.update(QK_AHEAD=int(qk_ahead))
    elif ws:
        ce.update(PREFIX=prefix, LOOKBACK=lookback, REVERSE=reverse, O_DIRECT=o_direct, VG_AHEAD=vg_ahead,
                  TILE_MAJOR=tile_major, STATE_FIRST=state_first)
        ce.update(QK_AHEAD=int(qk_ahead))
    if (wg2 or ws) and not pair:  # the AST source needs every parameter in the signature, defaults included
        ce.update(S0_SHIFT=s0_shift, STORE_FINAL=store_final, PDL=pdl)
    if x3:
        kern = _la2_bwd_gluon_x3_kernel
        sig = {f"{r}{i}": mangle_type(dqk if r in "qk" else dv) for i in range(3) for r in "qkvo"}
        sig.update(SLOPES="*fp32", H="i32", N="i32", E="i32", OROWS="i32")
        ce = dict(HAS_DECAY=decay, BNHD=bnhd, BLOCK_N=BLOCK_N, BLOCK_D=head_dim, BLOCK_E=block_e, STAGES=stages,
                  num_warps=4, WG2=wg2, REGS=WG2_REGS, VG_AHEAD=vg_ahead and not wg2,
                  TILE_MAJOR=tile_major and not wg2, STATE_FIRST=state_first, PASS_INNER=False)
        ce.update(QK_AHEAD=int(qk_ahead), PDL=pdl, ONE_BODY=bool(one_body), DKDV_BODY=bool(dkdv_body),
                  ONE_PASS=None if one_pass is None else int(one_pass), ONE_OUT=bool(one_out))
    if dkdv:
        kern = _la2_bwd_gluon_dkdv_kernel
        sig = {"q_desc": mangle_type(dqk), "k_desc": mangle_type(dqk), "v_desc": mangle_type(dv),
               "do_desc": mangle_type(dv), "dk_desc": mangle_type(dqk), "dv_desc": mangle_type(dv), "SLOPES": "*fp32",
               "SEG_END": "*fp32", "FLAGS": "*i32", "EPOCH": "i32", "H": "i32", "N": "i32", "SEG": "i32",
               "NSEG": "i32"}
        ce = dict(HAS_DECAY=decay, BNHD=bnhd, BLOCK_N=BLOCK_N, BLOCK_D=head_dim, BLOCK_E=block_e, STAGES=stages,
                  num_warps=4, REGS=WG2_REGS, LOOKBACK=lookback, PDL=pdl)
    if "EARLY" in kern.arg_names:  # the ws and wg2 kernels and the one launch
        ce.update(EARLY=bool(early))
    if "STAMPS" in kern.arg_names:
        ce.update(STAMPS=stamps)
        if not stamps:
            ce.update(STAMP_BUF=None)
    for name in ce:
        sig[name] = "constexpr"
    if stamps:
        sig["STAMP_BUF"] = "*i64"
    attrs = {(kern.arg_names.index(n),): [["tt.divisibility", 16]]
             for n in ("SLOPES", "SEG_END", "S0", "O", "N", "E", "SEG", "O_STRIDE", "OROWS") if n in kern.arg_names}
    c = triton.compile(GluonASTSource(fn=kern, signature=sig, constexprs=ce, attrs=attrs),
                       target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4))
    ptx = c.asm["ptx"]
    out = {"arrive": ptx.count("mbarrier.arrive"), "bar_sync": ptx.count("bar.sync"), "smem": c.metadata.shared,
           "fence": ptx.count("fence.proxy.async"), "griddepcontrol": ptx.count("griddepcontrol."),
           "globaltimer": ptx.count("%globaltimer"), "smid": ptx.count("%smid"),
           "ptx_sha": hashlib.sha256(re.sub(r"^\s*\.loc.*$", "", ptx, flags=re.M).encode()).hexdigest()[:16],
           "setmaxnreg": [int(r) for r in re.findall(r"setmaxnreg.\w+.sync.aligned.u32\s+(\d+)", ptx)],
           "spin": ptx.count("ld.acquire.gpu"), "release": len(re.findall(r"atom\.[^;]*release", ptx)),
           "wait_groups": [int(w) for w in re.findall(r"wgmma.wait_group.sync.aligned (\d+)", ptx)],
           "wgmma": ptx.count("wgmma.mma_async"), "tma": ptx.count("cp.async.bulk.tensor"),
           "tma_store": len(re.findall(r"cp\.async\.bulk\.tensor\.\w+\.global\.shared", ptx)),
           "wgmma_reg_a": len(re.findall(r"wgmma.mma_async[^;]*\{[^}]*\}\s*,\s*\{", ptx))}
    ptxas = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas"
    if ptxas.exists():
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "k.ptx"
            src.write_text(ptx)
            r = subprocess.run([str(ptxas), "-arch=sm_90a", "-v", str(src), "-o", str(Path(tmp) / "k.o")],
                               capture_output=True, text=True)
        text = r.stderr + r.stdout
        regs = re.findall(r"Used (\d+) registers", text)
        spills = re.findall(r"(\d+) bytes spill stores", text)
        out["regs"] = int(regs[0]) if regs else None
        out["spill_bytes"] = int(spills[0]) if spills else None
        out["wgmma_serialized"] = "C7514" in text  # ptxas serialized every wgmma (an in-flight accumulator was read)
    return out
