"""EXPERIMENTAL (not dispatched): the Lightning Attention-2 forward as a 4-CTA cluster per head, Q and K multicast by
TMA (Triton ≥ 3.9 Gluon, sm_90a).

Measured on the H200 (2026-11-30, Triton 3.9, results/h200/tune/2026-11-30l/mc, docs/perf-notes.md v15): correct (GPU
tests pass), **0.45–0.59× the package's launch** at b2 h16 and b4 h32 (b2 h16 2K 65–69 against 124 M tokens/s; 128K
79–85 against 173; at b1 h16, where the package runs a split, 0.65–1.02×). Twice the clusters take twice the time (b1 h16 and b2 h16 give the same tokens/s), so 32 clusters of
4 CTAs do not all fit at once, and one cluster in a wave with room is no faster than a ws e32 program of a full
launch: a quarter of the Q, K traffic does not make the block faster, so (inferred) the block is not L2-bound.

Why: the default short-sequence launch (``gluon_fwd`` ws kernel, value tile 32) runs four programs per head, one per
32 value columns, and each reads the head's Q and K blocks from L2: 160 KB of L2 → SM traffic per 64-row block of a
head, of which 96 KB are Q, K re-reads; Nsight Compute puts L2 at 80% (2K) to 94% (32K) busy, the unit closest to
its limit (docs/perf-notes.md v9 item 5, v14 lead 2). Here the four programs of a head are the four CTAs of one
cluster: CTA rank 0 loads each Q, K block once and the TMA multicast writes it into all four CTAs' shared memory
(64 KB of L2 traffic per block-head), each CTA loads its own 32 value columns of V and stores its own o. Everything
else is the ws kernel's block (arXiv 2401.04658 Algorithm 1 with decay, shared docs §2): O_i = (Q_i K_iᵀ ⊙ D) V_i +
diag(a) Q_i S_{i−1}, S_i = λ^B S_{i−1} + K_iᵀ diag(g) V_i, the state fp32 in registers (each CTA its 128 × 32
slice), its bf16 copy in shared memory for Q·S.

The cluster model of Gluon 3.9 (tools/probe_multicast_api.py, docs/perf-notes.md v14 item 5): tensors have the
cluster's shape; a CGA layout says how the CTAs hold them — zero bases: replicated (Q, K, the scores), bases
[[0, 1], [0, 2]] in CTA-tile units: split along the value dimension (V, o, the state). ``gl.program_id(0)`` is the
cluster's index. The ring: per-CTA ``ready`` barriers (each CTA expects Q + K + its V slice; the multicast completes
the transaction on every destination CTA's barrier), a cluster-wide ``empty_qk`` barrier (``count`` 4, in CTA 0,
where every CTA's compute warpgroup arrives: CTA 0 may multicast into a stage only when all four released it) and
per-CTA ``empty_v`` barriers (a CTA may refill its own V slice when its own compute released it).

Limits of this first version: unsplit, no initial state, head_dim 128, value_dim 128 (one cluster per head), bf16,
"bhnd" or "bnhd" contiguous, seq_len a multiple of 64. Entry points: :func:`forward` (raises RuntimeError where the
installed Triton lacks the cluster API) and :func:`compile_sm90` (CPU: compile for sm_90a and report PTX facts).
"""

from __future__ import annotations

import torch

from .._common import dims as _dims

CTAS = 4  # CTAs per cluster: value tiles of 32 columns of a 128-wide head
BLOCK_N = 64
BLOCK_E = 32


def _triton_version() -> tuple[int, int]:
    """(major, minor) of the installed triton, e.g. (3, 9) for "3.9.0+git1a2b"; (0, 0) where none is importable."""
    import re

    try:
        import triton
    except Exception:  # pragma: no cover - triton is a dependency
        return (0, 0)
    m = re.match(r"(\d+)\.(\d+)", getattr(triton, "__version__", ""))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


try:  # Gluon with the cluster API (CGA layouts, multicast TMA, multi-CTA mbarrier layouts): Triton ≥ 3.9
    # Triton 3.8 imports every name below, yet its Gluon cannot compile this kernel (its warp_specialize partitions
    # get the async MMA tokens as lists: "'list' object has no attribute 'type'"), so the version is the gate.
    if _triton_version() < (3, 9):
        raise ImportError(f"Triton {'.'.join(map(str, _triton_version()))} is older than 3.9")
    from triton.experimental import gluon
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon.language.nvidia.hopper import cluster, fence_async_shared, mbarrier, tma
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

    from .gluon_fwd import _block, _decay, _slope  # the ws kernel's block, on this kernel's CGA layouts

    gl.NVMMASharedLayout.get_default_for([BLOCK_N, 128], gl.bfloat16, cga_layout=[[0, 0], [0, 0]])
    mbarrier.MBarrierLayout.multicta(4)
    IMPORT_ERROR = None
except Exception as _exc:  # pragma: no cover - depends on the installed triton
    IMPORT_ERROR = f"{type(_exc).__name__}: {_exc}"


if IMPORT_ERROR is None:

    @gluon.jit
    def _mc_load(q_desc, k_desc, v_desc, q_s, k_s, v_s, ready, empty_qk, empty_v, row0, col_qk, col_v, nblk,
                 STAGES: gl.constexpr, BLOCK_N: gl.constexpr):
        """Loader partition (1 warp per CTA): Q, K by multicast (issued by CTA 0), each CTA's own V slice."""
        nbytes: gl.constexpr = (q_desc.block_type.nbytes + k_desc.block_type.nbytes
                                + v_desc.block_type.nbytes // 4)
        for j in range(0, nblk):
            st = j % STAGES
            ph = ((j // STAGES) & 1) ^ 1
            mbarrier.wait(empty_qk.index(st), ph)  # all four CTAs released the stage (CTA 0 waits; the others pass)
            mbarrier.wait(empty_v.index(st), ph)  # this CTA released its V slice
            bar = ready.index(st)
            mbarrier.expect(bar, nbytes)
            r = row0 + j * BLOCK_N
            tma.async_load(q_desc, [r, col_qk], bar, q_s.index(st), multicast=True)
            tma.async_load(k_desc, [r, col_qk], bar, k_s.index(st), multicast=True)
            tma.async_load(v_desc, [r, col_v], bar, v_s.index(st))

    @gluon.jit
    def _mc_compute(o_desc, SLOPES, q_s, k_s, v_s, ready, empty_qk, empty_v, s_smem, vg_smem, o_smem, h, row0,
                    col_v, nblk, HAS_DECAY: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr,
                    E: gl.constexpr, STAGES: gl.constexpr):
        """Compute partition (4 warps per CTA): the ws kernel's block on the CTA's 32 value columns; the scores
        (replicated) are computed in every CTA from its multicast copy of Q, K."""
        sc_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                       instr_shape=[16, BLOCK_N, 16], cga_layout=[[0, 0], [0, 0]])
        o_l: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                      instr_shape=[16, E // 4, 16], cga_layout=[[0, 1], [0, 2]])
        p_l: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_l, k_width=2)
        slope = _slope(SLOPES, h, HAS_DECAY)
        S = gl.zeros([BLOCK_D, E], gl.float32, o_l)
        s_smem.store(S.to(gl.bfloat16))
        fence_async_shared()
        dmat, a, g, lam = _decay(slope, BLOCK_N, sc_l, o_l)
        zero_sc = gl.zeros([BLOCK_N, BLOCK_N], gl.float32, sc_l)
        zero_o = gl.zeros([BLOCK_N, E], gl.float32, o_l)
        for j in range(0, nblk):
            st = j % STAGES
            mbarrier.wait(ready.index(st), (j // STAGES) & 1)
            S = _block(q_s.index(st), k_s.index(st), v_s.index(st), s_smem, vg_smem, o_smem.index(j % 2), o_desc,
                       row0 + j * BLOCK_N, col_v, S, dmat, a, g, lam, zero_sc, zero_o, p_l, o_l, False, SLOPES, 0,
                       False, False)
            mbarrier.arrive(empty_qk.index(st), count=1)  # routed to CTA 0's barrier
            mbarrier.arrive(empty_v.index(st), count=1)
            s_smem.store(S.to(gl.bfloat16))
            fence_async_shared()
        tma.store_wait(pendings=0)

    @gluon.jit
    def _la2_fwd_gluon_mc_kernel(q_desc, k_desc, v_desc, o_desc, SLOPES, H, N, HAS_DECAY: gl.constexpr,
                                 BNHD: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_D: gl.constexpr,
                                 E: gl.constexpr, STAGES: gl.constexpr):
        """One cluster of four CTAs per (batch·head); see the module docstring."""
        pid_bh = gl.program_id(0)  # the cluster's index
        h = pid_bh % H
        if BNHD:
            row0 = (pid_bh // H) * N
            col_qk = h * BLOCK_D
            col_v = h * E
        else:
            row0 = pid_bh * N
            col_qk = 0
            col_v = 0
        nblk = N // BLOCK_N
        split: gl.constexpr = [[0, 1], [0, 2]]
        s_sl: gl.constexpr = gl.NVMMASharedLayout.get_default_for([BLOCK_D, E], gl.bfloat16, cga_layout=split)
        q_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_D], q_desc.layout)
        k_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, BLOCK_D], k_desc.layout)
        v_s = gl.allocate_shared_memory(gl.bfloat16, [STAGES, BLOCK_N, E], v_desc.layout)
        s_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_D, E], s_sl)
        vg_smem = gl.allocate_shared_memory(gl.bfloat16, [BLOCK_N, E], v_desc.layout)
        o_smem = gl.allocate_shared_memory(gl.bfloat16, [2, BLOCK_N, E], o_desc.layout)
        # per-buffer layouts are rank 1 (the [STAGES, …] allocation is a ring of them): [[1], [2]] gives each CTA its
        # own barrier of a [4]; multicta(4) is one barrier in CTA 0 whose init count Gluon multiplies by the CTAs
        own: gl.constexpr = mbarrier.MBarrierLayout(cga_layout=[[1], [2]])
        ready = gl.allocate_shared_memory(gl.int64, [STAGES, 4], own)
        empty_v = gl.allocate_shared_memory(gl.int64, [STAGES, 4], own)
        empty_qk = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout.multicta(4))
        for s in gl.static_range(STAGES):
            mbarrier.init(ready.index(s), count=1)
            mbarrier.init(empty_v.index(s), count=1)
            mbarrier.init(empty_qk.index(s), count=1)  # one arrival per CTA
        fence_async_shared()
        gl.warp_specialize([
            (_mc_compute, (o_desc, SLOPES, q_s, k_s, v_s, ready, empty_qk, empty_v, s_smem, vg_smem, o_smem, h,
                           row0, col_v, nblk, HAS_DECAY, BLOCK_N, BLOCK_D, E, STAGES)),
            (_mc_load, (q_desc, k_desc, v_desc, q_s, k_s, v_s, ready, empty_qk, empty_v, row0, col_qk, col_v, nblk,
                        STAGES, BLOCK_N)),
        ], [1], [24])
        cluster.barrier()  # every CTA's last arrival on CTA 0's empty_qk barriers has landed
        for s in gl.static_range(STAGES):
            mbarrier.invalidate(ready.index(s))
            mbarrier.invalidate(empty_v.index(s))
            mbarrier.invalidate(empty_qk.index(s))


def _layouts(d: int, e: int):
    rep, split = [[0, 0], [0, 0]], [[0, 1], [0, 2]]
    return (gl.NVMMASharedLayout.get_default_for([BLOCK_N, d], gl.bfloat16, cga_layout=rep),
            gl.NVMMASharedLayout.get_default_for([BLOCK_N, e], gl.bfloat16, cga_layout=split))


def forward(q, k, v, slopes, layout: str, o: torch.Tensor, stages: int = 3) -> torch.Tensor:
    """o = LA2 forward of q, k, v (bf16 [b, h, n, 128] "bhnd" or [b, n, h, 128] "bnhd", contiguous; n % 64 == 0) by
    the cluster kernel; ``slopes`` fp32 [heads] or None. Experimental: not dispatched by ``lightning_attn``.

    Raises:
        RuntimeError: the installed Triton has no Gluon cluster API (needs ≥ 3.9).
        ValueError: a shape, dtype or layout outside the limits in the module docstring.
    """
    if IMPORT_ERROR is not None:
        raise RuntimeError(f"the cluster forward needs Triton >= 3.9 with Gluon's CGA layouts ({IMPORT_ERROR})")
    b, h, n, d, e = _dims(q, v, layout)
    if d != 128 or e != 128 or n % BLOCK_N or q.dtype != torch.bfloat16:
        raise ValueError(f"cluster forward: head_dim = value_dim = 128, seq_len % {BLOCK_N} == 0, bf16; got "
                         f"head_dim {d}, value_dim {e}, seq_len {n}, {q.dtype}")
    lay_qk, lay_v = _layouts(d, e)

    def view(t):
        return t.reshape(-1, t.shape[-1]) if layout == "bhnd" else t.reshape(t.shape[0] * t.shape[1], -1)

    descs = [TensorDescriptor(t2, list(t2.shape), list(t2.stride()), [BLOCK_N, x], lay)
             for t2, x, lay in ((view(q), d, lay_qk), (view(k), d, lay_qk), (view(v), e, lay_v), (view(o), e, lay_v))]
    if q.is_cuda:
        from .gluon_fwd import bind_context

        bind_context(q.device)  # host-encoded TMA descriptors need a current CUDA context (gluon_fwd.bind_context)
    _la2_fwd_gluon_mc_kernel[(b * h, )](*descs, slopes if slopes is not None else q, h, n,
                                        HAS_DECAY=slopes is not None, BNHD=layout == "bnhd", BLOCK_N=BLOCK_N,
                                        BLOCK_D=d, E=e, STAGES=stages, num_warps=4, num_ctas=CTAS)
    return o


def compile_sm90(stages: int = 3, bnhd: bool = False, decay: bool = True) -> dict:
    """Compile the cluster kernel for sm_90a without a GPU and return PTX facts (cluster size, multicast copies,
    per-CTA loads and stores, wgmma shapes, shared memory per CTA). Raises RuntimeError without the cluster API.
    Under ``TRITON_INTERPRET=1`` the compile runs in a spawned worker (``gluon_fwd.compile_outside_interpreter``)."""
    if IMPORT_ERROR is not None:
        raise RuntimeError(f"Gluon cluster API unavailable: {IMPORT_ERROR}")
    from .gluon_fwd import compile_outside_interpreter

    return compile_outside_interpreter(_compile_sm90, stages=stages, bnhd=bnhd, decay=decay)


def _compile_sm90(stages: int, bnhd: bool, decay: bool) -> dict:
    import re

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type

    x = torch.empty(2 * 16 * 1024, 128, dtype=torch.bfloat16)
    lay_qk, lay_v = _layouts(128, 128)
    dqk = TensorDescriptor(x, list(x.shape), list(x.stride()), [BLOCK_N, 128], lay_qk)
    dv = TensorDescriptor(x, list(x.shape), list(x.stride()), [BLOCK_N, 128], lay_v)
    sig = {"q_desc": mangle_type(dqk), "k_desc": mangle_type(dqk), "v_desc": mangle_type(dv),
           "o_desc": mangle_type(dv), "SLOPES": "*fp32", "H": "i32", "N": "i32"}
    ce = dict(HAS_DECAY=decay, BNHD=bnhd, BLOCK_N=BLOCK_N, BLOCK_D=128, E=128, STAGES=stages)
    for name in ce:
        sig[name] = "constexpr"
    c = triton.compile(GluonASTSource(fn=_la2_fwd_gluon_mc_kernel, signature=sig, constexprs=ce),
                       target=GPUTarget("cuda", 90, 32), options=dict(num_warps=4, num_ctas=CTAS))
    ptx = c.asm["ptx"]
    return {"ctas": int(m.group(1)) if (m := re.search(r"\.reqnctapercluster (\d+)", ptx)) else None,
            "multicast_loads": ptx.count(".multicast::cluster"),
            "loads": ptx.count("cp.async.bulk.tensor.2d.shared"), "stores": ptx.count("cp.async.bulk.tensor.2d.global"),
            "wgmma": sorted(set(re.findall(r"wgmma\.mma_async\.sync\.aligned\.(m\d+n\d+k\d+)", ptx))),
            "wait_groups": [int(w) for w in re.findall(r"wgmma.wait_group.sync.aligned (\d+)", ptx)],
            "smem": c.metadata.shared}
